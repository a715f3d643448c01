"""Drawing primitives in normalised coordinates: signed distance fields, curves, blobs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ellipse_sdf(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (negative inside)."""
    px, py = (x - cx) / rx, (y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / rx) ** 2 + (py / ry) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def box_sdf(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, hw: float, hh: float, r: float
) -> np.ndarray:
    """Signed distance to a rectangle of half-size ``(hw, hh)`` with corner radius ``r``."""
    qx = np.abs(x - cx) - hw + r
    qy = np.abs(y - cy) - hh + r
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - r


def stroke_sdf(x: np.ndarray, y: np.ndarray, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Signed distance to a polyline ``points`` (K, 2) whose half-thickness varies as ``radii``."""
    dist = np.full(x.shape, np.inf)
    for (ax, ay), (bx, by), ra, rb in zip(
        points[:-1], points[1:], radii[:-1], radii[1:], strict=True
    ):
        ex, ey = bx - ax, by - ay
        t = np.clip(((x - ax) * ex + (y - ay) * ey) / max(ex * ex + ey * ey, 1e-12), 0.0, 1.0)
        d = np.hypot(x - ax - t * ex, y - ay - t * ey) - (ra + t * (rb - ra))
        dist = np.minimum(dist, d)
    return dist


def bezier(p0: Sequence[float], p1: Sequence[float], p2: Sequence[float], n: int = 8) -> np.ndarray:
    """``n + 1`` points along the quadratic Bezier curve p0 -> p2 pulled toward p1."""
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Gaussian blob in [0, 1] with standard deviations ``(sx, sy)``."""
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))
