"""The real labelled test images that set-level metrics compare generated images with.

FID/KID use the real test images of each target expression; the expression
classifiers report their accuracy on all real labelled test images. The set
comes from the evaluated dataset's own test split when it has images of the
target expressions (the synthetic OOD styles do); a dataset without them (a
folder of neutral photos) falls back to the in-distribution dataset
(``train_dataset`` in params) and says so in :meth:`RealSet.describe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench.core.hashing import sha256_file
from bench.core.vocabulary import INDEX
from datasets.manifest import read_manifest
from datasets.tensors import decode_images


@dataclass
class RealSet:
    """Real test-split images of one dataset with their expression labels.

    ``frame`` holds the manifest rows (index 0..N-1); ``fallback_for`` names
    the evaluated dataset when the images come from another one. Pixels and
    file hashes are computed on first use and kept.
    """

    dataset: str
    root: Path
    frame: pd.DataFrame
    fallback_for: str | None = None
    _pixels: torch.Tensor | None = field(default=None, repr=False)
    _sha256: list[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    def paths(self) -> list[Path]:
        """Image files, in row order."""
        return [self.root / f for f in self.frame["file"]]

    def rows(self, expressions: str | list[str] | tuple[str, ...]) -> list[int]:
        """Row indices of the images with the given expression(s)."""
        wanted = {expressions} if isinstance(expressions, str) else set(expressions)
        return [i for i, e in enumerate(self.frame["expression"]) if e in wanted]

    def labels(self) -> torch.Tensor:
        """(N,) int64 expression indices."""
        return torch.tensor([INDEX[e] for e in self.frame["expression"]], dtype=torch.int64)

    def pixels(self) -> torch.Tensor:
        """(N, 3, H, W) uint8 RGB, decoded once."""
        if self._pixels is None:
            self._pixels = decode_images(self.paths())
        return self._pixels

    def file_sha256(self) -> list[str]:
        """sha256 of every file's bytes (read from disk, not from the manifest), in row order."""
        if self._sha256 is None:
            self._sha256 = [sha256_file(path) for path in self.paths()]
        return self._sha256

    def describe(self) -> str:
        """One line for tables: where the real images come from."""
        text = f"real test images of {self.dataset}"
        if self.fallback_for:
            text += (
                f" (in-distribution; {self.fallback_for} has no labelled target-expression images)"
            )
        return text

    def details(self, expressions: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
        """JSON-ready description, with the image count of ``expressions`` (default: all)."""
        count = len(self) if expressions is None else len(self.rows(expressions))
        return {"dataset": self.dataset, "fallback_for": self.fallback_for, "images": count}


def _test_rows(root: Path) -> pd.DataFrame:
    frame = read_manifest(root)
    test = frame[frame["split"] == "test"].sort_values("image_id", kind="stable")
    return test.reset_index(drop=True)


def select_real_set(
    root: Path, targets: list[str] | tuple[str, ...], fallback_root: Path
) -> RealSet:
    """The real set for evaluating outputs on the prepared dataset at ``root``.

    Its own test split when it has images of ``targets``, else the test split of
    the in-distribution dataset at ``fallback_root`` (see the module docstring).
    Datasets are named by their folders.
    """
    root, fallback_root = Path(root), Path(fallback_root)
    dataset, fallback = root.name, fallback_root.name
    test = _test_rows(root)
    if test["expression"].isin(targets).any():
        return RealSet(dataset=dataset, root=root, frame=test)
    return RealSet(
        dataset=fallback, root=fallback_root, frame=_test_rows(fallback_root), fallback_for=dataset
    )
