"""Training one model on the params' training dataset and writing its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench import layout, provenance
from bench.progress import console, progress_bar
from datasets.manifest import MANIFEST, read_info
from datasets.tensors import load_image_set
from models.base import Generator, TrainContext
from models.registry import MODELS


def build_model(params: dict[str, Any], name: str) -> Generator:
    """Instantiate a registered model with its settings from params (image size from the profile)."""
    settings = dict((params.get("model_settings") or {}).get(name) or {})
    return MODELS.load(name)(image_size=int(params["image_size"]), **settings)


def train(params: dict[str, Any], name: str, device: torch.device) -> Path:
    """Train ``name`` (if trainable) and write ``checkpoints/<name>/<train-dataset>/model.pt``."""
    MODELS.check(name)
    data_root = layout.dataset_dir(params, params["train_dataset"])
    info = read_info(data_root)
    if info.image_size != int(params["image_size"]):
        from bench.errors import UserError

        raise UserError(
            f"{data_root} holds {info.image_size} px images but the profile uses "
            f"{params['image_size']} px; re-run `bench data prepare`"
        )
    torch.manual_seed(int(params["seed"]))
    model = build_model(params, name)
    target = layout.checkpoint_path(params, name)
    if model.trainable:
        data = load_image_set(data_root, split="train")
        training = params.get("training", {})
        steps = int((training.get("steps") or {}).get(name, 0))  # per-model schedule
        with progress_bar(f"train {name}", steps or None) as advance:
            context = TrainContext(
                device=device,
                seed=int(params["seed"]),
                checkpoint_dir=target.parent,
                steps=steps,
                batch_size=int(training.get("batch_size", 16)),
                progress=lambda step, losses: advance(1, **losses),
            )
            model.to(device).fit(data, context)
    else:
        console.print(f"{name}: nothing to train (reference model); writing its checkpoint")
    metadata = provenance.collect(
        params,
        inputs={
            f"{params['train_dataset']}/{MANIFEST}": provenance.file_digest(data_root / MANIFEST)
        },
    )
    model.save(target, metadata={"train_dataset": params["train_dataset"], "provenance": metadata})
    return target
