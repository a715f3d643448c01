"""Procedural synthetic faces: the embedded default dataset (numpy + PIL only).

Every image is drawn from a parametric face model with signed distance fields
(SDFs) and analytic anti-aliasing, so the same code renders at any size.

Coordinates are normalised: ``x`` and ``y`` run over ``[-1, 1]`` across the
image, ``x`` to the right and ``y`` downwards; one pixel is ``2 / size`` wide.
The face is aligned like a landmark-aligned crop: it is centred on ``x = 0``
and the eye centres always lie at ``y = EYE_Y``.

- identity factors (sampled once per subject): face shape, skin tone, hair
  colour and style, eye colour, size and spacing, nose, brows, lips,
  accessories, clothes, background, light direction;
- expression factors (:data:`ACTIONS`), local to brows, eyes, cheeks, nose and
  mouth, with a small per-image jitter of intensity, gaze and lighting;
- out-of-distribution styles (:data:`STYLES`), rendered from identities that
  are not in the train or test split, as filters of the same face model.

Everything is seeded through :class:`numpy.random.SeedSequence` keys, so the
same seed gives byte-identical PNGs and manifests.
"""

from __future__ import annotations

import numbers
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from bench import atomic
from bench.errors import UserError
from datasets.manifest import (
    IMAGES,
    DatasetInfo,
    read_info,
    read_manifest,
    sha256_file,
    write_dataset,
)
from datasets.png import load_png, save_png
from datasets.vocabulary import EXPRESSIONS

STYLES: tuple[str, ...] = ("statue", "sketch", "painting", "avatar")
"""Out-of-distribution render styles, each written to ``synthetic_<style>``."""

HAIR_STYLES: tuple[str, ...] = ("short", "long", "bun", "bald", "bangs", "curly")
ACCESSORIES: tuple[str, ...] = ("none", "glasses", "earrings")

MIN_IMAGE_SIZE = 32  # pixels; below this the eyes and mouth are under 3 px
EYE_Y = -0.14  # normalised height of the eye centres in every image
HEAD_Y = 0.04  # normalised centre of the face ellipse

# Random streams are keyed SeedSequence([seed, purpose, stream, style index, subject, ...]):
# purpose 0 draws a subject's identity, 1 one image's jitter, 2 a subject's style textures;
# stream separates train/test subjects from the unseen OOD ones.
_TRAIN_STREAM = 0
_OOD_STREAM = 1

RGB = tuple[float, float, float]  # each channel in [0, 1]

_SKIN_TONES = np.array(
    [
        (1.00, 0.87, 0.77),
        (0.96, 0.78, 0.65),
        (0.89, 0.69, 0.52),
        (0.78, 0.55, 0.38),
        (0.60, 0.40, 0.26),
        (0.42, 0.27, 0.18),
    ]
)
_HAIR_COLOURS = np.array(
    [
        (0.08, 0.07, 0.07),
        (0.22, 0.14, 0.09),
        (0.40, 0.26, 0.15),
        (0.62, 0.30, 0.14),
        (0.85, 0.70, 0.42),
        (0.72, 0.72, 0.70),
    ]
)
_VIVID_HAIR = np.array(
    [(0.95, 0.35, 0.60), (0.25, 0.55, 0.95), (0.55, 0.30, 0.90), (0.20, 0.75, 0.55)]
)
_IRIS_COLOURS = np.array(
    [
        (0.30, 0.18, 0.10),
        (0.18, 0.11, 0.07),
        (0.25, 0.45, 0.70),
        (0.30, 0.52, 0.32),
        (0.50, 0.38, 0.20),
        (0.45, 0.50, 0.55),
    ]
)
_STONE_TINTS = np.array([(0.95, 0.94, 0.90), (0.88, 0.80, 0.68), (0.78, 0.78, 0.80)])


@dataclass(frozen=True)
class Identity:
    """Per-subject appearance; lengths are normalised image units (the image is 2 wide)."""

    head_width: float  # half-width of the face at the cheeks, 0.52-0.63
    head_height: float  # half-height of the face, 0.74-0.82
    jaw: float  # chin width relative to the cheeks, 0.55-0.95
    jaw_square: float  # superellipse exponent of the lower face, 2 (round) to 3 (square)
    skin: RGB
    hair_style: str  # one of HAIR_STYLES
    hair: RGB
    hairline: float  # hairline shift, -0.05 (high) to 0.05 (low)
    hair_length: float  # bottom of long hair, 0.55-1.05
    eye_spacing: float  # half the distance between eye centres, 0.20-0.26
    eye_width: float  # half-width of an eye, 0.080-0.100
    eye_aspect: float  # eye half-height over half-width, 0.42-0.56
    iris: RGB
    brow_gap: float  # brow height above the eye centre, 0.13-0.16
    brow_thickness: float  # brow stroke half-thickness at the inner end, 0.018-0.032
    brow_arch: float  # arch height of the brow curve, 0.00-0.04
    brow: RGB
    nose_length: float  # nose tip below the eyes, 0.25-0.33
    nose_width: float  # half-width across the nostrils, 0.055-0.085
    mouth_gap: float  # mouth below the nose tip, 0.13-0.17
    mouth_width: float  # half-width of the mouth, 0.15-0.20
    lip: RGB
    lip_upper: float  # upper lip thickness, 0.022-0.036
    lip_lower: float  # lower lip thickness, 0.030-0.050
    blush: float  # resting cheek colour, 0-0.15 (blend weight)
    accessory: str  # one of ACCESSORIES
    accessory_colour: RGB
    round_glasses: bool
    background: tuple[RGB, RGB]  # gradient end colours
    background_angle: float  # gradient direction, radians
    clothes: RGB
    light: float  # horizontal light direction, -1 (from the left) to 1
    disgust_side: int  # side of the upper lip that rises in disgust, -1 or 1


