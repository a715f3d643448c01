"""One process evaluates a model on several datasets (what each DVC evaluate stage runs): the
metrics are built once and reused, and every (model, dataset) result is byte-identical to
evaluating that dataset alone with freshly built metrics (no state carried from one dataset
into the next)."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml
from conftest import generate_tiny_sets, tiny_params
from test_set_metrics import FakeInception

from bench import cli, layout
from bench.classifier import train_ecs_classifier
from bench.config import Config, load_config
from bench.core.weights import status
from bench.evaluate import evaluate, evaluate_datasets
from bench.synthesize import synthesize
from bench.train import train

CPU = torch.device("cpu")
DATASETS = ["synthetic", "synthetic_statue"]


def result_bytes(config: Config, dataset: str) -> tuple[bytes, bytes]:
    """The records parquet and the metrics JSON of identity on ``dataset``, as bytes."""
    return (
        layout.records_path(config, "identity", dataset).read_bytes(),
        layout.metrics_path(config, "identity", dataset).read_bytes(),
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """identity trained on a tiny synthetic set with its statue style, the ECS classifier,
    every stateful metric (FID with a fake Inception, ECS, FSS where dlib is cached)."""
    root = tmp_path_factory.mktemp("many")
    raw = tiny_params(root)
    dlib = all(r.status == "ok" for r in status(["dlib_face_recognition"]))
    raw["profiles"]["smoke"] |= {
        "metrics": ["ecs", "ecs_fer", "fid", "l1", "ssim", "qualiclip"] + (["fss"] if dlib else []),
        "metric_settings": {"fid": {"cache_dir": str(root / "features")}},
        "ecs_classifier": {"epochs": 1},
    }
    raw["eval_datasets"] = DATASETS
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(root / "params.yaml")
    generate_tiny_sets(root)
    patch = pytest.MonkeyPatch()
    patch.setattr("metrics.fid.InceptionFeatures", FakeInception)
    try:
        train_ecs_classifier(config, CPU)
        train(config, "identity", CPU)
        yield config
    finally:
        patch.undo()


def test_one_process_over_datasets_equals_each_dataset_alone(project):
    config = project
    paths = evaluate_datasets(config, "identity", DATASETS, CPU, synthesize_first=True)
    assert paths == [layout.records_path(config, "identity", d) for d in DATASETS]
    together = {d: result_bytes(config, d) for d in DATASETS}
    # the second dataset alone, with metrics built afresh: equal to the bytes written after
    # the same metric objects had scored the first dataset
    for dataset in reversed(DATASETS):
        shutil.rmtree(layout.outputs_dir(config, "identity", dataset))
        layout.records_path(config, "identity", dataset).unlink()
        synthesize(config, "identity", dataset, CPU)
        evaluate(config, "identity", dataset, CPU)
        assert result_bytes(config, dataset) == together[dataset], dataset


def test_the_command_defaults_to_every_eval_dataset(project, monkeypatch):
    params_file = project.root("data").parent / "params.yaml"
    for dataset in DATASETS:
        shutil.rmtree(layout.outputs_dir(project, "identity", dataset), ignore_errors=True)
        layout.records_path(project, "identity", dataset).unlink(missing_ok=True)
    monkeypatch.setattr(cli, "_device", lambda config, device: CPU)
    cli.app(
        ["evaluate", "--model", "identity", "--synthesize", "--params", str(params_file)],
        standalone_mode=False,
    )
    for dataset in DATASETS:
        assert layout.records_path(project, "identity", dataset).is_file(), dataset


def test_the_dvc_evaluate_stages_own_the_folders_evaluate_writes():
    """dvc.yaml's evaluate stages declare (as outs or metrics) exactly the per-model folders
    that bench.layout puts every dataset's outputs, records and metrics JSON in."""
    from conftest import REPO

    config = load_config(REPO / "params.yaml")
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def declared(stage: dict) -> set[str]:
        entries = stage.get("outs", []) + stage.get("metrics", [])
        names = [e if isinstance(e, str) else next(iter(e)) for e in entries]
        for key, value in config.paths.model_dump().items():
            names = [n.replace(f"${{paths.{key}}}", value) for n in names]
        return {n.replace("${item.model}", "reggan") for n in names}

    written = {
        layout.outputs_dir(config, "reggan", "synthetic").parent.as_posix(),
        layout.records_path(config, "reggan", "synthetic").parent.as_posix(),
        layout.metrics_path(config, "reggan", "synthetic").parent.as_posix(),
    }
    for name in ("evaluate", "evaluate_adapted"):
        assert set(stages[name]["matrix"]) == {"model"}, name
        assert declared(stages[name]) == written, name
