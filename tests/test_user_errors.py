"""Bad settings and stale files end in one line on stderr and exit code 2, never a traceback.

Configuration mistakes (every case of issue 19, in the file, in a profile or through
``--set``) are caught when the configuration loads, before any work: the line names the
key's full path and, for a typo, the intended key. Later checks: an unknown FSS backbone, a
corrupt ECS classifier checkpoint, a wrong qualiclip.pth, an outputs.csv that no longer fits
the dataset."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import tiny_params

from bench.config import load_config
from bench.core import provenance
from bench.synthesize import synthesize
from bench.train import train
from datasets.synthetic import generate

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """Tiny params (L1 only) with data prepared and identity trained and synthesized on synthetic."""
    root = tmp_path_factory.mktemp("errors")
    params = tiny_params(root)
    params["profiles"]["smoke"]["metrics"] = ["l1"]
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    config = load_config(path)
    generate(root / "data", image_size=32, train_subjects=4, test_subjects=3, ood_subjects=2)
    train(config, "identity", CPU)
    synthesize(config, "identity", "synthetic", CPU)
    return params


def bench_with(capsys, params: dict, tmp_path: Path, *args: str) -> str:
    """Run the console entry point ``bench ARGS`` in this process on ``params`` (written to
    tmp_path); assert exit code 2 and a single output line; return that line. Any exception
    but a UserError escapes ``main()`` (the traceback a user would see) and fails the test."""
    from bench.cli import main

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exited:
        patch.setattr(sys, "argv", ["bench", *args, "--params", str(path)])
        main()
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert exited.value.code == 2 and len(lines) == 1, lines
    return lines[0]


def evaluate_with(capsys, params: dict, tmp_path: Path) -> str:
    return bench_with(
        capsys, params, tmp_path, "evaluate", "--model", "identity", "--dataset", "synthetic"
    )


def with_metric(prepared: dict, name: str, settings: dict) -> dict:
    params = copy.deepcopy(prepared)
    params["profiles"]["smoke"]["metrics"] = [name]
    params["metric_settings"][name] = settings
    return params


# -- configuration mistakes: one line naming the key, before any work ----------------------------
CHEAP = ("sources",)
"""A command that loads the configuration first (then writes results/sources/, well under a
second): every mistake below must stop it at the load."""


def config_error(capsys, tmp_path: Path, change, *args: str) -> str:
    """The one error line of ``bench ARGS`` (default: ``bench sources``) on the tiny params with
    ``change(params)`` applied (it may return a replacement document)."""
    params = tiny_params(tmp_path)
    params = change(params) or params
    return bench_with(capsys, params, tmp_path, *(args or CHEAP))


def profile(params: dict) -> dict:
    return params["profiles"]["smoke"]


def _set(mapping: dict, key: str, value) -> None:
    mapping[key] = value


def list_for_model_settings(params: dict) -> None:
    """``model_settings.reggan: [16, 2]`` while the profile gives reggan a mapping (that
    mapping must not hide the list)."""
    params["model_settings"]["reggan"] = [16, 2]
    profile(params)["model_settings"] = {"reggan": {"conv_dim": 16}}


# (id, change of the params document, what the line must say after the file's name)
BAD_SETTINGS = [
    # the cases of issue 19, "Why": typos name the intended key
    ("seeed", lambda p: _set(p, "seeed", 1), "seeed: unknown setting; did you mean seeds?"),
    (
        "training.step",
        lambda p: _set(p["training"], "step", {"reggan": 50}),
        "training.step: unknown setting; did you mean training.steps?",
    ),
    (
        "evaluation.bootstrap_resample",
        lambda p: _set(p["evaluation"], "bootstrap_resample", 10),
        "evaluation.bootstrap_resample: unknown setting; "
        "did you mean evaluation.bootstrap_resamples?",
    ),
    (
        "profile steps < 1",
        lambda p: _set(profile(p), "training", {"steps": {"reggan": -5}}),
        "profiles.smoke.training.steps.reggan: must be greater than or equal to 1, got -5",
    ),
    (
        "list for model settings",
        list_for_model_settings,
        "model_settings.reggan: must be a mapping of settings, got [16, 2]",
    ),
    (
        "seed abc",
        lambda p: _set(p, "seeds", ["abc"]),
        "seeds[0]: must be a valid integer, got 'abc'",
    ),
    (
        "batch size 0",
        lambda p: _set(p["training"], "batch_size", 0),
        "training.batch_size: must be greater than or equal to 1, got 0",
    ),
    (
        "resamples < 1",
        lambda p: _set(p["evaluation"], "bootstrap_resamples", -3),
        "evaluation.bootstrap_resamples: must be greater than or equal to 1, got -3",
    ),
    (
        "datasets as a list",
        lambda p: _set(p, "datasets", ["synthetic"]),
        "datasets: must be a mapping of settings, got ['synthetic']",
    ),
    (
        "training as a list",
        lambda p: _set(p, "training", [1, 2]),
        "training: must be a mapping of settings, got [1, 2]",
    ),
    (
        "top-level list",
        lambda p: [1, 2],
        "expected a mapping of settings at the top level, got list",
    ),
    # the ranges of issue 19, "What to build"
    (
        "image size < 32",
        lambda p: _set(profile(p), "image_size", 16),
        "profiles.smoke.image_size: must be greater than or equal to 32, got 16",
    ),
    (
        "confidence 1.5",
        lambda p: _set(p["evaluation"], "confidence", 1.5),
        "evaluation.confidence: must be less than 1, got 1.5",
    ),
    (
        "confidence 0",
        lambda p: _set(p["evaluation"], "confidence", 0),
        "evaluation.confidence: must be greater than 0, got 0",
    ),
    (
        "unknown model",
        lambda p: _set(p, "models", ["identity", "regan"]),
        "models[1]: unknown model 'regan'; did you mean reggan?",
    ),
    (
        "unknown metric",
        lambda p: _set(profile(p), "metrics", ["l1", "ssmi"]),
        "profiles.smoke.metrics[1]: unknown metric 'ssmi'; did you mean ssim?",
    ),
    (
        "model setting typo",
        lambda p: _set(p["model_settings"]["reggan"], "conv_dimm", 8),
        "model_settings.reggan.conv_dimm: unknown setting; "
        "did you mean model_settings.reggan.conv_dim?",
    ),
    (
        "model setting of a model without settings",
        lambda p: _set(p["model_settings"], "identity", {"strength": 1}),
        "model_settings.identity.strength: unknown setting; valid: none",
    ),
    (
        "metric setting typo",
        lambda p: _set(p["metric_settings"], "ecs", {"batchsize": 8}),
        "metric_settings.ecs.batchsize: unknown setting; "
        "did you mean metric_settings.ecs.batch_size?",
    ),
    (
        "metric setting of a metric without settings",
        lambda p: _set(p["metric_settings"], "l1", {"x": 1}),
        "metric_settings.l1.x: unknown setting; valid: none",
    ),
    (
        "settings of an unknown metric",
        lambda p: _set(p["metric_settings"], "l2", {}),
        "metric_settings.l2: unknown metric 'l2'",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [case[1:] for case in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_bad_setting_is_one_line_naming_its_key(capsys, tmp_path, change, expected):
    line = config_error(capsys, tmp_path, change)
    assert line.startswith(f"error: {tmp_path / 'params.yaml'}: {expected}"), line


def test_missing_dataset_root(capsys, tmp_path):
    absent = tmp_path / "CFEE_Database_230"

    def declare(params: dict) -> None:
        params["datasets"]["cfee"] = {"kind": "cfee", "root": str(absent)}

    line = config_error(capsys, tmp_path, declare)
    assert line.endswith(f": datasets.cfee.root: {absent} is not a folder")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["run", "--set", "training.steps.reggan=-5"],
            "--set training.steps.reggan: must be greater than or equal to 1, got -5",
        ),
        (
            ["train", "--model", "identity", "--set", "trainig.steps.x=1"],
            "trainig: unknown setting; did you mean training?",
        ),
        (
            ["evaluate", "--model", "identity", "--set", "training.stepz.reggan=1"],
            "training.stepz: unknown setting; did you mean training.steps?",
        ),
        (
            ["report", "--set", "seed=1", "--set", "model_settings.reggan.conv_dimm=8"],
            "--set model_settings.reggan.conv_dimm: unknown setting; "
            "did you mean model_settings.reggan.conv_dim?",
        ),
        (
            ["run", "--set", "evaluation.confidence=1"],
            "--set evaluation.confidence: must be less than 1, got 1",
        ),
        (["sources", "--set", "seed=abc"], "--set seed: must be a valid integer, got 'abc'"),
    ],
    ids=["run steps", "train typo", "evaluate typo", "report model setting", "confidence", "seed"],
)
def test_bad_set_override_is_one_line_naming_its_key(capsys, tmp_path, args, expected):
    line = config_error(capsys, tmp_path, lambda p: None, *args)
    assert line.startswith(f"error: {tmp_path / 'params.yaml'}: {expected}"), line


def test_malformed_set_override(capsys, tmp_path):
    line = config_error(capsys, tmp_path, lambda p: None, "sources", "--set", "seed")
    assert line == "error: --set 'seed': expected key.path=value, e.g. training.steps.reggan=50"


@pytest.mark.parametrize(
    ("args", "change", "expected"),
    [
        (["sources"], lambda p: _set(p, "seeed", 1), "seeed: unknown setting; did you mean seeds?"),
        (
            ["run", "--set", "training.steps.reggan=-5"],
            lambda p: None,
            "--set training.steps.reggan: must be greater than or equal to 1, got -5",
        ),
    ],
    ids=["file", "--set"],
)
def test_bad_setting_through_the_console_script(tmp_path, args, change, expected):
    params = tiny_params(tmp_path)
    change(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "bench.cli", *args, "--params", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'params.yaml'}: {expected}"
    ], result.stderr
    assert not (tmp_path / "results").exists()  # stopped before any work


def test_set_reaches_the_config_and_its_provenance(tmp_path, monkeypatch):
    """``--set seed=1`` changes the configuration a stage receives and is recorded in
    provenance; without it nothing is recorded."""
    from bench.cli import main

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(tmp_path)))
    plain = load_config(path)
    config = load_config(path, overrides=("seed=1", "training.steps.reggan=50"))
    assert (plain.seed, config.seed, config.training.steps_for("reggan")) == (0, 1, 50)
    assert config.overrides == ("seed=1", "training.steps.reggan=50")
    record = provenance.collect(config)["params"]
    assert record["seeds"] == [1] and record["overrides"] == ["seed=1", "training.steps.reggan=50"]
    assert "overrides" not in provenance.collect(plain)["params"]
    seen = {}

    def fake_train(config, name, device, fresh=False):
        seen.update(config=config, name=name)
        return tmp_path / "model.pt"

    monkeypatch.setattr("bench.train.train", fake_train)
    argv = ["bench", "train", "--model", "identity", "--set", "seed=1", "--params", str(path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert seen["config"].seed == 1 and seen["config"].overrides == ("seed=1",)
    assert provenance.collect(seen["config"])["params"]["overrides"] == ["seed=1"]


def test_set_seed_is_recorded_in_the_checkpoint(prepared, tmp_path):
    """``bench train --set seed=1`` end to end: the checkpoint's provenance holds the override."""
    from models.base import read_checkpoint

    params = copy.deepcopy(prepared)
    params["paths"]["checkpoints"] = str(tmp_path / "checkpoints")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "bench.cli", "train", "--model", "identity", "--set", "seed=1"]
        + ["--device", "cpu", "--params", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (checkpoint,) = (tmp_path / "checkpoints").rglob("model.pt")
    made_by = read_checkpoint(checkpoint)["metadata"]["provenance"]
    assert made_by["params"]["seeds"] == [1] and made_by["params"]["overrides"] == ["seed=1"]


# -- later checks -------------------------------------------------------------------------------
def test_unknown_fss_backbone_lists_the_valid_ones(capsys, prepared, tmp_path):
    line = evaluate_with(capsys, with_metric(prepared, "fss", {"backbone": "ArcFaces"}), tmp_path)
    assert "metric_settings.fss.backbone: unknown backbone 'ArcFaces'" in line
    assert "ArcFace" in line.split("valid:")[1] and "Dlib" in line


def test_corrupt_ecs_classifier_checkpoint(capsys, prepared, tmp_path):
    bad = tmp_path / "resnet18.pt"
    bad.write_bytes(b"\x80\x02not a checkpoint" * 10)
    line = evaluate_with(capsys, with_metric(prepared, "ecs", {"checkpoint": str(bad)}), tmp_path)
    assert f"ECS classifier checkpoint {bad} is unreadable" in line
    assert "bench classifier train" in line
    torch.save({"classes": ["x"], "state_dict": {}, "image_size": 32}, bad)  # readable, not ours
    line = evaluate_with(capsys, with_metric(prepared, "ecs", {"checkpoint": str(bad)}), tmp_path)
    assert "classifier classes ['x'] differ" in line
    from bench.core.vocabulary import EXPRESSIONS

    torch.save(
        {"classes": list(EXPRESSIONS), "state_dict": {"w": torch.zeros(1)}, "image_size": 32}, bad
    )
    line = evaluate_with(capsys, with_metric(prepared, "ecs", {"checkpoint": str(bad)}), tmp_path)
    assert "does not fit torchvision resnet18" in line


@pytest.mark.parametrize("content", ["garbage", "foreign", "wrong shapes"])
def test_wrong_qualiclip_file(capsys, monkeypatch, prepared, tmp_path, content):
    weights = tmp_path / "weights"
    path = weights / "qualiclip" / "qualiclip.pth"
    path.parent.mkdir(parents=True)
    if content == "garbage":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
        expected = "is unreadable"
    elif content == "foreign":
        torch.save({"clip_model.visual.conv1.weight": torch.zeros(1)}, path)
        expected = "no `prompts_features`: not a QualiCLIP checkpoint"
    else:
        state = {"prompts_features": torch.zeros(14, 1024)}
        state["clip_model.visual.conv1.weight"] = torch.zeros(2, 2)
        torch.save(state, path)
        expected = "image tower does not fit CLIP RN50"
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(weights))
    line = evaluate_with(capsys, with_metric(prepared, "qualiclip", {}), tmp_path)
    assert str(path) in line and expected in line and "bench weights pull qualiclip" in line


