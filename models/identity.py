"""The do-nothing reference: output = input. It stays in every table as the floor row.

It shows what a metric gives when no expression is synthesised at all
(e.g. perfect identity similarity, no expression change).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from models.base import Generator


class IdentityGenerator(Generator):
    """Returns its input unchanged; nothing to train."""

    name: ClassVar[str] = "identity"
    trainable: ClassVar[bool] = False

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Return a copy of ``images`` (B, 3, H, W) in [-1, 1]; targets are ignored."""
        self.check_inputs(images, target_expressions)
        return images.clone()
