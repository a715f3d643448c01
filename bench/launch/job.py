"""One stage of the benchmark as a scheduler's job: the callable submitit pickles and runs.

A :class:`StageJob` runs the same code as ``bench run`` does for that stage (the plan's
action, :func:`bench.run.plan`), on the device it finds where it runs. Preempted or at its
time limit, submitit calls :meth:`StageJob.checkpoint` (on ``SIGUSR2``) and requeues the job
with what it returns; training and adaptation then resume from their ``train_state.pt``
(never ``--retrain`` again: that would throw the saved state away). A job calls the Python
API, which takes no project lock (:mod:`bench.launch.record` keeps other commands out).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from submitit.helpers import DelayedSubmission

    from bench.config import Config


@dataclasses.dataclass(frozen=True)
class StageJob:
    """The stage ``stage`` (DVC's name, e.g. ``train@stargan``) of a launch of ``models`` x
    ``datasets``; ``device``: auto | cpu | cuda[:N], resolved in the job; ``threads``: torch
    threads unless ``OMP_NUM_THREADS`` is set."""

    stage: str
    config: Config
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    retrain: bool
    device: str
    threads: int

    def __call__(self) -> str:
        """Run the stage; return its name (submitit records it as the job's result)."""
        import torch

        from bench.core.device import work_device
        from bench.core.progress import console
        from bench.run import plan
        from models.registry import MODELS

        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", self.threads)))
        models = MODELS.parse(list(self.models))  # registers ad hoc classes in this process
        device = work_device(self.device)
        step = plan(self.config, models, list(self.datasets), self.retrain, device)[self.stage]
        console.print(
            f"{self.stage}: running on {socket.gethostname()} ({device}, "
            f"{torch.get_num_threads()} threads)",
            highlight=False,
        )
        assert step.action is not None
        step.action()
        return self.stage

    def checkpoint(self) -> DelayedSubmission:
        """Called by submitit when the job is preempted or reaches its time limit: requeue
        the same stage; it resumes from the last saved training state."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(dataclasses.replace(self, retrain=False))
