"""The weights step: which files the configured pipeline needs, pulled and pinned per group,
and the DVC wiring that reruns exactly the stages that read a newly pulled file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_params
from test_weights import URL_PAYLOAD, cache_dir, http_root, make_asset, sha  # noqa: F401
from typer.testing import CliRunner

from bench import weights_lock
from bench.commands.weights import app
from bench.config import load_config, updated
from bench.core.weights import assets
from bench.core.weights.assets import Url


def test_needed_assets_follow_the_configured_metrics_models_and_datasets(tmp_path):
    config = load_config(REPO / "params.yaml", "smoke")
    needed = weights_lock.needed_assets(config)
    assert needed == {
        "datasets": [],
        "models": ["inception_fid", "vgg19_imagenet"],  # DAI2I: VGG-19 and its substitute
        "metrics": ["dlib_face_recognition", "fer_mini_xception", "inception_fid", "qualiclip"],
    }
    config = updated(
        config,
        {
            "datasets.photos": {"kind": "folder", "root": str(tmp_path)},
            "metrics": ["l1", "ssim"],
            "adapted_models": [],
        },
    )
    assert weights_lock.needed_assets(config) == {
        "datasets": ["dlib_landmarks_5"],
        "models": [],
        "metrics": [],
    }


@pytest.fixture
def project(tmp_path, monkeypatch, cache_dir, http_root):  # noqa: F811
    """A params.yaml in the working folder whose metrics need a URL asset served locally."""
    folder, base = http_root
    monkeypatch.setattr(
        assets,
        "ASSETS",
        {
            "url_metric": make_asset("url_metric", sha(URL_PAYLOAD), (Url(f"{base}/plain.bin"),)),
            "url_model": make_asset("url_model", sha(URL_PAYLOAD), (Url(f"{base}/plain.bin"),)),
        },
    )
    monkeypatch.setattr(
        weights_lock,
        "needed_assets",
        lambda config: {"datasets": [], "models": ["url_model"], "metrics": ["url_metric"]},
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(tmp_path)))
    return tmp_path, folder


def _locks(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "results" / "weights").glob("*.json"))}


def test_lock_records_unavailable_files_then_a_pull_changes_only_their_group(project):
    root, served = project
    (served / "plain.bin").rename(served / "hidden.bin")  # the server has nothing yet
    result = CliRunner().invoke(app, ["lock"])
    assert result.exit_code == 0, result.output
    before = _locks(root)
    assert "unavailable" in json.loads(before["metrics.json"])["url_metric"]
    assert json.loads(before["datasets.json"]) == {}

    (served / "hidden.bin").rename(served / "plain.bin")
    result = CliRunner().invoke(app, ["pull", "url_metric"])
    assert result.exit_code == 0, result.output
    after = _locks(root)
    assert json.loads(after["metrics.json"]) == {"url_metric": {"sha256": sha(URL_PAYLOAD)}}
    assert after["models.json"] == before["models.json"], "the adapt stages must not rerun"
    assert after["datasets.json"] == before["datasets.json"]


def test_offline_lock_never_touches_the_network(project, monkeypatch):
    root, _ = project
    monkeypatch.setenv(weights_lock.OFFLINE_ENV, "1")
    result = CliRunner().invoke(app, ["lock"])
    assert result.exit_code == 0, result.output
    entry = json.loads(_locks(root)["metrics.json"])["url_metric"]
    assert "not in the cache" in entry["unavailable"]


def _stage_deps(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def test_each_stage_depends_on_the_lock_of_what_it_reads():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    lock = "${paths.results}/weights/"
    assert stages["weights"]["always_changed"]
    # settings.yaml is written first; the weights lock comes before anything that reads it
    assert list(stages)[:2] == ["settings", "weights"]
    expected = {
        "data": {"datasets.json"},
        "adapt": {"models.json"},
        "evaluate": {"metrics.json"},
        "evaluate_adapted": {"metrics.json"},
        "train": set(),
        "ecs_classifier": set(),
        "report": set(),
    }
    for name, locks in expected.items():
        deps = {d.removeprefix(lock) for d in _stage_deps(stages[name]) if d.startswith(lock)}
        assert deps == locks, name
