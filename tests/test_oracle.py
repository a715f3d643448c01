"""Tests that can fail: an oracle generator (it returns the subject's real image of the target
expression) run through synthesize + evaluate must score L1 = 0, SSIM = 1 and ECS equal to the
classifier's accuracy on those real images; a classifier stub that knows every image's true
expression proves ECS compares the requested target, not the source."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_params

from bench import layout
from bench.classifier import train_ecs_classifier
from bench.config import Config, load_config
from bench.core.registry import BUILT_IN, Entry
from bench.core.tensors import to_uint8
from bench.core.vocabulary import EXPRESSIONS, INDEX
from bench.evaluate import evaluate, read_evaluation
from bench.synthesize import synthesize
from bench.train import train
from datasets.manifest import read_manifest
from datasets.synthetic import generate
from datasets.tensors import decode_images
from metrics.base import ScoringBatch
from metrics.classifier_ecs import ClassifierECS
from metrics.expression_classifier import load_classifier, predict
from metrics.registry import METRICS
from models.base import Generator
from models.registry import MODELS

CPU = torch.device("cpu")


def pixel_key(image: torch.Tensor) -> str:
    """sha256 of one image's uint8 pixels (3, H, W)."""
    return hashlib.sha256(image.contiguous().numpy().tobytes()).hexdigest()


def dataset_images(
    root: Path,
) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], torch.Tensor]]:
    """For a prepared dataset: pixel key -> (subject, expression), and (subject, expression) ->
    the subject's first real image of that expression (uint8)."""
    frame = read_manifest(root).sort_values("image_id")
    pixels = decode_images([root / f for f in frame["file"]])
    identity, real = {}, {}
    for image, row in zip(pixels, frame.itertuples(), strict=True):
        identity[pixel_key(image)] = (row.subject, row.expression)
        real.setdefault((row.subject, row.expression), image)
    return identity, real


class Oracle(Generator):
    """Returns the subject's real image of the target expression (the subject is found by the
    source's pixels in the prepared dataset at ``data_root``)."""

    name: ClassVar[str] = "oracle"
    trainable: ClassVar[bool] = False

    def __init__(self, image_size: int, num_expressions: int = 7, data_root: str = "") -> None:
        super().__init__(image_size, num_expressions, data_root=data_root)
        self._identity, self._real = dataset_images(Path(data_root))

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        self.check_inputs(images, target_expressions)
        out = []
        for image, target in zip(to_uint8(images).cpu(), target_expressions.tolist(), strict=True):
            subject, _ = self._identity[pixel_key(image)]
            out.append(self._real[(subject, EXPRESSIONS[target])])
        return torch.stack(out).float().div(127.5).sub(1.0).to(images.device)


class TrueExpressionECS(ClassifierECS):
    """ECS with a perfect classifier: it reads each image's true expression from the dataset."""

    name: ClassVar[str] = "true_ecs"
    score_column: ClassVar[str] = "TrueECS"
    accuracy_column: ClassVar[str] = "TrueECS real acc"
    classifier_description: ClassVar[str] = "the dataset's own labels"
    columns: ClassVar[tuple] = METRICS.load("ecs").columns[:0]

    def __init__(self, data_root: str = "") -> None:
        super().__init__()
        self._identity, _ = dataset_images(Path(data_root))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        keys = [pixel_key(image) for image in to_uint8(images).cpu()]
        return torch.tensor([INDEX[self._identity[k][1]] for k in keys])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Config:
    """oracle and identity synthesized and evaluated on the tiny synthetic set with l1, ssim,
    ecs (a 1-epoch classifier) and true_ecs (registered for this test)."""
    root = tmp_path_factory.mktemp("oracle")
    raw = tiny_params(root)
    raw["profiles"]["smoke"]["metrics"] = ["l1", "ssim", "ecs", "true_ecs"]
    data_root = str(root / "data" / "synthetic")
    raw["model_settings"]["oracle"] = {"data_root": data_root}
    raw["metric_settings"]["true_ecs"] = {"data_root": data_root}
    raw["ecs_classifier"] = {**raw["ecs_classifier"], "epochs": 2}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    patch = pytest.MonkeyPatch()
    patch.setitem(MODELS._entries, "oracle", Entry(f"{__name__}:Oracle", BUILT_IN))
    patch.setitem(METRICS._entries, "true_ecs", Entry(f"{__name__}:TrueExpressionECS", BUILT_IN))
    try:
        config = load_config(root / "params.yaml")
        generate(root / "data", image_size=32, train_subjects=4, test_subjects=3, styles=[])
        train_ecs_classifier(config, CPU)
        for model in ("oracle", "identity"):
            train(config, model, CPU)
            synthesize(config, model, "synthetic", CPU)
            evaluate(config, model, "synthetic", CPU)
        yield config
    finally:
        patch.undo()


