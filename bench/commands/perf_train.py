"""`bench perf train`: training speed of every model through the real loop, and the protocol's cost.

Each model is built as ``bench train`` builds it (the profile's ``model_settings`` and
``image_size``; ``--profile paper`` gives the published sizes at 128 px) and trained for
``--steps`` steps by :class:`bench.trainer.Trainer` (sampler, ``training.bf16``,
channels_last, DDP-free) on random faces, without checkpoints. The first step is a warm-up; the rest
are timed (the device is synchronised only at both ends). Reported per model: seconds per
step, training images/s, ``translate`` images/s, peak memory (CUDA
``max_memory_allocated``, or the process's peak RSS on CPU: it only grows), and on CUDA
the largest relative difference of the last step's losses between a bf16 and a float32
run from the same seed (the timed run uses ``training.bf16``, the other run the other).
Adapted models get freshly built bases (the models they declare they adapt).

From these, the wall time of the whole protocol on this device: every model's
``training.steps``, each adapted model once per OOD set, synthesis of every output and,
with ``--scoring-json`` (the output of ``bench perf metrics --json``), scoring.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from bench.config import Config

app = typer.Typer(help="Training speed of the models.", no_args_is_help=True)
console = Console()

SUBJECTS = 8
"""Random subjects (one image of each expression) that the timed runs sample from."""


@app.callback()
def perf() -> None:
    """Training speed (nothing is written unless --json is given)."""


@dataclass
class TrainTiming:
    """One model's measured training speed (NaN where not measured)."""

    model: str
    status: str
    batch_size: int = 0
    steps: int = 0
    seconds_per_step: float = math.nan
    images_per_s: float = math.nan
    translate_images_per_s: float = math.nan
    peak_mib: float = math.nan
    bf16_loss_relative_difference: float = math.nan


def random_image_set(image_size: int, seed: int) -> Any:
    """``SUBJECTS`` random subjects with one image of every expression (an ImageSet)."""
    import pandas as pd
    import torch

    from bench.core.tensors import ImageSet
    from bench.core.vocabulary import EXPRESSIONS

    generator = torch.Generator().manual_seed(seed)
    count = SUBJECTS * len(EXPRESSIONS)
    images = torch.randint(
        0, 256, (count, 3, image_size, image_size), generator=generator, dtype=torch.uint8
    )
    frame = pd.DataFrame(
        {
            "subject": [f"s{i // len(EXPRESSIONS)}" for i in range(count)],
            "expression": [EXPRESSIONS[i % len(EXPRESSIONS)] for i in range(count)],
        }
    )
    expressions = torch.arange(count, dtype=torch.int64) % len(EXPRESSIONS)
    return ImageSet(images=images, expressions=expressions, frame=frame)


def build(config: Config, name: str, data: Any) -> Any:
    """The model as ``bench train`` / ``bench adapt`` builds it (adapted ones: on a fresh base)."""
    from bench.factory import build_adapted, build_model, dependencies, kind_of

    if kind_of(name) != "adapted":
        return build_model(config, name)
    bases = [build_model(config, base) for base in dependencies(config, name)]
    model = build_adapted(config, name, bases, "perf")
    model.set_target_domain(data.images)
    return model


