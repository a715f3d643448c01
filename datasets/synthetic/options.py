"""Renderer switches used by the OOD styles, and the side lighting that ``flat`` turns off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.synthetic.canvas import Canvas
from datasets.synthetic.identity import RGB, Identity


@dataclass(frozen=True)
class Options:
    """Renderer switches used by the OOD styles."""

    flat: bool = False  # no shading, texture or highlights (cartoon)
    blank_eyes: bool = False  # no iris or pupil (statue)


def shade(
    c: Canvas, colour: RGB, ident: Identity, opt: Options, strength: float = 1.0
) -> np.ndarray:
    """Colour field lit from the identity's side, darker toward the image edges."""
    base = np.asarray(colour, dtype=float)
    if opt.flat:
        return base
    light = 1.0 + 0.08 * strength * ident.light * c.x - 0.10 * strength * (c.x**2 + 0.6 * c.y**2)
    return base * light[..., None]
