"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or a kill never leaves a half-written result file behind: readers see
either the old file or the complete new one. Whole folders are built in a
staging folder beside the target and swapped in at the end (:func:`staged_dir`).

A full disk or a read-only folder (:data:`~bench.core.errors.DISK_ERRNOS`) raises an
``OSError`` whose ``filename`` is the target, not the temporary name the write failed on
(which is gone by then), so the one line the CLI prints names a path the user knows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bench.core.errors import DISK_ERRNOS


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _is_temporary(name: str | os.PathLike, target: Path) -> bool:
    """Whether ``name`` is one of the temporary files or folders made for ``target``
    (``.<name>.*`` beside it, and anything inside a staging folder)."""
    try:
        inside = Path(os.path.abspath(name)).relative_to(os.path.abspath(target.parent))
    except ValueError:
        return False
    return bool(inside.parts) and inside.parts[0].startswith(f".{target.name}.")


@contextlib.contextmanager
def naming(target: str | os.PathLike) -> Iterator[None]:
    """Re-raise a disk ``OSError`` (full, read-only, forbidden) on one of ``target``'s
    temporary names (``.<name>.*`` beside it), or on no name, as the same error on ``target``:
    for writers that make their own staging folder (:func:`staged_dir` does this itself)."""
    target = Path(target)
    try:
        yield
    except OSError as error:
        if error.errno in DISK_ERRNOS and (
            error.filename is None or _is_temporary(error.filename, target)
        ):
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary file keeps the target's suffix so libraries that pick a
    format from the extension (PIL, matplotlib, pandas) still work.
    """
    target = Path(target)
    with naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix
        )
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
            os.replace(tmp_path, target)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_open(target, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, "wb") as handle:
        handle.write(data)


def torch_save(obj: object, target: str | os.PathLike) -> None:
    """``torch.save`` atomically and byte-reproducibly.

    Saving through a file object makes torch name the archive's root folder
    ``archive`` instead of after the (random) temporary file name, so the same
    object always gives the same bytes and the same sha256.

    A full disk makes torch raise ``RuntimeError: ... unexpected pos ...``; the ``OSError``
    behind it (ENOSPC) is raised instead, naming ``target``.
    """
    import torch

    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        writer = _RecordingWriter(handle)
        try:
            torch.save(obj, writer)
        except RuntimeError as error:
            if writer.error is None:
                raise
            raise writer.error from error


class _RecordingWriter:
    """A write-only file that remembers the first ``OSError`` of its writes (torch turns a
    failed write into a ``RuntimeError`` that no longer says why)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = self.error or error
            raise

    def flush(self) -> None:
        self.handle.flush()


def _siblings(final: Path, kind: str) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.{kind}-*"))


def clean_stale_dirs(final: str | os.PathLike) -> list[Path]:
    """Remove what an interrupted :func:`staged_dir` left beside ``final``; return the paths.

    Staging folders are incomplete and go. A set-aside old folder goes too,
    unless ``final`` is missing (the run stopped between the two renames of the
    swap): then the old folder is complete and is put back.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return []
    removed = []
    for path in _siblings(final, "staging"):
        shutil.rmtree(path)
        removed.append(path)
    for path in _siblings(final, "old"):
        if final.exists():
            shutil.rmtree(path)
            removed.append(path)
        else:
            path.rename(final)
    return removed


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``final``; on success it replaces ``final``.

    The old ``final`` stays in place until the new folder is complete: the swap
    is two renames (old aside, staging in) and then the old folder is removed.
    An exception inside the block removes the staging folder and leaves
    ``final`` untouched; leftovers of a killed run are cleaned by the next call
    (:func:`clean_stale_dirs`).
    """
    final = Path(final)
    with naming(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_dirs(final)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.staging-"))
        try:
            yield staging
            replace_dir(staging, final)
        finally:
            if staging.exists():
                shutil.rmtree(staging)


def replace_dir(complete: str | os.PathLike, final: str | os.PathLike) -> None:
    """Swap the complete folder ``complete`` (on ``final``'s file system) in as ``final``.

    Two renames (the old ``final`` aside, ``complete`` in), then the old folder goes; a
    reader sees the old folder or the new one, and a kill between the renames is repaired
    by the next :func:`clean_stale_dirs`.
    """
    complete, final = Path(complete), Path(final)
    os.chmod(complete, 0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual folder mode
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.replace(final, old)  # an empty folder is replaced by a rename
        try:
            os.replace(complete, final)
        except BaseException:
            os.replace(old, final)
            raise
        shutil.rmtree(old)
    else:
        os.replace(complete, final)
