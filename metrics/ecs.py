"""ECS with the in-pipeline ResNet-18 (trained on the training split's real images)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from bench.core.errors import UserError
from bench.core.weights.cache import file_sha256
from metrics.base import Column, EvaluationContext
from metrics.classifier_ecs import ClassifierECS
from metrics.expression_classifier import ARCHITECTURE, load_classifier, predict


class ECS(ClassifierECS):
    """Share of outputs the in-pipeline classifier assigns to the target expression, in [0, 1].

    Args:
        checkpoint: classifier file (default: ``checkpoints/ecs_classifier/<train_dataset>/resnet18.pt``,
            written by ``bench classifier train``).
        batch_size: images per classifier pass.
    """

    name: ClassVar[str] = "ecs"
    score_column: ClassVar[str] = "ECS"
    accuracy_column: ClassVar[str] = "ECS real acc"
    classifier_description: ClassVar[str] = ARCHITECTURE + ", trained on the training split"
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "ECS",
            True,
            (0.0, 1.0),
            "share of outputs the in-pipeline ResNet-18 classifies as the target expression",
        ),
    )
    set_columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "ECS real acc",
            True,
            (0.0, 1.0),
            "accuracy of the same ResNet-18 on real labelled test images (the ECS ceiling)",
            real_images_of="ECS",
        ),
    )

    def __init__(self, checkpoint: str | None = None, batch_size: int = 64) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.batch_size = int(batch_size)
        self.device = torch.device("cpu")
        self._model: torch.nn.Module | None = None
        self._image_size = 0
        self._path: Path | None = None

    def to(self, device: torch.device) -> ECS:
        self.device = torch.device(device)
        if self._model is not None:
            self._model.to(self.device)
        return self

    def begin(self, context: EvaluationContext) -> None:
        """Load the checkpoint (MissingWeightsError if it was not trained), then the real accuracy."""
        given = self.checkpoint or context.classifier_checkpoint
        if given is None:
            raise UserError("ecs: no classifier checkpoint (set metric_settings.ecs.checkpoint)")
        self._path = Path(given)
        self._model, meta = load_classifier(self._path, self.device)
        self._image_size = int(meta["image_size"])
        super().begin(context)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            raise RuntimeError("ECS.begin() must run before scoring")
        return predict(self._model, images, self._image_size, self.batch_size)

    def weight_checksums(self) -> dict[str, str]:
        if self._path is None or not self._path.is_file():
            return {}
        return {"ecs_classifier": file_sha256(self._path)}
