"""RegGAN's refinement network G_R and its "EAB" blocks, as we read them.

The RegGAN paper names G_R's building block "EAB" but does not publish its
internals. **Our reading: an Expression-aware Attention residual Block.** A
residual block (conv3x3-IN-ReLU-conv3x3-IN, as in StarGAN's bottleneck) whose
residual branch is gated twice before it is added back:

1. channel attention (squeeze-and-excitation): global average of the branch,
   concatenated with the target expression's one-hot, -> FC -> ReLU -> FC ->
   sigmoid, one gate per channel;
2. spatial attention: the branch's channel mean and channel max, concatenated
   with the one-hot tiled over the map, -> 7x7 conv -> sigmoid, one gate per
   position (CBAM's spatial gate, conditioned on the expression).

Why this reading: G_R turns the expression layer's output, which carries the
target expression but is blurred and pulled towards the training subjects'
average, into a realistic face of the input's subject. The edits it must make
are concentrated in the expression regions (mouth, eyes, brows, cheeks); a
spatial gate lets a block edit those regions and pass the rest (identity,
hair, background) through unchanged, and SARGAN, by the same authors, uses
such a spatial-attention residual block. The regions that matter differ per
expression, so the gates see the target label (it would otherwise only enter
at G_R's first layer). Channel attention is the other common half of an
"attention block" (CBAM) and costs almost nothing.

G_R itself (:class:`RefinementNetwork`) is a StarGAN-sized encoder/decoder:
conv7x7 on G_E's output, the neutral input face and the tiled one-hot; two
stride-2 downsamplings; ``blocks`` EABs at 1/4 resolution; two upsamplings;
the full-resolution stem features concatenated back in (one U-Net skip); a
conv7x7 and tanh, added to the input face (US-GAN's "ultimate skip").

Also our choices, and why: G_R sees the input face besides G_E's output and
adds its correction to the input, because the regression averages over the
training subjects and loses the subject's own fine detail (its identity),
which is best taken from the input; the full-resolution skip lets that detail
past the bottleneck. The output conv starts at zero, so an untrained G_R
returns the input and learns only the change (expression) it must make. On
the synthetic set this trained faster than adding the correction to G_E's
output (after 600 CPU steps at 64 px: L1 to the real target 0.020 vs 0.025,
and sharpness close to the real images' instead of G_E's blur).
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import conv_norm_relu, downsampling, output_conv, tile_condition, upsampling


class ExpressionAttentionBlock(nn.Module):
    """``x + branch(x) * channel_gate * spatial_gate``, gates conditioned on the target expression.

    ``forward(features (B, C, h, w), condition (B, E) one-hot) -> (B, C, h, w)``.
    """

    def __init__(self, channels: int, condition_dim: int, reduction: int = 8):
        super().__init__()
        self.branch = nn.Sequential(
            *conv_norm_relu(channels, channels, 3),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )
        hidden = max(4, channels // reduction)
        self.channel_gate = nn.Sequential(
            nn.Linear(channels + condition_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(nn.Conv2d(2 + condition_dim, 1, 7, 1, 3), nn.Sigmoid())

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        branch = self.branch(features)
        condition = condition.to(branch.dtype)
        pooled = torch.cat([branch.mean(dim=(2, 3)), condition], dim=1)
        branch = branch * self.channel_gate(pooled)[:, :, None, None]
        summary = torch.cat(
            [
                branch.mean(dim=1, keepdim=True),
                branch.amax(dim=1, keepdim=True),
                tile_condition(condition, *branch.shape[-2:]),
            ],
            dim=1,
        )
        return features + branch * self.spatial_gate(summary)


class RefinementNetwork(nn.Module):
    """G_R: ``source + tanh(head([decoder(EABs(encoder(coarse, source, c))), stem]))``.

    ``forward(coarse, source, condition)``: G_E's output and the neutral input face
    (B, 3, H, W) in [-1, 1], the target expression one-hot (B, E); returns
    (B, 3, H, W), not clamped (in [-2, 2]). H and W must be multiples of 4.
    """

    def __init__(self, condition_dim: int, conv_dim: int, blocks: int, reduction: int = 8):
        super().__init__()
        self.stem = nn.Sequential(*conv_norm_relu(6 + condition_dim, conv_dim, 7))
        self.down, channels = downsampling(conv_dim)
        self.blocks = nn.ModuleList(
            ExpressionAttentionBlock(channels, condition_dim, reduction) for _ in range(blocks)
        )
        self.up, channels = upsampling(channels)
        self.head = output_conv(channels + conv_dim)
        nn.init.zeros_(self.head.weight)  # start by returning the input face

    def forward(
        self, coarse: torch.Tensor, source: torch.Tensor, condition: torch.Tensor
    ) -> torch.Tensor:
        maps = tile_condition(condition.to(coarse.dtype), *coarse.shape[-2:])
        stem = self.stem(torch.cat([coarse, source.to(coarse.dtype), maps], dim=1))
        features = self.down(stem)
        for block in self.blocks:
            features = block(features, condition)
        features = torch.cat([self.up(features), stem], dim=1)
        return source + torch.tanh(self.head(features))