@dataclass(frozen=True)
class Action:
    """Local facial actions of one expression; 0 (or 1 for scales) is the resting face.

    Heights are normalised image units, positive upwards for raises.
    """

    brow_inner: float = 0.0  # raise of the inner brow ends, -0.07 to 0.09
    brow_outer: float = 0.0  # raise of the outer brow ends
    brow_in: float = 0.0  # shift of both brows toward the midline, 0-0.04
    brow_arch: float = 0.0  # extra arch of the brow curve
    furrow: float = 0.0  # vertical frown lines between the brows, 0-1
    forehead: float = 0.0  # horizontal forehead lines, 0-1
    eye_open: float = 1.0  # eye opening scale, 0.6 (narrowed) to 1.5 (wide)
    lid_tilt: float = 0.0  # upper lid lowered at the inner corner, fraction of eye height
    lid_droop: float = 0.0  # upper lid lowered at the outer corner, fraction of eye height
    lower_lid: float = 0.0  # lower lid raised, fraction of eye height
    mouth_width: float = 1.0  # mouth width scale
    mouth_lift: float = 0.0  # raise of both mouth corners (negative: corners down)
    mouth_asym: float = 0.0  # extra corner raise on the subject's disgust side
    open_upper: float = 0.0  # upper lip lifted off the lower one at the centre
    open_lower: float = 0.0  # lower lip dropped at the centre
    round_mouth: float = 0.0  # opening profile, 0 (lens) to 1 (oval)
    lip_press: float = 0.0  # lip thinning, 0-1
    lip_pout: float = 0.0  # lower lip thickening, 0-1
    lip_raise: float = 0.0  # one-sided upper lip raise (disgust side)
    teeth: float = 0.0  # visible upper teeth, 0-1
    cheek: float = 0.0  # raised, flushed cheeks, 0-1
    smile_lines: float = 0.0  # nasolabial folds, 0-1
    nose_wrinkle: float = 0.0  # wrinkles across the nose bridge, 0-1
    nostril_flare: float = 0.0  # nostrils widened and lifted, 0-1


ACTIONS: dict[str, Action] = {
    "neutral": Action(),
    "happy": Action(
        brow_inner=0.01,
        brow_outer=0.012,
        eye_open=0.9,
        lower_lid=0.45,
        mouth_width=1.22,
        mouth_lift=0.075,
        open_upper=0.006,
        open_lower=0.055,
        teeth=1.0,
        cheek=1.0,
        smile_lines=1.0,
    ),
    "sad": Action(
        brow_inner=0.075,
        brow_outer=-0.025,
        brow_in=0.015,
        brow_arch=-0.02,
        eye_open=0.85,
        lid_droop=0.45,
        mouth_width=0.92,
        mouth_lift=-0.07,
        lip_pout=0.8,
        lip_press=0.2,
    ),
    "fearful": Action(
        brow_inner=0.085,
        brow_outer=0.04,
        brow_in=0.035,
        brow_arch=-0.015,
        furrow=0.5,
        forehead=0.7,
        eye_open=1.45,
        mouth_width=1.25,
        mouth_lift=-0.03,
        open_upper=0.01,
        open_lower=0.045,
        teeth=0.6,
    ),
    "angry": Action(
        brow_inner=-0.075,
        brow_outer=0.02,
        brow_in=0.04,
        furrow=1.0,
        eye_open=0.95,
        lid_tilt=0.55,
        lower_lid=0.2,
        mouth_width=0.85,
        mouth_lift=-0.02,
        lip_press=0.85,
        nostril_flare=0.6,
    ),
    "surprised": Action(
        brow_inner=0.095,
        brow_outer=0.095,
        brow_arch=0.03,
        forehead=1.0,
        eye_open=1.5,
        mouth_width=0.55,
        open_upper=0.045,
        open_lower=0.11,
        round_mouth=1.0,
    ),
    "disgusted": Action(
        brow_inner=-0.04,
        brow_outer=-0.04,
        brow_in=0.015,
        furrow=0.3,
        eye_open=0.85,
        lower_lid=0.4,
        mouth_width=0.95,
        mouth_lift=-0.03,
        mouth_asym=0.04,
        lip_raise=0.07,
        teeth=0.7,
        smile_lines=0.6,
        nose_wrinkle=1.0,
        nostril_flare=1.0,
    ),
}
assert tuple(ACTIONS) == EXPRESSIONS


# ---------------------------------------------------------------------------------------------
# Signed distance fields and the canvas
# ---------------------------------------------------------------------------------------------


