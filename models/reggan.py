"""RegGAN (Akram, Khan, Mahmood; arXiv 2603.15648, 2026): expression layer + adversarial refinement.

``translate(x, c) = clamp(G_R(clamp(G_E(x, c)), x, c))`` with

- **G_E**, the expression layer (:mod:`models.expression_layer`): per-pixel
  ridge regression over r x r neighbourhoods, one map per target expression,
  fitted in closed form on the neutral -> target pairs of the training split
  (exactly MR's fit, :func:`models.mr.fit_expression_layer`);
- **G_R**, the refinement network (:mod:`models.eab`): a StarGAN-sized
  encoder/decoder of "EAB" blocks (our reading: expression-aware attention
  residual blocks) that sees G_E's output and the input face and adds its
  correction to the input face (details and reasons in :mod:`models.eab`).

**G_E is fitted first and then frozen** (our choice; the paper does not say).
The closed form is the exact minimiser of the ridge loss the paper names, so
G_E is "trained" before the first GAN step (:meth:`RegGAN.prepare`) and its
weights are never touched by the adversarial losses. This keeps G_E's output
the interpretable coarse expression of the paper's Figure 3, avoids letting the
critic pull 3 x r^2 x H x W x 7 per-pixel weights (about 3M at 128 px) towards
adversarial artefacts, and makes every G_R step cheaper (no gradients through G_E).

**Training** (one critic and one G_R update per step, paired neutral -> target
batches, ``source_mode = "neutral"``):

- critic D (PatchGAN map + expression logits, :class:`models.blocks.PatchCritic`),
  least-squares GAN: ``mean((D(real) - 1)^2) + mean(D(fake)^2)
  + lambda_cls * CE(D_cls(real), label)``; the real images are the batch's
  neutral sources and real targets, with their labels;
- G_R: ``lambda_adv * mean((D(fake) - 1)^2) + lambda_rec * |fake - target|_1
  + lambda_cls * CE(D_cls(fake), c)``, with ``target`` the same subject's real
  image of expression c.

The least-squares loss (not WGAN-GP) is our choice: with a paired L1 term
anchoring G_R, the adversarial term only has to sharpen, LSGAN is stable
without a gradient penalty and costs no double backward (the smoke profile
trains on a laptop CPU). Adam, linear learning-rate decay over the last
``decay_fraction`` of the steps. Every default below is our "published-ish"
reading and can be changed in ``params.yaml``: StarGAN's network sizes, and
pix2pix's weights and optimiser for the same paired L1 + PatchGAN objective
(lambda_rec 100, lambda_adv 1, Adam 2e-4 with betas 0.5 / 0.999).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import EXPRESSIONS
from models import hyperparameters
from models.blocks import PatchCritic, adam_pair, decay_learning_rates, one_hot, optimisation_step
from models.eab import RefinementNetwork
from models.expression_layer import ExpressionLayer
from models.mr import fit_expression_layer
from models.trainable import TrainableGenerator, TrainBatch


@dataclass(frozen=True)
class RegGANSettings:
    """RegGAN's hyper-parameters (sizes in channels or pixels, rates per step)."""

    receptive_field: int = 3
    """Side (px, odd) of the expression layer's neighbourhood."""
    ridge_lambda: float = 0.4
    """Ridge penalty of the expression layer (images scaled to [0, 1])."""
    conv_dim: int = 64
    """Channels of G_R's first layer (doubled twice in its encoder)."""
    attention_blocks: int = 6
    """EAB blocks in G_R's bottleneck."""
    attention_reduction: int = 8
    """Channel reduction inside each EAB's channel gate."""
    critic_dim: int = 64
    """Channels of the critic's first layer (doubled at each layer)."""
    critic_layers: int = 4
    """Stride-2 convs of the critic: its patch map is image_size / 2**critic_layers wide."""
    lambda_adv: float = 1.0
    """Weight of G_R's least-squares adversarial term."""
    lambda_rec: float = 100.0
    """Weight of the L1 distance (pixels in [-1, 1]) to the subject's real target image."""
    lambda_cls: float = 1.0
    """Weight of the critic's expression cross-entropy, in both the critic's and G_R's loss."""
    lr_generator: float = 2e-4
    lr_critic: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    """Adam's betas for both networks."""
    decay_fraction: float = 0.5
    """Last fraction of the steps over which both learning rates decay linearly to 0."""


