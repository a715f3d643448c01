"""The schedulers a launch hands its jobs to, both through submitit.

- :class:`Slurm`: every job is submitted at once with ``sbatch``, each with
  ``--dependency=afterok:<ids of the jobs it waits for>`` and ``--kill-on-invalid-dep=yes``,
  so Slurm starts a job when its inputs are made and cancels the dependents of a failed job
  itself (nobody needs to stay logged in). GPUs with ``--gpus-per-node`` (Slurm sets
  ``CUDA_VISIBLE_DEVICES``); preemption and time limits through submitit's ``USR2`` hook.
- :class:`Local`: submitit's local executor, one process per job on this machine.
  submitit's local executor knows no dependencies, so the launch starts a job when the jobs
  it waits for have completed, each with its own GPU(s) of the machine
  (``CUDA_VISIBLE_DEVICES``), at most as many at once as there are GPUs per job (on the
  CPU: cores per ``launcher.cpus_per_job``).

Job states are Slurm's words (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...);
a job's own outcome is the result file submitit writes beside its log.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.config import Config
    from bench.launch.job import StageJob

ACTIVE = frozenset(
    {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING"}
    | {"SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "PREEMPTED", "UNKNOWN"}
)
"""States of a job that is not over (UNKNOWN: the scheduler could not be asked)."""


def is_active(state: str) -> bool:
    """Whether a job in ``state`` may still run."""
    return state in ACTIVE


@dataclass
class JobEntry:
    """One job of a launch as the launch record keeps it."""

    stage: str
    after: list[str]
    gpus: int
    folder: str
    """submitit's folder of the job: its script, pickles and log."""
    job_id: str | None = None
    """None: not submitted yet (local jobs wait for their dependencies)."""
    devices: list[int] = field(default_factory=list)
    """Local jobs: the GPUs it was given."""

    @property
    def log(self) -> Path:
        """The job's log (stdout and stderr; a requeued job appends to it)."""
        return Path(self.folder) / f"{self.job_id}_0_log.out"

    def result(self) -> tuple[str, Any] | None:
        """submitit's ``("success", stage)`` or ``("error", traceback)``; None: none yet."""
        path = Path(self.folder) / f"{self.job_id}_0_result.pkl"
        if self.job_id is None or not path.is_file():
            return None
        try:
            with path.open("rb") as handle:
                return pickle.load(handle)
        except (EOFError, pickle.UnpicklingError):  # being written
            return None


def _finished(entry: JobEntry) -> str | None:
    """COMPLETED or FAILED from the job's result file; None without one."""
    outcome = entry.result()
    if outcome is None:
        return None
    return "COMPLETED" if outcome[0] == "success" else "FAILED"


def _waiting_state(entry: JobEntry, states: dict[str, str]) -> str:
    """A job not started: CANCELLED once a job it waits for ended without completing."""
    for upstream in entry.after:
        state = states.get(upstream, "COMPLETED")
        if not is_active(state) and state != "COMPLETED":
            return "CANCELLED"
    return "PENDING"


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class Slurm:
    """Jobs on a Slurm cluster (see module doc)."""

    name = "slurm"

    def __init__(self, config: Config) -> None:
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise UserError(
                "--launcher slurm needs Slurm's sbatch and squeue on PATH (a login node of the "
                "cluster); on one machine use --launcher local"
            )
        self.settings = config.launcher

    def _executor(self, entry: JobEntry, after: list[str]):
        import submitit

        settings = self.settings
        executor = submitit.SlurmExecutor(folder=entry.folder, max_num_timeout=settings.requeues)
        options: dict[str, Any] = {
            "job_name": f"fes-{entry.stage}",
            "time": settings.time,
            "cpus_per_task": settings.cpus_per_job,
            "signal_delay_s": min(90, settings.time * 15),  # USR2 this long before the limit
            "stderr_to_stdout": True,
            "additional_parameters": {**settings.extra, "kill-on-invalid-dep": "yes"},
        }
        if after:
            options["dependency"] = "afterok:" + ":".join(after)
        if entry.gpus:
            options["gpus_per_node"] = entry.gpus
        for key in ("partition", "account", "mem"):
            if getattr(settings, key) is not None:
                options[key] = getattr(settings, key)
        executor.update_parameters(**options)
        return executor

    def start(self, entries: list[JobEntry], jobs: dict[str, StageJob], states: dict[str, str]):
        """Submit every job not submitted yet, each after the jobs it waits for."""
        ids = {e.stage: e.job_id for e in entries if e.job_id}
        for entry in entries:
            if entry.job_id is not None:
                continue
            after = [ids[a] for a in entry.after if a in ids]
            try:
                job = self._executor(entry, after).submit(jobs[entry.stage])
            except Exception as error:  # sbatch refused it: say why, in one line
                message = str(error).strip().splitlines() or [type(error).__name__]
                raise UserError(f"sbatch refused the {entry.stage} job: {message[-1]}") from None
            entry.job_id = ids[entry.stage] = str(job.job_id)

    def states(self, entries: list[JobEntry], submitter_alive: bool) -> dict[str, str]:
        """Each job's state: its result file, else ``squeue``, else ``sacct``; a job that left
        both without a result ENDED (killed outside Python, e.g. out of memory)."""
        ids = [e.job_id for e in entries if e.job_id]
        listed = _squeue(ids)
        missing = [i for i in ids if listed is not None and i not in listed]
        accounted = _sacct(missing) if missing else {}
        states: dict[str, str] = {}
        for entry in entries:
            if entry.job_id is None:
                states[entry.stage] = _waiting_state(entry, states)
                continue
            done = _finished(entry)
            if done == "COMPLETED":
                states[entry.stage] = done
            elif listed is None:
                states[entry.stage] = done or "UNKNOWN"
            else:
                known = listed.get(entry.job_id) or accounted.get(entry.job_id)
                states[entry.stage] = known or done or "ENDED"
        return states

    def cancel(self, entries: list[JobEntry]) -> None:
        """``scancel`` the given jobs."""
        ids = [e.job_id for e in entries if e.job_id]
        if ids:
            _run(["scancel", *ids])