def _ellipse_sdf(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (negative inside)."""
    px, py = (x - cx) / rx, (y - cy) / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / rx) ** 2 + (py / ry) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _box_sdf(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, hw: float, hh: float, r: float
) -> np.ndarray:
    """Signed distance to a rectangle of half-size ``(hw, hh)`` with corner radius ``r``."""
    qx = np.abs(x - cx) - hw + r
    qy = np.abs(y - cy) - hh + r
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - r


def _stroke_sdf(x: np.ndarray, y: np.ndarray, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
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


def _bezier(
    p0: Sequence[float], p1: Sequence[float], p2: Sequence[float], n: int = 8
) -> np.ndarray:
    """``n + 1`` points along the quadratic Bezier curve p0 -> p2 pulled toward p1."""
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Gaussian blob in [0, 1] with standard deviations ``(sx, sy)``."""
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


_PARTS: dict[str, int] = {"hair": 1, "body": 2, "neck": 3, "ears": 4, "face": 5}
"""Labels of the large regions of the person in ``_Canvas.parts`` (0: background or detail)."""


class _Canvas:
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

        A non-zero ``part`` marks a region of the person (see ``_PARTS``).
        """
        self.rgb += weight[..., None] * (np.asarray(colour, dtype=float) - self.rgb)
        if part:
            self.alpha += weight * (1.0 - self.alpha)
            self.parts[weight > 0.5] = part

    def fill(self, sdf: np.ndarray, colour, part: int = 0, opacity: float = 1.0) -> None:
        """Paint the region ``sdf < 0``."""
        self.paint(opacity * self.cover(sdf), colour, part)

    def window(self, x0: float, y0: float, x1: float, y1: float) -> _Canvas:
        """A view of the pixels with centres in ``[x0, x1] x [y0, y1]`` (shares this one's memory).

        Painting a small feature through a window costs only the window's pixels.
        """
        j0, j1 = np.searchsorted(self.x[0], [x0, x1])
        i0, i1 = np.searchsorted(self.y[:, 0], [y0, y1])
        sub = object.__new__(_Canvas)
        sub.x, sub.y = self.x[i0:i1, j0:j1], self.y[i0:i1, j0:j1]
        sub.rgb, sub.alpha = self.rgb[i0:i1, j0:j1], self.alpha[i0:i1, j0:j1]
        sub.parts = self.parts[i0:i1, j0:j1]
        sub.px = self.px
        return sub


# ---------------------------------------------------------------------------------------------
# Identities and per-image jitter
# ---------------------------------------------------------------------------------------------


def _lerp_palette(palette: np.ndarray, t: float) -> np.ndarray:
    """Colour at position ``t`` in [0, 1] along a palette of anchor colours."""
    pos = t * (len(palette) - 1)
    i = min(int(pos), len(palette) - 2)
    return palette[i] + (pos - i) * (palette[i + 1] - palette[i])


def _rgb(colour: np.ndarray) -> RGB:
    """A plain tuple colour, clipped to [0, 1]."""
    r, g, b = np.clip(colour, 0.0, 1.0)
    return (float(r), float(g), float(b))


def _vary(rng: np.random.Generator, colour: np.ndarray, amount: float) -> RGB:
    """A colour with independent per-channel noise of standard deviation ``amount``."""
    return _rgb(colour + rng.normal(0.0, amount, 3))


def _hsv_colour(
    rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]
) -> np.ndarray:
    """A random colour with saturation and value drawn from the given ranges."""
    hue = rng.uniform(0.0, 6.0)
    s, v = rng.uniform(*sat), rng.uniform(*val)
    ramp = np.clip(np.abs((hue + np.array([0.0, 4.0, 2.0])) % 6.0 - 3.0) - 1.0, 0.0, 1.0)
    return v * (1.0 - s + s * ramp)


def sample_identity(rng: np.random.Generator, vivid: bool = False) -> Identity:
    """Draw one subject's appearance; ``vivid`` picks cartoon hair and background colours."""
    skin = _lerp_palette(_SKIN_TONES, rng.uniform())
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    if vivid:
        hair = _VIVID_HAIR[rng.integers(len(_VIVID_HAIR))]
    brow = np.minimum(hair * 0.7 if hair.mean() < 0.5 else hair * 0.5, skin * 0.45)  # > skin
    lip = skin * np.array([0.85, 0.55, 0.55]) + np.array([0.12, 0.02, 0.04])
    accessory = ACCESSORIES[rng.choice(3, p=[0.6, 0.2, 0.2])]
    metals = np.array(
        [(0.10, 0.08, 0.08), (0.45, 0.25, 0.12), (0.85, 0.70, 0.30), (0.75, 0.75, 0.80)]
    )
    bg_sat, bg_val = ((0.5, 0.8), (0.7, 0.95)) if vivid else ((0.1, 0.45), (0.35, 0.9))
    return Identity(
        head_width=rng.uniform(0.52, 0.63),
        head_height=rng.uniform(0.74, 0.82),
        jaw=rng.uniform(0.55, 0.95),
        jaw_square=rng.uniform(2.0, 3.0),
        skin=_vary(rng, skin, 0.015),
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        hair=_vary(rng, hair, 0.03),
        hairline=rng.uniform(-0.05, 0.05),
        hair_length=rng.uniform(0.55, 1.05),
        eye_spacing=rng.uniform(0.20, 0.26),
        eye_width=rng.uniform(0.080, 0.100),
        eye_aspect=rng.uniform(0.42, 0.56),
        iris=_vary(rng, _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))], 0.03),
        brow_gap=rng.uniform(0.13, 0.16),
        brow_thickness=rng.uniform(0.018, 0.032),
        brow_arch=rng.uniform(0.0, 0.04),
        brow=_rgb(brow),
        nose_length=rng.uniform(0.25, 0.33),
        nose_width=rng.uniform(0.055, 0.085),
        mouth_gap=rng.uniform(0.13, 0.17),
        mouth_width=rng.uniform(0.15, 0.20),
        lip=_vary(rng, lip, 0.03),
        lip_upper=rng.uniform(0.022, 0.036),
        lip_lower=rng.uniform(0.030, 0.050),
        blush=rng.uniform(0.0, 0.15),
        accessory=accessory,
        accessory_colour=_rgb(metals[rng.integers(len(metals))]),
        round_glasses=bool(rng.integers(2)),
        background=(_rgb(_hsv_colour(rng, bg_sat, bg_val)), _rgb(_hsv_colour(rng, bg_sat, bg_val))),
        background_angle=rng.uniform(0.0, 2.0 * np.pi),
        clothes=_rgb(_hsv_colour(rng, (0.2, 0.8), (0.2, 0.85))),
        light=rng.uniform(-1.0, 1.0),
        disgust_side=int(rng.choice([-1, 1])),
    )


@dataclass(frozen=True)
class _Jitter:
    """Per-image nuisance: gaze offset (fraction of iris travel, -1..1) and brightness scale."""

    gaze_x: float = 0.0
    gaze_y: float = 0.0
    brightness: float = 1.0


def jitter_action(rng: np.random.Generator, action: Action) -> Action:
    """Scale the expression's deviation from rest by 0.85-1.15 and add tiny independent noise."""
    rest = Action()
    scale = rng.uniform(0.85, 1.15)
    values = {}
    for f in fields(Action):
        base, value = getattr(rest, f.name), getattr(action, f.name)
        noise = rng.normal(0.0, 0.004 if abs(base) == 0.0 else 0.02)
        values[f.name] = base + (value - base) * scale + noise
    values["teeth"] = float(np.clip(values["teeth"], 0.0, 1.0))
    return replace(action, **values)


def _jitter(rng: np.random.Generator) -> _Jitter:
    """Draw the per-image gaze and brightness nuisance."""
    return _Jitter(
        gaze_x=rng.uniform(-0.5, 0.5),
        gaze_y=rng.uniform(-0.3, 0.3),
        brightness=rng.uniform(0.985, 1.015),
    )


