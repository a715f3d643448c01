"""DAI2I's critic: one spectral-norm conv stack scored at several depths, and its GAN losses.

After the authors' code (xiaogang00/DAI2I, ``network/stargan_model.py``
``Discriminator_sn_plain_multiScale`` and ``network/GanLoss.py``), written from its
description:

- ``layers`` stride-2 4x4 convs with bias and spectral normalisation (``dim`` channels,
  doubled each layer; LeakyReLU 0.01; no normalisation layer);
- a spectral-norm 1x1 conv to one channel after each of the last ``scales`` layers (the
  "multi-scale" outputs: 8x8, 4x4 and 2x2 maps at 128 px with 6 layers and 3 scales);
- a final spectral-norm conv whose kernel covers the last feature map
  (``image_size / 2**layers``, 2x2 at 128 px) to one score per image.

Spectral norm: ``torch.nn.utils.spectral_norm``, the authors' (one power iteration per
forward in train mode, v from u first; none in eval mode; state ``weight_orig``,
``weight_u``, ``weight_v``). The newer ``parametrizations.spectral_norm`` updates u from v
first and drifts from theirs after one step. The authors score real and fake images in
separate calls, i.e. one iteration each.

GAN objectives over the list of score maps (``kind``):

- ``"norm"`` (the authors' code, default): critic ``sum_k ||fake_k - 1||_2 + ||real_k||_2``,
  generator ``sum_k ||fake_k||_2``: the Frobenius norm of the whole batch's map (not squared,
  not averaged) and the labels swapped against the usual convention (fake -> 1, real -> 0);
- ``"lsgan"`` (least-squares GAN as usually written, the paper's reading): critic
  ``sum_k mean((real_k - 1)^2) + mean(fake_k^2)``, generator ``sum_k mean((fake_k - 1)^2)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from bench.core.errors import UserError

LEAKY_SLOPE = 0.01
GAN_LOSSES = ("norm", "lsgan")


class MultiScaleCritic(nn.Module):
    """``forward(images (B, 3, S, S)) -> [maps of the last `scales` layers..., final (B,1,1,1)]``."""

    def __init__(self, image_size: int, dim: int = 64, layers: int = 6, scales: int = 3):
        super().__init__()
        if layers < 1 or image_size % 2**layers or not 0 <= scales < layers:
            raise UserError(
                f"the dai2i critic needs an image size divisible by 2**critic_layers and "
                f"0 <= critic_scales < critic_layers; got {image_size} px, critic_layers "
                f"{layers}, critic_scales {scales} (params model_settings.dai2i)"
            )
        blocks: list[nn.Module] = []
        heads: list[nn.Module] = []
        channels_in, channels = 3, dim
        for index in range(layers):
            blocks.append(spectral_norm(nn.Conv2d(channels_in, channels, 4, 2, 1)))
            if index >= layers - scales:
                heads.append(spectral_norm(nn.Conv2d(channels, 1, 1)))
            channels_in, channels = channels, channels * 2
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleList(heads)
        self.final = spectral_norm(nn.Conv2d(channels_in, 1, image_size // 2**layers))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        first_head = len(self.blocks) - len(self.heads)
        features = images
        for index, block in enumerate(self.blocks):
            features = nn.functional.leaky_relu(block(features), LEAKY_SLOPE)
            if index >= first_head:
                maps.append(self.heads[index - first_head](features))
        maps.append(self.final(features))
        return maps


def critic_loss(real: list[torch.Tensor], fake: list[torch.Tensor], kind: str) -> torch.Tensor:
    """The critic's GAN loss over the score maps of real and fake images (see module doc)."""
    total = torch.zeros((), device=real[0].device)
    for r, f in zip(real, fake, strict=True):
        r, f = r.float(), f.float()
        if kind == "norm":
            total = total + (f - 1.0).norm(2) + r.norm(2)
        else:
            total = total + ((r - 1.0) ** 2).mean() + (f**2).mean()
    return total


def generator_loss(fake: list[torch.Tensor], kind: str) -> torch.Tensor:
    """The generator's GAN loss over the score maps of its fakes (see module doc)."""
    total = torch.zeros((), device=fake[0].device)
    for f in fake:
        f = f.float()
        total = total + (f.norm(2) if kind == "norm" else ((f - 1.0) ** 2).mean())
    return total
