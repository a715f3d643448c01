"""MR, Masked Regression (Khan, Akram, Mahmood, Ashraf, Murtaza; IJCV 2020): the expression layer alone.

One ridge-regression map per target expression and colour channel, each output
pixel an affine function of the r x r neighbourhood of the input pixel, fitted
in closed form on the neutral -> target pairs of the training split (see
:mod:`models.expression_layer` and :mod:`models.pairs`). The authors' defaults:
r = 3, lambda = 0.4.

Scaling follows the authors' code (arbishakram/masked_regression_code) by default
(``scaling: authors``): every image, source or target, is min-max scaled to [0, 1]
on its own (all channels jointly, f_normalize_images.py), and every prediction is
min-max stretched to the full range (``cv2.normalize`` NORM_MINMAX, solver.py).
``scaling: fixed`` is fes-bench's earlier reading: the 8-bit range mapped to
[0, 1] for every image, outputs clamped, so colours keep absolute values.

``input_channels: 1`` is the README's grayscale setting: the luma that
``cv2.imread(path, 0)`` decodes from a PNG (libpng's fixed-point
``(9797 R + 19234 G + 3737 B) >> 15`` on 8-bit values), one map per expression,
the grey output repeated in the three channels; 3 (the code's default) fits one
map per colour channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from bench.core.errors import UserError
from bench.core.progress import console
from bench.core.tensors import ImageSet, to_model_range
from bench.core.vocabulary import EXPRESSIONS, INDEX, NEUTRAL
from models import hyperparameters
from models.base import Generator, TrainContext
from models.expression_layer import ExpressionLayer
from models.pairs import neutral_pairs


def fit_expression_layer(
    layer: ExpressionLayer,
    data: ImageSet,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, int]:
    """Fit every non-neutral map of ``layer`` on the neutral -> target pairs of ``data``.

    ``transform``: applied to the uint8 sources and targets before the fit (default:
    none, the exact uint8 path). Runs on the layer's device. Returns the number of pairs
    per expression; an expression without pairs keeps its identity map (and is reported).
    """
    if data.image_size != layer.image_size:
        raise UserError(
            f"training images are {data.image_size} px but the model is built for "
            f"{layer.image_size} px"
        )
    counts = {}
    for expression in range(layer.weight.shape[0]):
        if expression == INDEX[NEUTRAL]:
            continue
        name = EXPRESSIONS[expression]
        sources, targets = neutral_pairs(data, expression)
        counts[name] = len(sources)
        if len(sources) == 0:
            console.print(f"note: no neutral -> {name} pairs; that map stays the identity")
            continue
        sources, targets = data.images[sources], data.images[targets]
        if transform is not None:
            sources, targets = transform(sources), transform(targets)
        layer.fit_expression(expression, sources, targets)
    if not any(counts.values()):
        raise UserError(
            "the training split has no subject with both a neutral and an expressive image; "
            "the expression layer cannot be fitted"
        )
    return counts


def regression_inputs(images: torch.Tensor, scaling: str, input_channels: int) -> torch.Tensor:
    """Faces (B, 3, H, W), uint8 or [-1, 1] -> the regression's inputs (B, C, H, W) in
    [-1, 1]: grey when ``input_channels`` is 1, min-max scaled per image under ``scaling``
    ``authors``. uint8 faces stay uint8 (the layer's exact fit) when nothing changes."""
    if images.dtype == torch.uint8:
        if scaling == "fixed" and input_channels == 3:
            return images
        images = to_model_range(images)
    if input_channels == 1:
        images = luma(images)
    return min_max(images) if scaling == "authors" else images


def regression_outputs(output: torch.Tensor, scaling: str) -> torch.Tensor:
    """The layer's output (B, C, H, W) -> faces (B, 3, H, W) in [-1, 1]: min-max stretched
    per image (``authors``, as ``cv2.normalize`` NORM_MINMAX) or clamped (``fixed``); a grey
    output is repeated in the three channels."""
    output = min_max(output) if scaling == "authors" else output.clamp(-1.0, 1.0)
    return output.expand(-1, 3, -1, -1) if output.shape[1] == 1 else output


@dataclass(frozen=True)
class MRSettings:
    """MR's hyper-parameters (defaults: the authors' code)."""

    receptive_field: int = 3
    """Side (px, odd) of the input neighbourhood each output pixel regresses on."""
    ridge_lambda: float = 0.4
    """Ridge penalty (images scaled to [0, 1]); must be > 0."""
    scaling: str = "authors"
    """``authors``: per-image min-max inputs and outputs; ``fixed``: [0, 255] -> [0, 1], clamped."""
    input_channels: int = 3
    """3: one map per colour channel (the code's default); 1: grayscale (the README's setting)."""


SCALINGS = ("authors", "fixed")

LUMA_WEIGHTS = (9797, 19234, 3737)
"""libpng's 15-bit fixed-point R, G, B weights for 0.299 / 0.587 / 0.114 (truncated sum)."""


def luma(images: torch.Tensor) -> torch.Tensor:
    """Grey levels (B, 1, H, W) in [-1, 1] of RGB faces (B, 3, H, W) in [-1, 1], as
    ``cv2.imread(path, 0)`` decodes an 8-bit PNG: ``floor(sum(w * level) / 2**15)``."""
    levels = images.double().add(1.0).mul(127.5).round()
    weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64, device=images.device)
    grey = torch.floor((levels * weights[:, None, None]).sum(1, keepdim=True) / 2**15)
    return grey / 127.5 - 1.0


