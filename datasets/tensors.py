"""Prepared datasets as tensors: every image decoded once into one uint8 tensor.

Images are stored as uint8 (N, 3, H, W) to keep memory low; :func:`to_model_range`
converts a batch to the harness convention, float in [-1, 1].
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.errors import UserError
from datasets.manifest import read_manifest
from datasets.png import load_png
from datasets.vocabulary import INDEX


@dataclass
class ImageSet:
    """Images of one dataset split with their labels (rows follow ``frame``)."""

    images: torch.Tensor  # (N, 3, H, W) uint8, RGB
    expressions: torch.Tensor  # (N,) int64 class indices
    frame: pd.DataFrame  # the manifest rows, index 0..N-1

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def image_size(self) -> int:
        """Side of the square images, in pixels."""
        return int(self.images.shape[-1])


def decode_images(paths: list[Path], threads: int = 4) -> torch.Tensor:
    """Decode PNGs into one (N, 3, H, W) uint8 tensor; all images must share one size."""
    if not paths:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        arrays = list(pool.map(load_png, paths))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f"images differ in size ({sorted(shapes)}); re-prepare the dataset")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_image_set(root: str | Path, split: str | None = None) -> ImageSet:
    """Load a prepared dataset (optionally one split) with every image decoded once."""
    root = Path(root)
    frame = read_manifest(root)
    if split is not None:
        frame = frame[frame["split"] == split]
        if frame.empty:
            raise UserError(f"dataset {root} has no images in split {split!r}")
    frame = frame.reset_index(drop=True)
    images = decode_images([root / f for f in frame["file"]])
    expressions = torch.tensor([INDEX[e] for e in frame["expression"]], dtype=torch.int64)
    return ImageSet(images=images, expressions=expressions, frame=frame)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded), on the same device."""
    return images.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
