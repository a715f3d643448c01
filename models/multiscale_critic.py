"""A multi-scale PatchGAN discriminator with spectral normalisation, trained as an LSGAN.

Used by DAI2I (one per image domain). ``scales`` copies of a PatchGAN (stride-2 4x4
convs with spectral norm, LeakyReLU 0.2, a final 1-channel conv) see the image at full,
half, quarter ... resolution (3x3 average pooling between scales, as in pix2pixHD /
MUNIT). Least-squares objectives (Mao et al. 2017): the critic pushes real maps to 1 and
fake maps to 0; the generator pushes fake maps to 1.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from bench.core.errors import UserError


def _patch_critic(dim: int, layers: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    channels_in, channels = 3, dim
    for _ in range(layers):
        modules += [spectral_norm(nn.Conv2d(channels_in, channels, 4, 2, 1)), nn.LeakyReLU(0.2)]
        channels_in, channels = channels, channels * 2
    modules.append(spectral_norm(nn.Conv2d(channels_in, 1, 1)))
    return nn.Sequential(*modules)


class MultiScaleCritic(nn.Module):
    """``forward(images (B, 3, S, S)) -> list of score maps``, one per scale (full first).

    The smallest scale sees ``S / 2**(scales - 1)`` px and must still allow ``layers``
    stride-2 convs (a clear error otherwise).
    """

    def __init__(self, image_size: int, dim: int = 64, layers: int = 4, scales: int = 3):
        super().__init__()
        smallest = image_size // 2 ** (scales - 1)
        if scales < 1 or layers < 1 or smallest < 2**layers:
            raise UserError(
                f"a {scales}-scale critic with {layers} stride-2 layers needs images of at least "
                f"{2 ** (layers + scales - 1)} px, got {image_size} px (lower critic_layers or "
                "critic_scales in params model_settings)"
            )
        self.critics = nn.ModuleList(_patch_critic(dim, layers) for _ in range(scales))
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for index, critic in enumerate(self.critics):
            if index:
                images = self.pool(images)
            maps.append(critic(images))
        return maps


def lsgan_critic_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Sum over scales of mean((D(real) - 1)^2) + mean(D(fake)^2)."""
    return sum(
        ((r.float() - 1.0) ** 2).mean() + (f.float() ** 2).mean()
        for r, f in zip(real, fake, strict=True)
    )


def lsgan_generator_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """Sum over scales of mean((D(fake) - 1)^2)."""
    return sum(((f.float() - 1.0) ** 2).mean() for f in fake)
