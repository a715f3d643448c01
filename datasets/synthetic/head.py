"""The head and its surroundings: background, hair, body, ears, skin with cheeks, accessories."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.canvas import EYE_Y, HEAD_Y, PARTS, Canvas
from datasets.synthetic.expressions import Action
from datasets.synthetic.identity import Identity
from datasets.synthetic.options import Options, shade
from datasets.synthetic.shapes import bezier, box_sdf, ellipse_sdf, gauss, stroke_sdf


def draw_background(c: Canvas, ident: Identity, opt: Options) -> None:
    start, end = (np.asarray(col) for col in ident.background)
    if opt.flat:
        c.rgb[:] = start
        return
    a = ident.background_angle
    t = np.clip(0.5 + 0.5 * (np.cos(a) * c.x + np.sin(a) * c.y), 0.0, 1.0)[..., None]
    c.rgb[:] = start + t * (end - start)


def _head_sdf(c: Canvas, ident: Identity) -> np.ndarray:
    """Face outline: an ellipse whose lower half narrows to the jaw and squares off."""
    w, h = ident.head_width, ident.head_height
    v = (c.y - HEAD_Y) / h
    below = np.clip(v, 0.0, 1.0)
    u = c.x / (w * (1.0 - (1.0 - ident.jaw) * below**1.5))
    p = np.where(v > 0, ident.jaw_square, 2.0)
    f = (np.abs(u) ** p + np.abs(v) ** p) ** (1.0 / p) - 1.0
    return c.implicit(f)


def _hairline(c: Canvas, ident: Identity) -> np.ndarray:
    """Height of the hairline at each column (hair is above it)."""
    ax = np.abs(c.x) / ident.head_width
    top = HEAD_Y - 0.68 * ident.head_height + ident.hairline
    style = ident.hair_style
    if style == "bangs":
        return EYE_Y - 0.32 + 0.015 * np.sin(c.x * 40.0) + 0.5 * ax**8
    if style == "long":
        return top + 0.75 * ax**5
    if style == "bun":
        return top - 0.06 + 0.45 * ax**3
    if style == "curly":
        return top + 0.02 * np.sin(c.x * 55.0) + 0.5 * ax**4
    return top + 0.45 * ax**3


def draw_hair_back(c: Canvas, ident: Identity, opt: Options) -> None:
    w, h = ident.head_width, ident.head_height
    colour = shade(c, ident.hair, ident, opt) * 0.85
    if ident.hair_style == "long":
        bottom = ident.hair_length
        top = HEAD_Y - 0.2
        sdf = np.minimum(
            ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - 0.03, w + 0.09, h + 0.09),
            box_sdf(c.x, c.y, 0.0, (top + bottom) / 2, w + 0.11, (bottom - top) / 2, 0.12),
        )
        c.fill(sdf, colour, PARTS["hair"])
    elif ident.hair_style == "bun":
        c.fill(ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - h - 0.08, 0.19, 0.16), colour, PARTS["hair"])
    elif ident.hair_style == "curly":
        ang = np.arctan2(c.y - HEAD_Y, c.x)
        radius = 1.0 + 0.05 * np.sin(11.0 * ang)
        rx, ry = w + 0.16, h + 0.12
        f = np.hypot(c.x / rx, (c.y - HEAD_Y + 0.05) / ry) / radius - 1.0
        sdf = np.maximum(c.implicit(f), c.y - (HEAD_Y + 0.45))  # cut off at the shoulders
        c.fill(sdf, colour, PARTS["hair"])


def draw_body(c: Canvas, ident: Identity, opt: Options) -> None:
    clothes = shade(c, ident.clothes, ident, opt)
    c.fill(ellipse_sdf(c.x, c.y, 0.0, 1.42, 0.95, 0.55), clothes, PARTS["body"])
    neck = shade(c, ident.skin, ident, opt) * (1.0 if opt.flat else 0.82)
    top = HEAD_Y + 0.5 * ident.head_height
    c.fill(
        box_sdf(c.x, c.y, 0.0, (top + 1.1) / 2, 0.21, (1.1 - top) / 2, 0.02), neck, PARTS["neck"]
    )
    collar = ellipse_sdf(c.x, c.y, 0.0, 0.98, 0.25, 0.09)
    c.fill(collar, neck, PARTS["neck"])


def draw_ears(c: Canvas, ident: Identity, opt: Options) -> None:
    colour = shade(c, ident.skin, ident, opt) * (1.0 if opt.flat else 0.93)
    for side in (-1, 1):
        cx = side * ident.head_width * 0.97
        c.fill(ellipse_sdf(c.x, c.y, cx, EYE_Y + 0.1, 0.075, 0.14), colour, PARTS["ears"])


def draw_face(c: Canvas, ident: Identity, act: Action, opt: Options) -> None:
    c.fill(_head_sdf(c, ident), shade(c, ident.skin, ident, opt, 1.6), PARTS["face"])
    # Cheeks: resting blush plus the flush and lift of a smile.
    flush = np.array([0.92, 0.38, 0.38])
    for side in (-1, 1):
        cx = side * (ident.eye_spacing + 0.05)
        cy = EYE_Y + 0.21 - 0.05 * act.cheek
        w = c.window(cx - 0.3, cy - 0.23, cx + 0.3, cy + 0.23)
        blob = gauss(w.x, w.y, cx, cy, 0.085, 0.065)
        w.paint(np.clip(ident.blush + 0.32 * act.cheek, 0.0, 0.6) * blob, flush)
        if not opt.flat and act.cheek > 0:
            glow = gauss(w.x, w.y, cx, cy - 0.03, 0.05, 0.035)
            w.paint(0.22 * act.cheek * glow, np.ones(3))


def draw_hair_front(c: Canvas, ident: Identity, opt: Options) -> None:
    if ident.hair_style == "bald":
        if not opt.flat:
            shine = gauss(c.x, c.y, 0.1, HEAD_Y - 0.6 * ident.head_height, 0.12, 0.06)
            c.paint(0.2 * shine, np.ones(3))
        return
    w, h = ident.head_width, ident.head_height
    grow = 0.05 if ident.hair_style != "curly" else 0.09
    cap = np.maximum(
        ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - 0.02, w + grow, h + grow), c.y - _hairline(c, ident)
    )
    colour = shade(c, ident.hair, ident, opt)
    if not opt.flat:
        strands = 1.0 + 0.07 * np.sin(70.0 * c.x + 9.0 * np.sin(6.0 * c.y))
        colour = colour * strands[..., None]
    c.fill(cap, colour, PARTS["hair"])


def draw_accessory(c: Canvas, ident: Identity, opt: Options) -> None:
    colour = ident.accessory_colour
    if ident.accessory == "earrings":
        for side in (-1, 1):
            cx, cy = side * ident.head_width * 0.98, EYE_Y + 0.25
            w = c.window(cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05)
            w.fill(np.abs(np.hypot(w.x - cx, w.y - cy) - 0.028) - 0.008, colour)
    elif ident.accessory == "glasses":
        rx, ry = ident.eye_width * 1.55, ident.eye_width * 1.1
        w = c.window(
            -ident.head_width - 0.02, EYE_Y - ry - 0.05, ident.head_width + 0.02, EYE_Y + ry + 0.05
        )
        for side in (-1, 1):
            cx = side * ident.eye_spacing
            if ident.round_glasses:
                frame = ellipse_sdf(w.x, w.y, cx, EYE_Y + 0.01, rx, ry)
            else:
                frame = box_sdf(w.x, w.y, cx, EYE_Y + 0.01, rx, ry * 0.85, 0.03)
            if not opt.flat:
                w.fill(frame, (0.8, 0.9, 1.0), opacity=0.12)
            w.fill(np.abs(frame) - 0.006, colour)
            temple = np.array(
                [(cx + side * rx, EYE_Y - 0.01), (side * ident.head_width, EYE_Y - 0.03)]
            )
            w.fill(stroke_sdf(w.x, w.y, temple, np.array([0.006, 0.006])), colour)
        inner = ident.eye_spacing - rx
        bridge = bezier((-inner, EYE_Y - 0.01), (0.0, EYE_Y - 0.04), (inner, EYE_Y - 0.01), 4)
        w.fill(stroke_sdf(w.x, w.y, bridge, np.full(len(bridge), 0.006)), colour)
