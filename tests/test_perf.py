"""`bench perf metrics`: images/s and peak memory per metric on stand-in outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_params
from typer.testing import CliRunner

from datasets.synthetic import generate


@pytest.fixture
def tiny_params_file(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "no-weights"))
    params = tiny_params(tmp_path)
    generate(tmp_path / "data", image_size=32, train_subjects=2, test_subjects=2, styles=["statue"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_measure_times_each_metric_and_reports_missing_ones(tiny_params_file):
    from bench.config import load_config
    from bench.metrics_perf import measure

    config = load_config(tiny_params_file)
    rows = measure(
        config,
        "synthetic",
        torch.device("cpu"),
        images=20,
        batch_size=8,
        metric_names=["l1", "qualiclip"],
    )
    l1, qualiclip = rows
    assert l1.status == "ok" and l1.images == 20 and l1.images_per_s > 0 and l1.peak_mib > 0
    assert qualiclip.status.startswith("missing: Weights 'qualiclip'")


def test_perf_command_prints_and_writes_json(tiny_params_file, tmp_path):
    from bench.commands.perf import app

    out = tmp_path / "perf.json"
    result = CliRunner().invoke(
        app,
        [
            "metrics",
            "--params",
            str(tiny_params_file),
            "--metrics",
            "l1,qualiclip",
            "--images",
            "8",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "img/s" in result.output
    rows = json.loads(out.read_text())
    assert [r["metric"] for r in rows] == ["l1", "qualiclip"]
    assert rows[0]["images_per_s"] > 0 and rows[1]["images_per_s"] is None
