"""AdaIN generators with a style encoder (the translation branches of DAI2I).

The branches follow the content/style generators of MUNIT (Huang et al., ECCV 2018),
which DAI2I (Chen, Xu, Jia; CVPR 2020) builds its domain branches from:

- :class:`StyleEncoder`: convs that halve the image a few times, global average pooling and
  a 1x1 conv to a ``style_dim`` vector (no normalisation, so the statistics survive);
- :class:`AdaINGenerator`: a content encoder (7x7 conv + two stride-2 convs, InstanceNorm,
  then residual blocks) and a decoder of residual blocks whose normalisation is adaptive
  instance normalisation, ``AdaIN(x) = (1 + gamma) * IN(x) + beta``, with ``gamma``/``beta``
  predicted by an MLP from the style vector; then two upsampling layers with layer
  normalisation (InstanceNorm there would remove the style statistics again) and a 7x7
  conv + tanh. Images are (B, 3, H, W) in [-1, 1], H and W multiples of 4.
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import ResidualBlock, bottleneck_channels, conv_norm_relu, downsampling


class AdaINResidualBlock(nn.Module):
    """x + AdaIN(conv3x3(ReLU(AdaIN(conv3x3(x))))); the style parameters come per call.

    ``forward(features (B, C, h, w), params (B, 4 * C))``: the params are
    (gamma1, beta1, gamma2, beta2), each (B, C).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm = nn.InstanceNorm2d(channels, affine=False)

    @property
    def num_params(self) -> int:
        """Style parameters this block takes (4 x channels)."""
        return 4 * self.channels

    def _adain(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]

    def forward(self, features: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        gamma1, beta1, gamma2, beta2 = params.to(features.dtype).chunk(4, dim=1)
        hidden = torch.relu(self._adain(self.conv1(features), gamma1, beta1))
        return features + self._adain(self.conv2(hidden), gamma2, beta2)


class StyleEncoder(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> style vector (B, ``style_dim``).

    7x7 conv to ``dim`` channels, ``downsamplings`` stride-2 4x4 convs (channels doubled
    up to 4 x ``dim``), ReLU after each, global average pooling, 1x1 conv.
    """

    def __init__(self, dim: int = 64, style_dim: int = 8, downsamplings: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, dim, 7, 1, 3), nn.ReLU(inplace=True)]
        channels = dim
        for index in range(downsamplings):
            out = min(channels * 2, 4 * dim) if index < 2 else channels
            layers += [nn.Conv2d(channels, out, 4, 2, 1), nn.ReLU(inplace=True)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, style_dim, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).flatten(1)


def _upsampling_layer(channels: int) -> list[nn.Module]:
    """Stride-2 4x4 transposed conv halving the channels, layer norm (GroupNorm(1)), ReLU."""
    return [
        nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
        nn.GroupNorm(1, channels // 2),
        nn.ReLU(inplace=True),
    ]


class AdaINGenerator(nn.Module):
    """Content encoder + AdaIN decoder: ``forward(images, style (B, style_dim)) -> images``.

    Sizes: ``dim`` channels after the stem, 4 x ``dim`` in the bottleneck (1/4 resolution),
    ``content_blocks`` plain residual blocks, ``style_blocks`` AdaIN residual blocks, an MLP
    (``style_dim`` -> ``mlp_dim`` -> ``mlp_dim`` -> AdaIN parameters). Output in [-1, 1].
    """

    def __init__(
        self,
        dim: int = 64,
        style_dim: int = 8,
        content_blocks: int = 4,
        style_blocks: int = 4,
        mlp_dim: int = 256,
    ):
        super().__init__()
        channels = bottleneck_channels(dim)
        down, _ = downsampling(dim)
        self.content = nn.Sequential(
            *conv_norm_relu(3, dim, 7),
            down,
            *[ResidualBlock(channels) for _ in range(content_blocks)],
        )
        self.blocks = nn.ModuleList(AdaINResidualBlock(channels) for _ in range(style_blocks))
        total = sum(block.num_params for block in self.blocks)
        self.mlp = nn.Sequential(
            nn.Linear(style_dim, mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(mlp_dim, mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(mlp_dim, total),
        )
        self.decoder = nn.Sequential(
            *_upsampling_layer(channels),
            *_upsampling_layer(channels // 2),
            nn.Conv2d(dim, 3, 7, 1, 3),
            nn.Tanh(),
        )

    def forward(self, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        features = self.content(images)
        params = self.mlp(style.to(images.dtype))
        offset = 0
        for block in self.blocks:
            features = block(features, params[:, offset : offset + block.num_params])
            offset += block.num_params
        return self.decoder(features)
