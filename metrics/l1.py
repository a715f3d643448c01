"""L1: mean absolute pixel difference between the output and the real target-expression image."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import Column, Metric, ScoringBatch, masked_to_numpy


class L1(Metric):
    """Per-image mean |output - reference| on images scaled to [0, 1] (0 = identical, lower is better)."""

    name: ClassVar[str] = "l1"
    needs_reference: ClassVar[bool] = True
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "L1",
            False,
            (0.0, 1.0),
            "mean absolute error to the real target image, pixels in [0, 1]",
        ),
    )

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        diff = (batch.outputs.float() - batch.references.float()).abs().mean(dim=(1, 2, 3)) / 2.0
        return {"L1": masked_to_numpy(diff, batch.has_reference)}
