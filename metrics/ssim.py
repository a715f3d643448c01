"""SSIM between the output and the real target-expression image, through torchmetrics."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from metrics.base import Column, Metric, ScoringBatch, masked_to_numpy


class SSIM(Metric):
    """Per-image SSIM (Gaussian window 11, sigma 1.5, images in [0, 1], computed in float64);
    1 = identical, higher is better."""

    name: ClassVar[str] = "ssim"
    needs_reference: ClassVar[bool] = True
    columns: ClassVar[tuple[Column, ...]] = (
        Column("SSIM", True, (-1.0, 1.0), "structural similarity to the real target image"),
    )

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        # float64: in float32 the variance terms' rounding gives SSIM(x, x) = 1 - 2e-5
        outputs = (batch.outputs.double() + 1.0) / 2.0
        references = (batch.references.double() + 1.0) / 2.0
        values = structural_similarity_index_measure(
            outputs, references, data_range=1.0, reduction="none"
        )
        values = torch.as_tensor(values).reshape(-1)
        return {"SSIM": masked_to_numpy(values, batch.has_reference)}
