"""Building blocks shared by the StarGAN family (StarGAN, US-GAN, SARGAN) and GANimation.

All four papers build on the generator and critic of StarGAN (Choi et al., CVPR 2018):

- generator: conv 7x7 (image + tiled condition -> ``conv_dim``), two stride-2 4x4 convs
  doubling the channels, a bottleneck of residual blocks, two stride-2 4x4 transposed convs
  halving them; every conv without bias, followed by InstanceNorm (affine) and ReLU;
- critic: ``layers`` stride-2 4x4 convs (``critic_dim`` channels doubling each time,
  LeakyReLU 0.01, no normalisation), a 3x3 real/fake head (a PatchGAN map) and a head whose
  kernel covers the whole last feature map (``image_size / 2**layers``) for class logits
  (or, for GANimation, action-unit regression);
- training: WGAN-GP with a gradient penalty on random interpolates and Adam; the papers'
  learning rate "decays linearly to zero" over the last part of the schedule, the authors'
  code lowers it in steps that leave it almost constant (:func:`stepped_decay_lr`).

InstanceNorm keeps no running statistics here. StarGAN's code tracks them but never calls
``.eval()``, in training or at test time, so the authors' generators always normalise
every image by its own statistics; ours do the same in train and eval mode alike, which
reproduces their outputs exactly and keeps ``translate`` deterministic (running statistics
are buffers, not parameters, so counts are unaffected; :mod:`models.authors` drops them on
import).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bench.core.device import to_device_async
from bench.core.errors import UserError

LEAKY_SLOPE = 0.01
"""Negative slope of the critic's LeakyReLU (StarGAN)."""


def tile_condition(condition: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Tile a condition vector (B, C) spatially into maps (B, C, height, width)."""
    return condition[:, :, None, None].expand(-1, -1, height, width)


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """One-hot float vectors (B, num_classes) of int64 ``labels`` with ``like``'s dtype/device."""
    return nn.functional.one_hot(labels, num_classes).to(dtype=like.dtype, device=like.device)


def shuffled(labels: torch.Tensor) -> torch.Tensor:
    """The batch's ``labels`` (B,) in a random order (the StarGAN authors' target labels),
    drawn with torch's global CPU RNG and sent to the labels' device without a host sync."""
    return labels[to_device_async(torch.randperm(len(labels)), labels.device)]


def conv_norm_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, transposed: bool = False
) -> list[nn.Module]:
    """A bias-free conv (or transposed conv), InstanceNorm (affine) and ReLU.

    Padding keeps the size for stride 1 (odd kernels) and halves / doubles it for the
    stride-2 4x4 (transposed) convs of the down- and up-sampling stacks.
    """
    padding = (kernel_size - 1) // 2 if stride == 1 else 1
    conv_type = nn.ConvTranspose2d if transposed else nn.Conv2d
    return [
        conv_type(in_channels, out_channels, kernel_size, stride, padding, bias=False),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(inplace=True),
    ]


class ResidualBlock(nn.Module):
    """x + IN(conv3x3(ReLU(IN(conv3x3(x))))), channels unchanged (StarGAN's bottleneck block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            *conv_norm_relu(channels, channels, 3),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.body(features)


def downsampling(channels: int, steps: int = 2) -> tuple[nn.Sequential, int]:
    """``steps`` stride-2 4x4 conv-IN-ReLU layers doubling ``channels``; returns (stack, channels out)."""
    layers: list[nn.Module] = []
    for _ in range(steps):
        layers += conv_norm_relu(channels, channels * 2, 4, stride=2)
        channels *= 2
    return nn.Sequential(*layers), channels


def upsampling(channels: int, steps: int = 2) -> tuple[nn.Sequential, int]:
    """``steps`` stride-2 4x4 transposed-conv-IN-ReLU layers halving ``channels``."""
    layers: list[nn.Module] = []
    for _ in range(steps):
        layers += conv_norm_relu(channels, channels // 2, 4, stride=2, transposed=True)
        channels //= 2
    return nn.Sequential(*layers), channels


def bottleneck_channels(conv_dim: int) -> int:
    """Channels of the generator's bottleneck features (``conv_dim`` doubled twice)."""
    return 4 * conv_dim


class EncoderDecoder(nn.Module):
    """StarGAN's generator trunk without its output layer: features (B, conv_dim, H, W).

    Input: images (B, 3, H, W) and a condition vector (B, condition_dim) tiled over the image;
    ``bottleneck`` modules run at 1/4 resolution on ``4 * conv_dim`` channels.
    H and W must be multiples of 4.
    """

    def __init__(self, condition_dim: int, conv_dim: int, bottleneck: Sequence[nn.Module]):
        super().__init__()
        self.stem = nn.Sequential(*conv_norm_relu(3 + condition_dim, conv_dim, 7))
        self.down, channels = downsampling(conv_dim)
        self.bottleneck = nn.Sequential(*bottleneck)
        self.up, _ = upsampling(channels)

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        maps = tile_condition(condition.to(images.dtype), *images.shape[-2:])
        features = self.stem(torch.cat([images, maps], dim=1))
        return self.up(self.bottleneck(self.down(features)))


def output_conv(conv_dim: int, channels: int = 3) -> nn.Conv2d:
    """The bias-free 7x7 output conv of StarGAN-style generators (``conv_dim`` -> ``channels``)."""
    return nn.Conv2d(conv_dim, channels, 7, 1, 3, bias=False)


