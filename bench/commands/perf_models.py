"""`bench perf`: timings of model components (not part of the pipeline; nothing is written).

``bench perf expression-layer`` times the closed-form fit of the expression
layer (MR, RegGAN's G_E) against the plain per-pixel ridge solve
(:func:`models.ridge_reference.per_pixel_ridge`) on random pairs, and reports
the largest weight difference between the two. By default the pairs are uint8
images, as the models fit on (the batched fit then multiplies exact integers);
the reference gets the same values scaled to [0, 1] in float64, converted
before timing.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Timings of model components.", no_args_is_help=True)
console = Console()


@app.callback()
def perf() -> None:
    """Timings of model components (nothing is written)."""


def _best_of(repeats: int, run) -> tuple[float, object]:
    """Fastest wall time (s) of ``repeats`` runs of ``run()``, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


@app.command("expression-layer")
def expression_layer_command(
    image_size: Annotated[int, typer.Option(help="side of the images, px")] = 128,
    pairs: Annotated[int, typer.Option(help="training pairs")] = 100,
    channels: Annotated[int, typer.Option(help="colour channels to fit")] = 1,
    receptive_field: Annotated[int, typer.Option(help="neighbourhood side r, px (odd)")] = 3,
    ridge_lambda: Annotated[float, typer.Option(help="ridge penalty")] = 0.4,
    dtype: Annotated[
        str, typer.Option(help="pixel type of the pairs: uint8 (0..255) | float64 ([0, 1])")
    ] = "uint8",
    repeats: Annotated[int, typer.Option(help="runs of each solver; the fastest counts")] = 3,
    device: Annotated[str, typer.Option(help="device of the batched solve: cpu | cuda")] = "cpu",
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's choice)")
    ] = None,
    seed: int = 0,
) -> None:
    """Batched closed-form fit vs the per-pixel ridge solve: time, speed-up, max |difference|."""
    import torch

    from bench.core.device import resolve_device
    from bench.core.errors import UserError
    from models.expression_layer import fit_ridge_maps
    from models.ridge_reference import per_pixel_ridge

    if dtype not in ("uint8", "float64"):
        raise UserError(f"--dtype must be uint8 or float64, got {dtype!r}")
    if threads:
        torch.set_num_threads(threads)
    target_device = resolve_device(device)
    generator = torch.Generator().manual_seed(seed)
    shape = (pairs, channels, image_size, image_size)
    if dtype == "uint8":
        sources = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        targets = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        unit_sources, unit_targets = sources.double() / 255, targets.double() / 255
    else:
        sources = torch.rand(shape, generator=generator, dtype=torch.float64)
        targets = torch.rand(shape, generator=generator, dtype=torch.float64)
        unit_sources, unit_targets = sources, targets
    reference_pairs = [
        (unit_sources[:, c].numpy(), unit_targets[:, c].numpy()) for c in range(channels)
    ]

    def batched():
        maps = fit_ridge_maps(
            sources.to(target_device), targets.to(target_device), receptive_field, ridge_lambda
        )
        if target_device.type == "cuda":
            torch.cuda.synchronize(target_device)
        return maps.cpu()

    def reference():
        return [
            per_pixel_ridge(source, target, receptive_field, ridge_lambda)
            for source, target in reference_pairs
        ]

    batched()  # warm-up (allocator, kernels)
    batched_s, maps = _best_of(repeats, batched)
    reference_s, per_pixel = _best_of(repeats, reference)
    difference = max(float(abs(maps[c].numpy() - per_pixel[c]).max()) for c in range(channels))
    table = Table(
        "solver",
        "device",
        "time (s)",
        "speed-up",
        title=(
            f"expression-layer fit: {pairs} {dtype} pairs, {image_size} px, {channels} channel(s), "
            f"r = {receptive_field}, lambda = {ridge_lambda}, best of {repeats}, "
            f"{torch.get_num_threads()} CPU thread(s)"
        ),
    )
    table.add_row("per-pixel (NumPy loop)", "cpu", f"{reference_s:.3f}", "1.0x")
    table.add_row(
        "batched (closed form)",
        target_device.type,
        f"{batched_s:.4f}",
        f"{reference_s / batched_s:.1f}x",
    )
    console.print(table)
    console.print(f"max |batched - per-pixel| weight difference: {difference:.2e}")