def timed_run(
    config: Config, name: str, device: Any, steps: int, bf16: bool
) -> tuple[float, dict[str, float], Any]:
    """Train a fresh ``name`` for ``steps`` steps; (seconds per timed step, last losses, model)."""
    import torch

    from bench.trainer import Trainer
    from models.base import TrainContext

    data = random_image_set(config.image_size, config.seed)
    torch.manual_seed(config.seed)
    model = build(config, name, data)
    marks: dict[int, float] = {}
    last: dict[str, torch.Tensor] = {}

    def observe(done: int, losses: Any) -> None:
        if done in (1, steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks[done] = time.perf_counter()
        if done == steps:
            last.update(losses)

    with tempfile.TemporaryDirectory(prefix="fes-perf-") as folder:
        context = TrainContext(
            device=device,
            seed=config.seed,
            checkpoint_dir=Path(folder),
            steps=steps,
            batch_size=config.training.batch_size_for(name),
            checkpoint_every=0,
            log_every=config.training.log_every,
            bf16=bf16,
            cuda_fast=config.training.cuda_fast,
        )
        start = time.perf_counter()
        Trainer(model, data, context).run(observe)
    seconds = (marks[steps] - marks[1]) / (steps - 1) if steps > 1 else marks[1] - start
    return seconds, {k: float(v) for k, v in last.items()}, model


def translate_speed(config: Config, model: Any, device: Any) -> float:
    """``translate`` images/s on one evaluation batch (eval mode, synthesis precision); on CUDA
    the best of 3 after a warm-up, on CPU one call (it is long enough to time)."""
    import torch

    from bench.core.device import inference_precision

    count = config.evaluation.batch_size
    size = model.image_size
    images = torch.rand(count, 3, size, size, device=device) * 2 - 1
    labels = torch.arange(count, device=device) % model.num_expressions
    model.eval()
    best = math.inf
    bf16 = config.evaluation.synthesis_bf16
    with torch.inference_mode(), inference_precision(device, bf16):
        for call in range(4 if device.type == "cuda" else 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model.translate(images, labels)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if call or device.type != "cuda":  # the first CUDA call is a warm-up
                best = min(best, time.perf_counter() - start)
    return count / best


def relative_difference(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest ``|a - b| / max(|b|, 1e-8)`` over the losses both runs report."""
    return max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-8) for k in a if k in b), default=math.nan)


def measure_model(config: Config, name: str, device: Any, steps: int) -> TrainTiming:
    """Time ``name`` (see the module doc); a missing asset or bad setting becomes the status."""
    import torch

    from bench.core.device import peak_memory_mib
    from bench.core.errors import UserError

    batch = config.training.batch_size_for(name)
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        bf16 = config.training.bf16
        seconds, losses, model = timed_run(config, name, device, steps, bf16=bf16)
        peak = peak_memory_mib(device)
        translate = translate_speed(config, model, device)
        difference = math.nan
        if device.type == "cuda":
            del model
            _, other, _ = timed_run(config, name, device, steps, bf16=not bf16)
            difference = relative_difference(*((losses, other) if bf16 else (other, losses)))
    except UserError as error:
        return TrainTiming(name, f"skipped: {error}")
    return TrainTiming(
        name, "ok", batch, steps, seconds, batch / seconds, translate, peak, difference
    )


def source_count(config: Config, dataset: str) -> int:
    """Source faces of ``dataset``: from its manifest when prepared, else from ``synthetic:``."""
    from bench import layout
    from bench.synthesize import source_faces
    from datasets.manifest import MANIFEST

    if (layout.dataset_dir(config, dataset) / MANIFEST).is_file():
        return len(source_faces(config, dataset))
    synthetic = config.synthetic
    return synthetic.test_subjects if dataset == config.train_dataset else synthetic.ood_subjects


def scoring_seconds_per_image(path: Path | None) -> float:
    """Seconds to score one output with every metric, from ``bench perf metrics --json`` rows."""
    if path is None:
        return math.nan
    rows = json.loads(Path(path).read_text())
    return sum(1.0 / row["images_per_s"] for row in rows if row.get("images_per_s"))


def protocol_estimate(
    config: Config, rows: list[TrainTiming], scoring_s_per_image: float
) -> dict[str, Any]:
    """Wall-time estimate (s) of the protocol: training, adaptation per OOD set, synthesis,
    scoring; ``missing`` lists the models whose cost is unknown (not measured / skipped)."""
    from models.registry import MODELS

    measured = {row.model: row for row in rows if row.status == "ok"}
    datasets = config.eval_datasets
    ood = [d for d in datasets if d != config.train_dataset]
    outputs_per_model = sum(source_count(config, d) for d in datasets) * len(config.targets)
    adapted = config.adapted_models
    parts = {"training": 0.0, "adaptation": 0.0, "synthesis": 0.0}
    missing = []
    for name in config.models + adapted:
        model_class = MODELS.load(name)
        row = measured.get(name)
        steps = config.training.steps_for(name)
        needs_steps = model_class.trainable and steps > 0
        if row is None:
            if needs_steps:
                missing.append(name)
            continue
        if needs_steps:
            part = "adaptation" if name in adapted else "training"
            runs = len(ood) if name in adapted else 1
            parts[part] += runs * steps * row.seconds_per_step
        parts["synthesis"] += outputs_per_model / row.translate_images_per_s
    models_scored = len(config.models) + len(adapted)
    parts["scoring"] = models_scored * outputs_per_model * scoring_s_per_image
    total = sum(v for v in parts.values() if math.isfinite(v))
    return {
        "seconds": parts,
        "total_seconds": total,
        "outputs_per_model": outputs_per_model,
        "ood_sets": len(ood),
        "missing": missing,
        "scoring_included": math.isfinite(parts["scoring"]),
    }


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)} h {rest / 60:.0f} min" if hours else f"{seconds / 60:.1f} min"


def _cell(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


@app.command("train")
def train_command(
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated models (default: params models + adapted_models)"),
    ] = None,
    steps: Annotated[int, typer.Option(help="steps per model (the first is a warm-up)")] = 20,
    scoring_json: Annotated[
        Path | None,
        typer.Option(help="`bench perf metrics --json` output, for the scoring estimate"),
    ] = None,
    json_path: JsonOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Seconds per step, images/s and peak memory of every model; the protocol's wall time."""
    import torch

    from bench.core import atomic
    from bench.core.errors import UserError
    from models.registry import MODELS
    from models.trainable import TrainableGenerator

    if steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    config = load_config_from(params_file, profile, sets)
    chosen = chosen_device(config, device)
    if chosen.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    names = MODELS.parse(models) if models else config.table_models
    rows = []
    for name in names:
        if not issubclass(MODELS.load(name), TrainableGenerator):
            continue  # closed-form fits and references: no steps to time
        rows.append(measure_model(config, name, chosen, steps))
        console.print(f"{name}: {rows[-1].status}")
    memory = "CUDA peak allocation" if chosen.type == "cuda" else "process peak RSS"
    table = Table(
        "model", "batch", "s/step", "train img/s", "translate img/s", "peak MiB", "bf16 vs fp32",
        title=(
            f"profile {config.profile} ({config.image_size} px) on {chosen}: {steps} steps, "
            f"first one untimed; {torch.get_num_threads()} CPU thread(s); peak = {memory}"
        ),
    )  # fmt: skip
    for row in rows:
        if row.status != "ok":
            continue
        table.add_row(
            row.model,
            str(row.batch_size),
            _cell(row.seconds_per_step, 3),
            _cell(row.images_per_s, 1),
            _cell(row.translate_images_per_s, 1),
            _cell(row.peak_mib, 0),
            _cell(row.bf16_loss_relative_difference, 4),
        )
    console.print(table)
    estimate = protocol_estimate(config, rows, scoring_seconds_per_image(scoring_json))
    parts = ", ".join(f"{k} {_duration(v)}" for k, v in estimate["seconds"].items())
    console.print(
        f"protocol estimate on {chosen} (profile {config.profile}, "
        f"{estimate['ood_sets']} OOD set(s), {estimate['outputs_per_model']} outputs per model): "
        f"{_duration(estimate['total_seconds'])} = {parts}"
    )
    if not estimate["scoring_included"]:
        console.print(
            "scoring not included: pass --scoring-json (from `bench perf metrics --json`)"
        )
    if estimate["missing"]:
        console.print(f"not measured, not included: {', '.join(estimate['missing'])}")
    if json_path:

        def finite(value: Any) -> Any:
            return None if isinstance(value, float) and not math.isfinite(value) else value

        body = {
            "profile": config.profile,
            "device": str(chosen),
            "threads": torch.get_num_threads(),
            "rows": [{k: finite(v) for k, v in asdict(row).items()} for row in rows],
            "estimate": {
                **estimate,
                "seconds": {k: finite(v) for k, v in estimate["seconds"].items()},
            },
        }
        atomic.write_text(json_path, json.dumps(body, indent=2, allow_nan=False) + "\n")
        console.print(f"wrote {json_path}")
