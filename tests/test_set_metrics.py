"""Set-level metrics and missing weights through `bench evaluate` and the report:
FID / KID per target and overall, the classifier's real accuracy, QualiCLIP reported missing
(or an error with --strict), the reference set (with the in-distribution fallback)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import generate_tiny_sets, tiny_params

from bench import layout
from bench.config import Config, load_config, updated
from bench.core.errors import MissingWeightsError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import EXPRESSIONS, INDEX
from bench.evaluate import evaluate, read_records, set_values_of
from bench.report import report
from bench.synthesize import read_outputs, synthesize
from bench.train import train
from datasets.manifest import read_manifest
from datasets.tensors import decode_images
from metrics.expression_classifier import load_classifier, predict
from metrics.frechet import frechet_distance
from metrics.real_set import RealSet, select_real_set

CPU = torch.device("cpu")


class FakeInception:
    """Stands in for Inception (speed): 12-d features = per-channel means of a 2x2 grid."""

    sha256 = "f" * 64
    asset = "fake_inception"

    def __init__(self, asset: str = "inception_fid", batch_size: int = 32) -> None:
        self.calls = 0

    def to(self, device: torch.device) -> FakeInception:
        return self

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.calls += 1
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.double(), 2)
        return pooled.flatten(1).numpy()

    def describe(self) -> dict[str, str]:
        return {"asset": self.asset, "sha256": self.sha256, "resize": "none"}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """identity on synthetic + synthetic_statue with fid (fake Inception), ecs, qualiclip, l1."""
    from bench.classifier import train_ecs_classifier as train_classifier

    root = tmp_path_factory.mktemp("sets")
    raw = tiny_params(root)
    raw["profiles"]["smoke"] |= {
        "metrics": ["ecs", "qualiclip", "fid", "l1"],
        "metric_settings": {"fid": {"cache_dir": str(root / "features")}},
        "ecs_classifier": {"epochs": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(root / "params.yaml")
    generate_tiny_sets(root)
    patch = pytest.MonkeyPatch()
    patch.setenv("FES_BENCH_WEIGHTS", str(root / "empty-weights"))  # no qualiclip.pth here
    patch.setattr("metrics.fid.InceptionFeatures", FakeInception)
    try:
        train_classifier(config, CPU)
        train(config, "identity", CPU)
        for dataset in config.eval_datasets:
            synthesize(config, "identity", dataset, CPU)
            evaluate(config, "identity", dataset, CPU)
        report(config, ["identity"], config.eval_datasets)
        yield config
    finally:
        patch.undo()


def output_and_real_pixels(config: Config) -> tuple[torch.Tensor, RealSet, list[int]]:
    """identity's outputs on synthetic (uint8, outputs.csv order), the real set they are
    compared with, and each output's target expression index."""
    outputs = read_outputs(config, "identity", "synthetic")
    folder = layout.outputs_dir(config, "identity", "synthetic")
    pixels = decode_images([folder / f for f in outputs["file"]])
    real = select_real_set(
        layout.dataset_dir(config, "synthetic"),
        tuple(config.targets),
        layout.dataset_dir(config, "synthetic"),
    )
    return pixels, real, [INDEX[t] for t in outputs["target_expression"]]