def min_max(images: torch.Tensor) -> torch.Tensor:
    """Each image (B, C, H, W) stretched linearly so its minimum is -1 and maximum 1 (all
    channels jointly); a constant image becomes -1."""
    flat = images.flatten(1)
    low = flat.min(1).values[:, None, None, None]
    span = (flat.max(1).values - flat.min(1).values)[:, None, None, None]
    return (images - low) / span.clamp_min(1e-12) * 2.0 - 1.0


class MaskedRegression(Generator):
    """MR (IJCV 2020): per-pixel local ridge regression, one map per expression (closed form)."""

    name: ClassVar[str] = "mr"
    Settings: ClassVar[type] = MRSettings
    kind: ClassVar[str] = "fitted"

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(MRSettings, settings, self.name)
        if hp.scaling not in SCALINGS:
            raise UserError(f"model_settings.mr: scaling must be one of {', '.join(SCALINGS)}")
        if hp.input_channels not in (1, 3):
            raise UserError("model_settings.mr: input_channels must be 1 or 3")
        super().__init__(image_size, num_expressions, **asdict(hp))
        self.hp = hp
        try:
            self.expression_layer = ExpressionLayer(
                image_size,
                num_expressions,
                hp.receptive_field,
                hp.ridge_lambda,
                channels=hp.input_channels,
            )
        except ValueError as error:
            raise UserError(f"model_settings.mr: {error}") from None

    def prepare_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """:func:`regression_inputs` with this model's settings."""
        return regression_inputs(images, self.hp.scaling, self.hp.input_channels)

    def fit(self, data: ImageSet, context: TrainContext) -> None:
        """Closed-form fit on the training split's neutral -> target pairs (``context.steps`` unused)."""
        self.expression_layer.to(context.device)
        counts = fit_expression_layer(self.expression_layer, data, self.prepare_inputs)
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        console.print(f"mr: closed-form fit on neutral -> target pairs ({summary})")

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Apply the target maps: (B, 3, H, W) in [-1, 1] -> same shape in [-1, 1] (min-max
        stretched per image, or clamped under ``scaling: fixed``)."""
        self.check_inputs(images, target_expressions)
        inputs = self.prepare_inputs(images).to(self.expression_layer.weight.dtype)
        output = self.expression_layer(inputs, target_expressions)
        return regression_outputs(output, self.hp.scaling)
