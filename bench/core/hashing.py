"""Content hashes of files: the sha256 that manifests, caches and provenance records carry."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK_BYTES = 1 << 20
_KNOWN: dict[tuple[str, int, int, int], str] = {}
"""(path, inode, size, mtime in ns) -> sha256 of files hashed by this process."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 (64 characters) of a file's bytes, read in 1 MiB chunks.

    Remembered per process while the file's inode, size and modification time are
    unchanged (every writer here replaces files atomically, which changes the inode), so
    planning a run hashes each checkpoint once, not once per question.
    """
    stat = os.stat(path)
    key = (os.fspath(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _KNOWN:
        return _KNOWN[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    _KNOWN[key] = digest.hexdigest()
    return _KNOWN[key]
