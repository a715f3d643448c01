"""Following a launch's jobs until they are over: one line per change of state, then a
summary naming a failed job, its log and the last line of its error, and the jobs cancelled
because of it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench.core.progress import console
from bench.launch.schedulers import is_active

if TYPE_CHECKING:
    from bench.config import Config
    from bench.launch.job import StageJob
    from bench.launch.record import Launch
    from bench.launch.schedulers import JobEntry, Local, Slurm


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _error_line(job: JobEntry, width: int = 240) -> str:
    """``: <the exception's first line>`` from the job's traceback ("" without one)."""
    outcome = job.result()
    if outcome is None or outcome[0] != "error":
        return ""
    lines = str(outcome[1]).splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after = [line for line in lines[frames[-1] + 1 if frames else 0 :] if line[:1].isalpha()]
    if not after:
        return ""
    first = after[0].strip()
    return f": {first[: width - 3]}..." if len(first) > width else f": {first}"


def summary(launch: Launch, states: dict[str, str], seconds: float | None = None) -> bool:
    """Print the outcome; True when every job completed."""
    total = len(launch.jobs)
    done = [j for j in launch.jobs if states[j.stage] == "COMPLETED"]
    if len(done) == total:
        took = f" in {seconds:.0f} s" if seconds is not None else ""
        console.print(f"jobs: all {total} completed{took}", highlight=False)
        return True
    cancelled = [j for j in launch.jobs if states[j.stage] == "CANCELLED"]
    failed = [j for j in launch.jobs if j not in done and j not in cancelled]
    for job in failed:
        console.print(
            f"job {job.stage} ({job.job_id}) {states[job.stage]}{_error_line(job)}; log: {job.log}",
            highlight=False,
            soft_wrap=True,
        )
    if cancelled:
        names = ", ".join(f"{j.stage} ({j.job_id or 'not started'})" for j in cancelled)
        console.print(f"cancelled, not run: {names}", highlight=False, soft_wrap=True)
    console.print(
        f"jobs: {len(done)} of {total} completed, {len(failed)} failed, {len(cancelled)} cancelled",
        highlight=False,
    )
    return False


def follow(
    config: Config,
    launch: Launch,
    scheduler: Slurm | Local,
    jobs: dict[str, StageJob] | None = None,
    poll_s: float = 2.0,
) -> bool:
    """Wait until every job is over, printing each change of state (and, for local jobs
    given their callables, starting each when its dependencies completed); then the summary.
    True when every job completed. Ctrl-C cancels the jobs not over."""
    start = time.monotonic()
    seen: dict[str, str] = {}
    try:
        while True:
            states = scheduler.states(launch.jobs, True)
            if jobs is not None:
                submitted = [j.job_id for j in launch.jobs]
                scheduler.start(launch.jobs, jobs, states)
                if submitted != [j.job_id for j in launch.jobs]:
                    launch.save(config)
                    states = scheduler.states(launch.jobs, True)
            for job in launch.jobs:
                if seen.get(job.stage) != states[job.stage]:
                    seen[job.stage] = states[job.stage]
                    where = f" (job {job.job_id})" if job.job_id else ""
                    console.print(
                        f"{_clock()} {job.stage}{where}: {states[job.stage]}", highlight=False
                    )
            if not any(is_active(state) for state in states.values()):
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        scheduler.cancel([j for j in launch.jobs if is_active(seen.get(j.stage, "PENDING"))])
        console.print("interrupted: the jobs not over were cancelled")
        raise
    launch.finished = True
    launch.save(config)
    return summary(launch, states, time.monotonic() - start)
