"""Fréchet distance (FID) and kernel distance (KID) between two feature sets, in float64.

FID = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr sqrt(S_a S_b), with the
unbiased covariances S (divisor n - 1), as clean-fid and pytorch-fid compute it.
The trace of the matrix square root is computed exactly rather than through
``scipy.linalg.sqrtm`` (a minute per 2048x2048 call on two CPU cores, and
inexact for the rank-deficient covariances of small sets):

- when either set has at most as many images as feature dimensions, with
  ``A = (X - mu) / sqrt(n - 1)``, ``S_a S_b`` has the same non-zero eigenvalues
  as ``M M^T`` for ``M = A_a A_b^T``, so tr sqrt(S_a S_b) is the sum of the
  singular values of the small ``n_a x n_b`` matrix ``M``;
- otherwise it is the trace of the square root of the symmetric
  ``S_a^(1/2) S_b S_a^(1/2)`` (two symmetric eigendecompositions).

KID is clean-fid's estimator (cubic polynomial kernel, unbiased MMD^2 averaged
over random subsets) with a seeded generator, so it is reproducible.
"""

from __future__ import annotations

import math

import numpy as np


def _centered(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, (X - mean) / sqrt(n - 1)) in float64."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    return mean, (x - mean) / math.sqrt(x.shape[0] - 1)


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr sqrt(S_a S_b) for S = A^T A, from the scaled centred features A (rows = images)."""
    dim = a.shape[1]
    if min(a.shape[0], b.shape[0]) <= dim:
        return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    values, vectors = np.linalg.eigh(a.T @ a)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    inner = root @ (b.T @ b) @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None)).sum())


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two (n, d) feature sets (n >= 2 each); NaN when either has fewer than 2 rows."""
    if len(features_a) < 2 or len(features_b) < 2:
        return math.nan
    mean_a, a = _centered(features_a)
    mean_b, b = _centered(features_b)
    difference = mean_a - mean_b
    value = (
        float(difference @ difference)
        + float(np.sum(a * a))
        + float(np.sum(b * b))
        - 2.0 * _trace_sqrt_product(a, b)
    )
    return max(value, 0.0)


def kernel_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """KID: mean over ``subsets`` random subsets of the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3.

    Each subset draws ``m = min(n_a, n_b, subset_size)`` rows of each set
    without replacement from a generator seeded with ``seed``. NaN when m < 2.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    m = min(len(a), len(b), subset_size)
    if m < 2:
        return math.nan
    dim = a.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = b[rng.choice(len(b), m, replace=False)]
        y = a[rng.choice(len(a), m, replace=False)]
        within = (x @ x.T / dim + 1.0) ** 3 + (y @ y.T / dim + 1.0) ** 3
        across = (x @ y.T / dim + 1.0) ** 3
        total += (within.sum() - np.trace(within)) / (m - 1) - 2.0 * across.sum() / m
    return float(total / subsets / m)


# -- resampled sets (the paired bootstrap of the report) ----------------------------------------
_CHUNK_CELLS = 20_000_000
"""Largest (resamples x rows x columns) block held at once."""


def _counts(weights: np.ndarray, rows: int) -> np.ndarray:
    counts = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if counts.shape[1] != rows or np.any(counts < 0):
        raise ValueError(f"weights must be (resamples, {rows}) non-negative counts")
    return counts


def frechet_distances(
    features: np.ndarray, reference: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """FID of resamples of ``features`` against ``reference``, one per row of ``weights``.

    ``weights[r, i]``: how often image ``i`` is in resample ``r`` (a bootstrap draw; all
    ones: the set itself, :func:`frechet_distance`'s value). Exact, vectorised: with ``B``
    the scaled centred reference and ``G = X B^T`` computed once, a resample's
    tr sqrt(S_w S_ref) is the sum of the singular values of
    ``diag(sqrt(w)) (G - 1 w^T G / N) / sqrt(N - 1)`` (``N = sum(w)``), taken from the
    eigenvalues of its smaller Gram matrix. NaN where ``N < 2`` or the reference has fewer
    than 2 rows.
    """
    x = np.asarray(features, dtype=np.float64)
    counts = _counts(weights, len(x))
    out = np.full(len(counts), math.nan)
    if len(reference) < 2 or len(x) == 0:
        return out
    mean_ref, b = _centered(reference)
    gram_ref = x @ b.T  # (n, m)
    squares = np.einsum("ij,ij->i", x, x)
    trace_ref = float(np.sum(b * b))
    n, m = gram_ref.shape
    step = max(1, _CHUNK_CELLS // (n * m))
    for start in range(0, len(counts), step):
        w = counts[start : start + step]
        total = w.sum(axis=1)
        ok = total >= 2
        w, total = w[ok], total[ok]
        mean = w @ x / total[:, None]
        difference = mean - mean_ref
        trace_own = (w @ squares - total * np.einsum("ij,ij->i", mean, mean)) / (total - 1)
        shifted = gram_ref[None] - (w @ gram_ref / total[:, None])[:, None, :]
        scaled = np.sqrt(w / (total - 1)[:, None])[:, :, None] * shifted  # (r, n, m)
        small = scaled @ scaled.transpose(0, 2, 1) if n <= m else scaled.transpose(0, 2, 1) @ scaled
        roots = np.sqrt(np.clip(np.linalg.eigvalsh(small), 0.0, None)).sum(axis=1)
        value = np.einsum("ij,ij->i", difference, difference) + trace_own + trace_ref - 2 * roots
        out[start : start + step][ok] = np.maximum(value, 0.0)
    return out


def _cubic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_distances(
    features: np.ndarray, reference: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """KID of resamples of ``features`` against ``reference``, one per row of ``weights``: the
    unbiased MMD^2 with :func:`kernel_distance`'s cubic kernel over the whole sets (no random
    subsets; clean-fid's subset estimator averages to it, and equals it when both sets have
    the same size, at most the subset size). A resample's repeated image counts as distinct
    draws. NaN where a resample holds fewer than 2 images or the reference fewer than 2.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(reference, dtype=np.float64)
    counts = _counts(weights, len(x))
    m = len(y)
    out = np.full(len(counts), math.nan)
    if m < 2 or len(x) == 0:
        return out
    own = _cubic(x, x)
    ref = _cubic(y, y)
    within_ref = (ref.sum() - np.trace(ref)) / (m * (m - 1))
    across = _cubic(x, y).sum(axis=1)  # (n,)
    total = counts.sum(axis=1)
    ok = total >= 2
    w, n = counts[ok], total[ok]
    within = (((w @ own) * w).sum(axis=1) - w @ np.diag(own)) / (n * (n - 1))
    out[ok] = within + within_ref - 2.0 * (w @ across) / (n * m)
    return out
