"""The do-nothing reference: output = input. It stays in every table as the floor row.

It shows what a metric gives when no expression is synthesised at all
(e.g. perfect identity similarity, no expression change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from bench.core.vocabulary import EXPRESSIONS
from models import hyperparameters
from models.base import Generator


@dataclass(frozen=True)
class IdentitySettings:
    """The identity has no settings: any key under ``model_settings.identity`` is a mistake."""


class IdentityGenerator(Generator):
    """Returns its input unchanged; nothing to train."""

    name: ClassVar[str] = "identity"
    Settings: ClassVar[type] = IdentitySettings
    kind: ClassVar[str] = "reference"

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hyperparameters.resolve(IdentitySettings, settings, self.name)
        super().__init__(image_size, num_expressions)

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Return a copy of ``images`` (B, 3, H, W) in [-1, 1]; targets are ignored."""
        self.check_inputs(images, target_expressions)
        return images.clone()
