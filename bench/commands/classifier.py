"""``bench classifier``: the in-pipeline expression classifier behind ECS.

``bench classifier train`` trains a ResNet-18 on the real training-split images
of the params' ``train_dataset`` and writes
``checkpoints/ecs_classifier/<train_dataset>/resnet18.pt`` (the DVC stage
``ecs_classifier``); ``bench classifier show`` prints what a checkpoint holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bench.commands.options import DeviceOpt, ParamsOpt, ProfileOpt
from bench.core.progress import console

app = typer.Typer(
    help="The ECS expression classifier (ResNet-18 trained on real training images).",
    no_args_is_help=True,
)


def _params(path: Path | None, profile: str | None) -> dict[str, Any]:
    from bench.config import load_params

    return load_params(path, profile)


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
    device: DeviceOpt = None,
) -> None:
    """Train the ECS classifier on the training split of `train_dataset`; report its test accuracy."""
    import torch

    from bench.classifier import classifier_settings, train_ecs_classifier
    from bench.core.device import resolve_device
    from bench.core.progress import progress_bar

    params = _params(params_file, profile)
    chosen = resolve_device(device or params.get("device", "auto"))
    if chosen.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    settings = classifier_settings(params)
    with progress_bar(f"ECS classifier on {params['train_dataset']}", settings.epochs) as advance:
        result = train_ecs_classifier(params, chosen, out=out, progress=advance)
    console.print(
        f"checkpoint: {result.path}\n"
        f"accuracy on the real test split: {result.test_accuracy:.4f} "
        f"({result.test_images} images); training took {result.seconds:.0f} s"
    )


@app.command("show")
def show_command(
    path: Annotated[
        Path | None, typer.Argument(help="checkpoint (default: the params' classifier)")
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print a classifier checkpoint's training data, settings and test accuracy."""
    import torch

    from bench.layout import classifier_path
    from metrics.expression_classifier import load_classifier

    target = path or classifier_path(_params(params_file, profile))
    _, meta = load_classifier(target, torch.device("cpu"))
    for key in sorted(meta):
        console.print(f"{key}: {meta[key]}")
