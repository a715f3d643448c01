"""``bench run --launcher slurm|local``: the benchmark as a graph of jobs handed to a scheduler.

The stages ``bench run`` would run (:mod:`bench.launch.graph`) become one job each, through
submitit (:mod:`bench.launch.schedulers`): Slurm with ``afterok`` dependencies, or the local
executor on this machine with one GPU per job. Each job runs the same code as ``bench run``
for its stage (:mod:`bench.launch.job`) and, preempted or out of time, is requeued and
resumes from its training state. The pinned weights and the models' sources are written
first, in the launching process (a login node reaches the network; the checks read them).
While the jobs run, other writing commands are kept out (:mod:`bench.launch.record`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.core.errors import UserError
from bench.core.lock import command_line
from bench.core.progress import console
from bench.data import check_dataset_names
from bench.launch.follow import follow
from bench.launch.graph import gpus_per_job, job_graph
from bench.launch.job import StageJob
from bench.launch.record import Launch
from bench.launch.schedulers import JobEntry, Local, Slurm
from bench.sources import write_sources
from bench.weights_lock import write_locks
from models.registry import MODELS

if TYPE_CHECKING:
    from bench.config import Config

LAUNCHERS = ("none", "local", "slurm")
"""``none``: every stage in this process, one after another (``bench run``'s default)."""


def launch(
    config: Config,
    models: str | list[str] | None,
    datasets: str | list[str] | None,
    retrain: bool,
    device: str,
    launcher: str,
    wait: bool,
    offline: bool = False,
) -> bool | None:
    """Submit the jobs of the stages that are not current; with ``wait`` (always for
    ``local``) follow them to the end. True/False: every job completed or not; None: only
    submitted (or nothing to do)."""
    chosen_models = MODELS.parse(models or config.table_models)
    chosen_datasets = check_dataset_names(config, datasets or config.eval_datasets)
    gpus = gpus_per_job(config, device)
    scheduler = Slurm(config) if launcher == "slurm" else Local(config, gpus)
    write_locks(config, offline=offline)
    write_sources(config)
    specs = job_graph(config, chosen_models, chosen_datasets, retrain, device)
    if not specs:
        console.print("nothing to do: every stage is current (`bench run --dry-run`)")
        return None
    logs = Path(config.launcher.logs).resolve()
    jobs = {
        spec.stage: StageJob(
            stage=spec.stage,
            config=config,
            models=tuple(chosen_models),
            datasets=tuple(chosen_datasets),
            retrain=retrain,
            device=device,
            threads=config.launcher.cpus_per_job,
        )
        for spec in specs
    }
    entries = [
        JobEntry(spec.stage, list(spec.after), spec.gpus, str(logs / spec.stage)) for spec in specs
    ]
    record = Launch(launcher, command_line(), time.time(), os.getpid(), entries)
    for spec in specs:
        console.print(f"{spec.stage}: to run ({spec.why})", highlight=False, soft_wrap=True)
    if launcher == "local":
        record.save(config)
        return follow(config, record, scheduler, jobs)
    try:
        scheduler.start(entries, jobs, {})
    except UserError:  # one was refused: none of this launch stays queued
        scheduler.cancel([e for e in entries if e.job_id])
        raise
    record.save(config)
    for entry in entries:
        after = f" after {', '.join(entry.after)}" if entry.after else ""
        console.print(f"submitted {entry.stage}: job {entry.job_id}{after}", highlight=False)
    console.print(
        f"{len(entries)} Slurm jobs, logs under {logs}/<stage>/; follow them with "
        "`bench jobs --wait` (or squeue), cancel them with `bench jobs --cancel`",
        highlight=False,
        soft_wrap=True,
    )
    if not wait:
        return None
    return follow(config, record, scheduler)
