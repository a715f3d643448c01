"""DAI2I's translation branches: AdaIN in every layer, styled by a 256-d vector.

Built after the authors' code (xiaogang00/DAI2I, ``network/adain_net.py`` and
``network/cls_net.py``), written from its description:

- :class:`AdaIN`: ``gamma * IN(x) + beta`` with InstanceNorm without affine parameters and
  ``(gamma, beta)`` from a 1x1 conv of the style (B, style_dim, 1, 1); that conv's bias
  starts at gamma = 1, beta = 0 (its weights keep PyTorch's default init);
- :class:`AdaINTranslator`: a 7x7 conv to ``conv_dim`` channels, ``downsamplings`` stride-2
  4x4 convs doubling the channels, ``res_blocks`` residual blocks, as many stride-2 4x4
  transposed convs halving them, and a 7x7 conv (with bias) + tanh. Each conv is followed by
  AdaIN and LeakyReLU(0.01) (the convs of the encoder/decoder have a bias, those of the
  residual blocks do not; a residual block has no activation after its sum). No skip from
  the input. The authors' setting: conv_dim 128, one downsampling, 4 blocks at 256 channels;
- :class:`StyleEncoder`: a 7x7 conv to ``dim`` channels, ``layers`` stride-2 4x4 convs
  doubling them (16 -> 256 at the authors' setting), LeakyReLU(0.01) after each, global
  average pooling and a 1x1 conv to the style vector; no normalisation.

Images are (B, 3, H, W) in [-1, 1], H and W multiples of ``2**downsamplings``.
"""

from __future__ import annotations

import torch
from torch import nn

LEAKY_SLOPE = 0.01
"""Negative slope of every LeakyReLU in the branches (PyTorch's default, used by the authors)."""


class AdaIN(nn.Module):
    """``forward(features (B, C, h, w), style (B, style_dim, 1, 1)) -> gamma * IN(x) + beta``."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels)
        self.style = nn.Conv2d(style_dim, 2 * channels, 1)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0
            self.style.bias[channels:] = 0.0

    def forward(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(style).chunk(2, dim=1)
        return gamma * self.norm(features) + beta


class AdaINConv(nn.Module):
    """Conv (or stride-2 transposed conv, ``transposed``) with bias -> AdaIN -> LeakyReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        style_dim: int,
        transposed: bool = False,
    ):
        super().__init__()
        padding = (kernel_size - 1) // 2 if stride == 1 else 1
        conv_type = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv_type(in_channels, out_channels, kernel_size, stride, padding)
        self.norm = AdaIN(out_channels, style_dim)

    def forward(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(features), style)
        return nn.functional.leaky_relu(out, LEAKY_SLOPE)


class AdaINResidualBlock(nn.Module):
    """x + AdaIN(conv3x3(LeakyReLU(AdaIN(conv3x3(x))))); bias-free convs, channels unchanged."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm1 = AdaIN(channels, style_dim)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = AdaIN(channels, style_dim)

    def forward(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.leaky_relu(self.norm1(self.conv1(features), style), LEAKY_SLOPE)
        return features + self.norm2(self.conv2(hidden), style)


class AdaINTranslator(nn.Module):
    """``forward(images, style (B, style_dim)) -> images`` in [-1, 1] (see the module doc)."""

    def __init__(
        self, conv_dim: int = 128, res_blocks: int = 4, downsamplings: int = 1, style_dim: int = 256
    ):
        super().__init__()
        layers: list[nn.Module] = [AdaINConv(3, conv_dim, 7, 1, style_dim)]
        channels = conv_dim
        for _ in range(downsamplings):
            layers.append(AdaINConv(channels, channels * 2, 4, 2, style_dim))
            channels *= 2
        layers += [AdaINResidualBlock(channels, style_dim) for _ in range(res_blocks)]
        for _ in range(downsamplings):
            layers.append(AdaINConv(channels, channels // 2, 4, 2, style_dim, transposed=True))
            channels //= 2
        self.layers = nn.ModuleList(layers)
        self.head = nn.Conv2d(channels, 3, 7, 1, 3)

    def forward(self, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        style = style.to(images.dtype)[:, :, None, None]
        features = images
        for layer in self.layers:
            features = layer(features, style)
        return torch.tanh(self.head(features))


class StyleEncoder(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> style vector (B, ``style_dim``) (see the module doc)."""

    def __init__(self, dim: int = 16, layers: int = 4, style_dim: int = 256):
        super().__init__()
        modules: list[nn.Module] = [nn.Conv2d(3, dim, 7, 1, 3), nn.LeakyReLU(LEAKY_SLOPE)]
        channels = dim
        for _ in range(layers):
            modules += [nn.Conv2d(channels, channels * 2, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE)]
            channels *= 2
        modules.append(nn.AdaptiveAvgPool2d(1))
        self.body = nn.Sequential(*modules)
        self.head = nn.Conv2d(channels, style_dim, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images)).flatten(1)
