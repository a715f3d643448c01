"""DAI2I: domain adaptive image-to-image translation (Chen, Xu, Jia; CVPR 2020), from the paper.

DAI2I reuses a translator trained on the source data (here the harness's trained
``stargan``, frozen) on a new image domain (statues, paintings, avatars ...) for which only
unlabelled images exist. Two branches wrap the frozen base translator B:

- ``to_source`` maps a target-domain face y into the base translator's input domain:
  ``x_hat = G_ts(y, s_src)`` with ``s_src`` a learned style vector of the source domain;
- the base translator edits the expression there: ``x_hat' = B(x_hat, c)``;
- ``to_target`` maps the result back with the input's own style ``s_y = E(y)``:
  ``y' = G_st(x_hat', s_y)`` (the output); ``y_rec = G_st(x_hat, s_y)`` must give y back.

Both branches are AdaIN generators (:mod:`models.adain`) sharing one style encoder E; each
domain has a multi-scale spectral-norm LSGAN discriminator (:mod:`models.multiscale_critic`):
D_S sees real source faces vs ``x_hat``, D_T real target faces vs ``y'`` and ``y_rec``.
Generator losses (weights: the paper's, in params.yaml):

- GAN (1): LSGAN on ``x_hat`` (D_S) and on ``y'``, ``y_rec`` (D_T);
- classification (10): the frozen base critic's expression head on ``x_hat'`` must say c
  (the source-like image must be one the base translator can edit);
- reconstruction: L1 (10) + perceptual (1) between ``y_rec`` and y;
- feature analogy (10): in the perceptual network's feature space the edit made in the
  target domain equals the base translator's edit in the source domain,
  ``phi(y') - phi(y_rec) = phi(x_hat') - phi(x_hat)`` (L1; the source side is the
  reference and gets no gradient).

Our reading where the paper leaves room: MUNIT-sized branches (conv_dim 64, 4 + 4 residual
blocks, style_dim 8), 3 discriminator scales, both networks updated every step, batch 24,
Adam 1e-4 (0.5, 0.999), no learning-rate decay. The perceptual network is VGG-19 (ImageNet)
or, where that file cannot be had, the documented substitute of :mod:`models.perceptual`.

One adapted model per target dataset (``bench adapt --model dai2i --dataset D``,
``checkpoints/dai2i/D/model.pt``). For the training dataset itself there is nothing to
adapt: the checkpoint holds only the base translator and :meth:`DAI2I.translate` is the
base translator's (``adapted_to`` None; the tables say so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.errors import UserError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import EXPRESSIONS
from models import hyperparameters
from models.adain import AdaINGenerator, StyleEncoder
from models.blocks import adam_pair, decay_learning_rates, optimisation_step
from models.multiscale_critic import MultiScaleCritic, lsgan_critic_loss, lsgan_generator_loss
from models.trainable import TrainableGenerator, TrainBatch


@dataclass(frozen=True)
class DAI2ISettings:
    """DAI2I's hyper-parameters (defaults: the paper's where it gives them; see module doc)."""

    base: str = "stargan"
    """Registered StarGAN-family model whose trained checkpoint is the frozen base translator."""
    conv_dim: int = 64
    """Channels of each branch's first layer (x4 in the bottleneck)."""
    style_dim: int = 8
    content_blocks: int = 4
    style_blocks: int = 4
    mlp_dim: int = 256
    critic_dim: int = 64
    critic_layers: int = 4
    critic_scales: int = 3
    lambda_gan: float = 1.0
    lambda_cls: float = 10.0
    lambda_rec: float = 10.0
    lambda_perceptual: float = 1.0
    lambda_analogy: float = 10.0
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_fraction: float = 0.0
    perceptual: str = "vgg19_imagenet"
    """Weights-manager asset of the perceptual network (substitute: see models.perceptual)."""


