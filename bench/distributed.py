"""DistributedDataParallel under ``torchrun``: one process per device, same code otherwise.

``torchrun --nproc_per_node N -m bench.cli train --model M`` sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``; without them everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job (world_size 1 when not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, samples and progress."""
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """One CUDA device per process under torchrun; the requested device otherwise."""
        if self.enabled and requested.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return requested

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """DDP-wrap ``module`` when distributed (a no-op otherwise)."""
        if not self.enabled or not any(p.requires_grad for p in module.parameters()):
            return module
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank (collective)."""
        if not self.enabled:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (collective), e.g. a time-based checkpoint decision."""
        if not self.enabled:
            return flag
        box = [flag]
        dist.broadcast_object_list(box, src=0)
        return bool(box[0])


def setup(device: torch.device) -> Distributed:
    """Join the process group when launched by torchrun (NCCL on CUDA, Gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=rank, local_rank=local_rank, world_size=world_size)


def current() -> Distributed:
    """The job description of an already-initialised process group (or single process)."""
    if dist.is_available() and dist.is_initialized():
        return Distributed(
            rank=dist.get_rank(),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=dist.get_world_size(),
        )
    return Distributed()
