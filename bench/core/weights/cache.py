"""Where cached weight files live, and their sha256 (memoised per file state).

Layout: ``<root>/<asset name>/<filename>``, where ``<root>`` is
``$FES_BENCH_WEIGHTS`` if set, else ``~/.cache/fes-bench/weights``. For assets
without a sha256 in the table, the sha256 observed on first pull is kept beside
the file in ``<filename>.sha256``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.core import atomic
from bench.core.hashing import sha256_file
from bench.core.weights.assets import Asset

ENV_VAR = "FES_BENCH_WEIGHTS"
DEFAULT_ROOT = "~/.cache/fes-bench/weights"
_CHUNK_BYTES = 1 << 20

_digest_memo: dict[tuple[str, int, int, int], str] = {}


def cache_root() -> Path:
    """The cache folder (read from the environment on every call)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_ROOT).expanduser()


def asset_path(asset: Asset) -> Path:
    """Where the asset's file lives in the cache."""
    return cache_root() / asset.name / asset.filename


def recorded_sha_path(asset: Asset) -> Path:
    """The side file holding the locally recorded sha256 of an asset with none in the table."""
    path = asset_path(asset)
    return path.with_name(path.name + ".sha256")


def read_recorded_sha(asset: Asset) -> str | None:
    """The locally recorded sha256, or ``None`` if none was recorded."""
    try:
        return recorded_sha_path(asset).read_text(encoding="utf-8").split()[0]
    except (FileNotFoundError, IndexError):
        return None


def record_sha(asset: Asset, sha256: str) -> None:
    """Record ``sha256`` as the asset's checksum (atomic write)."""
    path = recorded_sha_path(asset)
    atomic.write_text(path, f"{sha256}  {asset.filename}\n")
    path.chmod(0o644)


def file_sha256(path: Path, use_memo: bool = True) -> str:
    """Hex sha256 of a file's bytes.

    The result is memoised per (path, size, mtime, inode), so repeated checks of
    an unchanged file are free; ``use_memo=False`` always rereads the file.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if use_memo and key in _digest_memo:
        return _digest_memo[key]
    _digest_memo[key] = sha256_file(path)
    return _digest_memo[key]