def stale_outputs(prepared: dict, tmp_path: Path, change) -> dict:
    """Params whose outputs folder is a copy of the prepared one with ``change(outputs.csv frame,
    folder)`` applied."""
    params = copy.deepcopy(prepared)
    source = Path(prepared["paths"]["outputs"])
    params["paths"]["outputs"] = str(tmp_path / "outputs")
    shutil.copytree(source, tmp_path / "outputs")
    folder = tmp_path / "outputs" / "identity" / "synthetic"
    frame = pd.read_csv(folder / "outputs.csv", dtype=str)
    change(frame, folder)
    frame.to_csv(folder / "outputs.csv", index=False)
    return params


def test_outputs_with_a_source_the_manifest_lacks(capsys, prepared, tmp_path):
    def rename(frame, folder):
        frame.loc[frame.source_id == frame.source_id.iloc[0], "source_id"] = "s999_neutral_0"

    line = evaluate_with(capsys, stale_outputs(prepared, tmp_path, rename), tmp_path)
    assert "source id(s) ['s999_neutral_0'] (1 in all) are not in" in line
    assert "manifest.csv" in line and "bench synthesize" in line


def test_outputs_with_another_subject(capsys, prepared, tmp_path):
    def move(frame, folder):
        frame.loc[0, "subject"] = "s000"

    line = evaluate_with(capsys, stale_outputs(prepared, tmp_path, move), tmp_path)
    assert "is subject 's000' there but" in line


def test_outputs_with_a_missing_or_changed_file(capsys, prepared, tmp_path):
    def remove(frame, folder):
        (folder / frame.file.iloc[2]).unlink()

    line = evaluate_with(capsys, stale_outputs(prepared, tmp_path, remove), tmp_path)
    assert "does not exist" in line


def test_outputs_with_changed_pixels(capsys, prepared, tmp_path):
    def overwrite(frame, folder):
        other = frame[frame.source_id != frame.source_id.iloc[0]].file.iloc[0]
        shutil.copy(folder / other, folder / frame.file.iloc[0])

    line = evaluate_with(capsys, stale_outputs(prepared, tmp_path, overwrite), tmp_path)
    assert "differs from the sha256 recorded for it" in line
