"""Choosing the torch device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``."""

from __future__ import annotations

import torch

from bench.core.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a device; asking for CUDA without one is a user error."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} requested but no CUDA device is available")
        return torch.device(name)
    raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")


def autocast(device: torch.device):
    """bf16 autocast on CUDA, a no-op context on CPU (so CPU results stay bit-reproducible)."""
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
    )
