"""Nothing stale is reused: fingerprints decide what `bench run` rebuilds, `bench evaluate`
refuses outputs of an older checkpoint, the report keeps every current record, and a folder
of photos becomes a benchmark set in one command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import tiny_params
from PIL import Image
from real_faces import ASTRONAUT_FACE, HOPPER_FACE, astronaut, crop, grace_hopper

from bench import layout
from bench.config import Config, load_config, updated
from bench.core.errors import UserError
from bench.data import data_mismatch, prepare
from bench.evaluate import evaluate
from bench.run import run
from bench.synthesize import synthesize
from bench.train import train
from models.base import read_checkpoint

CPU = torch.device("cpu")


def _params(root: Path) -> Config:
    raw = tiny_params(root)
    raw["profiles"]["smoke"]["metrics"] = ["l1", "ssim"]
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return load_config(root / "params.yaml")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """identity and mr run on both tiny datasets (offline: these metrics need no weights)."""
    root = tmp_path_factory.mktemp("project")
    params = _params(root)
    run(params, ["identity", "mr"], None, retrain=False, device=CPU, offline=True)
    return params


def _comparison(params: Config) -> pd.DataFrame:
    return pd.read_csv(layout.tables_dir(params) / "comparison.csv", comment="#")


def test_a_partial_run_keeps_the_full_comparison(done, capsys):
    capsys.readouterr()
    run(done, ["mr"], ["synthetic"], retrain=False, device=CPU, offline=True)
    said = capsys.readouterr().err
    assert "nothing to do: all 4 stages are current" in said, said  # data, train, evaluate, report
    table = _comparison(done)
    assert set(zip(table["model"], table["dataset"], strict=True)) == {
        (m, d) for m in ("identity", "mr") for d in ("synthetic", "synthetic_statue")
    }


def test_a_changed_setting_retrains_only_that_model(done, capsys):
    from bench.report.scope import stale_reason

    params = updated(done, {"model_settings.mr.ridge_lambda": 0.2})
    capsys.readouterr()
    run(params, ["identity", "mr"], ["synthetic"], retrain=False, device=CPU, offline=True)
    said = " ".join(capsys.readouterr().err.split())
    assert "train@mr: running (settings.settings.ridge_lambda 0.4 -> 0.2)" in said, said
    assert re.search(r"current, reused: [^:]*\btrain@identity\b", said), said
    checkpoint = read_checkpoint(layout.checkpoint_path(params, "mr"))
    assert checkpoint["config"]["ridge_lambda"] == 0.2
    assert checkpoint["metadata"]["fingerprint"]["settings"]["settings"]["ridge_lambda"] == 0.2
    # mr's statue records were made by the old checkpoint: left out of the report, said so
    assert stale_reason(params, "mr", "synthetic_statue") == "made by another checkpoint"
    assert stale_reason(params, "mr", "synthetic") is None
    assert re.search(
        r"leaving out .*dataset synthetic_statue \(mr: made by another checkpoint\)", said
    )
    assert set(_comparison(params)["dataset"]) == {"synthetic"}


def test_evaluate_refuses_outputs_of_an_older_checkpoint(done):
    params = updated(done, {"model_settings.mr.ridge_lambda": 0.3})
    synthesize(params, "mr", "synthetic", CPU)
    train(params, "mr", CPU)  # a new checkpoint after the outputs were made
    with pytest.raises(UserError, match="was made by checkpoint mr/synthetic/model.pt"):
        evaluate(params, "mr", "synthetic", CPU)
    synthesize(params, "mr", "synthetic", CPU)
    evaluate(params, "mr", "synthetic", CPU)


def test_data_made_at_another_image_size_is_not_reused(tmp_path):
    params = _params(tmp_path)
    prepare(params)
    assert data_mismatch(params, "synthetic") is None
    bigger = updated(params, {"image_size": 48})
    assert "image_size 32 -> 48" in data_mismatch(bigger, "synthetic_statue")
    # a preparation that stops midway leaves no fingerprint: never taken as current
    (layout.dataset_dir(params, "synthetic") / "fingerprint.json").unlink()
    assert data_mismatch(params, "synthetic") == "no fingerprint recorded"


def _photos(folder: Path) -> Path:
    folder.mkdir()
    Image.fromarray(crop(astronaut(), ASTRONAUT_FACE)).resize((260, 260)).save(folder / "a.jpg")
    Image.fromarray(crop(grace_hopper(), HOPPER_FACE)).resize((260, 260)).save(folder / "h.png")
    return folder


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_own_photos_in_one_step(tmp_path):
    """The README's lines: ingest at the profile's size, declared, then `bench run` on it."""
    pytest.importorskip("dlib")
    from bench.core.weights import status

    if status(["dlib_landmarks_5"])[0].status != "ok":
        pytest.skip("dlib_landmarks_5 is not cached (run `bench weights pull`)")
    _params(tmp_path)
    photos = _photos(tmp_path / "photos")
    unknown = bench("run", "--models", "identity", "--datasets", "statues", cwd=tmp_path)
    assert unknown.returncode == 2 and "bench data folder PATH --name statues" in unknown.stderr
    added = bench("data", "folder", str(photos), "--name", "statues", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    params = load_config(tmp_path / "params.yaml")
    assert params.datasets["statues"].model_dump(exclude_none=True) == {
        "kind": "folder",
        "root": str(photos),
    }
    assert "statues" in params.eval_datasets
    assert Image.open(next((tmp_path / "data" / "statues" / "images").iterdir())).size == (32, 32)
    ran = bench(
        "run", "--models", "identity,mr", "--datasets", "statues", "--offline", cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    table = _comparison(params)
    assert set(table[table["dataset"] == "statues"]["model"]) == {"identity", "mr"}
    assert (layout.figures_dir(params) / "comparison_statues.png").is_file()


def test_a_model_evaluated_since_the_report_makes_the_report_run_again(tmp_path, capsys):
    """The report covers every current record: one evaluated by `bench evaluate` after it was
    written (nothing the report showed changed) is not left out by the next `bench run`, as
    DVC's report stage (which reads the whole records folder) reruns too."""
    from bench.evaluate import evaluate_datasets
    from bench.run import dry_run

    params = updated(_params(tmp_path), {"models": ["identity", "mr"], "adapted_models": []})
    run(params, ["identity"], None, retrain=False, device=CPU, offline=True)
    assert set(_comparison(params)["model"]) == {"identity"}
    train(params, "mr", CPU)
    evaluate_datasets(params, "mr", params.eval_datasets, CPU, synthesize_first=True)
    assert dry_run(params, ["identity"]) == {"report": "not shown yet: mr"}
    capsys.readouterr()
    run(params, ["identity"], None, retrain=False, device=CPU, offline=True)
    assert "report: running (not shown yet: mr)" in capsys.readouterr().err
    assert set(_comparison(params)["model"]) == {"identity", "mr"}
    assert dry_run(params, ["identity"]) == {}
