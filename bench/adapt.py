"""Adapting a model to one evaluation dataset with that dataset's unlabelled images (DAI2I).

``bench adapt --model dai2i --dataset D`` loads the trained base translator
(``checkpoints/<base>/<train_dataset>/model.pt``), adapts the model's branches to the
images of ``D`` (every image of ``D``, labels unused; never any model's outputs) through
the shared training loop (resumable, seeded, optional bf16 on CUDA) and writes
``checkpoints/dai2i/D/model.pt``. For the training dataset there is nothing to adapt: the
checkpoint holds the base translator only and says so. The checkpoint's metadata
``adaptation`` records what was used (target images, their manifest's sha256, the base
checkpoint's sha256, the perceptual network and whether it is a substitute); the tables
mark every (model, dataset) cell whose model saw that dataset's images in training.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from bench import distributed, fingerprint, layout
from bench.core import provenance
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.train import check_image_size, loop_fingerprint, model_settings, train_context
from bench.trainer import STATE_FILE, fit
from datasets.manifest import MANIFEST
from datasets.tensors import load_image_set
from models.base import TrainContext, load_generator, read_checkpoint
from models.registry import MODELS


def adaptation_context(
    params: dict[str, Any], name: str, dataset: str, device: torch.device
) -> TrainContext:
    """The loop settings of ``name`` (params ``training``, batch size per model included) with
    the per-dataset checkpoint folder."""
    return replace(
        train_context(params, name, device),
        checkpoint_dir=layout.checkpoint_path(params, name, dataset).parent,
    )


def expected_fingerprint(params: dict[str, Any], name: str, dataset: str) -> dict[str, Any]:
    """The fingerprint of ``name`` adapted to ``dataset`` with the current params: the training
    fingerprint plus the base checkpoint's and the target set's sha256."""
    settings = model_settings(params, name)
    base_path = layout.checkpoint_path(params, settings.get("base", "stargan"))
    context = adaptation_context(params, name, dataset, torch.device("cpu"))
    config = {"image_size": int(params["image_size"]), **settings}
    record = fingerprint.train_fingerprint(params, name, config, context.steps, context.batch_size)
    if loop := loop_fingerprint(params, name):
        record["training"] = loop
    record["base_checkpoint_sha256"] = sha256_file(base_path) if base_path.is_file() else None
    record["target_dataset"] = dataset
    if dataset != params["train_dataset"]:
        record["target_manifest_sha256"] = fingerprint.manifest_sha256(params, dataset)
    return record


def adaptation_mismatch(params: dict[str, Any], name: str, dataset: str) -> str | None:
    """None when the adapted checkpoint exists and matches the params; else why to adapt again."""
    path = layout.checkpoint_path(params, name, dataset)
    if not path.is_file():
        return "no checkpoint yet"
    metadata = read_checkpoint(path).get("metadata") or {}
    return fingerprint.difference(
        metadata.get("fingerprint"), expected_fingerprint(params, name, dataset)
    )


def adapted_models(params: dict[str, Any]) -> list[str]:
    """The params' ``adapted_models`` (checked names; may be empty)."""
    names = params.get("adapted_models") or []
    return MODELS.parse(names) if names else []


def adapt(
    params: dict[str, Any], name: str, dataset: str, device: torch.device, fresh: bool = False
) -> Path:
    """Adapt ``name`` to ``dataset`` (or wrap its base for the training dataset); return the
    checkpoint path. Resumes from ``train_state.pt`` unless ``fresh``."""
    from bench.data import check_dataset_names

    model_class = MODELS.load(name)
    if not model_class.adapts_per_dataset:
        raise UserError(
            f"{name} is not adapted per dataset; train it with `bench train --model {name}`"
        )
    check_dataset_names(params, [dataset])
    settings = model_settings(params, name)
    base_name = settings.get("base", "stargan")
    base_path = layout.checkpoint_path(params, base_name)
    if not base_path.is_file():
        raise UserError(
            f"{name} adapts the trained {base_name}, but {base_path} does not exist: "
            f"run `bench train --model {base_name}` first"
        )
    base = load_generator(base_path, expected_model=base_name)
    train_root = layout.dataset_dir(params, params["train_dataset"])
    check_image_size(params, train_root)
    in_distribution = dataset == params["train_dataset"]
    torch.manual_seed(int(params["seed"]))
    model = model_class.from_base(base, None if in_distribution else dataset, **settings)
    target = layout.checkpoint_path(params, name, dataset)
    record = expected_fingerprint(params, name, dataset)
    adaptation: dict[str, Any] = {
        "adapted": not in_distribution,
        "target_dataset": dataset,
        "base": base_name,
        "base_checkpoint_sha256": sha256_file(base_path),
    }
    inputs = {f"{params['train_dataset']}/{MANIFEST}": sha256_file(train_root / MANIFEST)}
    weights: dict[str, str] = {}
    if in_distribution:
        adaptation["note"] = f"in-distribution: falls back to its base translator {base_name}"
        console.print(f"{name} on {dataset}: {adaptation['note']}")
    else:
        root = layout.dataset_dir(params, dataset)
        check_image_size(params, root)
        images = load_image_set(root).images  # every image of the set; labels are never used
        model.set_target_domain(images)
        context = adaptation_context(params, name, dataset, device)
        context.fingerprint = fingerprint.resume_fingerprint(record)
        if fresh:
            (context.checkpoint_dir / STATE_FILE).unlink(missing_ok=True)
        fit(model, load_image_set(train_root, split="train"), context)
        perceptual = model.perceptual.describe()
        weights[perceptual["network"]] = perceptual["sha256"]
        inputs[f"{dataset}/{MANIFEST}"] = sha256_file(root / MANIFEST)
        adaptation |= {
            "target_images": len(images),
            "target_manifest_sha256": inputs[f"{dataset}/{MANIFEST}"],
            "steps": context.steps,
            "perceptual_network": perceptual,
        }
    if distributed.current().is_main:
        made_by = provenance.collect(params, weights=weights, inputs=inputs)
        model.save(
            target,
            metadata={
                "train_dataset": params["train_dataset"],
                "fingerprint": record,  # what adaptation_mismatch compares (not the provenance)
                "adaptation": adaptation,
                "provenance": made_by,
            },
        )
    return target
