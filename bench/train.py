"""Training one model on the configured training dataset and writing its checkpoint.

Trained models run the shared loop (:mod:`bench.trainer`), which keeps a resumable
``train_state.pt`` beside the final ``model.pt``: re-running after an interruption
continues from the last saved step. Fitted models (a closed-form fit) get one
:meth:`~models.base.Generator.fit` call; reference models only a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench import distributed, fingerprint, layout
from bench.core import provenance
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.factory import build_model, model_class
from bench.trainer import STATE_FILE, fit
from datasets.manifest import MANIFEST, read_info
from datasets.tensors import load_image_set
from models.base import TrainContext, read_checkpoint
from models.registry import MODELS

if TYPE_CHECKING:
    from bench.config import Config

__all__ = ["build_model", "checkpoint_mismatch", "train", "train_context"]


def train_context(config: Config, name: str, device: torch.device) -> TrainContext:
    """The loop settings for ``name`` from ``training:`` (steps and batch size per model)."""
    training = config.training
    return TrainContext(
        device=device,
        seed=layout.training_seed(config, name),
        checkpoint_dir=layout.checkpoint_path(config, name).parent,
        steps=training.steps_for(name),
        batch_size=training.batch_size_for(name),
        checkpoint_every=training.checkpoint_every,
        sample_every=training.sample_every,
        checkpoint_minutes=training.checkpoint_minutes,
        log_every=training.log_every,
        bf16=training.bf16,
        cuda_fast=training.cuda_fast,
        sampling=training.sampling,
    )


def expected_fingerprint(config: Config, name: str) -> dict[str, Any]:
    """The fingerprint a checkpoint of ``name`` made with the current configuration carries."""
    return fingerprint.train_fingerprint(config, name)


def checkpoint_mismatch(config: Config, name: str) -> str | None:
    """None when ``name``'s checkpoint exists and matches the configuration (or was imported
    with `bench import`); else why it must be trained."""
    path = layout.checkpoint_path(config, name)
    if not path.is_file():
        return "no checkpoint yet"
    metadata = read_checkpoint(path).get("metadata") or {}
    if metadata.get("imported"):
        return None  # the authors' released weights (`bench import`): kept until replaced
    return fingerprint.difference(metadata.get("fingerprint"), expected_fingerprint(config, name))


def check_image_size(config: Config, data_root: Path) -> None:
    """A clear error unless the prepared dataset's images have the profile's size."""
    size = read_info(data_root).image_size
    if size != config.image_size:
        raise UserError(
            f"{data_root} holds {size} px images but the profile uses "
            f"{config.image_size} px; re-run `bench data prepare`"
        )


def train(config: Config, name: str, device: torch.device, fresh: bool = False) -> Path:
    """Train ``name`` (resuming unless ``fresh``) and write ``checkpoints/<name>/<dataset>/model.pt``
    (``checkpoints/<name>/seed<k>/...`` for the run of ``config.for_seed(k)`` when ``name``
    trains per seed, :mod:`bench.layout`)."""
    name = MODELS.check(name)
    kind = model_class(name).kind
    if kind == "adapted":
        raise UserError(
            f"{name} is adapted per dataset: run `bench adapt --model {name} --dataset D`"
        )
    if kind == "trained" and config.training.steps_for(name) < 1:
        raise UserError(
            f"training.steps.{name} is not set: {name} is trained step by step; "
            f"set it in params.yaml or with --set training.steps.{name}=N"
        )
    data_root = layout.dataset_dir(config, config.train_dataset)
    check_image_size(config, data_root)
    torch.manual_seed(layout.training_seed(config, name))
    model = build_model(config, name)
    target = layout.checkpoint_path(config, name)
    if fresh:
        (target.parent / STATE_FILE).unlink(missing_ok=True)
    record = expected_fingerprint(config, name)
    if kind == "reference":
        console.print(f"{name}: nothing to train (reference model); writing its checkpoint")
    else:
        context = train_context(config, name, device)
        context.fingerprint = fingerprint.resume_fingerprint(record)
        fit(model, load_image_set(data_root, split="train"), context)
    if distributed.current().is_main:
        metadata = provenance.collect(
            config,
            inputs={f"{config.train_dataset}/{MANIFEST}": sha256_file(data_root / MANIFEST)},
        )
        model.save(
            target,
            metadata={
                "train_dataset": config.train_dataset,
                "fingerprint": record,
                "provenance": metadata,
            },
        )
    return target
