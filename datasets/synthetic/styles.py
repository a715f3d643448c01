"""Out-of-distribution styles: filters that restyle a rendered face.

Each filter maps a :class:`Rendering` to an (H, W, 3) float image in [0, 1]. Its generator
is seeded per subject, so a subject keeps the same stone, paper, palette and strokes in
every image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from datasets.synthetic.face import Rendering
from datasets.synthetic.imaging import (
    box_blur,
    dilate,
    fractal_noise,
    gradient_magnitude,
    luma,
    resize,
    shift,
)
from datasets.synthetic.options import Options

STYLES: tuple[str, ...] = ("statue", "sketch", "painting", "avatar")
"""Out-of-distribution render styles, each written to ``synthetic_<style>``."""


_STONE_TINTS = np.array([(0.95, 0.94, 0.90), (0.88, 0.80, 0.68), (0.78, 0.78, 0.80)])


def _statue(r: Rendering, rng: np.random.Generator) -> np.ndarray:
    """Carved stone: desaturated, lit relief with a mottled grain, on a dim museum backdrop."""
    size = r.rgb.shape[0]
    lum = luma(r.rgb)
    relief = lum - shift(lum, 1, 1)  # light from the top left
    stone = 0.42 + 0.5 * lum + 0.6 * relief + 0.16 * fractal_noise(rng, size)
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
    lum = luma(person * r.rgb + (1 - person))
    edges = np.clip(gradient_magnitude(box_blur(lum, size // 96)) * 5.0, 0.0, 1.0)
    i, j = np.mgrid[0:size, 0:size]
    period = max(3.0, size / 32)
    angle = rng.uniform(0.6, 1.0)
    hatch = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(angle) * j + np.sin(angle) * i) / period)
    dark = np.clip(1.0 - lum - 0.15, 0.0, 1.0) ** 1.2
    paper = 0.96 + 0.04 * fractal_noise(rng, size)
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
    shifted = box_blur(r.rgb @ (np.linalg.inv(yiq) @ rotate @ yiq).T, size // 128)
    half = size // 2
    noise = rng.random((half, half))
    reach = max(3, half // 6)
    step = rng.choice([-1, 1])
    smear = sum(np.roll(noise, (k, step * k), axis=(0, 1)) for k in range(reach)) / reach
    strokes = resize((smear - smear.mean()) / smear.std(), size)
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
    grey = luma(r.rgb)[..., None]
    flat = np.round(np.clip(grey + 1.5 * (r.rgb - grey), 0.0, 1.0) * 8) / 8
    parts = r.parts
    edge = np.zeros(parts.shape, dtype=bool)  # both pixels on either side of a region change
    down, right = parts[1:] != parts[:-1], parts[:, 1:] != parts[:, :-1]
    edge[1:] |= down
    edge[:-1] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    line = dilate(edge.astype(float), parts.shape[0] // 160)
    return flat + line[..., None] * (np.array([0.10, 0.07, 0.12]) - flat)


STYLE_FILTERS: dict[str, Callable[[Rendering, np.random.Generator], np.ndarray]] = {
    "statue": _statue,
    "sketch": _sketch,
    "painting": _painting,
    "avatar": _avatar,
}
STYLE_OPTIONS: dict[str, Options] = {
    "statue": Options(blank_eyes=True),
    "sketch": Options(),
    "painting": Options(),
    "avatar": Options(flat=True),
}
assert tuple(STYLE_FILTERS) == STYLES
