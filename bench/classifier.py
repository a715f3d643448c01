"""Training the ECS expression classifier on the params' training dataset (orchestration).

The classifier itself (architecture, training loop, checkpoint format) is
:mod:`metrics.expression_classifier`; this module tells it where the data and
the checkpoint live and which settings and seed the params give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench import fingerprint, layout
from metrics.expression_classifier import (
    ClassifierSettings,
    TrainResult,
    read_classifier_metadata,
    train_classifier,
)


def classifier_settings(params: dict[str, Any]) -> ClassifierSettings:
    """``ecs_classifier:`` of params as settings (unknown keys are a one-line error)."""
    return ClassifierSettings.from_mapping(params.get("ecs_classifier"))


def train_ecs_classifier(
    params: dict[str, Any],
    device: torch.device,
    out: Path | None = None,
    progress: Callable[..., None] | None = None,
) -> TrainResult:
    """Train on ``train_dataset``'s training split; write to ``out`` (default: its layout path)."""
    return train_classifier(
        layout.dataset_dir(params, params["train_dataset"]),
        classifier_settings(params),
        seed=int(params["seed"]),
        device=device,
        out=out or layout.classifier_path(params),
        progress=progress,
    )


def classifier_mismatch(params: dict[str, Any]) -> str | None:
    """None when the ECS classifier exists and was trained with the current params and data."""
    path = layout.classifier_path(params)
    if not path.is_file():
        return "no checkpoint yet"
    expected = fingerprint.classifier_fingerprint(params, asdict(classifier_settings(params)))
    metadata = read_classifier_metadata(path)
    recorded = {key: metadata.get(key) for key in expected}
    return fingerprint.difference(recorded, expected)
