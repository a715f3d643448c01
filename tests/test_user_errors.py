"""Bad settings and stale files end in one line on stderr and exit code 2, never a traceback:
a mistyped key in metric_settings or model_settings, an unknown FSS backbone, a corrupt ECS
classifier checkpoint, a wrong qualiclip.pth, an outputs.csv that no longer fits the dataset."""

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

from bench.config import load_params
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
    resolved = load_params(path)
    generate(root / "data", image_size=32, train_subjects=4, test_subjects=3, ood_subjects=2)
    train(resolved, "identity", CPU)
    synthesize(resolved, "identity", "synthetic", CPU)
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


def test_mistyped_metric_setting_through_the_console_script(prepared, tmp_path):
    params = with_metric(prepared, "l1", {"x": 1})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "bench.cli", "evaluate", "--model", "identity"]
        + ["--dataset", "synthetic", "--params", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: params metric_settings.l1: unknown key(s) ['x']; known: []"
    ]


def test_mistyped_metric_setting(capsys, prepared, tmp_path):
    line = evaluate_with(capsys, with_metric(prepared, "l1", {"x": 1}), tmp_path)
    assert "params metric_settings.l1: unknown key(s) ['x']; known: []" in line
    line = evaluate_with(capsys, with_metric(prepared, "ecs", {"batchsize": 8}), tmp_path)
    assert "metric_settings.ecs: unknown key(s) ['batchsize']" in line
    assert "['batch_size', 'checkpoint']" in line


def test_settings_for_an_unknown_metric(capsys, prepared, tmp_path):
    params = copy.deepcopy(prepared)
    params["metric_settings"]["l2"] = {}
    line = evaluate_with(capsys, params, tmp_path)
    assert "params metric_settings: unknown metric(s) ['l2']" in line and "'ssim'" in line


def test_mistyped_model_setting(capsys, prepared, tmp_path):
    params = copy.deepcopy(prepared)
    params.setdefault("model_settings", {})["identity"] = {"strength": 1}
    line = bench_with(capsys, params, tmp_path, "train", "--model", "identity")
    assert "model 'identity': unknown setting(s) strength" in line


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
