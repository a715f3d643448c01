"""Reading generator weights saved by the baselines' authors' own code into our modules.

Each baseline model names, for its generator, which of our module prefixes corresponds to
which module of the authors' network (:meth:`models.stargan.StarGAN.authors_prefixes`); this
module renames a state dict through such a map, drops the entries the authors' forward pass
never reads (InstanceNorm running statistics, SARGAN's unused ``att_func``) and reports every
other mismatch as one :class:`UserError` naming the keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from bench.core.errors import UserError

RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
"""Buffers of the authors' ``InstanceNorm2d(track_running_stats=True)``: saved, never used
(their solvers never call ``.eval()``, so every image is normalised by its own statistics)."""


@dataclass(frozen=True)
class Converted:
    """A state dict in our key names plus the authors' keys left out, with the reason."""

    state_dict: dict[str, torch.Tensor]
    dropped: dict[str, list[str]]


def rename(key: str, prefixes: Mapping[str, str]) -> str | None:
    """``key`` with its longest matching module prefix replaced (dot-bounded); None if none."""
    for ours in sorted(prefixes, key=len, reverse=True):
        if key == ours or key.startswith(ours + "."):
            return prefixes[ours] + key[len(ours) :]
    return None


def _listing(keys: Iterable[str], limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def convert(
    theirs: Mapping[str, torch.Tensor],
    ours: Mapping[str, torch.Tensor],
    prefixes: Mapping[str, str],
    unused: tuple[str, ...] = (),
    source: str = "checkpoint",
) -> Converted:
    """Map the authors' state dict ``theirs`` onto the keys and shapes of ``ours``.

    ``prefixes``: our module prefix -> the authors' (see :func:`rename`); ``unused``: module
    prefixes of the authors' network that its forward pass never calls (dropped with a
    note). A key of ours with no counterpart, an authors' key left over, or a shape that
    differs is a :class:`UserError` naming the keys and ``source``.
    """
    wanted = {}
    for key in ours:
        their_key = rename(key, prefixes)
        if their_key is None:
            raise UserError(f"{source}: no authors' name for our parameter {key}")
        wanted[their_key] = key
    dropped: dict[str, list[str]] = {"InstanceNorm running statistics (never used)": []}
    for prefix in unused:
        dropped[f"{prefix}.* (built but never called by the authors' forward)"] = []
    leftover = []
    for key in theirs:
        if key in wanted:
            continue
        if key.rsplit(".", 1)[-1] in RUNNING_STATISTICS:
            dropped["InstanceNorm running statistics (never used)"].append(key)
            continue
        owner = next((p for p in unused if key.startswith(p + ".")), None)
        if owner is not None:
            dropped[f"{owner}.* (built but never called by the authors' forward)"].append(key)
            continue
        leftover.append(key)
    missing = [key for key in wanted if key not in theirs]
    if missing or leftover:
        parts = []
        if missing:
            parts.append(f"missing {_listing(missing)}")
        if leftover:
            parts.append(f"unexpected {_listing(leftover)}")
        raise UserError(f"{source} does not fit this model: {'; '.join(parts)}")
    converted = {}
    bad_shapes = []
    for their_key, key in wanted.items():
        tensor = theirs[their_key]
        if tuple(tensor.shape) != tuple(ours[key].shape):
            bad_shapes.append(f"{their_key} {tuple(tensor.shape)} vs {tuple(ours[key].shape)}")
        converted[key] = tensor.detach().clone().to(ours[key].dtype)
    if bad_shapes:
        raise UserError(f"{source}: shape mismatch in {_listing(bad_shapes, 3)}")
    return Converted(converted, {reason: keys for reason, keys in dropped.items() if keys})


def residual_prefixes() -> dict[str, str]:
    """Our :class:`models.blocks.ResidualBlock` -> StarGAN's ``ResidualBlock`` (``main`` Sequential)."""
    return {"body": "main"}


def stargan_trunk_prefixes(bottleneck: list[Mapping[str, str]]) -> dict[str, str]:
    """Our :class:`models.blocks.EncoderDecoder` -> StarGAN's generator ``main`` Sequential.

    The authors' layers, in order: 7x7 conv, IN, ReLU (``main.0-2``), two downsampling
    triples (``main.3-8``), the bottleneck blocks (``main.9`` on), two upsampling triples.
    ``bottleneck[k]``: block k's own prefix map (relative to the block). The head (output
    conv) sits two places after the last upsampling layer: ``main.{up + 6}``.
    """
    prefixes = {
        "trunk.stem.0": "main.0",
        "trunk.stem.1": "main.1",
        "trunk.down.0": "main.3",
        "trunk.down.1": "main.4",
        "trunk.down.3": "main.6",
        "trunk.down.4": "main.7",
    }
    for index, block in enumerate(bottleneck):
        for ours, theirs in block.items():
            prefixes[f"trunk.bottleneck.{index}.{ours}"] = f"main.{9 + index}.{theirs}"
    up = 9 + len(bottleneck)
    for offset in (0, 1, 3, 4):
        prefixes[f"trunk.up.{offset}"] = f"main.{up + offset}"
    prefixes["head"] = f"main.{up + 6}"
    return prefixes


def critic_prefixes(layers: int) -> dict[str, str]:
    """Our :class:`models.blocks.PatchCritic` -> StarGAN's ``Discriminator`` (same in all four)."""
    prefixes = {f"body.{2 * i}": f"main.{2 * i}" for i in range(layers)}
    return {**prefixes, "score": "conv1", "vector": "conv2"}


def permute_condition(weight: torch.Tensor, order: list[int]) -> torch.Tensor:
    """First conv weight (out, 3 + c, k, k) with its condition channels taken in ``order``.

    ``order[k]``: the checkpoint's class index of our class k, so our one-hot k drives the
    filter slice the authors' class ``order[k]`` drove; classes not in ``order`` are left
    out (their channel is always zero in a one-hot input, so outputs are unchanged).
    """
    index = torch.tensor([0, 1, 2] + [3 + i for i in order])
    return weight.index_select(1, index).contiguous()
