"""StarGAN (Choi, Choi, Kim, Ha, Kim, Choo; CVPR 2018), following the authors' code (yunjey/stargan).

One generator G(x, c) translates a face x to any expression c (a one-hot label tiled over
the image and concatenated to it); one critic D returns a PatchGAN real/fake map and
expression logits. Losses (per batch):

- critic: ``-D_src(x) + D_src(G(x, c')) + lambda_gp * GP + lambda_cls * CE(D_cls(x), c)``
- generator (every ``n_critic``-th step): ``-D_src(G(x, c')) + lambda_cls * CE(D_cls(G(x, c')), c')
  + lambda_rec * |x - G(G(x, c'), c)|_1``

with x a real face of expression c and c' the target. Published setting: conv_dim 64,
6 residual blocks, 128 px, 6 critic layers, lambda_cls 1, lambda_rec 10, lambda_gp 10,
Adam(1e-4, betas 0.5/0.999) for both nets, n_critic 5, batch 16, 200k iterations.

Where the paper and the authors' code differ, the code is the default and the paper a
switch (README, fidelity ledger): targets c' are a random permutation of the batch's own
labels (``target_labels``, solver.py), the learning rate drops by lr/100k every 1000
iterations of the last 100k (``lr_schedule: authors``, in effect constant; the paper's
linear decay to 0 is ``lr_schedule: linear``), and training images are mirrored at random
(``augment_flip``, data_loader.py).

US-GAN and SARGAN (:mod:`models.usgan`, :mod:`models.sargan`) keep this critic, these
losses and this step and change only the generator (:meth:`StarGAN.build_generator`).
The trained generator network is :attr:`StarGAN.generator` (an
:class:`models.blocks.ImageGenerator`, ``generator(images, one_hot_labels)``), so a later
model can load a StarGAN checkpoint and use it as a frozen base translator;
:meth:`StarGAN.authors_prefixes` maps it onto the authors' checkpoints (``bench import``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.errors import UserError
from bench.core.vocabulary import EXPRESSIONS
from models import hyperparameters
from models.authors import residual_prefixes, stargan_trunk_prefixes
from models.blocks import (
    ImageGenerator,
    PatchCritic,
    ResidualBlock,
    adam_pair,
    bottleneck_channels,
    gradient_penalty,
    linear_decay_lr,
    one_hot,
    optimisation_step,
    set_lr,
    shuffled,
    stepped_decay_lr,
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
    """Last fraction of the steps in which the learning rates decay."""
    lr_schedule: str = "authors"
    """``authors``: lower by lr / decay steps every ``lr_update_step`` steps of the decay
    window (solver.py; ends at 0.999 lr); ``linear``: the paper's linear decay to 0."""
    lr_update_step: int = 1000
    """Steps between the authors' learning-rate drops (StarGAN 1000, US-GAN / SARGAN 5000)."""
    target_labels: str = "permutation"
    """``permutation``: the batch's own labels in random order (the authors' code; a target
    may equal the source); ``other_expression``: another expression of the same subject
    (fes-bench's earlier sampling, never the source's own)."""
    augment_flip: bool = True
    """Mirror training images left-right with probability 1/2 (the authors' data loader)."""


LR_SCHEDULES = ("authors", "linear")
TARGET_LABELS = ("permutation", "other_expression")


