"""Writing prepared images: 8-bit RGB PNG, byte-identical for identical pixels, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.core import atomic


def save_png(pixels: np.ndarray, path: str | Path) -> None:
    """Save an (H, W, 3) uint8 RGB array as a PNG with no metadata (deterministic bytes)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {pixels.shape} {pixels.dtype}")
    with atomic.atomic_path(path) as tmp:
        Image.fromarray(pixels, mode="RGB").save(
            tmp, format="PNG", optimize=False, compress_level=6
        )


def load_png(path: str | Path) -> np.ndarray:
    """Load a prepared PNG as an (H, W, 3) uint8 RGB array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
