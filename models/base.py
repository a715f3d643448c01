"""The one generator interface every model sits behind.

``bench`` only ever calls :meth:`Generator.translate`, :meth:`Generator.fit`,
:meth:`Generator.save` and :func:`load_generator`; model-specific conditioning
(action units, per-expression maps, base translators) stays inside the model.

Contract: images are float tensors (B, 3, H, W) in [-1, 1], RGB, aligned faces;
target expressions are int64 class indices (B,) into
:data:`bench.core.vocabulary.EXPRESSIONS`. ``translate`` returns the same shape
and range and is deterministic in eval mode.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core import atomic
from bench.core.errors import UserError
from bench.core.vocabulary import EXPRESSIONS

CHECKPOINT_FORMAT = "fes-bench-checkpoint/1"
KINDS = ("reference", "fitted", "trained", "adapted")
"""How a model is made (:attr:`Generator.kind`)."""


@dataclass
class TrainContext:
    """What a model's :meth:`Generator.fit` gets besides the data.

    ``steps``: optimisation steps in all; ``batch_size``: images per step (split
    across processes under torchrun); ``checkpoint_dir``: where the resumable
    state and sample grids go, with a checkpoint every ``checkpoint_every`` steps
    or ``checkpoint_minutes`` minutes (checked on log steps; 0 = off), whichever
    comes first (``checkpoint_every`` 0: no resumable state at all), and a sample
    grid every ``sample_every`` steps (0 = never). The losses are read from the
    device every ``log_every`` steps. ``sampling`` picks the batches (``authors``:
    the model's own way; ``epochs``, ``uniform``, ``independent``: :mod:`bench.sampler`).
    On CUDA, ``bf16`` runs the forward passes under bf16 autocast (off by default: the
    authors train in float32) and ``cuda_fast`` turns on channels_last and
    ``cudnn.benchmark``.
    """

    device: torch.device
    seed: int
    checkpoint_dir: Path
    steps: int = 0
    batch_size: int = 16
    checkpoint_every: int = 100
    sample_every: int = 0
    checkpoint_minutes: float = 0.0
    log_every: int = 50
    bf16: bool = False
    cuda_fast: bool = True
    sampling: str = "authors"
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    """What the run depends on besides ``steps`` (params, data); a saved state resumes only
    when its own fingerprint is equal (empty: not checked)."""


class Generator(nn.Module, abc.ABC):
    """Base class of every expression-synthesis model.

    Subclasses set :attr:`name` (the registry name) and :attr:`trainable`, take
    their hyper-parameters as keyword arguments (from ``params.yaml``) and
    implement :meth:`translate` (and :meth:`fit` when trainable).
    """

    name: ClassVar[str]
    Settings: ClassVar[type | None] = None
    """The hyper-parameters (``model_settings.<name>``) as a dataclass with defaults; the
    configuration checks settings against it (None: against the constructor's keywords)."""
    kind: ClassVar[str] = "fitted"
    """How the harness makes the model (one of :data:`KINDS`): ``reference`` (nothing to
    learn, e.g. identity), ``fitted`` (one call to :meth:`fit`, e.g. a closed-form
    regression), ``trained`` (step by step by the harness's loop, ``training.steps``),
    ``adapted`` (trained per evaluation dataset on its unlabelled images, after the models
    of :meth:`dependencies`; ``bench adapt``)."""
    trainable: ClassVar[bool] = True
    """Derived from :attr:`kind` (anything but ``reference``); kept for plugins that set it."""
    adapts_per_dataset: ClassVar[bool] = False
    """Derived from :attr:`kind` (``adapted``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "kind" not in own:  # an older plugin's flags, or the parent's kind
            if own.get("adapts_per_dataset"):
                cls.kind = "adapted"
            elif own.get("trainable") is False:
                cls.kind = "reference"
        if cls.kind not in KINDS:
            raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}, got {cls.kind!r}")
        cls.trainable = cls.kind != "reference"
        cls.adapts_per_dataset = cls.kind == "adapted"

    @classmethod
    def dependencies(cls, **settings: Any) -> tuple[str, ...]:
        """Registered models whose trained checkpoint this one needs, given its ``settings``
        (an adapted model: the translator it adapts). None by default."""
        return ()

    stage_names: ClassVar[tuple[str, ...]] = ()
    """Names of the intermediate outputs :meth:`stages` returns (e.g. RegGAN's ``G_E output``,
    ``G_R output``); a model that declares some gets a stages figure in the report."""

    def stages(
        self, images: torch.Tensor, target_expressions: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """The intermediate outputs named by :attr:`stage_names`, each (B, 3, H, W) in [-1, 1]."""
        return (self.translate(images, target_expressions),)

    def set_target_domain(self, images: torch.Tensor) -> None:
        """Adapted kinds: the unlabelled target-domain faces (N, 3, H, W) uint8 to adapt to."""
        raise TypeError(f"{type(self).__name__} is not adapted per dataset (kind {self.kind!r})")

    def adaptation_record(self) -> dict[str, Any]:
        """Adapted kinds, after adapting: what the adaptation used besides the data (e.g. a
        pretrained network: ``{"perceptual_network": {"network", "sha256", ...}}``), kept in
        the checkpoint's metadata; every value with ``network`` and ``sha256`` enters the
        provenance's weights."""
        return {}

    @classmethod
    def from_base(cls, *bases_and_dataset: Any, **settings: Any) -> Generator:
        """An ``adapted`` model around its trained dependencies: ``from_base(*bases, dataset,
        **settings)`` (``dataset`` None: the in-distribution fallback). Adapted kinds only."""
        raise TypeError(f"{cls.__name__} is not adapted per dataset (kind {cls.kind!r})")

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        super().__init__()
        if image_size < 8:
            raise UserError(f"image_size must be at least 8 px, got {image_size}")
        self.image_size = int(image_size)
        self.num_expressions = int(num_expressions)
        self.settings = dict(settings)
        self.checkpoint_metadata: dict[str, Any] = {}
        """Metadata of the checkpoint this model was loaded from (:func:`load_generator`)."""

    @classmethod
    def weights(cls, **settings: Any) -> tuple[str, ...]:
        """Weights-manager assets this model reads when built with ``settings`` (none by default)."""
        return ()

    @abc.abstractmethod
    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Translate faces (B, 3, H, W) in [-1, 1] to the target expressions (B,) int64."""

    def fit(self, data: Any, context: TrainContext) -> None:
        """Fit on ``data`` (the training split's :class:`bench.core.tensors.ImageSet`) in one go.

        For models without an optimisation loop (closed-form fits, references); a
        :class:`models.trainable.TrainableGenerator` is run step by step by the
        harness's training loop instead.
        """
        if self.trainable:
            raise TypeError(
                f"{type(self).__name__} is trained step by step by the harness's loop, not by fit()"
            )

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this model (stored in every checkpoint)."""
        return {
            "image_size": self.image_size,
            "num_expressions": self.num_expressions,
            **self.settings,
        }

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        """Write a checkpoint atomically: format tag, model name, config, weights, metadata."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": self.name,
            "config": self.config(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "metadata": metadata or {},
        }
        atomic.torch_save(payload, path)

    def check_inputs(self, images: torch.Tensor, target_expressions: torch.Tensor) -> None:
        """Raise ``ValueError`` unless inputs follow the interface's shapes and ranges."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if target_expressions.shape != (images.shape[0],):
            raise ValueError(
                f"target_expressions must be ({images.shape[0]},), got {tuple(target_expressions.shape)}"
            )
        if len(target_expressions) and (
            int(target_expressions.min()) < 0
            or int(target_expressions.max()) >= self.num_expressions
        ):
            raise ValueError(f"target_expressions must lie in [0, {self.num_expressions})")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) with clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist (train first: `bench train`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise UserError(
            f"checkpoint {path} is unreadable ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is not a fes-bench checkpoint ({CHECKPOINT_FORMAT})")
    return payload


def load_generator(path: str | Path, expected_model: str | None = None) -> Generator:
    """Rebuild a generator from its checkpoint; ``expected_model`` guards against mixing files.

    The checkpoint's metadata (training dataset, provenance, adaptation) is kept as
    ``model.checkpoint_metadata``.
    """
    from models.registry import MODELS

    payload = read_checkpoint(path)
    name = payload["model"]
    if expected_model is not None and name != expected_model:
        raise UserError(f"checkpoint {path} holds model {name!r}, not {expected_model!r}")
    model = MODELS.build(name, lambda cls: cls(**payload["config"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise UserError(f"checkpoint {path} does not fit model {name!r}: {error}") from None
    model.checkpoint_metadata = payload.get("metadata") or {}
    return model.eval()
