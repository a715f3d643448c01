"""Choosing the torch device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``.

``auto`` spreads parallel jobs over the visible GPUs: a process launched by
``torchrun`` takes its ``LOCAL_RANK``'s GPU; a process given ``FES_BENCH_GPU=i``
takes GPU ``i``; any other process claims the first GPU that no other fes-bench
process on this machine holds (an exclusive ``fcntl`` lock on
``$TMPDIR/fes-bench-gpu-<i>.lock``, held until the process exits), so the workers
of ``dvc queue start -j N`` land on N different GPUs. When every GPU is held, the
process shares the one picked by its process id. ``CUDA_VISIBLE_DEVICES`` set per
worker restricts what each one sees, as usual.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import torch

from bench.core.errors import UserError

GPU_ENV = "FES_BENCH_GPU"
"""Environment variable naming the GPU index ``device: auto`` uses in this process."""

_claimed: list[IO] = []  # lock files kept open (and locked) for the life of the process


def lock_dir() -> Path:
    """Folder of the per-GPU lock files (the system temp folder)."""
    return Path(tempfile.gettempdir())


def _try_lock(index: int) -> bool:
    handle = open(lock_dir() / f"fes-bench-gpu-{index}.lock", "a")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _claimed.append(handle)
    return True


def release_gpus() -> None:
    """Give back the GPUs this process claimed (done automatically at exit)."""
    while _claimed:
        with contextlib.suppress(OSError):
            _claimed.pop().close()


def auto_gpu_index(count: int) -> int:
    """The GPU index (0 <= i < ``count``) ``device: auto`` uses in this process (see module doc)."""
    for variable in (GPU_ENV, "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value is not None:
            try:
                index = int(value)
            except ValueError:
                raise UserError(f"${variable} must be a GPU index, got {value!r}") from None
            if not 0 <= index < count:
                raise UserError(f"${variable}={index} but only {count} GPU(s) are visible")
            return index
    if _claimed:  # already claimed one earlier in this process
        return int(Path(_claimed[0].name).stem.rsplit("-", 1)[1])
    for index in range(count):
        if _try_lock(index):
            return index
    return os.getpid() % count


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
