"""One writing ``bench`` command at a time per project (like DVC's ``.dvc/tmp/rwlock``).

Every command that writes takes an exclusive ``flock`` on ``<paths.results>/.bench.lock``
when it has loaded its configuration and keeps it until the command ends. A second command
exits with code 2 naming the holder (pid, command line, since when), or, with ``bench --wait
SECONDS ...`` (or ``$FES_BENCH_WAIT``), says it waits and takes the lock when it is free. The
kernel releases a ``flock`` when its process ends, however it ends: a lock left by a killed
command is simply free (the holder line in the file is overwritten by the next taker).

Each process takes and releases the lock itself, so ``dvc repro`` (its stages one after
another) never deadlocks; queued DVC experiments run in their own workspaces, each with its
own ``results/``. A process holds the lock re-entrantly (a command may load its configuration
twice); the Python API (``bench.run.run`` ...) takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bench.core.errors import DISK_ERRNOS, UserError

LOCK_NAME = ".bench.lock"
WAIT_ENV = "FES_BENCH_WAIT"
_POLL_S = 0.5
UNNAMED_GRACE_S = 2.0
"""How long a busy lock whose file names no holder is retried before giving up: its holder is
between taking the lock and writing its line, or between erasing it and letting go."""

_held: dict[Path, tuple[int, int]] = {}  # lock path -> (fd, depth)
wait_seconds: float | None = None
"""``bench --wait SECONDS`` (None: ``$FES_BENCH_WAIT``, else 0 = do not wait)."""


def wait_limit() -> float:
    """Seconds a command waits for the project (``--wait``, else ``$FES_BENCH_WAIT``, else 0)."""
    if wait_seconds is not None:
        return wait_seconds
    raw = os.environ.get(WAIT_ENV, "").strip()
    try:
        return float(raw) if raw else 0.0
    except ValueError as error:
        raise UserError(f"${WAIT_ENV}={raw!r}: give a number of seconds") from error


def command_line() -> str:
    """This process's command as a user typed it (``bench run --models identity``)."""
    args = list(sys.argv[1:])
    return shlex.join(["bench", *args])


def _holder(path: Path) -> str | None:
    """``pid N (`command`, since HH:MM:SS)`` from the lock file; None when it names no one."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):  # half written
        info = {}
    if not info:
        return None
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"pid {info.get('pid')} (`{info.get('command')}`, since {since})"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def acquire(folder: str | os.PathLike, say=None) -> Path:
    """Take the project lock in ``folder`` (re-entrant in this process); return its path.

    Busy: wait up to the ``--wait`` limit, saying so once through ``say``; then a
    :class:`UserError` (exit 2) naming the holder.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno in DISK_ERRNOS:
            raise  # a read-only or forbidden folder: the CLI names it, exit code 1
        raise UserError(f"cannot create {folder} for the project lock: {error.strerror}") from error
    path = (folder / LOCK_NAME).resolve()
    if path in _held:
        fd, depth = _held[path]
        _held[path] = (fd, depth + 1)
        return path
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        if error.errno in DISK_ERRNOS:
            raise  # a read-only results folder: the CLI names the lock file, exit code 1
        raise UserError(f"cannot open the project lock {path}: {error.strerror}") from error
    limit = wait_limit()
    deadline = time.monotonic() + limit
    said = False
    while not _try_lock(fd):
        holder = _holder(path)
        now = time.monotonic()
        if holder is None and now < deadline + UNNAMED_GRACE_S:
            time.sleep(0.05)  # the holder is naming itself or letting go: look again shortly
            continue
        if now >= deadline:
            os.close(fd)
            waited = f" after waiting {limit:g} s" if limit else ""
            raise UserError(
                f"another bench command is writing this project{waited}: "
                f"{holder or 'another bench command'} holds {path}; "
                f"let it finish, or queue behind it with `bench --wait SECONDS ...`"
            )
        if not said and say is not None:
            say(f"waiting up to {limit:g} s for {holder} to finish (lock {path})")
            said = True
        time.sleep(_POLL_S)
    record = {"pid": os.getpid(), "command": command_line(), "since": time.time()}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError as error:  # a full disk: name the lock file (the error knows no path)
        os.close(fd)
        raise OSError(error.errno, error.strerror, str(path)) from error
    _held[path] = (fd, 1)
    return path


def release(path: Path) -> None:
    """Undo one :func:`acquire`; the last one frees the lock."""
    fd, depth = _held[path]
    if depth > 1:
        _held[path] = (fd, depth - 1)
        return
    del _held[path]
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def project_lock(folder: str | os.PathLike, say=None):
    """``with project_lock(results_dir): ...`` holds the lock for the block."""
    path = acquire(folder, say)
    try:
        yield path
    finally:
        release(path)
