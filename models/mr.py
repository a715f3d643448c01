"""MR, Masked Regression (Khan, Akram, Mahmood, Ashraf, Murtaza; IJCV 2020): the expression layer alone.

One ridge-regression map per target expression and colour channel, each output
pixel an affine function of the r x r neighbourhood of the input pixel, fitted
in closed form on the neutral -> target pairs of the training split (see
:mod:`models.expression_layer` and :mod:`models.pairs`). The authors' defaults:
r = 3, lambda = 0.4, images scaled to [0, 1].

Our reading of "inputs min-max scaled to [0, 1]": the harness's 8-bit images
are mapped linearly from [0, 255] to [0, 1] (the dtype's min and max, not each
image's own), so train and test inputs share one scale and the layer stays a
fixed per-pixel map. Outputs are mapped back to [-1, 1] and clamped, instead
of the authors' per-image min-max normalisation for display, so colours keep
their absolute values for the metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from bench.core.errors import UserError
from bench.core.progress import console
from bench.core.tensors import ImageSet
from bench.core.vocabulary import EXPRESSIONS, INDEX, NEUTRAL
from models import hyperparameters
from models.base import Generator, TrainContext
from models.expression_layer import ExpressionLayer
from models.pairs import neutral_pairs


def fit_expression_layer(layer: ExpressionLayer, data: ImageSet) -> dict[str, int]:
    """Fit every non-neutral map of ``layer`` on the neutral -> target pairs of ``data``.

    Runs on the layer's device. Returns the number of pairs per expression; an
    expression without pairs keeps its identity map (and is reported).
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
        layer.fit_expression(expression, data.images[sources], data.images[targets])
    if not any(counts.values()):
        raise UserError(
            "the training split has no subject with both a neutral and an expressive image; "
            "the expression layer cannot be fitted"
        )
    return counts


@dataclass(frozen=True)
class MRSettings:
    """MR's hyper-parameters (defaults: the authors' code)."""

    receptive_field: int = 3
    """Side (px, odd) of the input neighbourhood each output pixel regresses on."""
    ridge_lambda: float = 0.4
    """Ridge penalty (images scaled to [0, 1]); must be > 0."""


class MaskedRegression(Generator):
    """MR (IJCV 2020): per-pixel local ridge regression, one map per expression (closed form)."""

    name: ClassVar[str] = "mr"
    trainable: ClassVar[bool] = True

    def __init__(self, image_size: int, num_expressions: int = len(EXPRESSIONS), **settings: Any):
        hp = hyperparameters.resolve(MRSettings, settings, self.name)
        super().__init__(image_size, num_expressions, **asdict(hp))
        try:
            self.expression_layer = ExpressionLayer(
                image_size, num_expressions, hp.receptive_field, hp.ridge_lambda
            )
        except ValueError as error:
            raise UserError(f"model_settings.mr: {error}") from None

    def fit(self, data: ImageSet, context: TrainContext) -> None:
        """Closed-form fit on the training split's neutral -> target pairs (``context.steps`` unused)."""
        self.expression_layer.to(context.device)
        counts = fit_expression_layer(self.expression_layer, data)
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        console.print(f"mr: closed-form fit on neutral -> target pairs ({summary})")

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        """Apply the target maps: (B, 3, H, W) in [-1, 1] -> same shape, clamped to [-1, 1]."""
        self.check_inputs(images, target_expressions)
        return self.expression_layer(images, target_expressions).clamp(-1.0, 1.0)