def _squeue(ids: list[str]) -> dict[str, str] | None:
    """Job id -> state of the jobs Slurm still lists (finished ones for ``MinJobAge``); None
    when squeue could not answer."""
    if not ids:
        return {}
    try:
        done = _run(
            ["squeue", "--noheader", "--states=all", "--jobs", ",".join(ids), "-o", "%i|%T"]
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode and "Invalid job id" not in done.stderr:
        return None
    return dict(line.split("|", 1) for line in done.stdout.split() if "|" in line)


def _sacct(ids: list[str]) -> dict[str, str]:
    """Job id -> state from Slurm's accounting ({} where there is none)."""
    try:
        done = _run(["sacct", "--noheader", "-X", "-P", "-o", "JobID,State", "-j", ",".join(ids)])
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode:
        return {}
    pairs = (line.split("|", 1) for line in done.stdout.splitlines() if "|" in line)
    return {job: state.split()[0] for job, state in pairs if state}


class Local:
    """Jobs as processes of this machine (see module doc)."""

    name = "local"

    def __init__(self, config: Config, gpus: int) -> None:
        self.settings = config.launcher
        self.gpus = gpus
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus:
            import torch

            count = torch.cuda.device_count()
            names = visible.split(",") if visible else [str(i) for i in range(count)]
            if not all(name.strip().isdigit() for name in names):
                raise UserError(
                    f"CUDA_VISIBLE_DEVICES={visible!r}: --launcher local needs GPU indices"
                )
            self.devices = [int(name) for name in names][:count]
            self.slots = len(self.devices) // gpus
            if not self.slots:
                raise UserError(
                    f"launcher.gpus_per_job is {gpus} but this machine has "
                    f"{len(self.devices)} visible GPU(s)"
                )
        else:
            self.devices = []
            self.slots = max(1, (os.cpu_count() or 1) // self.settings.cpus_per_job)
        self._jobs: dict[str, Any] = {}  # job id -> submitit LocalJob (this process's children)

    def start(self, entries: list[JobEntry], jobs: dict[str, StageJob], states: dict[str, str]):
        """Start each job whose dependencies completed, while a slot (and GPUs) are free."""
        import submitit

        running = [e for e in entries if e.job_id and is_active(states.get(e.stage, "RUNNING"))]
        busy = {d for e in running for d in e.devices}
        free = [d for d in self.devices if d not in busy]
        for entry in entries:
            if entry.job_id is not None or len(running) >= self.slots:
                continue
            if any(states.get(a) != "COMPLETED" for a in entry.after):
                continue
            if len(free) < entry.gpus:
                continue
            entry.devices, free = free[: entry.gpus], free[entry.gpus :]
            executor = submitit.LocalExecutor(
                folder=entry.folder, max_num_timeout=self.settings.requeues
            )
            executor.update_parameters(
                timeout_min=self.settings.time,
                gpus_per_node=entry.gpus,
                visible_gpus=entry.devices,
                signal_delay_s=min(90, self.settings.time * 15),
                stderr_to_stdout=True,
            )
            job = executor.submit(jobs[entry.stage])
            entry.job_id = str(job.job_id)
            self._jobs[entry.job_id] = job
            states[entry.stage] = "RUNNING"
            running.append(entry)

    def states(self, entries: list[JobEntry], submitter_alive: bool) -> dict[str, str]:
        """Each job's state: its result file, else whether its process lives; a job not
        started is PENDING while the launching process lives, else CANCELLED."""
        states: dict[str, str] = {}
        for entry in entries:
            if entry.job_id is None:
                waiting = _waiting_state(entry, states)
                states[entry.stage] = waiting if submitter_alive else "CANCELLED"
                continue
            states[entry.stage] = _finished(entry) or self._process_state(entry.job_id)
        return states

    def _process_state(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        if job is not None:
            return "RUNNING" if job.state == "RUNNING" else "ENDED"
        return "RUNNING" if pid_alive(int(job_id)) else "ENDED"

    def cancel(self, entries: list[JobEntry]) -> None:
        """Interrupt the jobs' processes (their controller stops its task)."""
        for entry in entries:
            if entry.job_id and pid_alive(int(entry.job_id)):
                os.kill(int(entry.job_id), signal.SIGINT)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
