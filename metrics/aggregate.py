"""Shared aggregation: mean and a seeded 95% bootstrap interval per group and column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def bootstrap_mean(
    values: np.ndarray, seed: int, resamples: int = 1000, confidence: float = 0.95
) -> tuple[float, float, float, int]:
    """Mean of the finite values and its percentile bootstrap interval.

    Returns ``(mean, low, high, n)``; NaNs (metric not applicable) are dropped
    first. With one value the interval collapses to it; with none all are NaN.
    The same seed gives the same interval.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    n = int(finite.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(finite.mean())
    if n == 1 or np.all(finite == finite[0]):
        return mean, mean, mean, n
    result = stats.bootstrap(
        (finite,),
        np.mean,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high), n


def summarise(
    records: pd.DataFrame,
    columns: Sequence[str],
    by: Sequence[str],
    seed: int,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (group, column): ``mean, ci_low, ci_high, n`` (long format, sorted)."""
    rows = []
    for key, group in records.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for column in columns:
            if column not in group:
                continue
            mean, low, high, n = bootstrap_mean(
                group[column].to_numpy(), seed, resamples, confidence
            )
            rows.append(
                {
                    **dict(zip(by, key, strict=True)),
                    "metric": column,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": n,
                }
            )
    return pd.DataFrame(rows, columns=[*by, "metric", "mean", "ci_low", "ci_high", "n"])
