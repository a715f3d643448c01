"""Training the ECS expression classifier on the configured training dataset (orchestration).

The classifier itself (architecture, training loop, checkpoint format) is
:mod:`metrics.expression_classifier`; this module tells it where the data and
the checkpoint live and which settings and seed the configuration gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bench import fingerprint, layout
from metrics.expression_classifier import (
    ClassifierSettings,
    TrainResult,
    read_classifier_metadata,
    train_classifier,
)

if TYPE_CHECKING:
    from bench.config import Config


def classifier_settings(config: Config) -> ClassifierSettings:
    """The configuration's ``ecs_classifier:`` as the classifier's settings."""
    return ClassifierSettings(**config.ecs_classifier.model_dump())


def train_ecs_classifier(
    config: Config,
    device: torch.device,
    out: Path | None = None,
    progress: Callable[..., None] | None = None,
) -> TrainResult:
    """Train on ``train_dataset``'s training split; write to ``out`` (default: its layout path)."""
    return train_classifier(
        layout.dataset_dir(config, config.train_dataset),
        classifier_settings(config),
        seed=config.data_seed,
        device=device,
        out=out or layout.classifier_path(config),
        progress=progress,
    )


def classifier_mismatch(config: Config) -> str | None:
    """None when the ECS classifier exists and was trained with the current configuration and
    data."""
    path = layout.classifier_path(config)
    if not path.is_file():
        return "no checkpoint yet"
    expected = fingerprint.classifier_fingerprint(config)
    metadata = read_classifier_metadata(path)
    recorded = {key: metadata.get(key) for key in expected}
    return fingerprint.difference(recorded, expected)
