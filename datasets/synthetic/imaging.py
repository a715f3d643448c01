"""Small image operations on float arrays (blur, edges, resizing, noise) for the OOD styles."""

from __future__ import annotations

import numpy as np
from PIL import Image


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance in [0, 1] of an (H, W, 3) float image."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved down by ``dy`` and right by ``dx`` pixels (>= 0), edges replicated."""
    h, w = a.shape[:2]
    pad = [(dy, 0), (dx, 0)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad, mode="edge")[:h, :w]


def box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2 radius + 1)^2 window, edges replicated; ``a`` is (H, W) or (H, W, C)."""
    if radius < 1:
        return a
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (a.ndim - 2)
    p = np.pad(a, pad, mode="edge")
    k = 2 * radius + 1
    rows = np.cumsum(np.concatenate([np.zeros_like(p[:1]), p]), axis=0)
    p = (rows[k:] - rows[:-k]) / k
    cols = np.cumsum(np.concatenate([np.zeros_like(p[:, :1]), p], axis=1), axis=1)
    return (cols[:, k:] - cols[:, :-k]) / k


def dilate(a: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2 radius + 1)^2 window of an (H, W) array."""
    h, w = a.shape
    p = np.pad(a, radius, mode="edge")
    out = a.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out = np.maximum(out, p[dy : dy + h, dx : dx + w])
    return out


def gradient_magnitude(a: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of an (H, W) array, in value units per pixel."""
    p = np.pad(a, 1, mode="edge")
    gx = (
        p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]
    ) / 8
    gy = (
        p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]
    ) / 8
    return np.hypot(gx, gy)


def resize(a: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of a small (h, w) float field to (size, size)."""
    image = Image.fromarray(a.astype(np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=float)


def fractal_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean noise (size, size): three smooth octaves plus per-pixel grain, |x| < ~0.6."""
    total = np.zeros((size, size))
    for octave, amp in enumerate((0.5, 0.3, 0.2)):
        cells = min(4 * 2**octave, size)
        total += amp * (resize(rng.random((cells + 1, cells + 1)), size) - 0.5)
    return total + 0.3 * (rng.random((size, size)) - 0.5)
