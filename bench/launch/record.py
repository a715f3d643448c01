"""The launch record: which jobs the last ``bench run --launcher`` started, and the rule that
no other writing command runs while they are in flight.

``bench run --launcher slurm`` returns once its jobs are submitted, but the project is still
being written, by jobs that take no lock (each runs the Python API on its own outputs; the
job graph orders them). So the launch writes ``<paths.results>/.bench.jobs.json`` (launcher,
command, each job's stage, id, dependencies and log), and every writing command, after
taking the project lock (:mod:`bench.core.lock`), asks the scheduler whether any of those
jobs is still pending or running: then it waits (``bench --wait SECONDS``) or exits 2
naming them. ``bench jobs`` shows, follows or cancels them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.core import atomic
from bench.core.errors import UserError
from bench.launch.schedulers import JobEntry, Local, Slurm, is_active, pid_alive

if TYPE_CHECKING:
    from bench.config import Config

RECORD_NAME = ".bench.jobs.json"
POLL_S = 5.0


@dataclass
class Launch:
    """One ``bench run --launcher``: its jobs in submission order."""

    launcher: str
    command: str
    submitted: float
    pid: int
    """The launching process (local jobs are started by it)."""
    jobs: list[JobEntry] = field(default_factory=list)
    finished: bool = False
    """Set once every job was seen over (no need to ask the scheduler again)."""

    def save(self, config: Config) -> None:
        """Write the record (all or nothing)."""
        atomic.write_text(record_path(config), json.dumps(dataclasses.asdict(self), indent=1))

    def scheduler(self, config: Config) -> Slurm | Local:
        """The scheduler to ask about these jobs."""
        if self.launcher == "slurm":
            return Slurm(config)
        return Local(config, 0)

    def states(self, config: Config, scheduler: Slurm | Local | None = None) -> dict[str, str]:
        """Stage -> state of every job (asks the scheduler)."""
        scheduler = scheduler or self.scheduler(config)
        return scheduler.states(self.jobs, pid_alive(self.pid))


def record_path(config: Config) -> Path:
    """``<paths.results>/.bench.jobs.json``."""
    return config.root("results") / RECORD_NAME


def load(config: Config) -> Launch | None:
    """The last launch of this project, None if there was none."""
    path = record_path(config)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        jobs = [JobEntry(**job) for job in raw.pop("jobs")]
        return Launch(**raw, jobs=jobs)
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(f"{path} is not a launch record ({error}); delete it") from None


def in_flight(config: Config) -> str | None:
    """None when no job of the last launch may still run; else a line naming them."""
    launch = load(config)
    if launch is None or launch.finished:
        return None
    try:
        states = launch.states(config)
    except UserError:  # no Slurm commands here: the jobs cannot be asked about
        return (
            f"{launch.launcher} jobs of `{launch.command}` may be in flight and Slurm cannot be "
            f"asked here (no squeue); if they are over, delete {record_path(config)}"
        )
    active = [f"{s} {states[s]}" for s in (j.stage for j in launch.jobs) if is_active(states[s])]
    if not active:
        launch.finished = True
        launch.save(config)
        return None
    since = time.strftime("%H:%M:%S", time.localtime(launch.submitted))
    return (
        f"{len(active)} job(s) of `{launch.command}` (submitted {since}) are in flight: "
        f"{', '.join(active[:4])}{', ...' if len(active) > 4 else ''}; follow them with "
        "`bench jobs --wait`, or cancel them with `bench jobs --cancel`"
    )


def wait_idle(config: Config, limit_s: float, say: Callable[[str], object] | None = None) -> None:
    """Return when no job of the last launch is in flight; wait up to ``limit_s`` seconds
    (saying so once), then a :class:`UserError` (exit 2) naming them."""
    deadline = time.monotonic() + limit_s
    said = False
    while reason := in_flight(config):
        if time.monotonic() >= deadline:
            waited = f" (waited {limit_s:g} s)" if limit_s else ""
            raise UserError(f"this project is being written{waited}: {reason}")
        if not said and say is not None:
            say(f"waiting up to {limit_s:g} s: {reason}")
            said = True
        time.sleep(POLL_S)
