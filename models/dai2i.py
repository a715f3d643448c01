"""DAI2I: domain adaptive image-to-image translation (Chen, Xu, Jia; CVPR 2020), after the authors' code.

DAI2I reuses a translator trained on the source data (here the harness's trained
``stargan``, frozen) on a new image domain (statues, paintings, avatars ...) for which only
unlabelled images exist. The reference is the authors' code (xiaogang00/DAI2I, commit
3126021: ``network/adain_net.py``, ``stargan_model.py``, ``Adapt_Net.py``, ``GanLoss.py``,
``optimizer/optim_trainable_space.py``); where the paper reads differently, the paper's
version is a named switch (below). With y a target-domain face and s = E(y) its own style
(the shared style encoder):

- ``to_source`` maps y into the base translator's input domain: ``x_hat = G_ts(y, s)``;
- the base translator edits the expression there: ``x_edit = B(x_hat, c)``;
- ``to_target`` maps the result back: ``y' = G_st(x_edit, s)`` (the output).

Networks (:mod:`models.adain`, :mod:`models.multiscale_critic`, :mod:`models.edit_classifier`):
two AdaIN translators (conv_dim 128, one downsampling, 4 residual blocks at 256 channels,
AdaIN from a 256-d style in every layer), the style encoder (7x7 conv 3 -> 16, four stride-2
convs to 256), one spectral-norm critic for the source domain (6 layers; outputs after
layers 4-6 and a final 2x2 conv at 128 px) and an expression classifier with BatchNorm.

One step (labels c uniform over the base's classes, drawn per image; a second draw c2):

1. critic: ``gan_d(D(source faces) as real, D(x_hat) as fake)`` x ``lambda_gan``;
2. classifier: cross-entropy of ``C(B(source faces, c2))`` against c2 (the base's edits of
   real source faces; C stays in train mode, as in the authors' code);
3. branches (every ``generator_every`` steps; the same x_hat / x_edit / y' as step 1):
   ``gan_g(D(x_hat))`` x ``lambda_gan``; ``CE(C(x_edit), c)`` x ``lambda_cls`` (10);
   reconstruction ``y_rec = G_st(B(x_hat, neutral), s)``: L1 to y x ``lambda_rec`` (10) +
   MSE of the perceptual network's first tap (relu3_1) against y's x ``lambda_perceptual``
   (1); feature analogy x ``lambda_analogy`` (10): over relu3_1/4_1/5_1,
   ``mean |(phi(y') - phi(y)) - scale * (phi(x_edit) - phi(x_hat))|`` with each layer's
   features normalised by a BatchNorm without affine parameters (one for the x pair, one for
   the y pair; running statistics updated with the four maps, then used to normalise them),
   gradients through both sides.

Adam (1e-4, betas 0.5 / 0.999) for branches, critic and classifier; no learning-rate
schedule. Switches (``model_settings.dai2i``): ``gan_loss`` ``norm`` (the authors'
unsquared L2 norm with swapped labels) | ``lsgan`` (mean squares, real -> 1: the
paper's LSGAN); ``reconstruction`` ``base_neutral`` (the authors' ``BAGB``) | ``direct``
(``G_st(x_hat, s)``, the authors' ``BAB`` option and the paper's cycle); ``analogy_norm``
``batchnorm`` (code) | ``none`` (the paper's plain feature differences).

The perceptual network is VGG-19 (ImageNet) or, where that file cannot be had, the
documented substitute of :mod:`models.perceptual`. One adapted model per target dataset
(``bench adapt --model dai2i --dataset D``, ``checkpoints/dai2i/D/model.pt``). For the
training dataset itself there is nothing to adapt: the checkpoint holds only the base
translator and :meth:`DAI2I.translate` is the base translator's (``adapted_to`` None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.device import to_device_async
from bench.core.errors import UserError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import EXPRESSIONS, NEUTRAL, expression_index
from models import hyperparameters
from models.adain import AdaINTranslator, StyleEncoder
from models.blocks import optimisation_step
from models.edit_classifier import EditClassifier
from models.multiscale_critic import GAN_LOSSES, MultiScaleCritic, critic_loss, generator_loss
from models.trainable import TrainableGenerator, TrainBatch

RECONSTRUCTIONS = ("base_neutral", "direct")
ANALOGY_NORMS = ("batchnorm", "none")


@dataclass(frozen=True)
class DAI2ISettings:
    """DAI2I's hyper-parameters (defaults: the authors' code; see the module doc)."""

    base: str = "stargan"
    """Registered StarGAN-family model whose trained checkpoint is the frozen base translator."""
    conv_dim: int = 128
    """Channels of each branch's first layer (doubled per downsampling)."""
    res_blocks: int = 4
    downsamplings: int = 1
    style_dim: int = 256
    style_encoder_dim: int = 16
    """Channels of the style encoder's first conv (doubled by each of its stride-2 convs)."""
    style_encoder_layers: int = 4
    critic_dim: int = 64
    critic_layers: int = 6
    """Stride-2 convs of the critic; the final conv's kernel is image_size / 2**critic_layers."""
    critic_scales: int = 3
    """Critic outputs from the last ``critic_scales`` layers (plus the final conv's)."""
    lambda_gan: float = 1.0
    lambda_cls: float = 10.0
    lambda_rec: float = 10.0
    lambda_perceptual: float = 1.0
    lambda_analogy: float = 10.0
    analogy_scale: float = 1.0
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    lr_classifier: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    generator_every: int = 1
    """The branches are updated on every ``generator_every``-th step (the authors' n_dis)."""
    gan_loss: str = "norm"
    reconstruction: str = "base_neutral"
    analogy_norm: str = "batchnorm"
    perceptual: str = "vgg19_imagenet"
    """Weights-manager asset of the perceptual network (substitute: see models.perceptual)."""


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """A one-line :class:`UserError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise UserError(
            f"params model_settings.dai2i.{name} must be one of {', '.join(choices)}, got {value!r}"
        )


class Branches(nn.Module):
    """The trained translation network: ``to_source`` (G_ts), ``to_target`` (G_st) and the
    style encoder E they share (the authors' ``Generator_split_v2``: main1, main2, im2style)."""

    def __init__(self, hp: DAI2ISettings):
        super().__init__()
        sizes = dict(
            conv_dim=hp.conv_dim,
            res_blocks=hp.res_blocks,
            downsamplings=hp.downsamplings,
            style_dim=hp.style_dim,
        )
        self.to_source = AdaINTranslator(**sizes)
        self.to_target = AdaINTranslator(**sizes)
        self.style = StyleEncoder(hp.style_encoder_dim, hp.style_encoder_layers, hp.style_dim)

    def forward(
        self, target_images: torch.Tensor, labels: torch.Tensor, base: Any
    ) -> dict[str, torch.Tensor]:
        """y (B, 3, H, W) in [-1, 1], labels (B,) -> style, x_hat, x_edit, output.

        ``base(images, labels)`` is the frozen translator (differentiable w.r.t. its input).
        """
        style = self.style(target_images)
        source_like = self.to_source(target_images, style)
        edited = base(source_like, labels)
        return {
            "style": style,
            "x_hat": source_like,
            "x_edit": edited,
            "output": self.to_target(edited, style),
        }


class AnalogyNorms(nn.Module):
    """Per perceptual layer, a BatchNorm without affine parameters for the source-side pair
    (x_hat, x_edit) and one for the target-side pair (y, y'); sized lazily (the perceptual
    network is chosen at run time) and kept in the checkpoint for an exact resume."""

    def __init__(self, layers: int):
        super().__init__()
        self.source = nn.ModuleList(nn.LazyBatchNorm2d(affine=False) for _ in range(layers))
        self.target = nn.ModuleList(nn.LazyBatchNorm2d(affine=False) for _ in range(layers))

    def materialise(self, channels: tuple[int, ...], device: torch.device) -> None:
        """Give the running statistics their sizes (no-op once sized or loaded)."""
        for norms in (self.source, self.target):
            for norm, size in zip(norms, channels, strict=True):
                if norm.has_uninitialized_params():
                    norm.initialize_parameters(torch.zeros(1, size, 1, 1))
        self.to(device)

    @staticmethod
    def _normalise(norm: nn.Module, pair: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():  # train-mode passes: only the running statistics change
            for features in pair:
                nn.functional.batch_norm(
                    features.float(),
                    norm.running_mean,
                    norm.running_var,
                    training=True,
                    momentum=norm.momentum,
                    eps=norm.eps,
                )
        return [
            nn.functional.batch_norm(
                features.float(), norm.running_mean, norm.running_var, training=False, eps=norm.eps
            )
            for features in pair
        ]

    def forward(
        self,
        layer: int,
        source_pair: tuple[torch.Tensor, ...],
        target_pair: tuple[torch.Tensor, ...],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Normalised (x_hat, x_edit) and (y, y') features of perceptual layer ``layer``."""
        return (
            self._normalise(self.source[layer], source_pair),
            self._normalise(self.target[layer], target_pair),
        )


class DAI2I(TrainableGenerator):
    """DAI2I (CVPR 2020): a frozen base translator wrapped in two domain-adaptation branches."""

    name: ClassVar[str] = "dai2i"

    @classmethod
    def weights(cls, perceptual: str = "vgg19_imagenet", **settings: Any) -> tuple[str, ...]:
        """The perceptual network's file and its documented offline substitute."""
        from models.perceptual import SUBSTITUTE_ASSET

        return (perceptual, SUBSTITUTE_ASSET)

    source_mode: ClassVar[str] = "any"
    authors_sampling: ClassVar[str] = "epochs"
    """The source images: a shuffled ``DataLoader`` with ``drop_last=True``, epoch after
    epoch (util/training_framework.py); the target-domain images are drawn uniformly with
    replacement (:meth:`_target_batch`; theirs share the shuffled index, modulo their count,
    run_expression_manipulation.py ``dataset_now``)."""
    epoch_drop_last: ClassVar[bool] = True
    kind: ClassVar[str] = "adapted"
    Settings: ClassVar[type] = DAI2ISettings

    @classmethod
    def dependencies(cls, base: str = DAI2ISettings.base, **settings: Any) -> tuple[str, ...]:
        """The trained translator it adapts (setting ``base``)."""
        return (base,)

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
        check_choice("gan_loss", hp.gan_loss, GAN_LOSSES)
        check_choice("reconstruction", hp.reconstruction, RECONSTRUCTIONS)
        check_choice("analogy_norm", hp.analogy_norm, ANALOGY_NORMS)
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
            self.critic = MultiScaleCritic(
                image_size, hp.critic_dim, hp.critic_layers, hp.critic_scales
            )
            self.classifier = EditClassifier(image_size, num_expressions)
            if hp.analogy_norm == "batchnorm":
                self.analogy_norms = AnalogyNorms(3)
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

    def adaptation_record(self) -> dict[str, Any]:
        """The perceptual network the losses used (a substitute is said so)."""
        network = self.perceptual
        return {"perceptual_network": network.describe()} if network is not None else {}

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
        """Load the perceptual network (weights manager), size the analogy norms and put the
        target images on ``device``."""
        from models.perceptual import perceptual_network

        if not self.adapted:
            raise UserError("dai2i without a target dataset has nothing to train")
        if self._target_images is None:
            raise UserError("dai2i: call set_target_domain() with the target images first")
        if self.perceptual is None:
            self.use_perceptual(perceptual_network(self.hp.perceptual))
        self.perceptual.to(device)
        if self.hp.analogy_norm == "batchnorm":
            self.analogy_norms.materialise(tuple(self.perceptual.channels), device)
        self._target_images = self._target_images.to(device)

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.branches, "critic": self.critic, "classifier": self.classifier}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        hp = self.hp
        betas = (hp.beta1, hp.beta2)
        return {
            name: torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
            for name, net, lr in (
                ("generator", self.branches, hp.lr_generator),
                ("critic", self.critic, hp.lr_critic),
                ("classifier", self.classifier, hp.lr_classifier),
            )
        }

    def _target_batch(self, size: int, device: torch.device) -> torch.Tensor:
        """``size`` target-domain faces drawn with torch's global (CPU) RNG, in [-1, 1]."""
        assert self._target_images is not None
        index = torch.randint(len(self._target_images), (size,))
        index = to_device_async(index, self._target_images.device)  # no host sync in the step
        return to_model_range(self._target_images[index]).to(device)

    def _random_labels(self, size: int, device: torch.device) -> torch.Tensor:
        """One expression per image, uniform over the base's classes (torch's global CPU RNG)."""
        return to_device_async(torch.randint(self.num_expressions, (size,)), device)

    def _reconstruct(self, branches: nn.Module, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """y_rec: back through the base with the neutral label (code) or directly (``direct``)."""
        source_like = out["x_hat"]
        if self.hp.reconstruction == "base_neutral":
            neutral = torch.full(
                (len(source_like),),
                expression_index(NEUTRAL),
                dtype=torch.int64,
                device=source_like.device,
            )
            source_like = self._base_translate(source_like, neutral)
        return branches.to_target(source_like, out["style"])

    def _analogy(self, features: Mapping[str, list[torch.Tensor]], scale: float) -> torch.Tensor:
        """Sum over layers of mean |(phi(y') - phi(y)) - scale (phi(x_edit) - phi(x_hat))|."""
        total = torch.zeros((), device=features["y"][0].device)
        for layer in range(len(features["y"])):
            source = (features["x_hat"][layer].float(), features["x_edit"][layer].float())
            target = (features["y"][layer].float(), features["output"][layer].float())
            if self.hp.analogy_norm == "batchnorm":
                source, target = self.analogy_norms(layer, source, target)
            shift_source = (source[1] - source[0]) * scale
            total = total + ((target[1] - target[0]) - shift_source).abs().mean()
        return total

    def train_step(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batch: TrainBatch,
        step: int,
        total_steps: int,
    ) -> dict[str, torch.Tensor]:
        """One critic, one classifier and (every ``generator_every`` steps) one branch update."""
        hp = self.hp
        assert self.perceptual is not None
        branches, critic, classifier = nets["generator"], nets["critic"], nets["classifier"]
        source = batch.source
        target = self._target_batch(len(batch), source.device)
        labels = self._random_labels(len(target), source.device)

        with self.amp():
            out = branches(target, labels, self._base_translate)
            d_loss = hp.lambda_gan * critic_loss(
                critic(source), critic(out["x_hat"].detach()), hp.gan_loss
            )
        optimisation_step(optimizers["critic"], d_loss)

        edit_labels = self._random_labels(len(source), source.device)
        with self.amp():
            with torch.no_grad():
                edits = self._base_translate(source, edit_labels)
            c_loss = nn.functional.cross_entropy(classifier(edits).float(), edit_labels)
        optimisation_step(optimizers["classifier"], c_loss)
        losses = {"d": d_loss.detach(), "c": c_loss.detach()}
        if step % hp.generator_every:
            return losses

        with self.amp():
            gan = generator_loss(critic(out["x_hat"]), hp.gan_loss)
            cls = nn.functional.cross_entropy(classifier(out["x_edit"]).float(), labels)
            reconstruction = self._reconstruct(branches, out)
            rec = (reconstruction.float() - target).abs().mean()
            features = {
                key: self.perceptual(value)
                for key, value in (
                    ("y", target),
                    ("x_hat", out["x_hat"]),
                    ("x_edit", out["x_edit"]),
                    ("output", out["output"]),
                )
            }
            rec_features = self.perceptual(reconstruction, taps=1)[0].float()
            perceptual = nn.functional.mse_loss(rec_features, features["y"][0].float().detach())
            analogy = self._analogy(features, hp.analogy_scale)
            loss = (
                hp.lambda_gan * gan
                + hp.lambda_cls * cls
                + hp.lambda_rec * rec
                + hp.lambda_perceptual * perceptual
                + hp.lambda_analogy * analogy
            )
        optimisation_step(optimizers["generator"], loss)
        return losses | {
            "g_gan": gan.detach(),
            "g_cls": cls.detach(),
            "g_rec": rec.detach(),
            "g_per": perceptual.detach(),
            "g_ana": analogy.detach(),
        }
