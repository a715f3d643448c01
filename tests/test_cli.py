"""The `bench` CLI end to end on a tiny synthetic set: run, errors, reproducibility."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def bench(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point (so exit codes and messages are the user's)."""
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True
    )


def test_unknown_model_exits_nonzero_listing_valid_names(params_file):
    result = bench("run", "--models", "nope", "--params", str(params_file))
    assert result.returncode == 2
    assert "unknown model 'nope'" in result.stderr and "identity" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_dataset_and_device_errors(params_file):
    result = bench(
        "run", "--models", "identity", "--datasets", "synthetc", "--params", str(params_file)
    )
    assert result.returncode == 2 and "did you mean 'synthetic'" in result.stderr
    result = bench("train", "--model", "identity", "--device", "tpu", "--params", str(params_file))
    assert result.returncode == 2 and "unknown device" in result.stderr


def test_missing_params_file(tmp_path):
    result = bench("run", "--params", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2 and "absent.yaml" in result.stderr


def _run(params_file: Path) -> None:
    result = runner.invoke(app, ["run", "--models", "identity", "--params", str(params_file)])
    assert result.exit_code == 0, result.output


def test_run_identity_writes_tables_figures_and_is_byte_identical(params_file, tmp_path):
    _run(params_file)
    results = tmp_path / "results"
    tables = sorted((results / "tables").iterdir())
    assert {p.name for p in tables} == {
        "comparison.csv",
        "comparison.provenance.json",
        "comparison.md",
        "comparison.tex",
        "per_expression.csv",
        "confusion.csv",  # the ECS-FER classifier's predictions of the outputs
        "confusion.provenance.json",
        "per_expression.provenance.json",
        "pairwise.csv",  # one model: the header only (no pair to compare)
        "pairwise.provenance.json",
        "report.fingerprint.json",  # what the tables were made from (bench run reuses them)
    }
    for table in sorted(results.rglob("*.csv")):  # plain pandas, provenance in the sidecar
        first = ["dataset", "metric"] if table.name == "pairwise.csv" else ["model", "dataset"]
        assert list(pd.read_csv(table).columns[:2]) == first, table
        sidecar = json.loads(table.with_name(f"{table.stem}.provenance.json").read_text())
        assert sidecar["profile"] == "smoke" and sidecar["params"]["metrics"]
    for name in ("comparison_synthetic", "comparison_synthetic_statue", "per_expression_synthetic"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
        assert (results / "pdf" / f"{name}.pdf").is_file()
    summary = pd.read_csv(results / "tables" / "comparison.csv")
    assert set(summary["dataset"]) == {"synthetic", "synthetic_statue"}
    identity_ssim = summary[(summary.dataset == "synthetic") & (summary.metric == "SSIM")][
        "mean"
    ].item()
    assert 0.0 < identity_ssim < 1.0  # neutral input vs the real target: similar, not equal
    markdown = (results / "tables" / "comparison.md").read_text()
    assert "identity" in markdown and "provenance" in markdown and "±" in markdown
    latex = (results / "tables" / "comparison.tex").read_text()
    assert latex.startswith("% provenance: ")
    body = latex.split("\n", 1)[1]
    assert not re.search(r"(?<!\\)[%_#]", body)  # specials escaped outside the comment line
    first = {p.name: p.read_bytes() for p in tables}
    # a second run from scratch (same seed) must give byte-identical tables
    for folder in ("data", "checkpoints", "outputs", "results"):
        subprocess.run(["rm", "-rf", str(tmp_path / folder)], check=True)
    _run(params_file)
    second = {p.name: p.read_bytes() for p in sorted((results / "tables").iterdir())}
    assert first == second


def test_report_without_records_is_a_clear_error(params_file):
    result = bench("report", "--params", str(params_file))
    assert result.returncode == 2 and "no records for identity" in result.stderr


@pytest.mark.parametrize(
    "command",
    ["run", "train", "adapt", "synthesize", "evaluate", "report", "data", "weights", "study"],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and len(result.output) > 100


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["train"],
        ["adapt"],
        ["synthesize"],
        ["evaluate"],
        ["report"],
        ["sources"],
        ["data", "prepare"],
        ["data", "folder"],
        ["data", "contact-sheet"],
        ["perf", "train"],
        ["perf", "baselines"],
    ],
    ids=" ".join,
)
def test_commands_that_read_params_take_set_overrides(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--set" in result.output and "KEY=VALUE" in result.output


def test_set_override_reaches_the_run(params_file, monkeypatch):
    """``bench run --set`` (with --metrics and --strict, which the CLI applies on top without
    writing into the configuration) hands the stage the overridden configuration."""
    import bench.run

    seen = {}
    monkeypatch.setattr(bench.run, "run", lambda config, *args, **kwargs: seen.update(c=config))
    result = runner.invoke(
        app,
        ["run", "--set", "seed=3", "--set", "training.steps.reggan=5", "--metrics", "l1"]
        + ["--strict", "--device", "cpu", "--params", str(params_file)],
    )
    assert result.exit_code == 0, result.output
    config = seen["c"]
    assert (config.seed, config.training.steps_for("reggan"), config.metrics) == (3, 5, ["l1"])
    assert config.evaluation.strict and config.overrides == ("seed=3", "training.steps.reggan=5")


def test_dry_run_prints_what_would_run_and_runs_nothing(params_file, tmp_path):
    result = runner.invoke(
        app,
        ["run", "--dry-run", "--models", "identity", "--datasets", "synthetic"]
        + ["--set", "seed=2", "--params", str(params_file)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines and all(": would run (" in line for line in lines), lines
    assert not any((tmp_path / folder).exists() for folder in ("data", "checkpoints", "outputs"))
