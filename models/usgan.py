"""US-GAN (Akram & Khan, Multimedia Tools and Applications 2023, arXiv 2112.13002), following
the authors' code (arbishakram/US-GAN).

StarGAN's generator cut down to a single residual block, plus an "ultimate skip"
connection from input to output: ``G(x, c) = tanh(F(x, c)) + x``. The network then only
has to produce the expression change; identity, colour and background pass straight
through. Critic, losses and training step are StarGAN's (:class:`models.stargan.StarGAN`)
with ``lambda_rec`` 1; 7 expression classes, 128 px, 200k iterations, batch 8 (the
README's training command), learning-rate drops every 5000 iterations of the last 100k
(driver.py; in effect constant).

The skip output lies in [-2, 2] and is not clamped during training, as in the authors'
code (generator.py); :meth:`USGAN.translate` clamps it to [-1, 1], which is what the
authors' ``denorm`` does when their test writes images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from models.blocks import ImageGenerator, ResidualBlock, bottleneck_channels
from models.stargan import StarGAN, StarGANSettings


@dataclass(frozen=True)
class USGANSettings(StarGANSettings):
    """US-GAN's hyper-parameters: StarGAN's with one residual block, lambda_rec 1 and a
    learning-rate drop every 5000 steps."""

    res_blocks: int = 1
    lambda_rec: float = 1.0
    lr_update_step: int = 5000


class USGAN(StarGAN):
    """US-GAN (MTAP 2023): StarGAN with one residual block and an ultimate skip, out = tanh(G) + x."""

    name: ClassVar[str] = "usgan"
    Settings: ClassVar[type] = USGANSettings

    def build_generator(self) -> nn.Module:
        channels = bottleneck_channels(self.hp.conv_dim)
        return ImageGenerator(
            self.num_expressions,
            self.hp.conv_dim,
            [ResidualBlock(channels) for _ in range(self.hp.res_blocks)],
            ultimate_skip=True,
        )