class Branches(nn.Module):
    """The trained generators: ``to_source`` (G_ts), ``to_target`` (G_st), the style encoder E
    and the source domain's style vector. ``forward`` runs one adaptation pass."""

    def __init__(self, hp: DAI2ISettings):
        super().__init__()
        sizes = dict(
            dim=hp.conv_dim,
            style_dim=hp.style_dim,
            content_blocks=hp.content_blocks,
            style_blocks=hp.style_blocks,
            mlp_dim=hp.mlp_dim,
        )
        self.to_source = AdaINGenerator(**sizes)
        self.to_target = AdaINGenerator(**sizes)
        self.style = StyleEncoder(hp.conv_dim, hp.style_dim)
        self.source_style = nn.Parameter(torch.zeros(1, hp.style_dim))

    def forward(
        self, target_images: torch.Tensor, labels: torch.Tensor, base: nn.Module
    ) -> dict[str, torch.Tensor]:
        """y (B, 3, H, W) in [-1, 1], labels (B,) -> x_hat, x_hat_edit, output, reconstruction.

        ``base(images, labels)`` is the frozen translator (differentiable w.r.t. its input).
        """
        style = self.style(target_images)
        source_like = self.to_source(
            target_images, self.source_style.expand(len(target_images), -1)
        )
        edited = base(source_like, labels).clamp(-1.0, 1.0)
        return {
            "x_hat": source_like,
            "x_hat_edit": edited,
            "output": self.to_target(edited, style),
            "reconstruction": self.to_target(source_like, style),
        }


