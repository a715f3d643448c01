"""The expressive facial features: skin lines, nose, mouth, eyes and brows."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.canvas import EYE_Y, Canvas
from datasets.synthetic.expressions import Action, Jitter
from datasets.synthetic.identity import Identity
from datasets.synthetic.options import Options, shade
from datasets.synthetic.shapes import bezier, ellipse_sdf, gauss, stroke_sdf


def draw_lines(c: Canvas, ident: Identity, act: Action) -> None:
    """Forehead lines, frown lines between the brows, nose wrinkles and nasolabial folds."""
    ink = np.asarray(ident.skin) * 0.62
    brow_y = EYE_Y - ident.brow_gap
    if act.forehead > 0.05:
        w = c.window(-0.25, brow_y - 0.3, 0.25, brow_y - 0.1)
        for k in range(3):
            y0 = brow_y - 0.15 - 0.045 * k
            pts = bezier((-0.2, y0 + 0.02), (0.0, y0 - 0.015), (0.2, y0 + 0.02))
            sdf = stroke_sdf(w.x, w.y, pts, np.full(len(pts), 0.007))
            w.fill(sdf, ink, opacity=min(act.forehead, 1.0) * 0.6)
    if act.furrow > 0.05:
        inner_y = brow_y - act.brow_inner
        w = c.window(-0.06, inner_y - 0.1, 0.06, inner_y + 0.04)
        for side in (-1, 1):
            pts = np.array([(side * 0.022, inner_y + 0.015), (side * 0.03, inner_y - 0.075)])
            sdf = stroke_sdf(w.x, w.y, pts, np.array([0.007, 0.004]))
            w.fill(sdf, ink, opacity=min(act.furrow, 1.0) * 0.7)
    tip_y = EYE_Y + ident.nose_length
    if act.nose_wrinkle > 0.05:
        w = c.window(-0.14, EYE_Y, 0.14, EYE_Y + 0.16)
        strength = min(act.nose_wrinkle, 1.0) * 0.8
        for k in range(2):
            y0 = EYE_Y + 0.06 + 0.045 * k
            pts = bezier((-0.05, y0 + 0.012), (0.0, y0 - 0.012), (0.05, y0 + 0.012), 4)
            w.fill(stroke_sdf(w.x, w.y, pts, np.full(len(pts), 0.006)), ink, opacity=strength)
        for side in (-1, 1):  # "bunny lines" down the sides of the nose
            pts = np.array([(side * 0.06, EYE_Y + 0.05), (side * 0.1, EYE_Y + 0.12)])
            w.fill(stroke_sdf(w.x, w.y, pts, np.array([0.007, 0.004])), ink, opacity=strength)
    if act.smile_lines > 0.05:
        mouth_y = tip_y + ident.mouth_gap
        reach = ident.mouth_width * act.mouth_width + 0.025
        w = c.window(-reach - 0.08, tip_y - 0.06, reach + 0.08, mouth_y + 0.1)
        for side in (-1, 1):
            pts = bezier(
                (side * (ident.nose_width + 0.03), tip_y - 0.03),
                (side * (reach + 0.03), mouth_y - 0.07),
                (side * (reach + 0.01), mouth_y + 0.06),
            )
            radii = np.linspace(0.006, 0.011, len(pts))
            sdf = stroke_sdf(w.x, w.y, pts, radii)
            w.fill(sdf, ink, opacity=min(act.smile_lines, 1.0) * 0.7)


def draw_nose(c: Canvas, ident: Identity, act: Action, opt: Options) -> None:
    skin = np.asarray(ident.skin)
    tip_y = EYE_Y + ident.nose_length - 0.015 * act.nostril_flare
    width = ident.nose_width * (1.0 + 0.25 * act.nostril_flare)
    w = c.window(-width * 1.5 - 0.04, EYE_Y, width * 1.5 + 0.04, tip_y + 0.06)
    if not opt.flat:
        side = 1.0 if ident.light < 0 else -1.0  # bridge shadow on the side away from the light
        bridge = np.array([(side * 0.035, EYE_Y + 0.03), (side * 0.045, tip_y - 0.04)])
        w.fill(stroke_sdf(w.x, w.y, bridge, np.array([0.006, 0.014])), skin * 0.8, opacity=0.45)
        w.paint(0.25 * gauss(w.x, w.y, 0.0, tip_y - 0.03, 0.03, 0.025), np.ones(3))
    for side in (-1, 1):
        wing = bezier(
            (side * width * 0.45, tip_y - 0.05),
            (side * width * 1.25, tip_y - 0.02),
            (side * width * 0.6, tip_y + 0.015),
            6,
        )
        w.fill(stroke_sdf(w.x, w.y, wing, np.full(len(wing), 0.0065)), skin * 0.55, opacity=0.8)
        rx = 0.022 * (1.0 + 0.4 * act.nostril_flare)
        w.fill(ellipse_sdf(w.x, w.y, side * width * 0.45, tip_y + 0.004, rx, 0.012), skin * 0.35)


def draw_mouth(c: Canvas, ident: Identity, act: Action, opt: Options) -> None:
    mw = ident.mouth_width * act.mouth_width
    my = EYE_Y + ident.nose_length + ident.mouth_gap
    w = c.window(-mw - 0.04, my - 0.2, mw + 0.04, my + 0.22)
    u = w.x / mw
    inside = np.clip(1.0 - u * u, 0.0, 1.0)
    asym_side = ident.disgust_side * np.clip(u, -1.0, 1.0)  # 1 at the disgust-side corner
    lift = act.mouth_lift + act.mouth_asym * np.clip(asym_side, 0.0, 1.0)
    base = my - lift * u * u
    profile = inside ** (1.0 - 0.5 * np.clip(act.round_mouth, 0.0, 1.0))
    sneer = act.lip_raise * np.exp(-((u - 0.45 * ident.disgust_side) ** 2) / 0.08)
    upper = base - act.open_upper * profile - sneer
    lower = base + act.open_lower * profile
    lips_profile = np.sqrt(inside)
    press = 1.0 - 0.75 * np.clip(act.lip_press, 0.0, 1.0)
    bow = 1.0 - 0.35 * np.exp(-((u / 0.18) ** 2))  # cupid's bow dip at the centre
    top = upper - ident.lip_upper * press * lips_profile * bow
    bottom = lower + ident.lip_lower * press * (1.0 + 0.6 * act.lip_pout) * lips_profile
    edge = np.abs(w.x) - mw * 1.03
    w.fill(
        np.maximum(edge, np.maximum(top - w.y, w.y - bottom)), shade(w, ident.lip, ident, opt, 0.5)
    )
    if not opt.flat:  # soft highlight on the lower lip
        gloss = gauss(w.x, w.y, 0.0, my + 0.02, mw * 0.35, 0.01)
        w.paint(0.18 * gloss * (w.y > lower), np.ones(3))
    line = np.maximum(np.abs(w.y - base) - 0.006, np.abs(w.x) - mw)
    w.fill(line, np.asarray(ident.lip) * 0.35)
    opening = np.maximum(np.abs(w.x) - mw, np.maximum(upper - w.y, w.y - lower))
    w.fill(opening, (0.22, 0.05, 0.07))
    if act.teeth > 0.05:
        teeth = np.maximum(opening, w.y - (upper + 0.04 * act.teeth))
        w.fill(teeth, (0.96, 0.94, 0.88))


def _eye_shape(c: Canvas, ident: Identity, act: Action, side: int):
    """Lid curves (top, bottom heights per column) and the across-distance of one eye."""
    cx, ew = side * ident.eye_spacing, ident.eye_width
    eh = ew * ident.eye_aspect
    ex = (c.x - cx) / ew
    inner = np.clip(-side * ex, -1.0, 1.0)  # 1 at the inner corner, -1 at the outer one
    inside = np.clip(1.0 - ex * ex, 0.0, 1.0)
    open_h = eh * act.eye_open
    top = EYE_Y - open_h * inside**0.7
    top = top + act.lid_tilt * eh * np.clip(inner, 0.0, 1.0) * inside**0.3
    top = top + act.lid_droop * eh * np.clip(-inner, 0.0, 1.0) * inside**0.3
    bottom = EYE_Y + (0.8 * open_h - act.lower_lid * eh) * inside**0.8
    bottom = np.maximum(bottom, top)
    return top, bottom, np.abs(c.x - cx) - ew


def draw_eye(c: Canvas, ident: Identity, act: Action, jit: Jitter, side: int, opt: Options):
    cx, ew = side * ident.eye_spacing, ident.eye_width
    eh = ew * ident.eye_aspect
    c = c.window(cx - ew - 0.03, EYE_Y - 0.14, cx + ew + 0.03, EYE_Y + 0.12)
    top, bottom, across = _eye_shape(c, ident, act, side)
    skin = np.asarray(ident.skin)
    crease = np.maximum(np.abs(c.y - (top - 0.035 - 0.01 * act.eye_open)) - 0.004, across + 0.015)
    c.fill(crease, skin * 0.7, opacity=0.3)
    if act.lower_lid > 0.1:  # the cheek pushed up under the eye
        bag = np.maximum(np.abs(c.y - (bottom + 0.025)) - 0.004, across + 0.02)
        c.fill(bag, skin * 0.7, opacity=min(act.lower_lid, 1.0) * 0.6)
    rim = np.maximum(across - 0.008, np.maximum(top - 0.014 - c.y, c.y - bottom - 0.006))
    c.fill(rim, (0.12, 0.08, 0.07))
    eye = np.maximum(across, np.maximum(top - c.y, c.y - bottom))
    c.fill(eye, (0.96, 0.95, 0.93) if not opt.blank_eyes else skin * 1.05)
    if opt.blank_eyes:
        return
    iris_r = eh * 1.05
    ix = cx + jit.gaze_x * 0.35 * ew
    iy = EYE_Y + jit.gaze_y * 0.2 * eh
    iris = np.maximum(np.hypot(c.x - ix, c.y - iy) - iris_r, eye)
    colour = np.asarray(ident.iris)
    if not opt.flat:
        colour = colour * (1.0 + 0.3 * np.clip((c.y - iy) / iris_r, -1.0, 1.0))[..., None]
    c.fill(iris, colour)
    c.fill(np.maximum(np.hypot(c.x - ix, c.y - iy) - 0.45 * iris_r, eye), (0.03, 0.03, 0.03))
    glint = np.hypot(c.x - ix - 0.35 * iris_r, c.y - iy + 0.35 * iris_r) - 0.22 * iris_r
    c.fill(np.maximum(glint, eye), (1.0, 1.0, 1.0), opacity=0.9)


def draw_brows(c: Canvas, ident: Identity, act: Action) -> None:
    base = EYE_Y - ident.brow_gap
    half = ident.eye_width * 1.35
    for side in (-1, 1):
        cx = side * (ident.eye_spacing - act.brow_in)
        inner = (cx - side * half * 0.95, base - act.brow_inner)
        outer = (cx + side * half, base - act.brow_outer + 0.025)
        arch = ident.brow_arch + act.brow_arch + 0.02
        mid = ((inner[0] + outer[0]) / 2 + side * 0.02, min(inner[1], outer[1]) - arch)
        pts = bezier(inner, mid, outer)
        radii = np.linspace(ident.brow_thickness, ident.brow_thickness * 0.45, len(pts))
        w = c.window(cx - half - 0.05, base - 0.22, cx + half + 0.05, base + 0.12)
        w.fill(stroke_sdf(w.x, w.y, pts, radii), ident.brow)
