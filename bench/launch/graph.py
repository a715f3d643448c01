"""The job graph of a launch: the stages ``bench run`` would run (:func:`bench.run.plan`, the
same stage instances as ``dvc.yaml``), each with the submitted stages it waits for.

Only stages that are not current become jobs (``bench run --dry-run`` lists the same); a job
waits for each upstream stage that is itself submitted (Slurm's ``afterok``). The plan is in
dependency order (data, the ECS classifier, training, adaptation after its bases, evaluation,
the report), so every job is submitted after the jobs it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bench.run import plan

if TYPE_CHECKING:
    from bench.config import Config

NO_GPU_STAGES = ("data", "report")
"""Stages that never use a GPU (their jobs ask for none)."""


@dataclass(frozen=True)
class JobSpec:
    """One job to submit: its stage, why it runs, the stages it waits for, its GPU count."""

    stage: str
    why: str
    after: tuple[str, ...]
    gpus: int


def gpus_per_job(config: Config, device: str) -> int:
    """``launcher.gpus_per_job``, else 1 when ``device`` is cuda (or auto and this machine
    has CUDA), else 0."""
    if config.launcher.gpus_per_job is not None:
        return config.launcher.gpus_per_job
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return 1
    return 0


def job_graph(
    config: Config, models: list[str], datasets: list[str], retrain: bool, device: str
) -> list[JobSpec]:
    """The jobs of a launch, in submission order (weights and sources must be written first:
    the checks read them)."""
    steps = plan(config, models, datasets, retrain, torch.device("cpu"))
    reasons = {name: why for name, step in steps.items() if (why := step.runs(steps))}
    gpus = gpus_per_job(config, device)
    return [
        JobSpec(
            stage=name,
            why=why,
            after=tuple(a for a in steps[name].after if a in reasons),
            gpus=0 if name.split("@")[0] in NO_GPU_STAGES else gpus,
        )
        for name, why in reasons.items()
    ]
