"""Precision, recall, density and coverage of generated features against real ones (Naeem et al. 2020).

Every real (generated) feature vector gets a ball whose radius is the distance to
its k-th nearest other real (generated) vector. With ``inside[i, j]`` = generated
vector j lies strictly inside real ball i:

- precision: share of generated vectors inside at least one real ball (fidelity);
- recall: share of real vectors inside at least one generated ball (diversity);
- density: mean over generated vectors of the number of real balls holding them,
  divided by k (fidelity that counts neighbours; 1 for matching distributions,
  can exceed 1);
- coverage: share of real balls holding at least one generated vector (diversity,
  robust to outliers among the generated vectors).

This follows the authors' reference code (``clovaai/generative-evaluation-prdc``):
Euclidean distances, the k-th neighbour excluding the point itself, strict ``<``.
Distances are float64.
"""

from __future__ import annotations

import math

import numpy as np

NAMES = ("Precision", "Recall", "Density", "Coverage")


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (n_a, n_b) between the rows of ``a`` and ``b``, in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (the row itself is the 0-th)."""
    distances = pairwise_distances(features, features)
    np.fill_diagonal(distances, 0.0)
    return np.partition(distances, k, axis=1)[:, k]


def prdc(real: np.ndarray, generated: np.ndarray, k: int = 5) -> dict[str, float]:
    """``{Precision, Recall, Density, Coverage}`` of ``generated`` (n_g, d) against ``real`` (n_r, d).

    NaN for all four when either set has at most ``k`` rows (no k-th other neighbour).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(real) <= k or len(generated) <= k:
        return dict.fromkeys(NAMES, math.nan)
    real_radii = kth_neighbour_radii(real, k)
    generated_radii = kth_neighbour_radii(generated, k)
    distances = pairwise_distances(real, generated)  # (n_r, n_g)
    inside = distances < real_radii[:, None]
    return {
        "Precision": float(inside.any(axis=0).mean()),
        "Recall": float((distances < generated_radii[None, :]).any(axis=1).mean()),
        "Density": float(inside.sum(axis=0).mean() / k),
        "Coverage": float((distances.min(axis=1) < real_radii).mean()),
    }