def classifier_hits(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The ECS classifier's hits (1/0) on the real set and on identity's outputs, computed here."""
    outputs, real, targets = output_and_real_pixels(config)
    model, meta = load_classifier(layout.classifier_path(config), CPU)
    size = int(meta["image_size"])
    on_real = predict(model, to_model_range(real.pixels()), size) == real.labels()
    on_outputs = predict(model, to_model_range(outputs), size) == torch.tensor(targets)
    return on_real.double().numpy(), on_outputs.double().numpy()


def test_metrics_json_carries_set_values_and_missing_reason(evaluated):
    body = json.loads(layout.metrics_path(evaluated, "identity", "synthetic").read_text())
    metrics = body["metrics"]
    fid = metrics["FID"]
    outputs, real, targets = output_and_real_pixels(evaluated)
    fake = FakeInception()
    order = [INDEX[t] for t in evaluated.targets]  # pooled target by target, as FID does
    generated = fake(outputs[sorted(range(len(targets)), key=lambda i: order.index(targets[i]))])
    reference = fake(real.pixels()[[i for t in evaluated.targets for i in real.rows([t])]])
    expected = frechet_distance(generated, reference)
    assert fid["mean"] == pytest.approx(expected, rel=1e-9, abs=0)
    assert fid["n"] == 3 * 6 and fid["ci_low"] is None
    assert set(fid["per_target"]) == set(evaluated.targets)
    assert "fewer than 2048" in fid["flag"]
    assert fid["details"]["reference"] == {
        "dataset": "synthetic",
        "fallback_for": None,
        "images": 18,
    }
    assert fid["details"]["overall"] == "pooled"
    assert "KID" in metrics and metrics["KID"]["n"] == 18
    accuracy = metrics["ECS real acc"]
    hits_on_real, hits_on_outputs = classifier_hits(evaluated)
    assert accuracy["mean"] == pytest.approx(hits_on_real.mean(), rel=1e-12, abs=0)
    assert accuracy["ci_low"] <= accuracy["mean"] <= accuracy["ci_high"]
    assert metrics["ECS"]["mean"] == pytest.approx(hits_on_outputs.mean(), rel=1e-12, abs=0)
    assert metrics["QualiCLIP"]["mean"] is None
    assert "ECS predicted" not in metrics  # a label column, not a number
    assert 0 <= metrics["Coverage"]["mean"] <= 1 and set(metrics["Coverage"]["per_target"]) == set(
        evaluated.targets
    )
    assert "bench weights pull qualiclip" in metrics["QualiCLIP"]["missing"]


def test_records_keep_set_values_and_missing_columns(evaluated):
    records = read_records(layout.records_path(evaluated, "identity", "synthetic_statue"))
    values = set_values_of(records)
    overall = {v.column: v for v in values if v.target_expression is None}
    assert set(overall) == {
        "ECS real acc",
        *("FID", "KID", "Precision", "Recall", "Density", "Coverage"),
    }
    assert overall["Precision"].details["prdc_k"] == 5
    assert overall["FID"].details["reference"]["dataset"] == "synthetic_statue"
    assert len([v for v in values if v.column == "FID"]) == 1 + len(evaluated.targets)
    assert records["QualiCLIP"].isna().all()
    assert "qualiclip" in records.attrs["missing"]["QualiCLIP"]
    assert records["ECS"].isin([0.0, 1.0]).all() and records["L1"].notna().all()
    # the classifier's predicted expression is kept, and ECS is exactly "predicted == target"
    assert records["ECS predicted"].isin(EXPRESSIONS).all()
    hits = (records["ECS predicted"] == records["target_expression"]).astype(float)
    assert (hits == records["ECS"]).all()


def test_tables_show_set_level_values_flags_and_missing(evaluated):
    tables = evaluated.root("results") / "tables"
    markdown = (tables / "comparison.md").read_text()
    synthetic = markdown.split("## synthetic\n")[1].split("\n## ")[0]  # one table per dataset
    header = synthetic.split("\n")[1]
    for column in ("FID ↓", "KID ↓", "ECS ↑"):
        assert column in header
    assert "ECS real acc" not in header  # the classifier's ceiling: in the real images row
    real = next(line for line in synthetic.split("\n") if line.startswith("| real images"))
    assert " ± " in real and "**" not in real
    assert "†" in markdown and "| missing" in markdown
    assert "QualiCLIP missing: Weights 'qualiclip'" in markdown
    assert (
        "synthetic_statue: set-level metrics compare with real test images of synthetic_statue"
        in markdown
    )
    latex = (tables / "comparison.tex").read_text()
    assert "$^\\dagger$" in latex and "†" not in latex
    summary = pd.read_csv(tables / "comparison.csv")
    fid = summary[(summary.metric == "FID") & (summary.dataset == "synthetic")]
    assert len(fid) == 1 and fid["mean"].item() > 0 and np.isnan(fid["ci_low"].item())
    per_target = pd.read_csv(tables / "per_expression.csv")
    for metric in ("FID", "KID"):
        assert set(per_target[per_target.metric == metric]["target_expression"]) == set(
            evaluated.targets
        )
    for column in ("Precision ↑", "Density ↑", "Coverage ↑"):
        assert column in header


def test_confusion_matrices_match_the_ecs_records(evaluated):
    results = evaluated.root("results")
    counts = pd.read_csv(results / "tables" / "confusion.csv")
    for dataset in evaluated.eval_datasets:
        records = read_records(layout.records_path(evaluated, "identity", dataset))
        mine = counts[(counts.dataset == dataset) & (counts.classifier == "ECS")]
        assert mine["count"].sum() == len(records)
        assert len(mine) == len(evaluated.targets) * len(EXPRESSIONS)  # zeros kept
        diagonal = mine[mine.target_expression == mine.predicted]["count"].sum()
        assert diagonal == records["ECS"].sum()
        for folder, suffix in (("figures", "png"), ("pdf", "pdf")):
            assert (results / folder / f"confusion_identity__{dataset}.{suffix}").is_file()


def test_strict_turns_missing_weights_into_an_error(evaluated, monkeypatch, tmp_path):
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setattr("metrics.fid.InceptionFeatures", FakeInception)
    with pytest.raises(MissingWeightsError, match="qualiclip"):
        evaluate(evaluated, "identity", "synthetic", CPU, strict=True)
    strict_config = updated(evaluated, {"evaluation.strict": True})
    with pytest.raises(MissingWeightsError, match="qualiclip"):
        evaluate(strict_config, "identity", "synthetic", CPU)


def test_reference_falls_back_to_in_distribution_for_unlabelled_sets(evaluated):
    source = layout.dataset_dir(evaluated, "synthetic_statue")
    photos = layout.dataset_dir(evaluated, "photos")
    shutil.copytree(source, photos)
    frame = read_manifest(photos)
    frame[frame.expression == "neutral"].to_csv(photos / "manifest.csv", index=False)
    real = select_real_set(
        photos, tuple(evaluated.targets), layout.dataset_dir(evaluated, "synthetic")
    )
    assert real.dataset == "synthetic" and real.fallback_for == "photos"
    assert "in-distribution" in real.describe() and len(real.rows(["happy"])) == 3
    own = select_real_set(
        source, tuple(evaluated.targets), layout.dataset_dir(evaluated, "synthetic")
    )
    assert own.dataset == "synthetic_statue" and own.fallback_for is None


def test_undefined_precision_recall_is_an_explained_na_not_a_flag():
    """PRDC on a set of at most k images is NaN: the table's n/a cell gets a note saying why
    (prdc_k), and no † caveat that no cell would carry."""
    from bench.report.set_level import collect, notes
    from metrics.fid import FID
    from metrics.prdc import prdc

    metric = FID(prdc_k=5)
    rng = np.random.default_rng(0)
    real, generated = rng.normal(size=(8, 4)), rng.normal(size=(5, 4))
    scores = {"FID": 1.0, "KID": 0.0, **prdc(real, generated, metric.prdc_k)}
    values = metric._set_values(None, scores, len(generated), {})
    assert {v.column for v in values if v.flag.startswith("defined only")} == {
        "Precision",
        "Recall",
        "Density",
        "Coverage",
    }
    frame = pd.DataFrame({"model": ["m"], "dataset": ["d"]})
    frame.attrs["set_values"] = [v.as_dict() for v in values]
    columns = {c.name: c for c in metric.set_columns}
    level = collect([frame], columns)
    lines = notes(level, columns)
    assert (
        "n/a in Precision, Recall, Density, Coverage: defined only when the generated and the "
        "real set each have more than prdc_k = 5 images (the k-th nearest neighbour within a "
        "set)." in lines
    )
    assert set(level.flags) == {("m", "d", "FID"), ("m", "d", "KID")}  # small-set caveats only
