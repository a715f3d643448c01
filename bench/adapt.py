"""Adapting a model to one evaluation dataset with that dataset's unlabelled images (DAI2I).

``bench adapt --model M --dataset D`` loads the trained models M depends on (its bases,
``checkpoints/<base>/<train_dataset>/model.pt``; DAI2I: the translator it wraps), adapts M to the
images of ``D`` (every image of ``D``, labels unused; never any model's outputs) through
the shared training loop (resumable, seeded, optional bf16 on CUDA) and writes
``checkpoints/M/D/model.pt``. For the training dataset there is nothing to adapt: the
checkpoint holds the base translator only and says so. The checkpoint's metadata
``adaptation`` records what was used (target images, their manifest's sha256, the base
checkpoint's sha256, the perceptual network and whether it is a substitute); the tables
mark every (model, dataset) cell whose model saw that dataset's images in training.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench import distributed, fingerprint, layout, stages
from bench.core import provenance
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.factory import build_adapted, dependencies, model_class
from bench.train import check_image_size, train_context
from bench.trainer import STATE_FILE, fit
from datasets.manifest import MANIFEST
from datasets.tensors import load_image_set
from models.base import TrainContext, load_generator, read_checkpoint

if TYPE_CHECKING:
    from bench.config import Config


def adaptation_context(
    config: Config, name: str, dataset: str, device: torch.device
) -> TrainContext:
    """The loop settings of ``name`` (``training:``, batch size per model included) with the
    per-dataset checkpoint folder."""
    return replace(
        train_context(config, name, device),
        checkpoint_dir=layout.checkpoint_path(config, name, dataset).parent,
    )


def expected_fingerprint(config: Config, name: str, dataset: str) -> dict[str, Any]:
    """The fingerprint of ``name`` adapted to ``dataset`` with the current configuration: its
    stage settings, the training and target sets' manifests and its bases' checkpoints."""
    record: dict[str, Any] = {
        "settings": stages.adapt_settings(config, name, dataset),
        "train_manifest_sha256": fingerprint.manifest_sha256(config, config.train_dataset),
        "base_checkpoints_sha256": {
            base: fingerprint.file_sha256(layout.checkpoint_path(config, base))
            for base in dependencies(config, name)
        },
        "sources_sha256": fingerprint.sources_sha256(config, name),
        "weights_lock": fingerprint.lock_sha256(config, "models"),
    }
    if dataset != config.train_dataset:
        record["target_manifest_sha256"] = fingerprint.manifest_sha256(config, dataset)
    return record


def adaptation_mismatch(config: Config, name: str, dataset: str) -> str | None:
    """None when the adapted checkpoint exists and matches the configuration; else why to adapt
    again."""
    path = layout.checkpoint_path(config, name, dataset)
    if not path.is_file():
        return "no checkpoint yet"
    metadata = read_checkpoint(path).get("metadata") or {}
    return fingerprint.difference(
        metadata.get("fingerprint"), expected_fingerprint(config, name, dataset)
    )


def adapt(
    config: Config, name: str, dataset: str, device: torch.device, fresh: bool = False
) -> Path:
    """Adapt ``name`` to ``dataset`` (or wrap its bases for the training dataset); return the
    checkpoint path. Resumes from ``train_state.pt`` unless ``fresh``."""
    from bench.data import check_dataset_names

    if model_class(name).kind != "adapted":
        raise UserError(
            f"{name} is not adapted per dataset; train it with `bench train --model {name}`"
        )
    if config.training.steps_for(name) < 1:
        raise UserError(
            f"training.steps.{name} is not set: {name} is adapted step by step; "
            f"set it in params.yaml or with --set training.steps.{name}=N"
        )
    check_dataset_names(config, [dataset])
    base_names = dependencies(config, name)
    bases, base_sha = [], {}
    for base_name in base_names:
        base_path = layout.checkpoint_path(config, base_name)
        if not base_path.is_file():
            raise UserError(
                f"{name} adapts the trained {base_name}, but {base_path} does not exist: "
                f"run `bench train --model {base_name}` first"
            )
        bases.append(load_generator(base_path, expected_model=base_name))
        base_sha[base_name] = sha256_file(base_path)
    train_root = layout.dataset_dir(config, config.train_dataset)
    check_image_size(config, train_root)
    in_distribution = dataset == config.train_dataset
    torch.manual_seed(layout.training_seed(config, name))
    model = build_adapted(config, name, bases, None if in_distribution else dataset)
    target = layout.checkpoint_path(config, name, dataset)
    record = expected_fingerprint(config, name, dataset)
    adaptation: dict[str, Any] = {
        "adapted": not in_distribution,
        "target_dataset": dataset,
        "bases": base_names,
        "base_checkpoints_sha256": base_sha,
    }
    inputs = {f"{config.train_dataset}/{MANIFEST}": sha256_file(train_root / MANIFEST)}
    weights: dict[str, str] = {}
    if in_distribution:
        adaptation["note"] = (
            f"in-distribution: falls back to its base translator {', '.join(base_names)}"
        )
        console.print(f"{name} on {dataset}: {adaptation['note']}")
    else:
        root = layout.dataset_dir(config, dataset)
        check_image_size(config, root)
        images = load_image_set(root).images  # every image of the set; labels are never used
        model.set_target_domain(images)
        context = adaptation_context(config, name, dataset, device)
        context.fingerprint = fingerprint.resume_fingerprint(record)
        if fresh:
            (context.checkpoint_dir / STATE_FILE).unlink(missing_ok=True)
        fit(model, load_image_set(train_root, split="train"), context)
        used = model.adaptation_record()
        for entry in used.values():
            if isinstance(entry, dict) and {"network", "sha256"} <= entry.keys():
                weights[entry["network"]] = entry["sha256"]
        inputs[f"{dataset}/{MANIFEST}"] = sha256_file(root / MANIFEST)
        adaptation |= {
            "target_images": len(images),
            "target_manifest_sha256": inputs[f"{dataset}/{MANIFEST}"],
            "steps": context.steps,
            **used,
        }
    if distributed.current().is_main:
        made_by = provenance.collect(config, weights=weights, inputs=inputs)
        model.save(
            target,
            metadata={
                "train_dataset": config.train_dataset,
                "fingerprint": record,  # what adaptation_mismatch compares (not the provenance)
                "adaptation": adaptation,
                "provenance": made_by,
            },
        )
    return target