def check_choice(model: str, setting: str, value: str, choices: tuple[str, ...]) -> None:
    """A :class:`UserError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise UserError(
            f"model {model!r}: setting {setting} must be one of {', '.join(choices)}, got {value!r}"
        )


def learning_rate(hp: Any, base_lr: float, step: int, total_steps: int) -> float:
    """``base_lr`` at 0-based ``step`` under ``hp.lr_schedule`` (see :class:`StarGANSettings`)."""
    if hp.lr_schedule == "linear":
        return linear_decay_lr(base_lr, step, total_steps, hp.decay_fraction)
    return stepped_decay_lr(base_lr, step, total_steps, hp.decay_fraction, hp.lr_update_step)


def schedule_learning_rates(optimizers: Any, hp: Any, step: int, total_steps: int) -> None:
    """Set the generator's and critic's rates for ``step`` (StarGAN family, GANimation)."""
    for name, base in (("generator", hp.lr_generator), ("critic", hp.lr_critic)):
        set_lr(optimizers[name], learning_rate(hp, base, step, total_steps))


class StarGAN(TrainableGenerator):
    """StarGAN (CVPR 2018): label-conditioned encoder/decoder, WGAN-GP + classification + cycle."""

    name: ClassVar[str] = "stargan"
    source_mode: ClassVar[str] = "any"
    authors_sampling: ClassVar[str] = "epochs"
    """solver.py iterates a shuffled ``DataLoader`` (data_loader.py, ``drop_last`` off: each
    epoch's last batch is smaller) and starts it again at ``StopIteration``; US-GAN and
    SARGAN's solver.py and data_loader.py do the same."""
    Settings: ClassVar[type] = StarGANSettings
    authors_unused: ClassVar[tuple[str, ...]] = ()
    """Modules of the authors' generator its forward pass never calls (dropped on import)."""

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(self.Settings, settings, self.name)
        check_choice(self.name, "lr_schedule", hp.lr_schedule, LR_SCHEDULES)
        check_choice(self.name, "target_labels", hp.target_labels, TARGET_LABELS)
        super().__init__(image_size, num_expressions, **asdict(hp))
        self.hp = hp
        self.augment_flip = hp.augment_flip
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

    def authors_prefixes(self) -> dict[str, str]:
        """Our generator's module prefixes -> the authors' (``model.py``, ``Generator.main``)."""
        return stargan_trunk_prefixes([residual_prefixes()] * self.hp.res_blocks)

    @classmethod
    def authors_settings(cls, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], int]:
        """(settings, condition channels) of the generator in an authors' state dict."""
        first = state["main.0.weight"]
        blocks = sum(1 for k in state if k.startswith("main.") and k.endswith(".main.0.weight"))
        return {"conv_dim": int(first.shape[0]), "res_blocks": blocks}, int(first.shape[1]) - 3

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
        schedule_learning_rates(optimizers, self.hp, step, total_steps)
        source = batch.source_expression
        if self.hp.target_labels == "permutation":
            target = shuffled(source)
        else:
            target = batch.target_expression
        return self.optimise(nets, optimizers, batch.source, source, target, step)

    def optimise(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        real: torch.Tensor,
        source: torch.Tensor,
        target: torch.Tensor,
        step: int,
    ) -> dict[str, float]:
        """The authors' iteration on faces ``real`` of labels ``source`` towards ``target``.

        Returns the loss terms unweighted, under the authors' names: ``d_real`` =
        -mean D_src(x), ``d_fake`` = mean D_src(G(x, c')), ``d_cls``, ``d_gp``, and after a
        generator update ``g_fake``, ``g_cls``, ``g_rec``.
        """
        hp = self.hp
        generator, critic = nets["generator"], nets["critic"]
        with self.amp():
            with torch.no_grad():
                fake = self.generate(generator, real, target)
            scores, logits = critic(torch.cat([real, fake]))
            real_scores, fake_scores = scores.float().chunk(2)
            critic_real, critic_fake = -real_scores.mean(), fake_scores.mean()
            critic_cls = nn.functional.cross_entropy(logits[: len(real)].float(), source)
            penalty = gradient_penalty(critic, real, fake)
            critic_loss = (
                critic_real + critic_fake + hp.lambda_cls * critic_cls + hp.lambda_gp * penalty
            )
        optimisation_step(optimizers["critic"], critic_loss)
        losses = {
            "d_real": critic_real.detach(),
            "d_fake": critic_fake.detach(),
            "d_cls": critic_cls.detach(),
            "d_gp": penalty.detach(),
        }

        if (step + 1) % hp.n_critic == 0:
            with self.amp():
                fake = self.generate(generator, real, target)
                scores, logits = critic(fake)
                generator_fake = -scores.float().mean()
                generator_cls = nn.functional.cross_entropy(logits.float(), target)
                cycle = self.generate(generator, fake, source)
                generator_rec = (cycle.float() - real).abs().mean()
                generator_loss = (
                    generator_fake + hp.lambda_cls * generator_cls + hp.lambda_rec * generator_rec
                )
            optimisation_step(optimizers["generator"], generator_loss)
            self._last_generator_losses = {
                "g_fake": generator_fake.detach(),
                "g_cls": generator_cls.detach(),
                "g_rec": generator_rec.detach(),
            }
        return {**losses, **self._last_generator_losses}
