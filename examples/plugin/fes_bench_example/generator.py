"""A generator in about 30 lines: add the training set's mean change of the target expression."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from bench.core.tensors import to_model_range
from bench.core.vocabulary import INDEX, NEUTRAL
from models.base import Generator, TrainContext


class MeanOffsetGenerator(Generator):
    """Adds the mean (target - neutral) training image of the target expression to the input."""

    name: ClassVar[str] = "example"
    trainable: ClassVar[bool] = True  # fitted in closed form by fit(); no optimisation loop

    def __init__(self, image_size: int, num_expressions: int = 7, strength: float = 1.0):
        super().__init__(image_size, num_expressions, strength=strength)
        self.strength = float(strength)
        shape = (num_expressions, 3, image_size, image_size)
        self.register_buffer("offsets", torch.zeros(shape))

    def fit(self, data: Any, context: TrainContext) -> None:
        """offsets[e] = mean image of expression e - mean neutral image (model range [-1, 1])."""
        images = to_model_range(data.images)
        neutral = images[data.expressions == INDEX[NEUTRAL]].mean(0)
        for expression in range(self.num_expressions):
            chosen = images[data.expressions == expression]
            if len(chosen):
                self.offsets[expression] = chosen.mean(0) - neutral

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] plus the target's offset, clamped to [-1, 1]."""
        self.check_inputs(images, target_expressions)
        offsets = self.offsets[target_expressions]
        return (images + self.strength * offsets).clamp(-1.0, 1.0)
