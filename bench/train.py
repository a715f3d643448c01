"""Training one model on the params' training dataset and writing its checkpoint.

Trainable models run the shared loop (:mod:`bench.trainer`), which keeps a
resumable ``train_state.pt`` beside the final ``model.pt``: re-running after an
interruption continues from the last saved step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench import distributed, fingerprint, layout
from bench.core import provenance
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.sampler import resolve_sampling
from bench.trainer import STATE_FILE, fit
from datasets.manifest import MANIFEST, read_info
from datasets.tensors import load_image_set
from models.base import Generator, TrainContext, read_checkpoint
from models.registry import MODELS
from models.trainable import TrainableGenerator


def build_model(params: dict[str, Any], name: str) -> Generator:
    """Instantiate a registered model with its settings from params (image size from the profile)."""
    return MODELS.load(name)(image_size=int(params["image_size"]), **model_settings(params, name))


def train_context(params: dict[str, Any], name: str, device: torch.device) -> TrainContext:
    """The loop settings for ``name`` from params ``training`` (steps and batch size per model)."""
    training = params.get("training") or {}
    return TrainContext(
        device=device,
        seed=int(params["seed"]),
        checkpoint_dir=layout.checkpoint_path(params, name).parent,
        steps=int((training.get("steps") or {}).get(name, 0)),
        batch_size=int(
            (training.get("batch_sizes") or {}).get(name, training.get("batch_size", 16))
        ),
        checkpoint_every=int(training.get("checkpoint_every", 100)),
        sample_every=int(training.get("sample_every", 0)),
        checkpoint_minutes=float(training.get("checkpoint_minutes", 0)),
        log_every=int(training.get("log_every", 50)),
        bf16=bool(training.get("bf16", False)),
        cuda_fast=bool(training.get("cuda_fast", True)),
        sampling=str(training.get("sampling", "authors")),
    )


def loop_fingerprint(params: dict[str, Any], name: str) -> dict[str, Any]:
    """The training-loop settings that change what a trainable model learns: its resolved
    ``training.sampling`` and ``training.bf16`` (empty for models the loop does not train)."""
    model_class = MODELS.load(name)
    if not issubclass(model_class, TrainableGenerator):
        return {}
    context = train_context(params, name, torch.device("cpu"))
    return {
        "sampling": resolve_sampling(context.sampling, model_class.authors_sampling),
        "bf16": context.bf16,
    }


def model_settings(params: dict[str, Any], name: str) -> dict[str, Any]:
    """``model_settings.<name>`` of params (empty when absent)."""
    return dict((params.get("model_settings") or {}).get(name) or {})


def expected_fingerprint(params: dict[str, Any], name: str) -> dict[str, Any]:
    """The fingerprint a checkpoint of ``name`` trained with the current params carries."""
    context = train_context(params, name, torch.device("cpu"))
    config = {"image_size": int(params["image_size"]), **model_settings(params, name)}
    record = fingerprint.train_fingerprint(params, name, config, context.steps, context.batch_size)
    return record | ({"training": loop} if (loop := loop_fingerprint(params, name)) else {})


def checkpoint_mismatch(params: dict[str, Any], name: str) -> str | None:
    """None when ``name``'s checkpoint exists and matches the params (or was imported with
    `bench import`); else why it must be trained."""
    path = layout.checkpoint_path(params, name)
    if not path.is_file():
        return "no checkpoint yet"
    metadata = read_checkpoint(path).get("metadata") or {}
    if metadata.get("imported"):
        return None  # the authors' released weights (`bench import`): kept until replaced
    return fingerprint.difference(metadata.get("fingerprint"), expected_fingerprint(params, name))


def check_image_size(params: dict[str, Any], data_root: Path) -> None:
    """A clear error unless the prepared dataset's images have the profile's size."""
    size = read_info(data_root).image_size
    if size != int(params["image_size"]):
        raise UserError(
            f"{data_root} holds {size} px images but the profile uses "
            f"{params['image_size']} px; re-run `bench data prepare`"
        )


def train(params: dict[str, Any], name: str, device: torch.device, fresh: bool = False) -> Path:
    """Train ``name`` (resuming unless ``fresh``) and write ``checkpoints/<name>/<dataset>/model.pt``."""
    name = MODELS.check(name)
    data_root = layout.dataset_dir(params, params["train_dataset"])
    check_image_size(params, data_root)
    torch.manual_seed(int(params["seed"]))
    model = build_model(params, name)
    target = layout.checkpoint_path(params, name)
    if fresh:
        (target.parent / STATE_FILE).unlink(missing_ok=True)
    record = expected_fingerprint(params, name)
    if model.trainable:
        context = train_context(params, name, device)
        context.fingerprint = fingerprint.resume_fingerprint(record)
        fit(model, load_image_set(data_root, split="train"), context)
    else:
        console.print(f"{name}: nothing to train (reference model); writing its checkpoint")
    if distributed.current().is_main:
        metadata = provenance.collect(
            params,
            inputs={f"{params['train_dataset']}/{MANIFEST}": sha256_file(data_root / MANIFEST)},
        )
        model.save(
            target,
            metadata={
                "train_dataset": params["train_dataset"],
                "fingerprint": record,
                "provenance": metadata,
            },
        )
    return target