def test_oracle_scores_perfect_l1_and_ssim(evaluated):
    records = read_evaluation(evaluated, "oracle", "synthetic")
    assert len(records) == 3 * 6 and records["has_reference"].all()
    assert (records["L1"] == 0.0).all()
    np.testing.assert_allclose(records["SSIM"], 1.0, rtol=0, atol=1e-12)


def test_oracle_ecs_equals_the_classifier_accuracy_on_the_real_targets(evaluated):
    """Computed here without the evaluation: the classifier on the real target images."""
    records = read_evaluation(evaluated, "oracle", "synthetic")
    root = layout.dataset_dir(evaluated, "synthetic")
    _, real = dataset_images(root)
    images = torch.stack([real[(r.subject, r.target_expression)] for r in records.itertuples()])
    model, meta = load_classifier(layout.classifier_path(evaluated), CPU)
    predicted = predict(model, images.float().div(127.5).sub(1.0), int(meta["image_size"]))
    labels = torch.tensor([INDEX[t] for t in records["target_expression"]])
    hits = (predicted == labels).double().numpy()
    np.testing.assert_array_equal(records["ECS"].to_numpy(), hits)
    assert records["ECS"].mean() == hits.mean()


def test_ecs_compares_the_requested_target_not_the_source(evaluated):
    """A perfect classifier: the oracle hits every target, the identity (neutral faces) none."""
    oracle = read_evaluation(evaluated, "oracle", "synthetic")
    identity = read_evaluation(evaluated, "identity", "synthetic")
    assert (oracle["TrueECS"] == 1.0).all() and (identity["TrueECS"] == 0.0).all()
    assert "neutral" not in set(oracle["target_expression"])


def test_classifier_ecs_scores_outputs_against_targets():
    """Images whose pixel value encodes a class; sources, outputs and targets all differ."""

    class ByValue(ClassifierECS):
        name: ClassVar[str] = "by_value"
        score_column: ClassVar[str] = "S"
        accuracy_column: ClassVar[str] = "A"
        classifier_description: ClassVar[str] = "pixel value"

        def predict(self, images: torch.Tensor) -> torch.Tensor:
            return images[:, 0, 0, 0].add(1.0).mul(3.0).round().long()

    def encode(labels: list[str]) -> torch.Tensor:
        values = torch.tensor([INDEX[x] / 3.0 - 1.0 for x in labels])
        return values.view(-1, 1, 1, 1).expand(-1, 3, 4, 4).clone()

    outputs = encode(["happy", "sad", "angry", "neutral"])
    sources = encode(["sad", "happy", "neutral", "sad"])
    targets = torch.tensor([INDEX[x] for x in ("happy", "happy", "angry", "sad")])
    batch = ScoringBatch(sources, outputs, targets, sources, torch.ones(4, dtype=torch.bool))
    np.testing.assert_array_equal(ByValue().score(batch)["S"], [1.0, 0.0, 1.0, 0.0])