# ---------------------------------------------------------------------------------------------
# The face model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """Renderer switches used by the OOD styles."""

    flat: bool = False  # no shading, texture or highlights (cartoon)
    blank_eyes: bool = False  # no iris or pupil (statue)


def _shade(
    c: _Canvas, colour: RGB, ident: Identity, opt: _Options, strength: float = 1.0
) -> np.ndarray:
    """Colour field lit from the identity's side, darker toward the image edges."""
    base = np.asarray(colour, dtype=float)
    if opt.flat:
        return base
    light = 1.0 + 0.08 * strength * ident.light * c.x - 0.10 * strength * (c.x**2 + 0.6 * c.y**2)
    return base * light[..., None]


def _draw_background(c: _Canvas, ident: Identity, opt: _Options) -> None:
    start, end = (np.asarray(col) for col in ident.background)
    if opt.flat:
        c.rgb[:] = start
        return
    a = ident.background_angle
    t = np.clip(0.5 + 0.5 * (np.cos(a) * c.x + np.sin(a) * c.y), 0.0, 1.0)[..., None]
    c.rgb[:] = start + t * (end - start)


def _head_sdf(c: _Canvas, ident: Identity) -> np.ndarray:
    """Face outline: an ellipse whose lower half narrows to the jaw and squares off."""
    w, h = ident.head_width, ident.head_height
    v = (c.y - HEAD_Y) / h
    below = np.clip(v, 0.0, 1.0)
    u = c.x / (w * (1.0 - (1.0 - ident.jaw) * below**1.5))
    p = np.where(v > 0, ident.jaw_square, 2.0)
    f = (np.abs(u) ** p + np.abs(v) ** p) ** (1.0 / p) - 1.0
    return c.implicit(f)


def _hairline(c: _Canvas, ident: Identity) -> np.ndarray:
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


def _draw_hair_back(c: _Canvas, ident: Identity, opt: _Options) -> None:
    w, h = ident.head_width, ident.head_height
    colour = _shade(c, ident.hair, ident, opt) * 0.85
    if ident.hair_style == "long":
        bottom = ident.hair_length
        top = HEAD_Y - 0.2
        sdf = np.minimum(
            _ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - 0.03, w + 0.09, h + 0.09),
            _box_sdf(c.x, c.y, 0.0, (top + bottom) / 2, w + 0.11, (bottom - top) / 2, 0.12),
        )
        c.fill(sdf, colour, _PARTS["hair"])
    elif ident.hair_style == "bun":
        c.fill(_ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - h - 0.08, 0.19, 0.16), colour, _PARTS["hair"])
    elif ident.hair_style == "curly":
        ang = np.arctan2(c.y - HEAD_Y, c.x)
        radius = 1.0 + 0.05 * np.sin(11.0 * ang)
        rx, ry = w + 0.16, h + 0.12
        f = np.hypot(c.x / rx, (c.y - HEAD_Y + 0.05) / ry) / radius - 1.0
        sdf = np.maximum(c.implicit(f), c.y - (HEAD_Y + 0.45))  # cut off at the shoulders
        c.fill(sdf, colour, _PARTS["hair"])


def _draw_body(c: _Canvas, ident: Identity, opt: _Options) -> None:
    clothes = _shade(c, ident.clothes, ident, opt)
    c.fill(_ellipse_sdf(c.x, c.y, 0.0, 1.42, 0.95, 0.55), clothes, _PARTS["body"])
    neck = _shade(c, ident.skin, ident, opt) * (1.0 if opt.flat else 0.82)
    top = HEAD_Y + 0.5 * ident.head_height
    c.fill(
        _box_sdf(c.x, c.y, 0.0, (top + 1.1) / 2, 0.21, (1.1 - top) / 2, 0.02), neck, _PARTS["neck"]
    )
    collar = _ellipse_sdf(c.x, c.y, 0.0, 0.98, 0.25, 0.09)
    c.fill(collar, neck, _PARTS["neck"])


def _draw_ears(c: _Canvas, ident: Identity, opt: _Options) -> None:
    colour = _shade(c, ident.skin, ident, opt) * (1.0 if opt.flat else 0.93)
    for side in (-1, 1):
        cx = side * ident.head_width * 0.97
        c.fill(_ellipse_sdf(c.x, c.y, cx, EYE_Y + 0.1, 0.075, 0.14), colour, _PARTS["ears"])


def _draw_face(c: _Canvas, ident: Identity, act: Action, opt: _Options) -> None:
    c.fill(_head_sdf(c, ident), _shade(c, ident.skin, ident, opt, 1.6), _PARTS["face"])
    # Cheeks: resting blush plus the flush and lift of a smile.
    flush = np.array([0.92, 0.38, 0.38])
    for side in (-1, 1):
        cx = side * (ident.eye_spacing + 0.05)
        cy = EYE_Y + 0.21 - 0.05 * act.cheek
        w = c.window(cx - 0.3, cy - 0.23, cx + 0.3, cy + 0.23)
        blob = _gauss(w.x, w.y, cx, cy, 0.085, 0.065)
        w.paint(np.clip(ident.blush + 0.32 * act.cheek, 0.0, 0.6) * blob, flush)
        if not opt.flat and act.cheek > 0:
            glow = _gauss(w.x, w.y, cx, cy - 0.03, 0.05, 0.035)
            w.paint(0.22 * act.cheek * glow, np.ones(3))


