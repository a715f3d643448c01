"""The image-tensor contract shared by every part of the harness.

On disk and in memory between stages, images are uint8 RGB (N, 3, H, W) in
[0, 255]; models and metrics work on float32 in [-1, 1]. :class:`ImageSet`
holds one dataset split decoded once (see :func:`datasets.tensors.load_image_set`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch


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


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded), on the same device."""
    return images.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
