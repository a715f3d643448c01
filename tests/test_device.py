"""``device: auto`` spreads parallel jobs over the visible GPUs (tested by faking the GPU count)."""

from __future__ import annotations

import os

import pytest
import torch

from bench.core import device as device_module
from bench.core.device import GPU_ENV, auto_gpu_index, resolve_device
from bench.core.errors import UserError


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """Four fake GPUs, lock files under tmp_path, no claims and no GPU variables yet."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(device_module, "lock_dir", lambda: tmp_path)
    monkeypatch.setattr(device_module, "_claimed", [])
    monkeypatch.delenv(GPU_ENV, raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    yield
    device_module.release_gpus()


def new_process(monkeypatch) -> None:
    """Forget this process's claim (its lock stays held), as if another process were asking."""
    monkeypatch.setattr(device_module, "_claimed", [])


def test_parallel_jobs_claim_different_gpus_then_share(fake_gpus, monkeypatch):
    held = []
    for expected in range(4):
        assert resolve_device("auto") == torch.device("cuda", expected)
        assert resolve_device("auto") == torch.device("cuda", expected)  # same process: same GPU
        held += device_module._claimed
        new_process(monkeypatch)
    assert auto_gpu_index(4) == os.getpid() % 4  # every GPU taken: share one
    for handle in held:
        handle.close()  # those "processes" exit: their GPUs are free again
    assert auto_gpu_index(4) == 0


def test_explicit_gpu_index_and_local_rank_win(fake_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cuda", 2)
    monkeypatch.setenv(GPU_ENV, "3")
    assert resolve_device("auto") == torch.device("cuda", 3)
    assert not device_module._claimed
    monkeypatch.setenv(GPU_ENV, "4")
    with pytest.raises(UserError, match="only 4 GPU"):
        resolve_device("auto")
    monkeypatch.setenv(GPU_ENV, "first")
    with pytest.raises(UserError, match="must be a GPU index"):
        resolve_device("auto")


def test_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
