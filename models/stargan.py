"""StarGAN (Choi, Choi, Kim, Ha, Kim, Choo; CVPR 2018), written from the paper.

One generator G(x, c) translates a face x to any expression c (a one-hot label tiled over
the image and concatenated to it); one critic D returns a PatchGAN real/fake map and
expression logits. Losses (per batch):

- critic: ``-D_src(x) + D_src(G(x, c')) + lambda_gp * GP + lambda_cls * CE(D_cls(x), c)``
- generator (every ``n_critic``-th step): ``-D_src(G(x, c')) + lambda_cls * CE(D_cls(G(x, c')), c')
  + lambda_rec * |x - G(G(x, c'), c)|_1``

with x a real face of expression c and c' a different target expression. Published setting:
conv_dim 64, 6 residual blocks, 128 px, 6 critic layers, lambda_cls 1, lambda_rec 10,
lambda_gp 10, Adam(1e-4, betas 0.5/0.999) for both nets, n_critic 5, batch 16, 200k
iterations with the learning rate decaying linearly over the last 100k.

US-GAN and SARGAN (:mod:`models.usgan`, :mod:`models.sargan`) keep this critic, these
losses and this step and change only the generator (:meth:`StarGAN.build_generator`).
The trained generator network is :attr:`StarGAN.generator` (an
:class:`models.blocks.ImageGenerator`, ``generator(images, one_hot_labels)``), so a later
model can load a StarGAN checkpoint and use it as a frozen base translator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.vocabulary import EXPRESSIONS
from models import hyperparameters
from models.blocks import (
    ImageGenerator,
    PatchCritic,
    ResidualBlock,
    adam_pair,
    bottleneck_channels,
    decay_learning_rates,
    gradient_penalty,
    one_hot,
    optimisation_step,
)
from models.trainable import TrainableGenerator, TrainBatch


@dataclass(frozen=True)
class StarGANSettings:
    """StarGAN's hyper-parameters (defaults: the paper's); sizes in channels, rates per step."""

    conv_dim: int = 64
    """Channels of the generator's first layer (doubled twice in the encoder)."""
    res_blocks: int = 6
    """Residual blocks in the generator's bottleneck."""
    critic_dim: int = 64
    """Channels of the critic's first layer (doubled at each of its layers)."""
    critic_layers: int = 6
    """Stride-2 convs of the critic (image_size must be divisible by 2**critic_layers)."""
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5
    """Critic updates per generator update: G is updated on every n_critic-th step."""
    decay_fraction: float = 0.5
    """Last fraction of the steps over which both learning rates decay linearly to 0."""


class StarGAN(TrainableGenerator):
    """StarGAN (CVPR 2018): label-conditioned encoder/decoder, WGAN-GP + classification + cycle."""

    name: ClassVar[str] = "stargan"
    source_mode: ClassVar[str] = "any"
    Settings: ClassVar[type] = StarGANSettings

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(self.Settings, settings, self.name)
        super().__init__(image_size, num_expressions, **asdict(hp))
        self.hp = hp
        self.generator = self.build_generator()
        self.critic = PatchCritic(
            self.image_size, self.num_expressions, hp.critic_dim, hp.critic_layers
        )
        self._last_generator_losses: dict[str, torch.Tensor] = {}

    def build_generator(self) -> nn.Module:
        """G(images, one_hot (B, num_expressions)) -> images; StarGAN: plain residual bottleneck."""
        channels = bottleneck_channels(self.hp.conv_dim)
        return ImageGenerator(
            self.num_expressions,
            self.hp.conv_dim,
            [ResidualBlock(channels) for _ in range(self.hp.res_blocks)],
        )

    def generate(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Run generator ``net`` (possibly DDP-wrapped) on images (B,3,H,W) for int64 labels (B,)."""
        return net(images, one_hot(labels, self.num_expressions, images))

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Faces (B, 3, H, W) in [-1, 1] -> the target expressions (B,), clamped to [-1, 1]."""
        self.check_inputs(images, target_expressions)
        return self.generate(self.generator, images, target_expressions).clamp(-1.0, 1.0)

    # -- training ------------------------------------------------------------------------------
    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adam_pair(self.generator, self.critic, self.hp)

    def train_step(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batch: TrainBatch,
        step: int,
        total_steps: int,
    ) -> dict[str, torch.Tensor]:
        """One critic update; plus one generator update on every ``n_critic``-th step."""
        hp = self.hp
        decay_learning_rates(optimizers, hp, step, total_steps)
        generator, critic = nets["generator"], nets["critic"]
        real, source, target = batch.source, batch.source_expression, batch.target_expression

        with self.amp():
            with torch.no_grad():
                fake = self.generate(generator, real, target)
            scores, logits = critic(torch.cat([real, fake]))
            real_scores, fake_scores = scores.float().chunk(2)
            critic_adv = fake_scores.mean() - real_scores.mean()
            critic_cls = nn.functional.cross_entropy(logits[: len(real)].float(), source)
            penalty = gradient_penalty(critic, real, fake)
            critic_loss = critic_adv + hp.lambda_cls * critic_cls + hp.lambda_gp * penalty
        optimisation_step(optimizers["critic"], critic_loss)
        losses = {
            "d_adv": critic_adv.detach(),
            "d_cls": critic_cls.detach(),
            "d_gp": penalty.detach(),
        }

        if (step + 1) % hp.n_critic == 0:
            with self.amp():
                fake = self.generate(generator, real, target)
                scores, logits = critic(fake)
                generator_adv = -scores.float().mean()
                generator_cls = nn.functional.cross_entropy(logits.float(), target)
                cycle = self.generate(generator, fake, source)
                generator_rec = (cycle.float() - real).abs().mean()
                generator_loss = (
                    generator_adv + hp.lambda_cls * generator_cls + hp.lambda_rec * generator_rec
                )
            optimisation_step(optimizers["generator"], generator_loss)
            self._last_generator_losses = {
                "g_adv": generator_adv.detach(),
                "g_cls": generator_cls.detach(),
                "g_rec": generator_rec.detach(),
            }
        return {**losses, **self._last_generator_losses}
