"""The metric interface: score a batch of (source, output, target-expression) triples.

A metric returns one value per image and per column; aggregation (mean and
bootstrap interval) is shared code in :mod:`metrics.aggregate`, never per metric.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch


@dataclass(frozen=True)
class Column:
    """One number a metric reports per image, with its direction and range (for tables)."""

    name: str
    higher_is_better: bool
    value_range: tuple[float, float]
    description: str


@dataclass
class ScoringBatch:
    """Everything a metric may look at for B generated images, all on one device.

    Images are float (B, 3, H, W) in [-1, 1]. ``references`` holds the subject's
    real image of the target expression where the dataset has one; rows without
    one are False in ``has_reference`` (and hold zeros).
    """

    sources: torch.Tensor
    outputs: torch.Tensor
    target_expressions: torch.Tensor  # (B,) int64
    references: torch.Tensor
    has_reference: torch.Tensor  # (B,) bool

    def __len__(self) -> int:
        return int(self.outputs.shape[0])


class Metric(abc.ABC):
    """Base class: subclasses declare :attr:`columns` and implement :meth:`score`."""

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    needs_reference: ClassVar[bool] = False
    """True for full-reference metrics: rows without a reference get NaN."""

    def to(self, device: torch.device) -> Metric:
        """Move any network the metric holds to ``device``; returns self."""
        return self

    @abc.abstractmethod
    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        """Return ``{column name: float64 array (B,)}``; NaN where the metric does not apply."""

    def weight_checksums(self) -> dict[str, str]:
        """sha256 of every pretrained file this metric used (for provenance)."""
        return {}


def masked_to_numpy(values: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """float64 numpy copy of ``values`` with NaN where ``mask`` is False."""
    out = values.detach().double().cpu().numpy()
    out[~mask.cpu().numpy()] = np.nan
    return out
