"""L1, SSIM and the shared bootstrap aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from metrics.aggregate import bootstrap_mean, summarise
from metrics.base import ScoringBatch
from metrics.registry import METRICS


def make_batch(outputs, references, has_reference=None):
    n = outputs.shape[0]
    return ScoringBatch(
        sources=torch.zeros_like(outputs),
        outputs=outputs,
        target_expressions=torch.ones(n, dtype=torch.int64),
        references=references,
        has_reference=torch.ones(n, dtype=torch.bool) if has_reference is None else has_reference,
    )


def test_l1_known_values_and_missing_reference():
    l1 = METRICS.load("l1")()
    outputs = torch.full((2, 3, 8, 8), 1.0)
    references = torch.full((2, 3, 8, 8), -1.0)
    values = l1.score(make_batch(outputs, references, torch.tensor([True, False])))["L1"]
    assert values[0] == pytest.approx(1.0)
    assert np.isnan(values[1])


def test_ssim_identical_is_one_and_noise_is_lower():
    ssim = METRICS.load("ssim")()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    same = ssim.score(make_batch(images, images))["SSIM"]
    assert same == pytest.approx([1.0, 1.0], abs=1e-12)
    noisy = (images + 0.5 * torch.randn(images.shape, generator=generator)).clamp(-1, 1)
    assert np.all(ssim.score(make_batch(noisy, images))["SSIM"] < 0.9)


def test_bootstrap_is_seeded_and_covers_mean():
    values = np.random.default_rng(1).normal(2.0, 1.0, size=200)
    first = bootstrap_mean(values, seed=3)
    assert first == bootstrap_mean(values, seed=3)
    mean, low, high, n = first
    assert low < mean < high and n == 200
    assert bootstrap_mean(np.array([np.nan, 1.0]), seed=0) == (1.0, 1.0, 1.0, 1)
    assert np.isnan(bootstrap_mean(np.array([np.nan]), seed=0)[0])


def test_summarise_long_format():
    records = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "x": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    table = summarise(records, ["x"], by=["model"], seed=0, resamples=200)
    assert list(table.columns) == ["model", "metric", "mean", "ci_low", "ci_high", "n"]
    assert table["mean"].tolist() == [2.5, 6.5]
