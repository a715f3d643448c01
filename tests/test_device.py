"""``device: auto``: the first visible GPU, or the ``LOCAL_RANK``'s under torchrun; which GPUs
a process sees is the scheduler's business (``CUDA_VISIBLE_DEVICES``), fes-bench claims none
(tested by faking the GPU count)."""

from __future__ import annotations

import pytest
import torch

from bench.core import device as device_module
from bench.core.device import resolve_device
from bench.core.errors import UserError


@pytest.fixture
def fake_gpus(monkeypatch):
    """Four fake GPUs, no torchrun rank."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_parallel_processes_each_take_their_first_visible_gpu(fake_gpus, tmp_path):
    # every process sees its own GPUs (CUDA_VISIBLE_DEVICES from Slurm or --launcher local):
    # nothing is claimed, no file is written
    assert [resolve_device("auto") for _ in range(3)] == [torch.device("cuda", 0)] * 3
    assert not hasattr(device_module, "fcntl") and not hasattr(device_module, "lock_dir")


def test_local_rank_picks_the_gpu_and_is_checked(fake_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cuda", 2)
    monkeypatch.setenv("LOCAL_RANK", "4")
    with pytest.raises(UserError, match="only 4 GPU"):
        resolve_device("auto")
    monkeypatch.setenv("LOCAL_RANK", "first")
    with pytest.raises(UserError, match="must be a GPU index"):
        resolve_device("auto")


def test_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_without_a_gpu_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device"):
        resolve_device("cuda")