def _draw_lines(c: _Canvas, ident: Identity, act: Action) -> None:
    """Forehead lines, frown lines between the brows, nose wrinkles and nasolabial folds."""
    ink = np.asarray(ident.skin) * 0.62
    brow_y = EYE_Y - ident.brow_gap
    if act.forehead > 0.05:
        w = c.window(-0.25, brow_y - 0.3, 0.25, brow_y - 0.1)
        for k in range(3):
            y0 = brow_y - 0.15 - 0.045 * k
            pts = _bezier((-0.2, y0 + 0.02), (0.0, y0 - 0.015), (0.2, y0 + 0.02))
            sdf = _stroke_sdf(w.x, w.y, pts, np.full(len(pts), 0.007))
            w.fill(sdf, ink, opacity=min(act.forehead, 1.0) * 0.6)
    if act.furrow > 0.05:
        inner_y = brow_y - act.brow_inner
        w = c.window(-0.06, inner_y - 0.1, 0.06, inner_y + 0.04)
        for side in (-1, 1):
            pts = np.array([(side * 0.022, inner_y + 0.015), (side * 0.03, inner_y - 0.075)])
            sdf = _stroke_sdf(w.x, w.y, pts, np.array([0.007, 0.004]))
            w.fill(sdf, ink, opacity=min(act.furrow, 1.0) * 0.7)
    tip_y = EYE_Y + ident.nose_length
    if act.nose_wrinkle > 0.05:
        w = c.window(-0.14, EYE_Y, 0.14, EYE_Y + 0.16)
        strength = min(act.nose_wrinkle, 1.0) * 0.8
        for k in range(2):
            y0 = EYE_Y + 0.06 + 0.045 * k
            pts = _bezier((-0.05, y0 + 0.012), (0.0, y0 - 0.012), (0.05, y0 + 0.012), 4)
            w.fill(_stroke_sdf(w.x, w.y, pts, np.full(len(pts), 0.006)), ink, opacity=strength)
        for side in (-1, 1):  # "bunny lines" down the sides of the nose
            pts = np.array([(side * 0.06, EYE_Y + 0.05), (side * 0.1, EYE_Y + 0.12)])
            w.fill(_stroke_sdf(w.x, w.y, pts, np.array([0.007, 0.004])), ink, opacity=strength)
    if act.smile_lines > 0.05:
        mouth_y = tip_y + ident.mouth_gap
        reach = ident.mouth_width * act.mouth_width + 0.025
        w = c.window(-reach - 0.08, tip_y - 0.06, reach + 0.08, mouth_y + 0.1)
        for side in (-1, 1):
            pts = _bezier(
                (side * (ident.nose_width + 0.03), tip_y - 0.03),
                (side * (reach + 0.03), mouth_y - 0.07),
                (side * (reach + 0.01), mouth_y + 0.06),
            )
            radii = np.linspace(0.006, 0.011, len(pts))
            sdf = _stroke_sdf(w.x, w.y, pts, radii)
            w.fill(sdf, ink, opacity=min(act.smile_lines, 1.0) * 0.7)


def _draw_nose(c: _Canvas, ident: Identity, act: Action, opt: _Options) -> None:
    skin = np.asarray(ident.skin)
    tip_y = EYE_Y + ident.nose_length - 0.015 * act.nostril_flare
    width = ident.nose_width * (1.0 + 0.25 * act.nostril_flare)
    w = c.window(-width * 1.5 - 0.04, EYE_Y, width * 1.5 + 0.04, tip_y + 0.06)
    if not opt.flat:
        side = 1.0 if ident.light < 0 else -1.0  # bridge shadow on the side away from the light
        bridge = np.array([(side * 0.035, EYE_Y + 0.03), (side * 0.045, tip_y - 0.04)])
        w.fill(_stroke_sdf(w.x, w.y, bridge, np.array([0.006, 0.014])), skin * 0.8, opacity=0.45)
        w.paint(0.25 * _gauss(w.x, w.y, 0.0, tip_y - 0.03, 0.03, 0.025), np.ones(3))
    for side in (-1, 1):
        wing = _bezier(
            (side * width * 0.45, tip_y - 0.05),
            (side * width * 1.25, tip_y - 0.02),
            (side * width * 0.6, tip_y + 0.015),
            6,
        )
        w.fill(_stroke_sdf(w.x, w.y, wing, np.full(len(wing), 0.0065)), skin * 0.55, opacity=0.8)
        rx = 0.022 * (1.0 + 0.4 * act.nostril_flare)
        w.fill(_ellipse_sdf(w.x, w.y, side * width * 0.45, tip_y + 0.004, rx, 0.012), skin * 0.35)


def _draw_mouth(c: _Canvas, ident: Identity, act: Action, opt: _Options) -> None:
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
        np.maximum(edge, np.maximum(top - w.y, w.y - bottom)), _shade(w, ident.lip, ident, opt, 0.5)
    )
    if not opt.flat:  # soft highlight on the lower lip
        gloss = _gauss(w.x, w.y, 0.0, my + 0.02, mw * 0.35, 0.01)
        w.paint(0.18 * gloss * (w.y > lower), np.ones(3))
    line = np.maximum(np.abs(w.y - base) - 0.006, np.abs(w.x) - mw)
    w.fill(line, np.asarray(ident.lip) * 0.35)
    opening = np.maximum(np.abs(w.x) - mw, np.maximum(upper - w.y, w.y - lower))
    w.fill(opening, (0.22, 0.05, 0.07))
    if act.teeth > 0.05:
        teeth = np.maximum(opening, w.y - (upper + 0.04 * act.teeth))
        w.fill(teeth, (0.96, 0.94, 0.88))


def _eye_shape(c: _Canvas, ident: Identity, act: Action, side: int):
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


def _draw_eye(c: _Canvas, ident: Identity, act: Action, jit: _Jitter, side: int, opt: _Options):
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


def _draw_brows(c: _Canvas, ident: Identity, act: Action) -> None:
    base = EYE_Y - ident.brow_gap
    half = ident.eye_width * 1.35
    for side in (-1, 1):
        cx = side * (ident.eye_spacing - act.brow_in)
        inner = (cx - side * half * 0.95, base - act.brow_inner)
        outer = (cx + side * half, base - act.brow_outer + 0.025)
        arch = ident.brow_arch + act.brow_arch + 0.02
        mid = ((inner[0] + outer[0]) / 2 + side * 0.02, min(inner[1], outer[1]) - arch)
        pts = _bezier(inner, mid, outer)
        radii = np.linspace(ident.brow_thickness, ident.brow_thickness * 0.45, len(pts))
        w = c.window(cx - half - 0.05, base - 0.22, cx + half + 0.05, base + 0.12)
        w.fill(_stroke_sdf(w.x, w.y, pts, radii), ident.brow)


