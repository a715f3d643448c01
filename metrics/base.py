"""The metric interface: score a batch of (source, output, target-expression) triples.

A metric returns one value per image and per column; aggregation (mean and
bootstrap interval) is shared code in :mod:`metrics.aggregate`, never per metric.

Set-level metrics (FID, KID, a classifier's accuracy on real images) add a
second, optional part: :meth:`Metric.begin` receives the
:class:`EvaluationContext` (the dataset's real labelled images among others)
before the first batch, :meth:`Metric.score` accumulates what it needs from each
batch (so every output is still decoded once), and :meth:`Metric.finish`
returns :class:`SetValue` rows, one per set-level column and target expression
(``None``: all targets together).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

if TYPE_CHECKING:
    from metrics.real_set import RealSet


@dataclass(frozen=True)
class Column:
    """One number a metric reports per image, with its direction and range (for tables)."""

    name: str
    higher_is_better: bool
    value_range: tuple[float, float]
    description: str
    real_images_of: str = ""
    """Set on a column that scores the real images, not the outputs (so it is the same for every
    model): the output column whose ceiling it is (``ECS real acc`` -> ``ECS``). Tables show it
    once, in a "real images" row under that column, never bold."""


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


@dataclass
class EvaluationContext:
    """What a metric may need beyond the batches, for one (model, dataset) evaluation.

    ``real`` holds the real labelled test images set-level metrics compare with
    (the evaluated dataset's own, or the in-distribution dataset's when it has
    none; see :mod:`metrics.real_set`). ``targets`` are the target expressions
    of this evaluation, ``seed`` seeds any sampling (KID subsets, bootstrap);
    ``bootstrap_resamples`` and ``confidence`` (in (0, 1)) set the intervals of
    set-level values; ``classifier_checkpoint`` is the harness's trained ECS
    classifier (None where there is none).
    """

    model: str
    dataset: str
    device: torch.device
    real: RealSet
    targets: tuple[str, ...]
    seed: int
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    classifier_checkpoint: Path | None = None


@dataclass(frozen=True)
class SetValue:
    """One set-level number: a column's value over the outputs of one target (or all of them).

    ``target_expression`` is ``None`` for the value over every output.
    ``n`` counts the generated images behind the value; ``ci_low``/``ci_high``
    are NaN where no interval is computed. ``flag`` is a short caveat shown as
    a table footnote (e.g. FID on fewer than 2,048 images), ``details`` goes to
    the metrics JSON (reference set, sizes, settings).
    """

    column: str
    value: float
    target_expression: str | None = None
    n: int = 0
    ci_low: float = math.nan
    ci_high: float = math.nan
    flag: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN -> None)."""

        def finite(value: float) -> float | None:
            return float(value) if math.isfinite(value) else None

        return {
            "column": self.column,
            "target_expression": self.target_expression,
            "value": finite(self.value),
            "n": int(self.n),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "flag": self.flag,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetValue:
        """Inverse of :meth:`as_dict` (None -> NaN)."""

        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return cls(
            column=data["column"],
            value=number(data["value"]),
            target_expression=data.get("target_expression"),
            n=int(data.get("n", 0)),
            ci_low=number(data.get("ci_low")),
            ci_high=number(data.get("ci_high")),
            flag=data.get("flag", ""),
            details=dict(data.get("details") or {}),
        )


class Metric(abc.ABC):
    """Base class: subclasses declare :attr:`columns` and implement :meth:`score`.

    Set-level metrics also declare :attr:`set_columns` and implement
    :meth:`begin` / :meth:`finish`; a metric may have both kinds of columns.
    A constructor or :meth:`begin` that cannot find the metric's weights raises
    :class:`~bench.core.errors.MissingWeightsError`: the evaluation then reports the
    metric as missing with that message (or stops, with ``--strict``).
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    set_columns: ClassVar[tuple[Column, ...]] = ()
    """Columns with one value per (model, dataset[, target]) instead of one per image."""
    label_columns: ClassVar[tuple[str, ...]] = ()
    """Per-image text values kept in the records but never aggregated or tabled (e.g. the
    expression a classifier predicted, for its confusion matrix)."""
    needs_reference: ClassVar[bool] = False
    """True for full-reference metrics: rows without a reference get NaN."""

    @classmethod
    def weights(cls, **settings: Any) -> tuple[str, ...]:
        """Weights-manager assets this metric reads when built with ``settings`` (none by default).

        The ``weights`` pipeline step pulls and pins exactly these before any evaluation.
        """
        return ()

    def to(self, device: torch.device) -> Metric:
        """Move any network the metric holds to ``device``; returns self."""
        return self

    def begin(self, context: EvaluationContext) -> None:  # noqa: B027 - optional hook
        """Called once before the first batch of an evaluation (default: nothing to prepare)."""

    @abc.abstractmethod
    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        """Return ``{column name: float64 array (B,)}``; NaN where the metric does not apply.

        Columns named in :attr:`label_columns` hold strings (an object array) instead.

        Set-level-only metrics return ``{}`` and keep what they need for :meth:`finish`.
        """

    def finish(self) -> list[SetValue]:
        """Called once after the last batch: the set-level values (default: none)."""
        return []

    def weight_checksums(self) -> dict[str, str]:
        """sha256 of every pretrained file this metric used (for provenance)."""
        return {}

    def kept_features(self) -> dict[str, np.ndarray]:
        """The features behind the set-level values of the last :meth:`finish`, kept beside
        the records so that the report can recompute those values on resampled outputs (the
        paired bootstrap over source faces, :mod:`bench.report.set_pairs`). An array whose
        first axis has one row per output follows the scoring order (the records' rows).
        Default: none."""
        return {}

    @classmethod
    def all_columns(cls) -> tuple[Column, ...]:
        """Per-image columns, then set-level columns."""
        return (*cls.columns, *cls.set_columns)


def masked_to_numpy(values: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """float64 numpy copy of ``values`` with NaN where ``mask`` is False."""
    out = values.detach().double().cpu().numpy()
    out[~mask.cpu().numpy()] = np.nan
    return out
