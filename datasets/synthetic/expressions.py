"""Expressions as local facial actions (:data:`ACTIONS`) and their per-image jitter."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from bench.core.vocabulary import EXPRESSIONS


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


@dataclass(frozen=True)
class Jitter:
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


def sample_jitter(rng: np.random.Generator) -> Jitter:
    """Draw the per-image gaze and brightness nuisance."""
    return Jitter(
        gaze_x=rng.uniform(-0.5, 0.5),
        gaze_y=rng.uniform(-0.3, 0.3),
        brightness=rng.uniform(0.985, 1.015),
    )
