"""Prepared datasets as tensors: every image decoded once into one uint8 tensor.

Images are stored as uint8 (N, 3, H, W) to keep memory low; the contract
(:class:`bench.core.tensors.ImageSet`, ``to_model_range``) lives in the foundation.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX
from datasets.manifest import read_manifest
from datasets.png import load_png


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