class RegGAN(TrainableGenerator):
    """RegGAN (2026): closed-form expression layer G_E, then adversarial EAB refinement G_R."""

    name: ClassVar[str] = "reggan"
    Settings: ClassVar[type] = RegGANSettings
    stage_names: ClassVar[tuple[str, ...]] = ("G_E output", "G_R output")
    source_mode: ClassVar[str] = "neutral"
    authors_sampling: ClassVar[str] = "independent"
    """No public code: fes-bench's same-subject (neutral, target) pair draws."""

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(RegGANSettings, settings, self.name)
        super().__init__(image_size, num_expressions, **asdict(hp))
        if image_size % 4:
            raise UserError(f"reggan needs an image size divisible by 4, got {image_size} px")
        self.hp = hp
        try:
            self.expression_layer = ExpressionLayer(
                image_size, num_expressions, hp.receptive_field, hp.ridge_lambda
            )
        except ValueError as error:
            raise UserError(f"model_settings.reggan: {error}") from None
        self.expression_layer.requires_grad_(False)
        self.refiner = RefinementNetwork(
            num_expressions, hp.conv_dim, hp.attention_blocks, hp.attention_reduction
        )
        self.critic = PatchCritic(image_size, num_expressions, hp.critic_dim, hp.critic_layers)

    # -- inference ---------------------------------------------------------------------------
    def coarse(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """G_E's output (B, 3, H, W), clamped to [-1, 1] (the input of G_R)."""
        return self.expression_layer(images, target_expressions).clamp(-1.0, 1.0)

    def refine(
        self,
        net: nn.Module,
        coarse: torch.Tensor,
        images: torch.Tensor,
        target_expressions: torch.Tensor,
    ) -> torch.Tensor:
        """G_R ``net`` (possibly DDP-wrapped) on G_E's output and the input; unclamped, in [-2, 2]."""
        condition = one_hot(target_expressions, self.num_expressions, coarse)
        return net(coarse, images, condition)

    def stages(
        self, images: torch.Tensor, target_expressions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(G_E output, G_R output), both (B, 3, H, W) clamped to [-1, 1] (the paper's Figure 3)."""
        self.check_inputs(images, target_expressions)
        coarse = self.coarse(images, target_expressions)
        refined = self.refine(self.refiner, coarse, images, target_expressions)
        return coarse, refined.clamp(-1.0, 1.0)

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Neutral faces (B, 3, H, W) in [-1, 1] -> the target expressions (B,), in [-1, 1]."""
        return self.stages(images, target_expressions)[1]

    # -- training ----------------------------------------------------------------------------
    def prepare(self, data: ImageSet, device: torch.device) -> None:
        """Fit G_E in closed form on the training pairs (deterministic; repeated on resume)."""
        self.expression_layer.to(device)
        fit_expression_layer(self.expression_layer, data)

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.refiner, "critic": self.critic}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adam_pair(self.refiner, self.critic, self.hp)

    def train_step(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batch: TrainBatch,
        step: int,
        total_steps: int,
    ) -> dict[str, torch.Tensor]:
        """One critic update, then one G_R update, on a paired neutral -> target batch."""
        hp = self.hp
        decay_learning_rates(optimizers, hp, step, total_steps)
        refiner, critic = nets["generator"], nets["critic"]
        labels = batch.target_expression
        real = torch.cat([batch.source, batch.target])
        real_labels = torch.cat([batch.source_expression, labels])

        with self.amp():
            coarse = self.coarse(batch.source, labels)
            fake = self.refine(refiner, coarse, batch.source, labels)
            scores, logits = critic(torch.cat([real, fake.detach()]))
            scores = scores.float()
            real_scores, fake_scores = scores[: len(real)], scores[len(real) :]
            critic_adv = ((real_scores - 1) ** 2).mean() + (fake_scores**2).mean()
            critic_cls = nn.functional.cross_entropy(logits[: len(real)].float(), real_labels)
            critic_loss = critic_adv + hp.lambda_cls * critic_cls
        optimisation_step(optimizers["critic"], critic_loss)

        with self.amp():
            scores, logits = critic(fake)
            generator_adv = ((scores.float() - 1) ** 2).mean()
            generator_cls = nn.functional.cross_entropy(logits.float(), labels)
            generator_rec = (fake.float() - batch.target).abs().mean()
            generator_loss = (
                hp.lambda_adv * generator_adv
                + hp.lambda_rec * generator_rec
                + hp.lambda_cls * generator_cls
            )
        optimisation_step(optimizers["generator"], generator_loss)
        return {
            "d_adv": critic_adv.detach(),
            "d_cls": critic_cls.detach(),
            "g_adv": generator_adv.detach(),
            "g_rec": generator_rec.detach(),
            "g_cls": generator_cls.detach(),
        }
