"""The face model: one identity making one set of facial actions, drawn back to front."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.synthetic.canvas import Canvas
from datasets.synthetic.expressions import Action, Jitter
from datasets.synthetic.features import (
    draw_brows,
    draw_eye,
    draw_lines,
    draw_mouth,
    draw_nose,
)
from datasets.synthetic.head import (
    draw_accessory,
    draw_background,
    draw_body,
    draw_ears,
    draw_face,
    draw_hair_back,
    draw_hair_front,
)
from datasets.synthetic.identity import Identity
from datasets.synthetic.options import Options

_STILL = Jitter()  # no gaze offset, unit brightness
_PLAIN = Options()  # the photographic look: shading, texture, irises


@dataclass(frozen=True)
class Rendering:
    """One rendered face before any OOD style is applied."""

    rgb: np.ndarray  # (size, size, 3) float in [0, 1]
    person: np.ndarray  # (size, size) coverage of the person (not background), [0, 1]
    parts: np.ndarray  # (size, size) int8 region labels from PARTS, 0 = background or detail


def render_face(
    ident: Identity,
    act: Action,
    size: int,
    jit: Jitter = _STILL,
    opt: Options = _PLAIN,
) -> Rendering:
    """Render one ``size`` x ``size`` face of ``ident`` making the facial actions ``act``."""
    c = Canvas(size)
    draw_background(c, ident, opt)
    draw_hair_back(c, ident, opt)
    draw_body(c, ident, opt)
    draw_ears(c, ident, opt)
    draw_face(c, ident, act, opt)
    draw_lines(c, ident, act)
    draw_nose(c, ident, act, opt)
    draw_mouth(c, ident, act, opt)
    for side in (-1, 1):
        draw_eye(c, ident, act, jit, side, opt)
    draw_hair_front(c, ident, opt)
    draw_brows(c, ident, act)
    draw_accessory(c, ident, opt)
    brightness = 1.0 if opt.flat else jit.brightness  # flat cartoon colours have no lighting
    rgb = np.clip(c.rgb * brightness, 0.0, 1.0)
    return Rendering(rgb=rgb, person=np.clip(c.alpha, 0.0, 1.0), parts=c.parts)
