"""The plain pixel-by-pixel ridge solve of Masked Regression, as a reference.

For every output pixel it gathers the in-image ``r x r`` neighbours of that
pixel over all training pairs (absent neighbours are simply left out), adds a
bias column and solves ``(X^T X + lambda I) w = X^T t`` with NumPy in float64.
It is slow by design: tests and ``bench perf expression-layer`` check the
batched solve of :mod:`models.expression_layer` against it.
"""

from __future__ import annotations

import numpy as np


def per_pixel_ridge(
    sources: np.ndarray, targets: np.ndarray, receptive_field: int, ridge_lambda: float
) -> np.ndarray:
    """Ridge maps of one channel: (n, H, W) sources and targets in [0, 1] -> (r*r + 1, H, W).

    Weight ``k = dy * r + dx`` multiplies the neighbour at offset
    ``(dy - r//2, dx - r//2)``; absent neighbours have weight 0; the bias is last.
    """
    sources = np.asarray(sources, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    n, height, width = sources.shape
    r = receptive_field
    half = r // 2
    weights = np.zeros((r * r + 1, height, width))
    for y in range(height):
        for x in range(width):
            taps, columns = [], []
            for dy in range(r):
                for dx in range(r):
                    yy, xx = y + dy - half, x + dx - half
                    if 0 <= yy < height and 0 <= xx < width:
                        taps.append(dy * r + dx)
                        columns.append(sources[:, yy, xx])
            design = np.column_stack([*columns, np.ones(n)])
            system = design.T @ design + ridge_lambda * np.eye(design.shape[1])
            solution = np.linalg.solve(system, design.T @ targets[:, y, x])
            weights[taps, y, x] = solution[:-1]
            weights[-1, y, x] = solution[-1]
    return weights
