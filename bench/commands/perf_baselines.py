"""`bench perf baselines`: training and inference throughput of the GAN baselines (images/s).

Builds each model exactly as ``bench train`` would (``model_settings`` and ``image_size``
of the chosen profile; ``--profile paper`` gives the published sizes at 128 px), then
times whole optimisation steps (critic update every step, generator update every
``n_critic``-th, so the average covers full cycles) and ``translate`` in eval mode, on
random faces in [-1, 1]. On CUDA it uses the trainer's bf16 autocast. Nothing is written
unless ``--json`` is given; timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench.commands.options import (
    DeviceOpt,
    JsonOpt,
    ParamsOpt,
    ProfileOpt,
    SetOpt,
    chosen_device,
    load_config_from,
)

app = typer.Typer(help="Throughput of the GAN baselines (images/s).", no_args_is_help=True)
console = Console()

BASELINES = "stargan,usgan,sargan,ganimation"


@app.callback()
def perf() -> None:
    """Throughput benchmarks (nothing is written unless --json is given)."""


def _synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: Any,
    device: Any,
    batch_size: int,
    cycles: int,
    inference_batch_size: int,
    inference_batches: int,
    seed: int = 0,
) -> dict[str, float]:
    """Time ``cycles`` full n_critic cycles of training steps (after one warm-up cycle) and
    ``inference_batches`` translate calls (after one warm-up); return images/s and ms/step."""
    import torch

    from bench.core.device import autocast
    from models.trainable import TrainBatch

    generator = torch.Generator().manual_seed(seed)
    size, classes = model.image_size, model.num_expressions

    def faces(n: int) -> torch.Tensor:
        return (torch.rand(n, 3, size, size, generator=generator) * 2 - 1).to(device)

    def labels(n: int, offset: torch.Tensor | None = None) -> torch.Tensor:
        drawn = torch.randint(classes, (n,), generator=generator)
        if offset is not None:  # a different class than ``offset``
            drawn = (offset + 1 + torch.randint(classes - 1, (n,), generator=generator)) % classes
        return drawn.to(device)

    model.to(device)
    model.amp = lambda: autocast(device)
    nets = model.training_modules()
    optimizers = model.configure_optimizers()
    source_labels = labels(batch_size)
    batch = TrainBatch(
        source=faces(batch_size),
        source_expression=source_labels,
        target_expression=labels(batch_size, source_labels.cpu()),
        target=faces(batch_size),
    )
    per_cycle = int(getattr(model.hp, "n_critic", 1))
    total = per_cycle * (cycles + 1)
    model.train()
    for step in range(per_cycle):  # warm-up cycle (allocator, kernels, Adam state)
        model.train_step(nets, optimizers, batch, step, total)
    _synchronize(device)
    start = time.perf_counter()
    steps = per_cycle * cycles
    for step in range(per_cycle, per_cycle + steps):
        model.train_step(nets, optimizers, batch, step, total)
    _synchronize(device)
    train_s = time.perf_counter() - start

    model.eval()
    images = faces(inference_batch_size)
    targets = labels(inference_batch_size)
    with torch.inference_mode(), autocast(device):
        model.translate(images, targets)
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(inference_batches):
            model.translate(images, targets)
        _synchronize(device)
    infer_s = time.perf_counter() - start
    return {
        "train_images_per_s": steps * batch_size / train_s,
        "train_ms_per_step": 1000 * train_s / steps,
        "inference_images_per_s": inference_batches * inference_batch_size / infer_s,
    }


@app.command("baselines")
def baselines_command(
    models: Annotated[str, typer.Option(help="comma-separated models")] = BASELINES,
    batch_size: Annotated[
        int | None, typer.Option(help="training batch (default: params training.batch_size)")
    ] = None,
    cycles: Annotated[
        int, typer.Option(help="timed n_critic cycles (each: n_critic steps, one G update)")
    ] = 2,
    inference_batch_size: Annotated[int, typer.Option(help="images per translate call")] = 16,
    inference_batches: Annotated[int, typer.Option(help="timed translate calls")] = 5,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's choice)")
    ] = None,
    json_path: JsonOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Training and inference images/s of each model at the profile's sizes."""
    import torch

    from bench.core import atomic
    from bench.factory import build_model
    from models.registry import MODELS

    if threads:
        torch.set_num_threads(threads)
    config = load_config_from(params_file, profile, sets)
    chosen = chosen_device(config, device)
    batch = batch_size or config.training.batch_size
    rows = []
    for name in MODELS.parse(models):
        torch.manual_seed(0)
        model = build_model(config, name)
        if not model.trainable:
            console.print(f"{name}: not trainable, skipped")
            continue
        result = measure(model, chosen, batch, cycles, inference_batch_size, inference_batches)
        rows.append(
            {
                "model": name,
                "device": str(chosen),
                "image_size": model.image_size,
                "generator_parameters": sum(p.numel() for p in model.generator.parameters()),
                "batch_size": batch,
                "n_critic": int(model.hp.n_critic),
                **result,
            }
        )
        del model
    threads_used = torch.get_num_threads()
    table = Table(
        "model",
        "device",
        "px",
        "G params (M)",
        "batch",
        "n_critic",
        "train img/s",
        "ms/step",
        "inference img/s",
        title=(
            f"profile {config.profile}: {cycles} n_critic cycle(s) timed, inference batch "
            f"{inference_batch_size}, {threads_used} CPU thread(s)"
        ),
    )
    for row in rows:
        table.add_row(
            row["model"],
            row["device"],
            str(row["image_size"]),
            f"{row['generator_parameters'] / 1e6:.2f}",
            str(row["batch_size"]),
            str(row["n_critic"]),
            f"{row['train_images_per_s']:.1f}",
            f"{row['train_ms_per_step']:.0f}",
            f"{row['inference_images_per_s']:.1f}",
        )
    console.print(table)
    if json_path:
        with atomic.atomic_path(json_path) as tmp:
            Path(tmp).write_text(
                json.dumps({"profile": config.profile, "threads": threads_used, "rows": rows})
            )
        console.print(f"wrote {json_path}")
