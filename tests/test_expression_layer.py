"""The expression layer (batched closed-form ridge vs a per-pixel solve), training pairs, and MR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet, to_model_range
from bench.core.vocabulary import INDEX
from datasets.synthetic import generate
from datasets.tensors import load_image_set
from models.base import TrainContext, load_generator
from models.expression_layer import (
    EXACT_PAIRS,
    ExpressionLayer,
    RidgeAccumulator,
    _solve_spd,
    fit_ridge_maps,
    neighbourhoods,
    to_unit,
)
from models.mr import MaskedRegression, min_max
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
        np.testing.assert_allclose(batched[channel].numpy(), reference, rtol=0, atol=1e-11)


def random_uint8_pairs(n: int, size: int, seed: int, channels: int = 2):
    generator = torch.Generator().manual_seed(seed)
    shape = (n, channels, size, size)
    sources = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    targets = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    return sources, targets


@pytest.mark.parametrize(
    ("receptive_field", "size", "pairs", "chunk_size"),
    [
        (1, 7, 5, 256),
        (3, 9, 12, 5),  # several add() calls
        (3, 13, 20, 256),  # odd size: not a multiple of the strip nor of 8
        (3, 16, 10, 256),  # multiple of 8: word-wise transpose
        (3, 8, 1, 256),  # a single pair
        (5, 11, 9, 4),
        (5, 6, 12, 256),  # field almost as large as the image
        (3, 6, 300, 256),  # > EXACT_PAIRS pairs over two add() calls
        (3, 6, 300, 1000),  # > EXACT_PAIRS pairs in one add(): split inside
        (5, 7, 2 * EXACT_PAIRS + 3, 1000),
    ],
)
def test_uint8_fit_equals_float64_fit_and_per_pixel_ridge(receptive_field, size, pairs, chunk_size):
    sources, targets = random_uint8_pairs(pairs, size, seed=size * pairs)
    exact = fit_ridge_maps(sources, targets, receptive_field, 0.4, chunk_size=chunk_size)
    unit_sources, unit_targets = to_unit(sources), to_unit(targets)
    floating = fit_ridge_maps(unit_sources, unit_targets, receptive_field, 0.4)
    assert exact.shape == (2, receptive_field**2 + 1, size, size)
    torch.testing.assert_close(exact, floating, rtol=0, atol=1e-11)
    for channel in range(2):
        reference = per_pixel_ridge(
            unit_sources[:, channel].numpy(),
            unit_targets[:, channel].numpy(),
            receptive_field,
            0.4,
        )
        np.testing.assert_allclose(exact[channel].numpy(), reference, rtol=0, atol=1e-11)


@pytest.mark.parametrize("receptive_field", [1, 3, 5])
def test_bands_and_solve_blocks_do_not_change_the_fit(monkeypatch, receptive_field):
    import models.expression_layer as layer

    sources, targets = random_uint8_pairs(6, 13, seed=receptive_field)
    whole = fit_ridge_maps(sources, targets, receptive_field, 0.4)
    # A few image rows at a time, and a few rows of systems per solve (not dividing 13).
    monkeypatch.setattr(layer, "BAND_BYTES", 5 * 16 * 6 * 4)
    monkeypatch.setattr(layer, "SOLVE_BYTES", 4 * (receptive_field**2 + 1) ** 2 * 2 * 16 * 8)
    banded = fit_ridge_maps(sources, targets, receptive_field, 0.4)
    torch.testing.assert_close(banded, whole, rtol=0, atol=1e-12)
    floating = fit_ridge_maps(to_unit(sources), to_unit(targets), receptive_field, 0.4)
    torch.testing.assert_close(floating, whole, rtol=0, atol=1e-11)


def test_uint8_products_are_exact_integer_sums():
    # More than EXACT_PAIRS pairs, random and saturated (the worst case, 255 * 255 per pair):
    # the float32 sums of the uint8 path equal float64 sums of the same integers bit for bit.
    random_sources, random_targets = random_uint8_pairs(EXACT_PAIRS + 50, 10, seed=5)
    saturated = torch.full((2 * EXACT_PAIRS + 1, 2, 10, 10), 255, dtype=torch.uint8)
    for sources, targets in [(random_sources, random_targets), (saturated, saturated)]:
        exact = RidgeAccumulator(2, 10, 3)
        exact.add(sources, targets)
        wide = RidgeAccumulator(2, 10, 3)
        wide.add(sources.double(), targets.double())
        assert torch.equal(exact.maps, wide.maps)
    assert exact.maps.max() == len(saturated) * 255**2


def test_accumulator_takes_one_kind_of_pairs():
    accumulator = RidgeAccumulator(2, 8, 3)
    accumulator.add(*random_uint8_pairs(3, 8, seed=0))
    with pytest.raises(ValueError, match="either uint8 or float"):
        accumulator.add(torch.rand(3, 2, 8, 8), torch.rand(3, 2, 8, 8))
    with pytest.raises(ValueError, match="pairs must be"):
        accumulator.add(*random_uint8_pairs(3, 9, seed=0))


def test_vectorised_cholesky_solves_spd_systems_and_keeps_zeros_exact():
    size, count = 6, 50
    generator = torch.Generator().manual_seed(4)
    design = torch.rand(count, 20, size, generator=generator, dtype=torch.float64)
    design[:, :, 2] = 0  # an absent feature: zero row and column apart from the diagonal
    matrices = design.transpose(1, 2) @ design + 0.3 * torch.eye(size, dtype=torch.float64)
    rhs = design.transpose(1, 2) @ torch.rand(
        count, 20, 1, generator=generator, dtype=torch.float64
    )
    system = torch.full((size, size + 1, count), float("nan"), dtype=torch.float64)
    for j in range(size):  # column j of the lower triangle, then b_j; NaN above: never read
        system[j, j:size] = matrices[:, j:, j].T
        system[j, size] = rhs[:, j, 0]
    solution = _solve_spd(system)
    expected = torch.linalg.solve(matrices, rhs)[:, :, 0].T
    torch.testing.assert_close(solution, expected, rtol=0, atol=1e-12)
    assert torch.all(solution[2] == 0)


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


@pytest.mark.parametrize("scaling", ["authors", "fixed"])
def test_mr_fits_all_targets_and_round_trips(scaling, tiny_set, tmp_path):
    train = load_image_set(tiny_set, split="train")
    model = MODELS.load("mr")(image_size=32, scaling=scaling)
    assert model.trainable
    model.fit(train, TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path))
    sources, targets = neutral_pairs(train, INDEX["happy"])
    sources, targets = (to_unit(model.prepare_inputs(train.images[i])) for i in (sources, targets))
    maps = fit_ridge_maps(sources, targets, 3, 0.4)
    torch.testing.assert_close(model.expression_layer.weight[INDEX["happy"]].double(), maps[:, :-1])
    test = load_image_set(tiny_set, split="test")
    images = to_model_range(test.images[:4])
    labels = torch.tensor([1, 3, 5, 0])
    out = model.eval().translate(images, labels)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    # neutral -> neutral is the identity map (then the authors' per-image stretch)
    assert torch.allclose(out[3], min_max(images[3:4])[0] if scaling == "authors" else images[3])
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = load_generator(path, expected_model="mr")
    assert loaded.config() == {
        "image_size": 32,
        "num_expressions": 7,
        "receptive_field": 3,
        "ridge_lambda": 0.4,
        "scaling": scaling,
        "input_channels": 3,
    }
    assert torch.equal(loaded.translate(images, labels), out)


def test_mr_grayscale_repeats_one_grey_map_in_three_channels(tiny_set, tmp_path):
    train = load_image_set(tiny_set, split="train")
    model = MODELS.load("mr")(image_size=32, input_channels=1)
    model.fit(train, TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path))
    assert model.expression_layer.weight.shape[1] == 1
    out = model.eval().translate(to_model_range(train.images[:2]), torch.tensor([1, 2]))
    assert out.shape == (2, 3, 32, 32) and torch.equal(out[:, 0], out[:, 2])


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
    assert difference < 1e-11
    assert "uint8 pairs" in result.output  # what the models fit on, by default
    result = CliRunner().invoke(
        app,
        ["expression-layer", "--image-size", "9", "--pairs", "4", "--repeats", "1"]
        + ["--dtype", "float64"],
    )
    assert result.exit_code == 0, result.output
    assert "float64 pairs" in result.output
    assert float(result.output.split("weight difference:")[1].split()[0]) < 1e-11
    result = CliRunner().invoke(app, ["expression-layer", "--dtype", "int16"])
    assert result.exit_code != 0
