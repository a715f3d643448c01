"""Choosing the torch device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``.

``auto`` takes the first visible GPU, or under ``torchrun`` its process's ``LOCAL_RANK``.
Which GPUs a process sees is the scheduler's business, through ``CUDA_VISIBLE_DEVICES``:
Slurm sets it for each job's GPUs, ``bench run --launcher local`` gives each of its jobs
one GPU of the machine (:mod:`bench.launch`), and a hand-started process can be given one
(``CUDA_VISIBLE_DEVICES=2 bench train ...``). fes-bench claims no GPU by itself.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from collections.abc import Iterator

import torch

from bench.core.errors import UserError


def auto_gpu_index(count: int) -> int:
    """The GPU index (0 <= i < ``count``) ``device: auto`` uses in this process: its
    ``LOCAL_RANK`` under ``torchrun``, else the first visible GPU."""
    value = os.environ.get("LOCAL_RANK")
    if value is None:
        return 0
    try:
        index = int(value)
    except ValueError:
        raise UserError(f"$LOCAL_RANK must be a GPU index, got {value!r}") from None
    if not 0 <= index < count:
        raise UserError(f"$LOCAL_RANK={index} but only {count} GPU(s) are visible")
    return index


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a device; asking for CUDA without one is a user error."""
    name = (name or "auto").lower()
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", auto_gpu_index(torch.cuda.device_count()))
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} requested but no CUDA device is available")
        return torch.device(name)
    raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")


def work_device(name: str = "auto") -> torch.device:
    """:func:`resolve_device` for a command or job that trains or scores: on the CPU also
    deterministic algorithms (bit-reproducible results)."""
    device = resolve_device(name)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when ``enabled``; a no-op context on CPU (bit-reproducible results)."""
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda"
    )


@contextlib.contextmanager
def inference_precision(device: torch.device, bf16: bool) -> Iterator[None]:
    """bf16 autocast on CUDA when ``bf16``; otherwise true float32: TF32 convolutions and
    matmuls off, so CUDA outputs stay within one uint8 level of the CPU's."""
    if bf16:
        with autocast(device, True):
            yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with cudnn.flags(
            enabled=cudnn.enabled,
            benchmark=cudnn.benchmark,
            deterministic=cudnn.deterministic,
            allow_tf32=False,
        ):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def to_device_async(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without making the host wait: on CUDA copied from pinned
    memory with ``non_blocking`` (a plain ``.to(device)`` synchronises the stream), elsewhere
    ``tensor`` itself when it is already there. Later work on the current stream sees the copy.
    """
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def tune_cuda(device: torch.device, enabled: bool) -> torch.memory_format:
    """Pick fast kernels on CUDA when ``enabled``: ``cudnn.benchmark`` and channels_last.

    Returns the memory format for the model's weights and batches (``channels_last``
    on CUDA when enabled, ``contiguous_format`` otherwise). The CPU path is unchanged.
    """
    if not enabled or device.type != "cuda":
        return torch.contiguous_format
    torch.backends.cudnn.benchmark = True
    return torch.channels_last


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory so far, MiB: CUDA's ``max_memory_allocated`` on a GPU, the process's peak RSS
    otherwise (since the process started: it never goes down)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB Linux
