"""Throughput of every metric: images per second and peak memory, each metric timed on its own.

The images are a prepared dataset's real test faces standing in for generated
ones: each subject's neutral face is the source, its face of each target
expression the "output" (tiled up to the requested count). Each metric is
timed in four parts, as ``bench evaluate`` runs it: construction (loading its
weights), ``begin`` (e.g. reference features, cached by content after the
first run), ``score`` over the batches (the images/s figure) and ``finish``
(e.g. the Fréchet distances); the score part is also timed in process CPU
seconds, which a busy shared machine disturbs less than wall time. Peak memory is CUDA's peak allocation on a GPU
and the process' peak resident set size on CPU (a high-water mark that only
grows, so later metrics inherit earlier peaks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bench import layout
from bench.core.device import peak_memory_mib
from bench.core.errors import MissingWeightsError, UserError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import INDEX, NEUTRAL, parse_expressions
from bench.evaluate import evaluation_context
from datasets.manifest import read_manifest
from datasets.tensors import decode_images
from metrics.base import ScoringBatch
from metrics.registry import METRICS, build_metric

if TYPE_CHECKING:
    from bench.config import Config


@dataclass(frozen=True)
class PerfRow:
    """One metric's timings (seconds), throughput (images/s) and peak memory (MiB)."""

    metric: str
    status: str
    setup_s: float = float("nan")
    begin_s: float = float("nan")
    score_s: float = float("nan")
    finish_s: float = float("nan")
    images: int = 0
    peak_mib: float = float("nan")
    score_cpu_s: float = float("nan")

    @property
    def images_per_s(self) -> float:
        """Images scored per second of wall time in ``score`` (NaN when not run)."""
        return self.images / self.score_s if self.score_s > 0 else float("nan")

    @property
    def images_per_cpu_s(self) -> float:
        """Images scored per second of this process' CPU time (all threads) in ``score``.

        On a shared machine this is steadier than :attr:`images_per_s`; with one
        thread it estimates the throughput of an idle core.
        """
        return self.images / self.score_cpu_s if self.score_cpu_s > 0 else float("nan")


def stand_in_batches(
    config: Config, dataset: str, images: int, batch_size: int, device: torch.device
) -> list[ScoringBatch]:
    """Batches of real test faces posing as outputs: neutral source -> same subject's target face."""
    root = layout.dataset_dir(config, dataset)
    frame = read_manifest(root)
    test = (
        frame[frame["split"] == "test"]
        .sort_values("image_id")
        .drop_duplicates(["subject", "expression"])
    )
    by_key = {(r.subject, r.expression): r.file for r in test.itertuples()}
    pairs = [
        (by_key[(subject, NEUTRAL)], by_key[(subject, target)], target)
        for subject in sorted(test["subject"].unique())
        for target in parse_expressions(config.targets)
        if (subject, NEUTRAL) in by_key and (subject, target) in by_key
    ]
    if not pairs:
        raise UserError(
            f"{dataset} has no test subject with a neutral face and a target-expression face"
        )
    pairs = [pairs[i % len(pairs)] for i in range(images)]
    files = sorted({f for source, output, _ in pairs for f in (source, output)})
    pixels = decode_images([root / f for f in files])
    row = {f: i for i, f in enumerate(files)}
    batches = []
    for start in range(0, len(pairs), batch_size):
        part = pairs[start : start + batch_size]
        sources = to_model_range(pixels[[row[s] for s, _, _ in part]]).to(device)
        outputs = to_model_range(pixels[[row[o] for _, o, _ in part]]).to(device)
        batches.append(
            ScoringBatch(
                sources=sources,
                outputs=outputs,
                target_expressions=torch.tensor([INDEX[t] for _, _, t in part], device=device),
                references=outputs,
                has_reference=torch.ones(len(part), dtype=torch.bool, device=device),
            )
        )
    return batches


def measure(
    config: Config,
    dataset: str,
    device: torch.device,
    images: int = 64,
    batch_size: int = 32,
    metric_names: list[str] | None = None,
) -> list[PerfRow]:
    """Time each metric over ``images`` stand-in outputs of ``dataset`` on ``device``."""
    names = METRICS.parse(metric_names or config.metrics)
    batches = stand_in_batches(config, dataset, images, batch_size, device)
    targets = tuple(parse_expressions(config.targets))
    rows = []
    for name in names:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        context = evaluation_context(config, "perf", dataset, device, targets)
        marks = [time.perf_counter()]
        try:
            metric = build_metric(name, config.metric_settings_of(name)).to(device)
            marks.append(time.perf_counter())
            with torch.inference_mode():
                metric.begin(context)
                marks.append(time.perf_counter())
                cpu_start = time.process_time()
                for batch in batches:
                    metric.score(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                marks.append(time.perf_counter())
                score_cpu = time.process_time() - cpu_start
                metric.finish()
                marks.append(time.perf_counter())
        except MissingWeightsError as error:
            rows.append(PerfRow(name, f"missing: {str(error).splitlines()[0]}"))
            continue
        setup, begin, score, finish = (b - a for a, b in zip(marks, marks[1:], strict=False))
        rows.append(
            PerfRow(
                name, "ok", setup, begin, score, finish, images, peak_memory_mib(device), score_cpu
            )
        )
    return rows
