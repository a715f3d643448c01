"""``bench classifier``: the in-pipeline expression classifier behind ECS.

``bench classifier train`` trains a ResNet-18 on the real training-split images
of the configured ``train_dataset`` and writes
``checkpoints/ecs_classifier/<train_dataset>/resnet18.pt`` (the DVC stage
``ecs_classifier``); ``bench classifier show`` prints what a checkpoint holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import (
    DataSeedOpt,
    DeviceOpt,
    ParamsOpt,
    ProfileOpt,
    SetOpt,
    chosen_device,
    data_run_config,
    load_config_from,
)
from bench.core.progress import console

app = typer.Typer(
    help="The ECS expression classifier (ResNet-18 trained on real training images).",
    no_args_is_help=True,
)


@app.command("train")
def train_command(
    out: Annotated[
        Path | None,
        typer.Option(
            help="checkpoint path (default checkpoints/ecs_classifier/<train_dataset>/resnet18.pt)"
        ),
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    seed: DataSeedOpt = None,
) -> None:
    """Train the ECS classifier on the training split of `train_dataset`; report its test
    accuracy (with `seed_data: per_seed`, `--seed K`: seed K's, on seed K's data)."""
    import torch

    from bench.classifier import train_ecs_classifier
    from bench.core.progress import progress_bar

    config = data_run_config(load_config_from(params_file, profile, sets), seed)
    chosen = chosen_device(config, device)
    if chosen.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    epochs = config.ecs_classifier.epochs
    with progress_bar(f"ECS classifier on {config.train_dataset}", epochs) as advance:
        result = train_ecs_classifier(config, chosen, out=out, progress=advance)
    console.print(
        f"checkpoint: {result.path}\n"
        f"accuracy on the real test split: {result.test_accuracy:.4f} "
        f"({result.test_images} images); training took {result.seconds:.0f} s"
    )


@app.command("show")
def show_command(
    path: Annotated[
        Path | None, typer.Argument(help="checkpoint (default: the configured classifier)")
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print a classifier checkpoint's training data, settings and test accuracy."""
    import torch

    from bench.layout import classifier_path
    from metrics.expression_classifier import load_classifier

    target = path or classifier_path(load_config_from(params_file, profile, sets, writes=False))
    _, meta = load_classifier(target, torch.device("cpu"))
    for key in sorted(meta):
        console.print(f"{key}: {meta[key]}")
