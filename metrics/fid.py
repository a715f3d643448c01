"""FID and KID of the generated images against real images of the target expression (set-level).

Features: Inception-v3 2015-12-05 through clean-fid's "clean" resize
(:mod:`metrics.inception`). Generated images are featurised from the evaluation
batches (decoded once, shared with every other metric); the real reference
images (:mod:`metrics.real_set`: the dataset's real test images of each target
expression, or the in-distribution ones for a dataset without labels) go
through the content-keyed :mod:`metrics.feature_cache`. Statistics and
distances are float64 (:mod:`metrics.frechet`).

Values: one per target expression (its outputs against its real images) and
one over all outputs. The latter is, by default, the pooled FID (all outputs
against the real images of all targets); ``overall="mean"`` gives the mean of
the per-target values instead. No interval: a bootstrap over images would need
a thousand FIDs per cell. FID from fewer than 2,048 images is biased upwards
(and rank-deficient), so such values carry a flag and KID (unbiased) is
reported beside them.

The same Inception features give precision, recall, density and coverage
(:mod:`metrics.prdc`, Naeem et al. 2020, ``prdc_k`` nearest neighbours, default 5):
no second pass over the images. They are NaN where a set has at most k images.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from bench.core.tensors import to_uint8
from bench.core.vocabulary import EXPRESSIONS
from metrics.base import Column, EvaluationContext, Metric, ScoringBatch, SetValue
from metrics.feature_cache import FeatureCache
from metrics.frechet import frechet_distance, kernel_distance
from metrics.inception import RESIZE_DESCRIPTION, InceptionFeatures
from metrics.prdc import NAMES as PRDC_NAMES
from metrics.prdc import prdc

RELIABLE_IMAGES = 2048
"""FID needs at least as many images as feature dimensions for a full-rank covariance."""


class FID(Metric):
    """Fréchet Inception Distance and Kernel Inception Distance (lower is better).

    Args:
        extractor: weights asset of the Inception TorchScript (``inception_fid``
            or ``inception_fid_nvlabs``).
        batch_size: images per Inception pass for the reference images.
        overall: ``pooled`` (all outputs vs the real images of all targets) or
            ``mean`` (mean of the per-target values) for the table value.
        kid_subsets, kid_subset_size: KID's random subsets (seeded with params' seed).
        prdc_k: nearest neighbours of precision, recall, density and coverage (>= 1).
        cache_dir: feature cache folder (default ``$FES_BENCH_FEATURES`` or
            ``~/.cache/fes-bench/features``).
    """

    name: ClassVar[str] = "fid"
    columns: ClassVar[tuple[Column, ...]] = ()
    set_columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "FID",
            False,
            (0.0, math.inf),
            "Fréchet Inception distance to real images of the target expression (clean-fid clean)",
        ),
        Column(
            "KID",
            False,
            (-math.inf, math.inf),
            "kernel Inception distance (unbiased MMD^2, cubic kernel) to the same real images",
        ),
        Column(
            "Precision",
            True,
            (0.0, 1.0),
            "share of outputs inside the k-NN ball of some real image (Inception features)",
        ),
        Column(
            "Recall",
            True,
            (0.0, 1.0),
            "share of real images inside the k-NN ball of some output (Inception features)",
        ),
        Column(
            "Density",
            True,
            (0.0, math.inf),
            "mean number of real k-NN balls holding an output, / k (about 1 when matched)",
        ),
        Column(
            "Coverage",
            True,
            (0.0, 1.0),
            "share of real images whose k-NN ball holds at least one output",
        ),
    )

    @classmethod
    def weights(cls, extractor: str = "inception_fid", **settings: Any) -> tuple[str, ...]:
        return (extractor,)

    def __init__(
        self,
        extractor: str = "inception_fid",
        batch_size: int = 32,
        overall: Literal["pooled", "mean"] = "pooled",
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        prdc_k: int = 5,
        cache_dir: str | None = None,
    ) -> None:
        if overall not in ("pooled", "mean"):
            raise ValueError(f"fid overall must be 'pooled' or 'mean', got {overall!r}")
        if int(prdc_k) < 1:
            raise ValueError(f"fid prdc_k must be at least 1, got {prdc_k}")
        self.prdc_k = int(prdc_k)
        self.features = InceptionFeatures(extractor, batch_size=batch_size)
        self.cache = FeatureCache(self.features.sha256, RESIZE_DESCRIPTION, cache_dir)
        self.overall = overall
        self.kid_subsets = int(kid_subsets)
        self.kid_subset_size = int(kid_subset_size)
        self._context: EvaluationContext | None = None
        self._reference: dict[str, np.ndarray] = {}
        self._generated: dict[str, list[np.ndarray]] = {}
        self._in_order: list[np.ndarray] = []
        self._kept: dict[str, np.ndarray] = {}

    def to(self, device: torch.device) -> FID:
        self.features.to(device)
        self.cache.device = torch.device(device)
        return self

    def begin(self, context: EvaluationContext) -> None:
        """Reference features of every target expression's real images (cached by content)."""
        self._context = context
        real = context.real
        rows = real.rows(context.targets)
        hashes = [real.file_sha256()[i] for i in rows]
        features = self.cache.features(hashes, lambda: self.features(real.pixels()[rows]))
        labels = [real.frame["expression"].iloc[i] for i in rows]
        self._reference = {
            target: features[[k for k, label in enumerate(labels) if label == target]]
            for target in context.targets
        }
        self._generated = {target: [] for target in context.targets}
        self._in_order, self._kept = [], {}

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        """Featurise the batch's outputs, kept per target; no per-image column."""
        features = self.features(to_uint8(batch.outputs))
        self._in_order.append(np.asarray(features))
        for row, index in enumerate(batch.target_expressions.tolist()):
            self._generated.setdefault(EXPRESSIONS[index], []).append(features[row])
        return {}

    def _values(self, generated: np.ndarray, reference: np.ndarray, seed: int) -> dict[str, float]:
        """FID, KID, Precision, Recall, Density and Coverage of one generated set."""
        return {
            "FID": frechet_distance(generated, reference),
            "KID": kernel_distance(
                generated, reference, self.kid_subsets, self.kid_subset_size, seed
            ),
            **prdc(reference, generated, self.prdc_k),
        }

    def _set_values(
        self, target: str | None, values: dict[str, float], n: int, details: dict[str, Any]
    ) -> list[SetValue]:
        flags = {
            "FID": f"FID from fewer than {RELIABLE_IMAGES} images (biased upwards; compare KID)"
            if n < RELIABLE_IMAGES
            else ""
        }
        undefined = (  # why prdc() gave NaN: the note under an n/a cell
            f"defined only when the generated and the real set each have more than prdc_k = "
            f"{self.prdc_k} images (the k-th nearest neighbour within a set)"
        )
        return [
            SetValue(
                column,
                value,
                target,
                n,
                flag=undefined
                if math.isnan(value) and column in PRDC_NAMES
                else flags.get(column, ""),
                details=details,
            )
            for column, value in values.items()
        ]

    def finish(self) -> list[SetValue]:
        """FID and KID per target expression and over all outputs."""
        if self._context is None:
            return []
        context = self._context
        real = context.real
        values: list[SetValue] = []
        per_target: list[dict[str, float]] = []
        pooled_generated, pooled_reference, labels = [], [], []
        for target in context.targets:
            generated = np.asarray(
                self._generated.get(target) or np.zeros((0, 1)), dtype=np.float64
            )
            reference = self._reference.get(target, np.zeros((0, 1)))
            if len(generated) == 0:
                continue
            scores = self._values(generated, reference, context.seed)
            per_target.append(scores)
            details = {"reference": real.details([target]), "generated_images": len(generated)}
            values += self._set_values(target, scores, len(generated), details)
            pooled_generated.append(generated)
            pooled_reference.append(reference)
            labels += [target] * len(reference)
        if not pooled_generated:
            return values
        generated = np.concatenate(pooled_generated)
        reference = np.concatenate([r for r in pooled_reference if len(r)] or [np.zeros((0, 1))])
        if self.overall == "pooled":
            scores = self._values(generated, reference, context.seed)
        else:
            scores = {c: float(np.mean([v[c] for v in per_target])) for c in per_target[0]}
        details = {
            "reference": real.details(context.targets),
            "reference_set": real.describe(),
            "generated_images": len(generated),
            "overall": self.overall,
            "extractor": self.features.describe(),
            "kid_subsets": self.kid_subsets,
            "kid_subset_size": self.kid_subset_size,
            "prdc_k": self.prdc_k,
        }
        values += self._set_values(None, scores, len(generated), details)
        self._kept = {
            "outputs": np.concatenate(self._in_order),
            "reference": reference,
            "reference_targets": np.array(labels, dtype=str),
            "overall": np.array(self.overall),
        }
        self._context = None
        return values

    def kept_features(self) -> dict[str, np.ndarray]:
        """``outputs``: every output's Inception features (scoring order); ``reference``: the
        real images' (``reference_targets``: the target of each row); ``overall``: pooled or
        mean (:mod:`bench.report.set_pairs` recomputes FID and KID from them)."""
        return dict(self._kept)

    def weight_checksums(self) -> dict[str, str]:
        return {self.features.asset: self.features.sha256}
