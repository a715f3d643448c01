"""``bench perf``: throughput benchmarks (``bench perf metrics``: images/s and peak memory per metric)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
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

app = typer.Typer(help="Throughput benchmarks of the scoring code.", no_args_is_help=True)
out = Console()


@app.callback()
def perf() -> None:
    """Throughput benchmarks (nothing in the pipeline is written)."""


def _cell(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


@app.command("metrics")
def metrics_command(
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="prepared dataset (default: train_dataset)"),
    ] = None,
    metrics: Annotated[
        str | None, typer.Option(help="comma-separated metrics (default: the configured ones)")
    ] = None,
    images: Annotated[int, typer.Option(help="images scored per metric")] = 64,
    batch_size: Annotated[int, typer.Option(help="images per batch")] = 32,
    json_out: JsonOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Time every metric on real test faces standing in for outputs: images/s and peak memory."""
    from bench.metrics_perf import measure

    config = load_config_from(params_file, profile, sets)
    chosen = chosen_device(config, device)
    rows = measure(
        config,
        dataset or config.train_dataset,
        chosen,
        images=images,
        batch_size=batch_size,
        metric_names=metrics.split(",") if metrics else None,
    )
    memory = "CUDA peak allocation" if chosen.type == "cuda" else "process peak RSS"
    table = Table(
        title=f"metric throughput on {chosen} ({images} images, batch {batch_size}); "
        f"seconds per part, peak MiB = {memory}"
    )
    for column in ("metric", "img/s", "img/CPU-s", "setup", "begin", "finish", "peak MiB"):
        table.add_column(column, no_wrap=True)
    table.add_column("status")
    for row in rows:
        table.add_row(
            row.metric,
            _cell(row.images_per_s),
            _cell(row.images_per_cpu_s),
            _cell(row.setup_s),
            _cell(row.begin_s),
            _cell(row.finish_s),
            _cell(row.peak_mib, 0),
            row.status,
        )
    out.print(table)
    if json_out is not None:
        from bench.core import atomic

        def finite(value: Any) -> Any:
            return None if isinstance(value, float) and not math.isfinite(value) else value

        body = [
            {
                k: finite(v)
                for k, v in (
                    asdict(row)
                    | {"images_per_s": row.images_per_s, "images_per_cpu_s": row.images_per_cpu_s}
                ).items()
            }
            for row in rows
        ]
        atomic.write_text(json_out, json.dumps(body, indent=2, allow_nan=False) + "\n")
