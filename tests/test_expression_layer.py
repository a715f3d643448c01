"""The expression layer (batched closed-form ridge vs a per-pixel solve), training pairs, and MR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bench.errors import UserError
from datasets.synthetic import generate
from datasets.tensors import ImageSet, load_image_set, to_model_range
from datasets.vocabulary import INDEX
from models.base import TrainContext, load_generator
from models.expression_layer import ExpressionLayer, fit_ridge_maps, neighbourhoods, to_unit
from models.mr import MaskedRegression
from models.pairs import neutral_pairs
from models.registry import MODELS
from models.ridge_reference import per_pixel_ridge


def random_pairs(n: int, size: int, seed: int, channels: int = 3):
    generator = torch.Generator().manual_seed(seed)
    shape = (n, channels, size, size)
    sources = torch.rand(shape, generator=generator, dtype=torch.float64)
    targets = torch.rand(shape, generator=generator, dtype=torch.float64)
    return sources, targets


@pytest.mark.parametrize(
    ("receptive_field", "size", "pairs", "ridge_lambda"),
    [(3, 8, 7, 0.4), (3, 9, 30, 0.4), (5, 10, 12, 0.05), (1, 6, 3, 1.0), (7, 7, 5, 0.4)],
)
def test_batched_fit_equals_per_pixel_ridge(receptive_field, size, pairs, ridge_lambda):
    sources, targets = random_pairs(pairs, size, seed=size + pairs)
    batched = fit_ridge_maps(sources, targets, receptive_field, ridge_lambda, chunk_size=4)
    assert batched.shape == (3, receptive_field**2 + 1, size, size)
    assert batched.dtype == torch.float64
    for channel in range(3):
        reference = per_pixel_ridge(
            sources[:, channel].numpy(), targets[:, channel].numpy(), receptive_field, ridge_lambda
        )
        np.testing.assert_allclose(batched[channel].numpy(), reference, rtol=0, atol=1e-6)


def test_chunking_does_not_change_the_fit():
    sources, targets = random_pairs(11, 12, seed=1)
    whole = fit_ridge_maps(sources, targets, 3, 0.4, chunk_size=64)
    chunked = fit_ridge_maps(sources, targets, 3, 0.4, chunk_size=3)
    torch.testing.assert_close(whole, chunked, rtol=0, atol=1e-12)


def test_absent_border_neighbours_have_exactly_zero_weight():
    sources, targets = random_pairs(6, 8, seed=2)
    weights = fit_ridge_maps(sources, targets, 3, 0.4)
    absent = neighbourhoods(torch.ones(1, 1, 8, 8), 3)[0, 0] == 0  # (9, 8, 8)
    assert absent[:, 0, 0].sum() == 5  # a corner keeps 4 neighbours (+ bias)
    assert torch.all(weights[:, :-1][:, absent] == 0)
    assert torch.all(weights[:, :-1][:, ~absent] != 0)


def test_layer_forward_applies_the_fitted_maps():
    sources, targets = random_pairs(9, 8, seed=3)
    layer = ExpressionLayer(8, num_expressions=3, receptive_field=3, ridge_lambda=0.4)
    layer.fit_expression(2, sources * 2 - 1, targets * 2 - 1)
    maps = fit_ridge_maps(sources, targets, 3, 0.4)
    images = torch.rand(4, 3, 8, 8, dtype=torch.float64)
    labels = torch.tensor([2, 2, 0, 1])
    out = layer(images.float() * 2 - 1, labels)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    expected = maps[:, -1].expand(4, -1, -1, -1).clone()
    for dy in range(3):
        for dx in range(3):
            expected += maps[:, dy * 3 + dx] * padded[:, :, dy : dy + 8, dx : dx + 8]
    torch.testing.assert_close(out[:2], (expected[:2] * 2 - 1).float(), atol=2e-5, rtol=0)
    # unfitted maps (neutral included) start as the identity
    torch.testing.assert_close(out[2:], images[2:].float() * 2 - 1, atol=1e-6, rtol=0)


def test_layer_accepts_uint8_and_is_differentiable():
    layer = ExpressionLayer(8, num_expressions=2)
    sources = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    targets = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    layer.fit_expression(1, sources, targets)
    expected = fit_ridge_maps(to_unit(sources), to_unit(targets), 3, 0.4)
    torch.testing.assert_close(layer.bias[1].double(), expected[:, -1], atol=1e-6, rtol=0)
    images = (torch.rand(2, 3, 8, 8) * 2 - 1).requires_grad_(True)
    layer(images, torch.tensor([1, 0])).sum().backward()
    assert images.grad is not None and layer.weight.grad is not None
    assert torch.all(layer.weight.grad[0][:, :, 1:-1, 1:-1] != 0)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="odd"):
        ExpressionLayer(8, 2, receptive_field=4)
    with pytest.raises(ValueError, match="ridge_lambda"):
        ExpressionLayer(8, 2, ridge_lambda=0.0)
    with pytest.raises(UserError, match="model_settings.mr"):
        MaskedRegression(16, receptive_field=2)
    with pytest.raises(UserError, match="unknown setting.*valid: receptive_field, ridge_lambda"):
        MaskedRegression(16, lam=0.4)


def test_neutral_pairs_by_subject_with_missing_expressions():
    frame = pd.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "b", "c", "c", "c", "c"],
            "expression": [
                "neutral",
                "happy",
                "happy",
                "happy",
                "sad",
                "neutral",
                "neutral",
                "happy",
                "sad",
            ],
        }
    )
    data = ImageSet(
        images=torch.zeros(len(frame), 3, 8, 8, dtype=torch.uint8),
        expressions=torch.tensor([INDEX[e] for e in frame["expression"]]),
        frame=frame,
    )
    sources, targets = neutral_pairs(data, INDEX["happy"])
    assert list(zip(sources.tolist(), targets.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (5, 7),
        (6, 7),
    ]  # subject b has no neutral image
    sources, targets = neutral_pairs(data, INDEX["sad"])
    assert sources.tolist() == [5, 6] and targets.tolist() == [8, 8]
    assert len(neutral_pairs(data, INDEX["angry"])[0]) == 0


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate(root, seed=0, image_size=32, train_subjects=4, test_subjects=2, ood_subjects=1)
    return root / "synthetic"


def test_mr_fits_all_targets_and_round_trips(tiny_set, tmp_path):
    train = load_image_set(tiny_set, split="train")
    model = MODELS.load("mr")(image_size=32)
    assert model.trainable
    model.fit(train, TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path))
    sources, targets = neutral_pairs(train, INDEX["happy"])
    maps = fit_ridge_maps(to_unit(train.images[sources]), to_unit(train.images[targets]), 3, 0.4)
    torch.testing.assert_close(model.expression_layer.weight[INDEX["happy"]].double(), maps[:, :-1])
    test = load_image_set(tiny_set, split="test")
    images = to_model_range(test.images[:4])
    labels = torch.tensor([1, 3, 5, 0])
    out = model.eval().translate(images, labels)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out[3], images[3])  # neutral -> neutral is the identity map
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = load_generator(path, expected_model="mr")
    assert loaded.config() == {
        "image_size": 32,
        "num_expressions": 7,
        "receptive_field": 3,
        "ridge_lambda": 0.4,
    }
    assert torch.equal(loaded.translate(images, labels), out)


def test_mr_bad_checkpoints_are_clear_errors(tmp_path):
    model = MODELS.load("mr")(image_size=16)
    path = tmp_path / "model.pt"
    model.save(path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="unreadable"):
        load_generator(truncated, expected_model="mr")
    with pytest.raises(UserError, match="holds model 'mr', not 'reggan'"):
        load_generator(path, expected_model="reggan")
    MODELS.load("identity")(image_size=16).save(tmp_path / "identity.pt")
    with pytest.raises(UserError, match="holds model 'identity', not 'mr'"):
        load_generator(tmp_path / "identity.pt", expected_model="mr")
    payload = torch.load(path, weights_only=True)
    payload["config"]["receptive_field"] = 5  # weights of a 3x3 layer, config of a 5x5 one
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(UserError, match="does not fit model 'mr'"):
        load_generator(tmp_path / "mismatch.pt")


def test_perf_expression_layer_command_reports_time_and_difference():
    from typer.testing import CliRunner

    from bench.commands.perf_models import app

    result = CliRunner().invoke(
        app, ["expression-layer", "--image-size", "12", "--pairs", "5", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "per-pixel" in result.output and "batched" in result.output
    difference = float(result.output.split("weight difference:")[1].split()[0])
    assert difference < 1e-10
