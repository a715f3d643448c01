"""The canvas: a float RGB image over normalised coordinates, painted back to front.

Also the fixed alignment of the face in those coordinates (:data:`EYE_Y`, :data:`HEAD_Y`)
and the labels of the person's large regions (:data:`PARTS`).
"""

from __future__ import annotations

import numpy as np

EYE_Y = -0.14  # normalised height of the eye centres in every image
HEAD_Y = 0.04  # normalised centre of the face ellipse


PARTS: dict[str, int] = {"hair": 1, "body": 2, "neck": 3, "ears": 4, "face": 5}
"""Labels of the large regions of the person in ``Canvas.parts`` (0: background or detail)."""


class Canvas:
    """A float RGB image over normalised coordinates, painted back to front.

    ``alpha`` accumulates the coverage of the person (not the background) and
    ``parts`` labels the pixels of the large regions (hair, face, neck, ...): the
    OOD styles restyle the background separately and outline the regions.
    """

    def __init__(self, size: int) -> None:
        centres = (np.arange(size) + 0.5) * (2.0 / size) - 1.0
        self.x, self.y = np.meshgrid(centres, centres)
        self.px = 2.0 / size  # one pixel in normalised units
        self.rgb = np.zeros((size, size, 3))
        self.alpha = np.zeros((size, size))
        self.parts = np.zeros((size, size), dtype=np.int8)

    def cover(self, sdf: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage in [0, 1] of the region ``sdf < 0``."""
        return np.clip(0.5 - sdf / self.px, 0.0, 1.0)

    def implicit(self, f: np.ndarray) -> np.ndarray:
        """Turn an implicit function (negative inside) into an approximate distance field."""
        gy, gx = np.gradient(f, self.px)
        return f / np.maximum(np.hypot(gx, gy), 1e-6)

    def paint(self, weight: np.ndarray, colour, part: int = 0) -> None:
        """Blend ``colour`` (RGB or an (H, W, 3) array) in with per-pixel ``weight`` in [0, 1].

        A non-zero ``part`` marks a region of the person (see ``PARTS``).
        """
        self.rgb += weight[..., None] * (np.asarray(colour, dtype=float) - self.rgb)
        if part:
            self.alpha += weight * (1.0 - self.alpha)
            self.parts[weight > 0.5] = part

    def fill(self, sdf: np.ndarray, colour, part: int = 0, opacity: float = 1.0) -> None:
        """Paint the region ``sdf < 0``."""
        self.paint(opacity * self.cover(sdf), colour, part)

    def window(self, x0: float, y0: float, x1: float, y1: float) -> Canvas:
        """A view of the pixels with centres in ``[x0, x1] x [y0, y1]`` (shares this one's memory).

        Painting a small feature through a window costs only the window's pixels.
        """
        j0, j1 = np.searchsorted(self.x[0], [x0, x1])
        i0, i1 = np.searchsorted(self.y[:, 0], [y0, y1])
        sub = object.__new__(Canvas)
        sub.x, sub.y = self.x[i0:i1, j0:j1], self.y[i0:i1, j0:j1]
        sub.rgb, sub.alpha = self.rgb[i0:i1, j0:j1], self.alpha[i0:i1, j0:j1]
        sub.parts = self.parts[i0:i1, j0:j1]
        sub.px = self.px
        return sub
