"""A content-keyed cache of feature matrices (e.g. Inception features of the real reference images).

An entry's key is the sha256 of everything that determines the features: the
extractor file's sha256, the resize mode, the numerics they are computed with
(device type and name, the TF32 and float32-matmul settings, the torch version:
:func:`numerics`) and the sorted sha256 of every image file's bytes. File names and folders play no part, so a renamed or moved folder
hits the cache and any changed pixel misses it. Entries are ``.npz`` files
(``sha256``: the image hashes, ``features``: one float32 row each), written
atomically, under ``$FES_BENCH_FEATURES`` or ``~/.cache/fes-bench/features``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.core import atomic

ENV_VAR = "FES_BENCH_FEATURES"
DEFAULT_ROOT = "~/.cache/fes-bench/features"


def default_root() -> Path:
    """The cache folder (read from the environment on every call)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_ROOT).expanduser()


def numerics(device: torch.device) -> dict[str, str | bool]:
    """What, besides the inputs, changes the features' low bits on ``device``: the device type
    (and GPU name), TF32 for matmul and cuDNN, float32 matmul precision, the torch version."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    return {
        "device": device.type,
        "device_name": name,
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch": torch.__version__,
    }


class FeatureCache:
    """Features per set of image contents, for one extractor and resize mode.

    Args:
        extractor_sha256: sha256 of the feature network's file.
        resize: a description of the resize in front of it (part of the key).
        root: cache folder (default :func:`default_root`).
        device: where the features are computed (its :func:`numerics` are part of the key;
            :meth:`FID.to <metrics.fid.FID.to>` updates it).
    """

    def __init__(
        self,
        extractor_sha256: str,
        resize: str,
        root: str | Path | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.extractor_sha256 = extractor_sha256
        self.resize = resize
        self.device = torch.device(device)
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.hits = 0
        self.misses = 0

    def key(self, file_sha256: list[str]) -> str:
        """The entry key for images with these content hashes (order and duplicates ignored)."""
        payload = {
            "extractor_sha256": self.extractor_sha256,
            "resize": self.resize,
            "numerics": numerics(self.device),
            "images_sha256": sorted(set(file_sha256)),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def path(self, key: str) -> Path:
        """Where the entry with ``key`` lives."""
        return self.root / key[:2] / f"{key}.npz"

    def _load(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {
                    str(h): row for h, row in zip(data["sha256"], data["features"], strict=True)
                }
        except (OSError, ValueError, KeyError):
            return None  # unreadable entry: recompute and overwrite

    def _store(self, key: str, rows: dict[str, np.ndarray]) -> None:
        hashes = sorted(rows)
        features = np.stack([rows[h] for h in hashes]).astype(np.float32)
        with atomic.atomic_path(self.path(key)) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, sha256=np.array(hashes), features=features)

    def features(self, file_sha256: list[str], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Features for images with these hashes, rows in the same order, as float64.

        ``compute()`` must return the features of the same images in the same
        order; it runs only when the cache has no entry for this content.
        """
        if not file_sha256:
            return np.zeros((0, 0), dtype=np.float64)
        key = self.key(file_sha256)
        rows = self._load(key)
        if rows is None or not set(file_sha256) <= rows.keys():
            self.misses += 1
            computed = np.asarray(compute())
            if computed.shape[0] != len(file_sha256):
                raise ValueError(
                    f"compute() gave {computed.shape[0]} rows for {len(file_sha256)} images"
                )
            rows = {h: computed[i].astype(np.float32) for i, h in enumerate(file_sha256)}
            self._store(key, rows)
        else:
            self.hits += 1
        return np.stack([rows[h] for h in file_sha256]).astype(np.float64)