class ImageGenerator(nn.Module):
    """EncoderDecoder + 7x7 conv + tanh; with ``ultimate_skip`` the input is added at the end.

    ``forward(images (B,3,H,W) in [-1,1], condition (B,C)) -> images``: in [-1, 1] without
    the skip (StarGAN); ``tanh(...) + images`` in [-2, 2] with it (US-GAN, SARGAN: the
    authors do not clamp during training; the models clamp in ``translate``).
    """

    def __init__(
        self,
        condition_dim: int,
        conv_dim: int,
        bottleneck: Sequence[nn.Module],
        ultimate_skip: bool = False,
    ):
        super().__init__()
        self.trunk = EncoderDecoder(condition_dim, conv_dim, bottleneck)
        self.head = output_conv(conv_dim)
        self.ultimate_skip = ultimate_skip

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(self.head(self.trunk(images, condition)))
        return out + images if self.ultimate_skip else out


def check_critic_layers(image_size: int, layers: int) -> int:
    """Side of the critic's last feature map; a clear error when the image is too small."""
    if layers < 1 or image_size % (2**layers):
        raise UserError(
            f"the critic's {layers} stride-2 layers need an image size divisible by {2**layers}, "
            f"got {image_size} px (set critic_layers lower in params model_settings)"
        )
    return image_size // (2**layers)


class PatchCritic(nn.Module):
    """StarGAN's critic: a PatchGAN real/fake map plus a per-image vector head.

    ``forward(images (B,3,S,S)) -> (scores (B,1,S/2^L,S/2^L), vector (B, outputs))``.
    ``outputs`` is the number of expression classes (logits) for StarGAN, US-GAN and
    SARGAN and the number of action units (regressed intensities) for GANimation.
    Parameter count at image 128, ``dim`` 64, 6 layers: 44,702,656 in the convs plus
    18,432 (real/fake head) plus 2048 * 4 * outputs (vector head).
    """

    def __init__(self, image_size: int, outputs: int, dim: int = 64, layers: int = 6):
        super().__init__()
        final_size = check_critic_layers(image_size, layers)
        body: list[nn.Module] = []
        channels_in, channels = 3, dim
        for _ in range(layers):
            body += [nn.Conv2d(channels_in, channels, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE)]
            channels_in, channels = channels, channels * 2
        self.body = nn.Sequential(*body)
        self.score = nn.Conv2d(channels_in, 1, 3, 1, 1, bias=False)
        self.vector = nn.Conv2d(channels_in, outputs, final_size, bias=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(images)
        return self.score(features), self.vector(features).flatten(1)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates (Gulrajani et al. 2017).

    ``x_hat = a * real + (1 - a) * fake`` with ``a ~ U[0, 1]`` per image (torch's global RNG);
    ``critic`` returns (scores, vector) like :class:`PatchCritic`. Differentiable w.r.t.
    the critic's parameters (the caller adds it to the critic's loss). Runs in float32
    outside any autocast: a double backward in bf16 loses the penalty's precision.
    """
    with torch.autocast(real.device.type, enabled=False):
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
        mixed = mixed.contiguous(memory_format=_memory_format(real)).requires_grad_(True)
        scores, _ = critic(mixed)
        (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
        norms = grad.flatten(1).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()


def _memory_format(images: torch.Tensor) -> torch.memory_format:
    """channels_last when ``images`` (B, C, H, W) are stored so, else the default layout."""
    if images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def linear_decay_lr(base_lr: float, step: int, total_steps: int, decay_fraction: float) -> float:
    """Learning rate at 0-based ``step``: ``base_lr`` until the last ``decay_fraction`` of the
    schedule, then decaying linearly to zero at ``total_steps`` (StarGAN: the last 100k of 200k
    iterations, ``decay_fraction`` 0.5)."""
    decay_steps = int(round(total_steps * decay_fraction))
    start = total_steps - decay_steps
    if decay_steps <= 0 or step < start:
        return base_lr
    return base_lr * max(0.0, 1.0 - (step - start) / decay_steps)


def stepped_decay_lr(
    base_lr: float, step: int, total_steps: int, decay_fraction: float, update_every: int
) -> float:
    """Learning rate at 0-based ``step`` under the StarGAN authors' schedule (solver.py).

    After every iteration ``i`` with ``(i + 1) % update_every == 0`` inside the last
    ``decay_fraction`` of the schedule, the rate drops by ``base_lr / decay_steps``. Since
    the drop is applied only every ``update_every`` iterations it ends at
    ``base_lr * (1 - 1 / update_every)``: 0.999 of the rate for StarGAN (every 1000 of 100k),
    0.9998 for US-GAN and SARGAN (every 5000), in effect a constant rate.
    """
    decay_steps = int(round(total_steps * decay_fraction))
    start = total_steps - decay_steps
    if decay_steps <= 0 or update_every <= 0 or step <= start:
        return base_lr
    drops = max(0, step // update_every - start // update_every)
    return base_lr - drops * base_lr / decay_steps


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Every conv and transposed conv: weight ~ N(0, ``std``), bias 0 (GANimation's init)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def adam_pair(
    generator: torch.nn.Module, critic: torch.nn.Module, hp: Any
) -> dict[str, torch.optim.Optimizer]:
    """Adam for ``generator`` and ``critic`` with ``hp.lr_generator`` / ``hp.lr_critic`` and betas."""
    betas = (hp.beta1, hp.beta2)
    return {
        "generator": torch.optim.Adam(generator.parameters(), lr=hp.lr_generator, betas=betas),
        "critic": torch.optim.Adam(critic.parameters(), lr=hp.lr_critic, betas=betas),
    }


def optimisation_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Clear ``optimizer``'s gradients, back-propagate ``loss`` and take one step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def decay_learning_rates(optimizers: Any, hp: Any, step: int, total_steps: int) -> None:
    """Set both optimizers' rates on the linear decay schedule for this ``step``."""
    for name, base in (("generator", hp.lr_generator), ("critic", hp.lr_critic)):
        set_lr(optimizers[name], linear_decay_lr(base, step, total_steps, hp.decay_fraction))
