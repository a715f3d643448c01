"""SARGAN (Akram & Khan, IEEE TCSVT 2023, arXiv 2303.17212), following the authors' code
(arbishakram/SARGAN).

US-GAN (:mod:`models.usgan`) with its residual block replaced by one *spatial-attention
residual block*: the residual branch (conv-IN-ReLU, conv-IN) is multiplied by a one-channel
sigmoid mask computed from it by a small hourglass (encoder-decoder with skip branches,
depth 2, 64 channels), then added to the block's input. The mask lets the block change
expression-related regions and leave the rest untouched; the ultimate skip
``G(x, c) = tanh(F(x, c)) + x`` is kept, unclamped in training. Critic, losses and schedule
are US-GAN's (StarGAN's with ``lambda_rec`` 1, batch 8, learning-rate drops every 5000).

The block as the authors wrote it (generator.py ``SARB`` / ``SEDN``, utils.py ``ConvLayer``):
3x3 convs with reflection padding, InstanceNorm + ReLU after each hourglass conv, a stride-2
conv to go down, nearest x2 upsampling *then* a conv to go up (the result resized to the skip
branch's size when an odd size was halved), and a biased 3x3 conv to the mask. Their
generator also builds a second hourglass ``att_func`` that ``forward`` never calls (189,249
parameters in every checkpoint); ours has none and ``bench import`` drops those keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from models.authors import stargan_trunk_prefixes
from models.blocks import ImageGenerator, bottleneck_channels
from models.stargan import StarGAN, StarGANSettings


def reflect_conv(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    """3x3 reflection-padded bias-free conv, InstanceNorm (affine), ReLU."""
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, padding_mode="reflect"),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(inplace=True),
    ]


class Hourglass(nn.Module):
    """Recursive hourglass: ``skip(x) + up(inner(down(x)))``, ``depth`` levels of halving.

    ``down`` is a stride-2 conv, ``up`` a nearest x2 upsampling followed by a conv (then a
    nearest resize to the skip branch's size if they differ); the
    innermost level is one conv at 1/2**depth resolution. Output: (B, mid_channels, H, W).
    """

    def __init__(self, in_channels: int, mid_channels: int, depth: int):
        super().__init__()
        self.skip = nn.Sequential(*reflect_conv(in_channels, mid_channels))
        self.down = nn.Sequential(*reflect_conv(in_channels, mid_channels, stride=2))
        self.inner: nn.Module = (
            Hourglass(mid_channels, mid_channels, depth - 1)
            if depth > 1
            else nn.Sequential(*reflect_conv(mid_channels, mid_channels))
        )
        self.up = nn.Sequential(*reflect_conv(mid_channels, mid_channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        skip = self.skip(features)
        low = nn.functional.interpolate(
            self.inner(self.down(features)), scale_factor=2, mode="nearest"
        )
        low = self.up(low)
        if low.shape[-2:] != skip.shape[-2:]:  # odd sizes: align to the skip branch
            low = nn.functional.interpolate(low, size=skip.shape[-2:], mode="nearest")
        return skip + low


class SpatialAttentionResidualBlock(nn.Module):
    """``x + r * A(r)`` with ``r = IN(conv(ReLU(IN(conv(x)))))`` and ``A`` a sigmoid mask (B,1,H,W)."""

    def __init__(self, channels: int, attention_dim: int = 64, depth: int = 2):
        super().__init__()
        self.residual = nn.Sequential(
            *reflect_conv(channels, channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False, padding_mode="reflect"),
            nn.InstanceNorm2d(channels, affine=True),
        )
        self.attention = nn.Sequential(
            Hourglass(channels, attention_dim, depth),
            nn.Conv2d(attention_dim, 1, 3, 1, 1, padding_mode="reflect"),
            nn.Sigmoid(),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        residual = self.residual(features)
        return features + residual * self.attention(residual)


@dataclass(frozen=True)
class SARGANSettings(StarGANSettings):
    """SARGAN's hyper-parameters: US-GAN's plus the attention hourglass (``res_blocks`` counts
    spatial-attention residual blocks; the paper uses one)."""

    res_blocks: int = 1
    lambda_rec: float = 1.0
    attention_dim: int = 64
    """Channels inside the attention hourglass."""
    attention_depth: int = 2
    """Halvings of the attention hourglass."""
    lr_update_step: int = 5000


def hourglass_prefixes(depth: int) -> dict[str, str]:
    """Our :class:`Hourglass` (inside the block's ``attention``) -> the authors' ``SEDN``:
    level L (``depth`` outermost) has ``b1_L`` (skip), ``b2_L`` (down), ``b3_L`` (up);
    the innermost conv is ``b2_plus_1``; each ``ConvLayer`` holds ``conv2d`` and ``norm.norm``."""
    prefixes = {}
    path = "attention.0"
    for level in range(depth, 0, -1):
        for ours, theirs in (("skip", "b1"), ("down", "b2"), ("up", "b3")):
            prefixes[f"{path}.{ours}.0"] = f"att_func.{theirs}_{level}.conv2d"
            prefixes[f"{path}.{ours}.1"] = f"att_func.{theirs}_{level}.norm.norm"
        path += ".inner"
    prefixes[f"{path}.0"] = "att_func.b2_plus_1.conv2d"
    prefixes[f"{path}.1"] = "att_func.b2_plus_1.norm.norm"
    prefixes["attention.1"] = "att_func.out_block.0.conv2d"
    return prefixes


def block_prefixes(depth: int) -> dict[str, str]:
    """Our :class:`SpatialAttentionResidualBlock` -> the authors' ``SARB``."""
    return {
        "residual.0": "conv1.conv2d",
        "residual.1": "conv1.norm.norm",
        "residual.3": "conv2.conv2d",
        "residual.4": "conv2.norm.norm",
        **hourglass_prefixes(depth),
    }


class SARGAN(StarGAN):
    """SARGAN (TCSVT 2023): US-GAN with a spatial-attention residual block."""

    name: ClassVar[str] = "sargan"
    Settings: ClassVar[type] = SARGANSettings
    authors_unused: ClassVar[tuple[str, ...]] = ("att_func",)
    """The authors' generator's second hourglass, built but never called."""

    def authors_prefixes(self) -> dict[str, str]:
        return stargan_trunk_prefixes(
            [block_prefixes(self.hp.attention_depth)] * self.hp.res_blocks
        )

    @classmethod
    def authors_settings(cls, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], int]:
        first = state["main.0.weight"]
        blocks = sum(
            1 for k in state if k.startswith("main.") and k.endswith(".conv1.conv2d.weight")
        )
        levels = r"main\.9\.att_func\.b1_\d+\.conv2d\.weight"
        settings = {
            "conv_dim": int(first.shape[0]),
            "res_blocks": blocks,
            "attention_depth": sum(1 for k in state if re.fullmatch(levels, k)),
            "attention_dim": int(state["main.9.att_func.b1_1.conv2d.weight"].shape[0]),
        }
        return settings, int(first.shape[1]) - 3

    def build_generator(self) -> nn.Module:
        channels = bottleneck_channels(self.hp.conv_dim)
        blocks = [
            SpatialAttentionResidualBlock(channels, self.hp.attention_dim, self.hp.attention_depth)
            for _ in range(self.hp.res_blocks)
        ]
        return ImageGenerator(self.num_expressions, self.hp.conv_dim, blocks, ultimate_skip=True)