def _draw_hair_front(c: _Canvas, ident: Identity, opt: _Options) -> None:
    if ident.hair_style == "bald":
        if not opt.flat:
            shine = _gauss(c.x, c.y, 0.1, HEAD_Y - 0.6 * ident.head_height, 0.12, 0.06)
            c.paint(0.2 * shine, np.ones(3))
        return
    w, h = ident.head_width, ident.head_height
    grow = 0.05 if ident.hair_style != "curly" else 0.09
    cap = np.maximum(
        _ellipse_sdf(c.x, c.y, 0.0, HEAD_Y - 0.02, w + grow, h + grow), c.y - _hairline(c, ident)
    )
    colour = _shade(c, ident.hair, ident, opt)
    if not opt.flat:
        strands = 1.0 + 0.07 * np.sin(70.0 * c.x + 9.0 * np.sin(6.0 * c.y))
        colour = colour * strands[..., None]
    c.fill(cap, colour, _PARTS["hair"])


def _draw_accessory(c: _Canvas, ident: Identity, opt: _Options) -> None:
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
                frame = _ellipse_sdf(w.x, w.y, cx, EYE_Y + 0.01, rx, ry)
            else:
                frame = _box_sdf(w.x, w.y, cx, EYE_Y + 0.01, rx, ry * 0.85, 0.03)
            if not opt.flat:
                w.fill(frame, (0.8, 0.9, 1.0), opacity=0.12)
            w.fill(np.abs(frame) - 0.006, colour)
            temple = np.array(
                [(cx + side * rx, EYE_Y - 0.01), (side * ident.head_width, EYE_Y - 0.03)]
            )
            w.fill(_stroke_sdf(w.x, w.y, temple, np.array([0.006, 0.006])), colour)
        inner = ident.eye_spacing - rx
        bridge = _bezier((-inner, EYE_Y - 0.01), (0.0, EYE_Y - 0.04), (inner, EYE_Y - 0.01), 4)
        w.fill(_stroke_sdf(w.x, w.y, bridge, np.full(len(bridge), 0.006)), colour)


@dataclass(frozen=True)
class Rendering:
    """One rendered face before any OOD style is applied."""

    rgb: np.ndarray  # (size, size, 3) float in [0, 1]
    person: np.ndarray  # (size, size) coverage of the person (not background), [0, 1]
    parts: np.ndarray  # (size, size) int8 region labels from _PARTS, 0 = background or detail


def render_face(
    ident: Identity,
    act: Action,
    size: int,
    jit: _Jitter = _Jitter(),
    opt: _Options = _Options(),
) -> Rendering:
    """Render one ``size`` x ``size`` face of ``ident`` making the facial actions ``act``."""
    c = _Canvas(size)
    _draw_background(c, ident, opt)
    _draw_hair_back(c, ident, opt)
    _draw_body(c, ident, opt)
    _draw_ears(c, ident, opt)
    _draw_face(c, ident, act, opt)
    _draw_lines(c, ident, act)
    _draw_nose(c, ident, act, opt)
    _draw_mouth(c, ident, act, opt)
    for side in (-1, 1):
        _draw_eye(c, ident, act, jit, side, opt)
    _draw_hair_front(c, ident, opt)
    _draw_brows(c, ident, act)
    _draw_accessory(c, ident, opt)
    brightness = 1.0 if opt.flat else jit.brightness  # flat cartoon colours have no lighting
    rgb = np.clip(c.rgb * brightness, 0.0, 1.0)
    return Rendering(rgb=rgb, person=np.clip(c.alpha, 0.0, 1.0), parts=c.parts)


# ---------------------------------------------------------------------------------------------
# Out-of-distribution styles
# ---------------------------------------------------------------------------------------------
# Each filter maps a Rendering to an (H, W, 3) float image in [0, 1]. Its generator is seeded
# per subject, so a subject keeps the same stone, paper, palette and strokes in every image.


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance in [0, 1] of an (H, W, 3) float image."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved down by ``dy`` and right by ``dx`` pixels (>= 0), edges replicated."""
    h, w = a.shape[:2]
    pad = [(dy, 0), (dx, 0)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad, mode="edge")[:h, :w]


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
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


def _dilate(a: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2 radius + 1)^2 window of an (H, W) array."""
    h, w = a.shape
    p = np.pad(a, radius, mode="edge")
    out = a.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out = np.maximum(out, p[dy : dy + h, dx : dx + w])
    return out


def _gradient_magnitude(a: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of an (H, W) array, in value units per pixel."""
    p = np.pad(a, 1, mode="edge")
    gx = (
        p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]
    ) / 8
    gy = (
        p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]
    ) / 8
    return np.hypot(gx, gy)


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of a small (h, w) float field to (size, size)."""
    image = Image.fromarray(a.astype(np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=float)


def _fractal_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean noise (size, size): three smooth octaves plus per-pixel grain, |x| < ~0.6."""
    total = np.zeros((size, size))
    for octave, amp in enumerate((0.5, 0.3, 0.2)):
        cells = min(4 * 2**octave, size)
        total += amp * (_resize(rng.random((cells + 1, cells + 1)), size) - 0.5)
    return total + 0.3 * (rng.random((size, size)) - 0.5)


def _statue(r: Rendering, rng: np.random.Generator) -> np.ndarray:
    """Carved stone: desaturated, lit relief with a mottled grain, on a dim museum backdrop."""
    size = r.rgb.shape[0]
    lum = _luma(r.rgb)
    relief = lum - _shift(lum, 1, 1)  # light from the top left
    stone = 0.42 + 0.5 * lum + 0.6 * relief + 0.16 * _fractal_noise(rng, size)
    tint = _STONE_TINTS[rng.integers(len(_STONE_TINTS))]
    figure = np.clip(stone, 0.0, 1.0)[..., None] * tint
    shade = rng.uniform(0.12, 0.25)
    ys = np.linspace(0.0, 1.0, size)[:, None, None]
    backdrop = shade * (1.3 - 0.6 * ys) * np.array([0.95, 0.97, 1.0])
    person = r.person[..., None]
    return person * figure + (1 - person) * backdrop


