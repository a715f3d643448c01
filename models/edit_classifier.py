"""DAI2I's expression classifier, trained on the base translator's edits of source faces.

After the authors' code (xiaogang00/DAI2I, ``network/Adapt_Net.py`` ``domain_invariant``),
written from its description: a stride-2 4x4 conv 3 -> 8 channels (no normalisation or
activation), then ``layers - 1`` stride-2 4x4 convs doubling the channels, each followed by
BatchNorm and ReLU, down to a 1x1 map; the flattened features go through Linear -> 64,
ReLU, Linear -> classes. ``layers = log2(image_size)`` (7 at 128 px: 8 -> 512 channels,
2,832,288 parameters with 8 classes). The authors keep it in train mode throughout
(BatchNorm with batch statistics, running statistics updated by every forward).
"""

from __future__ import annotations

import torch
from torch import nn

from bench.core.errors import UserError

FIRST_CHANNELS = 8
HIDDEN = 64


class EditClassifier(nn.Module):
    """``forward(images (B, 3, S, S)) -> logits (B, classes)``; S a power of two >= 2."""

    def __init__(self, image_size: int, classes: int):
        super().__init__()
        layers = image_size.bit_length() - 1
        if image_size < 2 or image_size != 2**layers:
            raise UserError(
                f"dai2i's expression classifier needs a power-of-two image size, got {image_size} px"
            )
        modules: list[nn.Module] = [nn.Conv2d(3, FIRST_CHANNELS, 4, 2, 1)]
        channels = FIRST_CHANNELS
        for _ in range(layers - 1):
            modules += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1),
                nn.BatchNorm2d(channels * 2),
                nn.ReLU(inplace=True),
            ]
            channels *= 2
        self.features = nn.Sequential(*modules)
        self.head = nn.Sequential(
            nn.Linear(channels, HIDDEN), nn.ReLU(inplace=True), nn.Linear(HIDDEN, classes)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))