class Critics(nn.Module):
    """One multi-scale critic per domain: ``forward(source_images, target_images)``."""

    def __init__(self, image_size: int, hp: DAI2ISettings):
        super().__init__()
        sizes = dict(dim=hp.critic_dim, layers=hp.critic_layers, scales=hp.critic_scales)
        self.source = MultiScaleCritic(image_size, **sizes)
        self.target = MultiScaleCritic(image_size, **sizes)

    def forward(
        self, source_images: torch.Tensor, target_images: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return self.source(source_images), self.target(target_images)


def _split(maps: list[torch.Tensor], real: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return [m[:real] for m in maps], [m[real:] for m in maps]


def _l1_features(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean absolute difference of two feature lists."""
    return sum((x.float() - y.float()).abs().mean() for x, y in zip(a, b, strict=True))


def _differences(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
    """Layer-wise ``a - b`` of two feature lists (float32)."""
    return [x.float() - y.float() for x, y in zip(a, b, strict=True)]


class DAI2I(TrainableGenerator):
    """DAI2I (CVPR 2020): a frozen base translator wrapped in two domain-adaptation branches."""

    name: ClassVar[str] = "dai2i"
    source_mode: ClassVar[str] = "any"
    adapts_per_dataset: ClassVar[bool] = True
    Settings: ClassVar[type] = DAI2ISettings

    def __init__(
        self,
        image_size: int,
        num_expressions: int = len(EXPRESSIONS),
        base_config: dict[str, Any] | None = None,
        adapted_to: str | None = None,
        **settings: Any,
    ):
        from models.registry import MODELS

        hp = hyperparameters.resolve(self.Settings, settings, self.name)
        super().__init__(image_size, num_expressions, **asdict(hp))
        self.hp = hp
        if base_config is None:
            raise UserError(
                "dai2i needs a trained base translator: run `bench adapt --model dai2i "
                f"--dataset D` after `bench train --model {hp.base}`"
            )
        self.base_config = dict(base_config)
        self.adapted_to = adapted_to
        self.base = MODELS.load(hp.base)(**self.base_config)
        self.base.requires_grad_(False)
        if adapted_to is not None:
            self.branches = Branches(hp)
            self.critics = Critics(image_size, hp)
        self.use_perceptual(None)
        self._target_images: torch.Tensor | None = None

    @classmethod
    def from_base(
        cls, trained_base: TrainableGenerator, adapted_to: str | None, /, **settings: Any
    ) -> DAI2I:
        """A DAI2I around ``trained_base`` (its weights copied), adapted to ``adapted_to``
        (None: the in-distribution fallback); ``settings`` as in params (``base`` ignored)."""
        settings = {k: v for k, v in settings.items() if k != "base"}
        model = cls(
            trained_base.image_size,
            trained_base.num_expressions,
            base_config=trained_base.config(),
            adapted_to=adapted_to,
            base=trained_base.name,
            **settings,
        )
        model.base.load_state_dict(trained_base.state_dict())
        return model

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "base_config": self.base_config,
            "adapted_to": self.adapted_to,
        }

    def use_perceptual(self, network: nn.Module | None) -> None:
        """Set the frozen perceptual network (``prepare`` loads the configured one when unset).

        Kept outside the module tree: it is never part of the state dict or the checkpoint.
        """
        object.__setattr__(self, "_perceptual", network)

    @property
    def perceptual(self) -> nn.Module | None:
        """The perceptual network of the losses (None until :meth:`prepare` or :meth:`use_perceptual`)."""
        return self.__dict__["_perceptual"]

    @property
    def adapted(self) -> bool:
        """Whether branches exist (False: the in-distribution fallback to the base translator)."""
        return self.adapted_to is not None

    def _base_translate(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.base.generate(self.base.generator, images, labels)

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Faces (B, 3, H, W) in [-1, 1] -> target expressions (B,); [-1, 1]."""
        self.check_inputs(images, target_expressions)
        if not self.adapted:
            return self.base.translate(images, target_expressions)
        out = self.branches(images, target_expressions, self._base_translate)
        return out["output"].clamp(-1.0, 1.0)

    # -- training ------------------------------------------------------------------------------
    def set_target_domain(self, images: torch.Tensor) -> None:
        """The unlabelled target-domain faces to adapt to: (N, 3, H, W) uint8."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"expected (N, 3, H, W) uint8, got {tuple(images.shape)} {images.dtype}"
            )
        if len(images) == 0:
            raise UserError(f"no target-domain images to adapt dai2i to {self.adapted_to!r}")
        if images.shape[-1] != self.image_size:
            raise UserError(
                f"target-domain images are {images.shape[-1]} px, the base translator "
                f"{self.image_size} px"
            )
        self._target_images = images

    def prepare(self, data: Any, device: torch.device) -> None:
        """Load the perceptual network (weights manager) and put the target images on ``device``."""
        from models.perceptual import perceptual_network

        if not self.adapted:
            raise UserError("dai2i without a target dataset has nothing to train")
        if self._target_images is None:
            raise UserError("dai2i: call set_target_domain() with the target images first")
        if self.perceptual is None:
            self.use_perceptual(perceptual_network(self.hp.perceptual))
        self.perceptual.to(device)
        self._target_images = self._target_images.to(device)

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.branches, "critic": self.critics}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adam_pair(self.branches, self.critics, self.hp)

    def _target_batch(self, size: int, device: torch.device) -> torch.Tensor:
        """``size`` target-domain faces drawn with torch's global (CPU) RNG, in [-1, 1]."""
        assert self._target_images is not None
        index = torch.randint(len(self._target_images), (size,))
        if self._target_images.is_cuda:  # asynchronous copy: no host sync in the step
            index = index.pin_memory().to(self._target_images.device, non_blocking=True)
        return to_model_range(self._target_images[index]).to(device)

    def train_step(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batch: TrainBatch,
        step: int,
        total_steps: int,
    ) -> dict[str, torch.Tensor]:
        """One critic update and one branch update (see the module doc for the losses)."""
        hp = self.hp
        assert self.perceptual is not None
        decay_learning_rates(optimizers, hp, step, total_steps)
        branches, critics = nets["generator"], nets["critic"]
        source, labels = batch.source, batch.target_expression
        target = self._target_batch(len(batch), source.device)
        size = len(target)

        with self.amp():
            out = branches(target, labels, self._base_translate)
            fakes_target = torch.cat([out["output"], out["reconstruction"]]).detach()
            source_maps, target_maps = critics(
                torch.cat([source, out["x_hat"].detach()]), torch.cat([target, fakes_target])
            )
            critic_loss = lsgan_critic_loss(*_split(source_maps, len(source))) + lsgan_critic_loss(
                *_split(target_maps, size)
            )
        optimisation_step(optimizers["critic"], critic_loss)

        with self.amp():
            source_maps, target_maps = critics(
                out["x_hat"], torch.cat([out["output"], out["reconstruction"]])
            )
            gan = lsgan_generator_loss(source_maps) + lsgan_generator_loss(target_maps)
            _, logits = self.base.critic(out["x_hat_edit"])
            cls = nn.functional.cross_entropy(logits.float(), labels)
            rec = (out["reconstruction"].float() - target).abs().mean()
            features = {k: self.perceptual(out[k]) for k in ("output", "reconstruction")}
            perceptual = _l1_features(features["reconstruction"], self.perceptual(target))
            with torch.no_grad():
                source_edit = _differences(
                    self.perceptual(out["x_hat_edit"]), self.perceptual(out["x_hat"])
                )
            target_edit = _differences(features["output"], features["reconstruction"])
            analogy = _l1_features(target_edit, source_edit)
            loss = (
                hp.lambda_gan * gan
                + hp.lambda_cls * cls
                + hp.lambda_rec * rec
                + hp.lambda_perceptual * perceptual
                + hp.lambda_analogy * analogy
            )
        optimisation_step(optimizers["generator"], loss)
        return {
            "d": critic_loss.detach(),
            "g_gan": gan.detach(),
            "g_cls": cls.detach(),
            "g_rec": rec.detach(),
            "g_per": perceptual.detach(),
            "g_ana": analogy.detach(),
        }