def _sketch(r: Rendering, rng: np.random.Generator) -> np.ndarray:
    """Pencil on paper: graphite contours, diagonal hatching in dark areas, white paper."""
    size = r.rgb.shape[0]
    person = r.person[..., None]
    lum = _luma(person * r.rgb + (1 - person))
    edges = np.clip(_gradient_magnitude(_box_blur(lum, size // 96)) * 5.0, 0.0, 1.0)
    i, j = np.mgrid[0:size, 0:size]
    period = max(3.0, size / 32)
    angle = rng.uniform(0.6, 1.0)
    hatch = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(angle) * j + np.sin(angle) * i) / period)
    dark = np.clip(1.0 - lum - 0.15, 0.0, 1.0) ** 1.2
    paper = 0.96 + 0.04 * _fractal_noise(rng, size)
    grey = paper * (1.0 - 0.85 * edges) * (1.0 - 0.55 * dark * hatch) * (1.0 - 0.25 * dark)
    graphite, sheet = np.array([0.16, 0.16, 0.19]), np.array([0.99, 0.97, 0.92])
    return graphite + np.clip(grey, 0.0, 1.0)[..., None] * (sheet - graphite)


def _painting(r: Rendering, rng: np.random.Generator) -> np.ndarray:
    """Oil painting: hue-rotated, saturated colours posterised through diagonal brush strokes."""
    size = r.rgb.shape[0]
    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    angle = rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)  # hue rotation, radians
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.array([[1.0, 0.0, 0.0], [0.0, 1.3 * cos, -1.3 * sin], [0.0, 1.3 * sin, 1.3 * cos]])
    shifted = _box_blur(r.rgb @ (np.linalg.inv(yiq) @ rotate @ yiq).T, size // 128)
    half = size // 2
    noise = rng.random((half, half))
    reach = max(3, half // 6)
    step = rng.choice([-1, 1])
    smear = sum(np.roll(noise, (k, step * k), axis=(0, 1)) for k in range(reach)) / reach
    strokes = _resize((smear - smear.mean()) / smear.std(), size)
    levels = 6
    painted = (
        np.floor(np.clip(shifted + 0.045 * strokes[..., None], 0.0, 1.0) * levels + 0.5) / levels
    )
    weave = 1.0 - 0.05 * np.outer(np.sin(np.arange(size) * 2.1), np.sin(np.arange(size) * 2.1))
    return np.clip(painted * weave[..., None] * np.array([1.0, 0.95, 0.82]), 0.0, 1.0)


def _avatar(r: Rendering, rng: np.random.Generator) -> np.ndarray:
    """Cartoon avatar: flat, saturated, quantised colours; thick dark outlines around regions.

    Draws no random numbers: the flat look comes from the renderer's ``flat`` option.
    """
    grey = _luma(r.rgb)[..., None]
    flat = np.round(np.clip(grey + 1.5 * (r.rgb - grey), 0.0, 1.0) * 8) / 8
    parts = r.parts
    edge = np.zeros(parts.shape, dtype=bool)  # both pixels on either side of a region change
    down, right = parts[1:] != parts[:-1], parts[:, 1:] != parts[:, :-1]
    edge[1:] |= down
    edge[:-1] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    line = _dilate(edge.astype(float), parts.shape[0] // 160)
    return flat + line[..., None] * (np.array([0.10, 0.07, 0.12]) - flat)


_STYLE_FILTERS: dict[str, Callable[[Rendering, np.random.Generator], np.ndarray]] = {
    "statue": _statue,
    "sketch": _sketch,
    "painting": _painting,
    "avatar": _avatar,
}
_STYLE_OPTIONS: dict[str, _Options] = {
    "statue": _Options(blank_eyes=True),
    "sketch": _Options(),
    "painting": _Options(),
    "avatar": _Options(flat=True),
}
assert tuple(_STYLE_FILTERS) == STYLES


# ---------------------------------------------------------------------------------------------
# Dataset generation
# ---------------------------------------------------------------------------------------------


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Independent generator for one seeded stream; ``key`` names the stream."""
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


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
    jit = _jitter(rng)
    if style is None:
        return _to_uint8(render_face(ident, act, size, jit).rgb)
    rendering = render_face(ident, act, size, jit, _STYLE_OPTIONS[style])
    return _to_uint8(_STYLE_FILTERS[style](rendering, look))


def _check_int(name: str, value: object, minimum: int, where: str = "synthetic data") -> int:
    """``value`` as an int if it is an integer >= ``minimum``; a UserError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_styles(styles: Sequence[str]) -> None:
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise UserError(f"synthetic data: unknown style(s) {unknown}; valid: {', '.join(STYLES)}")
    if len(set(styles)) != len(styles):
        raise UserError(f"synthetic data: a style is listed twice in {list(styles)}")


@dataclass(frozen=True)
class _Subject:
    """One subject to render: its id, split, style and the key of its seeded random streams."""

    name: str
    split: str
    key: tuple[int, int, int]  # (stream, style index, subject index)
    style: str | None = None


def _render_subject(
    root: Path,
    subject: _Subject,
    seed: int,
    size: int,
    per_expression: int,
    progress: Callable[[int], None] | None,
) -> list[dict[str, str]]:
    """Render and save every expression of one subject; return its manifest rows."""
    ident = sample_identity(_rng(seed, 0, *subject.key), vivid=subject.style == "avatar")
    rows = []
    for e, expression in enumerate(EXPRESSIONS):
        for k in range(per_expression):
            image_id = f"{subject.name}_{expression}_{k}"
            path = root / IMAGES / f"{image_id}.png"
            jitter = _rng(seed, 1, *subject.key, e, k)
            look = _rng(seed, 2, *subject.key)  # the same textures for every image of the subject
            save_png(render_image(ident, expression, size, jitter, subject.style, look), path)
            rows.append(
                {
                    "image_id": image_id,
                    "subject": subject.name,
                    "expression": expression,
                    "split": subject.split,
                    "sha256": sha256_file(path),
                    "file": f"{IMAGES}/{image_id}.png",
                    "source": "synthetic",
                }
            )
            if progress is not None:
                progress(1)
    return rows


def _write_folder(
    root: Path,
    subjects: list[_Subject],
    info: DatasetInfo,
    seed: int,
    per_expression: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Replace ``root/images`` with fresh renders of ``subjects`` and write the manifest."""
    images = root / IMAGES
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    rows = []
    for subject in subjects:
        rows += _render_subject(root, subject, seed, info.image_size, per_expression, progress)
    write_dataset(root, pd.DataFrame(rows), info)


def generate(
    out_root: Path,
    *,
    seed: int = 0,
    image_size: int = 64,
    train_subjects: int = 24,
    test_subjects: int = 8,
    ood_subjects: int = 4,
    images_per_expression: int = 1,
    styles: Sequence[str] = STYLES,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write data/<name>/ folders under out_root; return their paths: out_root/"synthetic"
    (train+test split) and out_root/f"synthetic_{style}" per style (split all "test").

    ``synthetic`` holds subjects ``s000``... (the first ``train_subjects`` in ``train``, the
    next ``test_subjects`` in ``test``), each with ``images_per_expression`` jittered images of
    all seven expressions, ``image_size`` x ``image_size`` pixels. Each style folder holds
    ``ood_subjects`` identities from a separate seeded stream (never in train or test), e.g.
    ``statue_o000``, with all seven expressions in that style. ``progress(n)`` is called with
    the number of images just written. The same arguments give byte-identical files.
    """
    seed = _check_int("seed", seed, 0)
    image_size = _check_int("image_size (pixels)", image_size, MIN_IMAGE_SIZE)
    train_subjects = _check_int("train_subjects", train_subjects, 1)
    test_subjects = _check_int("test_subjects", test_subjects, 1)
    ood_subjects = _check_int("ood_subjects", ood_subjects, 1)
    images_per_expression = _check_int("images_per_expression", images_per_expression, 1)
    styles = (styles,) if isinstance(styles, str) else tuple(styles)
    _check_styles(styles)
    out_root = Path(out_root)
    provenance = {"generator": "datasets.synthetic", "seed": seed}

    subjects = [
        _Subject(f"s{i:03d}", "train" if i < train_subjects else "test", (_TRAIN_STREAM, 0, i))
        for i in range(train_subjects + test_subjects)
    ]
    info = DatasetInfo(
        name="synthetic",
        kind="synthetic",
        image_size=image_size,
        ood=False,
        description=(
            f"procedural synthetic faces: {train_subjects} train + {test_subjects} test subjects"
            f" x {len(EXPRESSIONS)} expressions x {images_per_expression} image(s), {image_size} px"
        ),
        provenance={
            **provenance,
            "train_subjects": train_subjects,
            "test_subjects": test_subjects,
            "images_per_expression": images_per_expression,
        },
    )
    written = [out_root / "synthetic"]
    _write_folder(written[0], subjects, info, seed, images_per_expression, progress)

    for style in styles:
        index = STYLES.index(style)  # keys stay stable whichever styles are asked for
        subjects = [
            _Subject(f"{style}_o{i:03d}", "test", (_OOD_STREAM, index, i), style)
            for i in range(ood_subjects)
        ]
        info = DatasetInfo(
            name=f"synthetic_{style}",
            kind="synthetic_ood",
            image_size=image_size,
            ood=True,
            description=(
                f"procedural synthetic faces, {style} style: {ood_subjects} unseen subjects"
                f" x {len(EXPRESSIONS)} expressions, {image_size} px"
            ),
            provenance={**provenance, "style": style, "ood_subjects": ood_subjects},
        )
        written.append(out_root / f"synthetic_{style}")
        _write_folder(written[-1], subjects, info, seed, 1, progress)
    return written


# ---------------------------------------------------------------------------------------------
# Contact sheet
# ---------------------------------------------------------------------------------------------


def contact_sheet(root: Path, out_path: Path, max_subjects: int = 8) -> None:
    """Write a PNG grid of a prepared dataset: one row per subject, one column per expression.

    Shows the first image (by ``image_id``) of each (subject, expression) for the first
    ``max_subjects`` subjects (sorted); missing cells are grey. Images smaller than 96 px are
    enlarged by an integer factor (nearest neighbour) so the pixels stay visible.
    """
    max_subjects = _check_int("max_subjects", max_subjects, 1, where="contact sheet")
    root = Path(root)
    frame = read_manifest(root).sort_values("image_id")
    subjects = sorted(frame["subject"].unique())[:max_subjects]
    size = read_info(root).image_size
    cell = size * max(1, -(-96 // size))  # pixels per tile
    font = ImageFont.load_default(size=max(11, cell // 10))
    gap = 2
    label_w = int(max(font.getlength(str(s)) for s in subjects)) + 12
    label_h = int(font.size * 1.8)
    width = label_w + len(EXPRESSIONS) * (cell + gap)
    height = label_h + len(subjects) * (cell + gap)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    black = (0, 0, 0)
    for e, expression in enumerate(EXPRESSIONS):
        centre = (label_w + e * (cell + gap) + cell // 2, label_h // 2)
        draw.text(centre, expression, fill=black, font=font, anchor="mm")
    first = frame.drop_duplicates(["subject", "expression"]).set_index(["subject", "expression"])
    for r, subject in enumerate(subjects):
        top = label_h + r * (cell + gap)
        draw.text((label_w - 6, top + cell // 2), str(subject), fill=black, font=font, anchor="rm")
        for e, expression in enumerate(EXPRESSIONS):
            if (subject, expression) in first.index:
                pixels = load_png(root / first.loc[(subject, expression), "file"])
                tile = Image.fromarray(pixels).resize((cell, cell), Image.Resampling.NEAREST)
            else:
                tile = Image.new("RGB", (cell, cell), (200, 200, 200))
            sheet.paste(tile, (label_w + e * (cell + gap), top))
    with atomic.atomic_path(out_path) as tmp:
        sheet.save(tmp, format="PNG")
