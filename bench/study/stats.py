"""Binomial statistics of a pairwise preference: Wilson score interval and exact two-sided test."""

from __future__ import annotations

import math

from scipy import stats


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / trials``; bounds in [0, 1].

    ``confidence`` in (0, 1). With no trials the interval is (nan, nan).
    """
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials], got {successes} of {trials}")
    if trials == 0:
        return math.nan, math.nan
    z = stats.norm.ppf(0.5 + confidence / 2)
    share = successes / trials
    denominator = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_p_value(successes: int, trials: int) -> float:
    """Exact two-sided binomial test of ``successes / trials`` against 1/2 (no preference).

    Returns the p-value in [0, 1]; nan with no trials.
    """
    if trials == 0:
        return math.nan
    return float(stats.binomtest(successes, trials, 0.5, alternative="two-sided").pvalue)
