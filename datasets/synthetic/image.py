"""One finished dataset image: a jittered expression, rendered and optionally styled, as uint8."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.expressions import ACTIONS, jitter_action, sample_jitter
from datasets.synthetic.face import render_face
from datasets.synthetic.identity import Identity
from datasets.synthetic.styles import STYLE_FILTERS, STYLE_OPTIONS


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_image(
    ident: Identity,
    expression: str,
    size: int,
    rng: np.random.Generator,
    style: str | None = None,
    look: np.random.Generator | None = None,
) -> np.ndarray:
    """One jittered image of ``ident`` showing ``expression``, optionally in an OOD ``style``.

    ``rng`` draws the per-image jitter; ``look`` (required with a style) draws the style's
    textures and palette and should be seeded per subject. Returns (size, size, 3) uint8 RGB.
    """
    act = jitter_action(rng, ACTIONS[expression])
    jit = sample_jitter(rng)
    if style is None:
        return _to_uint8(render_face(ident, act, size, jit).rgb)
    rendering = render_face(ident, act, size, jit, STYLE_OPTIONS[style])
    return _to_uint8(STYLE_FILTERS[style](rendering, look))
