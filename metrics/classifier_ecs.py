"""What both ECS variants share: score = does a classifier see the target expression; plus its ceiling.

Per image, ECS is 1.0 when the classifier's predicted expression is the
requested target, else 0.0, so its mean is the share of outputs classified as
the target (with the shared bootstrap interval); the predicted expression itself
is kept in the records (``<score column> predicted``) for a confusion matrix.
Beside it, as a set-level
value, the same classifier's accuracy on the real labelled test images
(:mod:`metrics.real_set`) says how high ECS can be for that data: a classifier
that misreads real faces of a style cannot credit generated ones either.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
import torch

from bench.core.vocabulary import EXPRESSIONS
from metrics.aggregate import bootstrap_mean
from metrics.base import EvaluationContext, Metric, ScoringBatch, SetValue


def prediction_column(score_column: str) -> str:
    """Records column of the classifier's predicted expression, e.g. ``ECS predicted``."""
    return f"{score_column} predicted"


class ClassifierECS(Metric):
    """Base class: subclasses set :attr:`score_column` / :attr:`accuracy_column` and :meth:`predict`."""

    score_column: ClassVar[str]
    accuracy_column: ClassVar[str]
    classifier_description: ClassVar[str]

    def __init__(self) -> None:
        self._accuracy: SetValue | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "score_column" in cls.__dict__:
            cls.label_columns = (prediction_column(cls.score_column),)

    @abc.abstractmethod
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Canonical expression indices (B,) int64 for RGB images (B, 3, H, W) in [-1, 1]."""

    def begin(self, context: EvaluationContext) -> None:
        """Accuracy on the real labelled test images (mean with a seeded bootstrap interval)."""
        real = context.real
        if len(real) == 0:
            self._accuracy = None
            return
        images = real.pixels().float().div(127.5).sub(1.0)
        hits = (self.predict(images).cpu() == real.labels()).double().numpy()
        mean, low, high, n = bootstrap_mean(
            hits, context.seed, context.bootstrap_resamples, context.confidence
        )
        details = {
            "real_set": real.describe(),
            "real": real.details(),
            "classifier": self.classifier_description,
        }
        self._accuracy = SetValue(self.accuracy_column, mean, None, n, low, high, details=details)

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        predicted = self.predict(batch.outputs).to(batch.target_expressions.device)
        hit = (predicted == batch.target_expressions).double().cpu().numpy()
        names = np.array([EXPRESSIONS[i] for i in predicted.tolist()], dtype=object)
        return {self.score_column: hit, prediction_column(self.score_column): names}

    def finish(self) -> list[SetValue]:
        return [self._accuracy] if self._accuracy is not None else []
