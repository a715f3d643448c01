"""Per-subject appearance: the :class:`Identity` factors and how they are sampled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HAIR_STYLES: tuple[str, ...] = ("short", "long", "bun", "bald", "bangs", "curly")
ACCESSORIES: tuple[str, ...] = ("none", "glasses", "earrings")


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
