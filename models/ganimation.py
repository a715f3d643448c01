"""GANimation (Pumarola, Agudo, Martinez, Sanfeliu, Moreno-Noguer; ECCV 2018), following the
authors' code (albertpumarola/GANimation).

Conditioned on facial action units (AUs), not labels. The generator is StarGAN's trunk with
two output heads, a colour image C (7x7 conv + tanh) and a one-channel attention mask A
(7x7 conv + sigmoid); the output keeps the input where A is 1 and paints C elsewhere:
``G(x, y) = A * x + (1 - A) * C``. The critic is StarGAN's with an AU-regression head in
place of the class head. One iteration (models/ganimation.py ``optimize_parameters``), batch B:

- critic, step 1: ``-D(x) + D(G(x, y_t)) + lambda_au / B * MSE(D_au(x), y_s)``, one Adam step;
- critic, step 2: ``lambda_gp * GP`` on interpolates of x and the same fakes, with the
  critic just updated, a second Adam step of the same optimizer;
- generator (every ``n_critic``-th iteration): ``-D(G(x, y_t)) + lambda_au / B *
  MSE(D_au(G(x, y_t)), y_t) + lambda_cyc * |x - G(G(x, y_t), y_s)|_1`` plus, on both masks
  (forward and cycle), ``lambda_attention * mean(A)`` (keeps A from saturating to 1, the
  trivial identity) and ``lambda_tv *`` the sum over the batch of absolute differences
  between neighbouring mask pixels (the paper writes squared differences:
  ``smoothness: paper``).

Convolutions start from N(0, 0.02) (networks.py); training images are mirrored at random.
Published setting: conv_dim 64, 6 residual blocks, 128 px, lambda_gp 10, lambda_au 4000,
lambda_cyc 10, lambda_attention 0.1, lambda_tv 1e-5, Adam (1e-4, betas 0.5/0.999), G
updated every 5 critic steps, batch 25 (launch/run_train.sh), 30 epochs with the rate
lowered after each of the last 10; target AUs jittered by U(-0.1, 0.1) during training.

Labels to AUs: ``bench`` passes expression labels, so the model owns
:data:`EXPRESSION_ACTION_UNITS`, a prototype AU vector per expression (see there). Real
images are described by their label's prototype, targets by the target label's (by default
a random permutation of the batch's labels, standing in for the authors' AUs of another
random training image).
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
    EncoderDecoder,
    PatchCritic,
    ResidualBlock,
    adam_pair,
    bottleneck_channels,
    decay_learning_rates,
    gradient_penalty,
    init_normal,
    optimisation_step,
    output_conv,
    shuffled,
)
from models.stargan import TARGET_LABELS, check_choice
from models.trainable import TrainableGenerator, TrainBatch

ACTION_UNITS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
"""The 17 AUs whose intensities OpenFace estimates (GANimation's condition), in vector order."""

MARKED = 0.6
"""FACS intensity C ("marked or pronounced") = 3 on OpenFace's 0-5 scale, divided by 5."""
SLIGHT = 0.4
"""FACS intensity B ("slight evidence") = 2 / 5."""

PROTOTYPES: dict[str, dict[int, float]] = {
    "neutral": {},
    "happy": {6: MARKED, 12: MARKED},
    "sad": {1: MARKED, 4: MARKED, 15: MARKED},
    "fearful": {1: MARKED, 2: MARKED, 4: MARKED, 5: MARKED, 20: MARKED, 26: MARKED},
    "angry": {4: MARKED, 5: MARKED, 7: MARKED, 23: MARKED},
    "surprised": {1: MARKED, 2: MARKED, 5: SLIGHT, 26: MARKED},
    "disgusted": {9: MARKED, 15: MARKED},
}
"""Prototype AUs of each basic emotion, from EMFACS (Friesen & Ekman, EMFACS-7, 1983; the
prototype table of Ekman, Friesen & Hager, *Facial Action Coding System: Investigator's
Guide*, 2002): happiness 6+12, sadness 1+4+15, fear 1+2+4+5+20+26, anger 4+5+7+23,
surprise 1+2+5B+26, disgust 9+15+16. AU16 (lower lip depressor) is not among OpenFace's 17
AUs and is dropped from disgust. Intensities: the prototypes give no letter except 5B in
surprise (B = 0.4); every other prototype AU is set to C (0.6). Neutral activates none."""


def action_unit_table(expressions: tuple[str, ...] = EXPRESSIONS) -> torch.Tensor:
    """Target AU vectors (len(expressions), 17) in [0, 1], rows in class-index order."""
    table = torch.zeros(len(expressions), len(ACTION_UNITS))
    for row, expression in enumerate(expressions):
        if expression not in PROTOTYPES:
            raise UserError(f"GANimation has no action-unit prototype for {expression!r}")
        for unit, intensity in PROTOTYPES[expression].items():
            table[row, ACTION_UNITS.index(unit)] = intensity
    return table


EXPRESSION_ACTION_UNITS = action_unit_table()
"""(7, 17): row k is the AU vector GANimation is asked for when the target is EXPRESSIONS[k]."""


class AttentionGenerator(nn.Module):
    """GANimation's generator: ``forward(images, aus (B,17)) -> (output, attention, colour)``.

    ``output = attention * images + (1 - attention) * colour``, images and colour in
    [-1, 1], attention (B, 1, H, W) in [0, 1].
    """

    def __init__(self, condition_dim: int, conv_dim: int, res_blocks: int):
        super().__init__()
        channels = bottleneck_channels(conv_dim)
        self.trunk = EncoderDecoder(
            condition_dim, conv_dim, [ResidualBlock(channels) for _ in range(res_blocks)]
        )
        self.colour = output_conv(conv_dim, 3)
        self.attention = output_conv(conv_dim, 1)

    def forward(
        self, images: torch.Tensor, aus: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.trunk(images, aus)
        colour = torch.tanh(self.colour(features))
        attention = torch.sigmoid(self.attention(features))
        return attention * images + (1 - attention) * colour, attention, colour


@dataclass(frozen=True)
class GANimationSettings:
    """GANimation's hyper-parameters (defaults: the paper's / authors' code)."""

    conv_dim: int = 64
    res_blocks: int = 6
    critic_dim: int = 64
    critic_layers: int = 6
    lambda_gp: float = 10.0
    lambda_au: float = 4000.0
    """AU-regression weight; divided by the batch size as in the authors' code."""
    lambda_cyc: float = 10.0
    lambda_attention: float = 0.1
    lambda_tv: float = 1e-5
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5
    decay_fraction: float = 1 / 3
    """Last fraction of the steps with linear decay (10 of 30 epochs)."""
    au_jitter: float = 0.1
    """Half-width of the uniform noise added to target AUs during training."""
    smoothness: str = "authors"
    """Attention smoothness: ``authors``: sum over the batch of absolute neighbour
    differences (ganimation.py); ``paper``: per-image sum of squared differences, batch mean."""
    init_std: float = 0.02
    """Standard deviation of the N(0, std) conv init (networks.py); 0 keeps torch's default."""
    target_labels: str = "permutation"
    """``permutation``: AUs of the batch's labels in random order; ``other_expression``:
    another expression of the same subject (fes-bench's earlier sampling)."""
    augment_flip: bool = True
    """Mirror training images left-right with probability 1/2 (the authors' data loader)."""


SMOOTHNESS = ("authors", "paper")


def smoothness(attention: torch.Tensor, form: str) -> torch.Tensor:
    """Total variation of masks (B, 1, H, W): ``authors``: sum of |differences| over the whole
    batch; ``paper``: per-image sum of squared differences, averaged over the batch."""
    rows = attention[..., 1:, :] - attention[..., :-1, :]
    cols = attention[..., :, 1:] - attention[..., :, :-1]
    if form == "authors":
        return rows.abs().sum() + cols.abs().sum()
    return (rows.pow(2).flatten(1).sum(1) + cols.pow(2).flatten(1).sum(1)).mean()


class GANimation(TrainableGenerator):
    """GANimation (ECCV 2018): AU-conditioned, colour + attention heads, out = A*x + (1-A)*C."""

    name: ClassVar[str] = "ganimation"
    Settings: ClassVar[type] = GANimationSettings
    source_mode: ClassVar[str] = "any"
    authors_sampling: ClassVar[str] = "uniform"
    """dataset_aus.py ``__getitem__`` replaces the loader's shuffled index by
    ``random.randint`` over every image (``serial_batches`` off, as in run_train.sh):
    independent draws with replacement."""
    epoch_drop_last: ClassVar[bool] = True
    """Its ``DataLoader`` has ``drop_last=True`` (custom_dataset_data_loader.py), should
    ``training.sampling: epochs`` be chosen."""
    authors_unused: ClassVar[tuple[str, ...]] = ()

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(GANimationSettings, settings, self.name)
        check_choice(self.name, "smoothness", hp.smoothness, SMOOTHNESS)
        check_choice(self.name, "target_labels", hp.target_labels, TARGET_LABELS)
        super().__init__(image_size, num_expressions, **asdict(hp))
        self.hp = hp
        self.augment_flip = hp.augment_flip
        self.register_buffer(
            "action_units", action_unit_table(EXPRESSIONS[:num_expressions]), persistent=False
        )
        self.generator = AttentionGenerator(len(ACTION_UNITS), hp.conv_dim, hp.res_blocks)
        self.critic = PatchCritic(
            self.image_size, len(ACTION_UNITS), hp.critic_dim, hp.critic_layers
        )
        if hp.init_std > 0:
            init_normal(self, hp.init_std)
        self._last_generator_losses: dict[str, torch.Tensor] = {}

    def authors_prefixes(self) -> dict[str, str]:
        """Our generator's module prefixes -> the authors' (generator_wasserstein_gan.py)."""
        prefixes = stargan_trunk_prefixes([residual_prefixes()] * self.hp.res_blocks)
        del prefixes["head"]
        return {**prefixes, "colour": "img_reg.0", "attention": "attetion_reg.0"}

    @classmethod
    def authors_settings(cls, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], int]:
        """(settings, condition channels = AUs) of the generator in an authors' state dict."""
        first = state["main.0.weight"]
        blocks = sum(1 for k in state if k.startswith("main.") and k.endswith(".main.0.weight"))
        return {"conv_dim": int(first.shape[0]), "res_blocks": blocks}, int(first.shape[1]) - 3

    def aus(self, labels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The AU vectors (B, 17) of int64 expression labels (B,), with ``like``'s dtype."""
        return self.action_units[labels].to(like.dtype)

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Faces (B, 3, H, W) in [-1, 1] -> the target expressions' AU prototypes, in [-1, 1]."""
        self.check_inputs(images, target_expressions)
        output, _, _ = self.generator(images, self.aus(target_expressions, images))
        return output.clamp(-1.0, 1.0)

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
        """Two critic updates; plus one generator update on every ``n_critic``-th step."""
        hp = self.hp
        decay_learning_rates(optimizers, hp, step, total_steps)
        source = batch.source_expression
        if hp.target_labels == "permutation":
            target = shuffled(source)
        else:
            target = batch.target_expression
        target_aus = self.aus(target, batch.source)
        target_aus = target_aus + hp.au_jitter * (2 * torch.rand_like(target_aus) - 1)
        return self.optimise(
            nets, optimizers, batch.source, self.aus(source, batch.source), target_aus, step
        )

    def optimise(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        real: torch.Tensor,
        source_aus: torch.Tensor,
        target_aus: torch.Tensor,
        step: int,
    ) -> dict[str, float]:
        """The authors' iteration on faces ``real`` with AUs ``source_aus`` towards ``target_aus``
        (both (B, 17)). Returns the loss terms already weighted, as the authors log them."""
        hp = self.hp
        generator, critic = nets["generator"], nets["critic"]
        au_weight = hp.lambda_au / len(real)

        with self.amp():
            with torch.no_grad():
                fake, _, _ = generator(real, target_aus)
            scores, predicted = critic(torch.cat([real, fake]))
            real_scores, fake_scores = scores.float().chunk(2)
            critic_real, critic_fake = -real_scores.mean(), fake_scores.mean()
            critic_au = au_weight * nn.functional.mse_loss(
                predicted[: len(real)].float(), source_aus
            )
        optimisation_step(optimizers["critic"], critic_real + critic_fake + critic_au)
        with self.amp():
            penalty = hp.lambda_gp * gradient_penalty(critic, real, fake)
        optimisation_step(optimizers["critic"], penalty)
        losses = {
            "d_real": critic_real.detach(),
            "d_fake": critic_fake.detach(),
            "d_au": critic_au.detach(),
            "d_gp": penalty.detach(),
        }

        if (step + 1) % hp.n_critic == 0:
            with self.amp():
                fake, fake_attention, _ = generator(real, target_aus)
                scores, predicted = critic(fake)
                terms = {
                    "g_fake": -scores.float().mean(),
                    "g_au": au_weight * nn.functional.mse_loss(predicted.float(), target_aus),
                }
                cycle, cycle_attention, _ = generator(fake, source_aus)
                terms["g_cyc"] = hp.lambda_cyc * (cycle.float() - real).abs().mean()
                for name, mask in (("", fake_attention), ("_cycle", cycle_attention)):
                    terms[f"g_mask{name}"] = hp.lambda_attention * mask.float().mean()
                    terms[f"g_smooth{name}"] = hp.lambda_tv * smoothness(
                        mask.float(), hp.smoothness
                    )
            optimisation_step(optimizers["generator"], sum(terms.values()))
            self._last_generator_losses = {name: term.detach() for name, term in terms.items()}
        return {**losses, **self._last_generator_losses}
