"""The one exception type for mistakes a user can fix (bad path, unknown name, ...), and the
one-line form of a disk that refuses a write.

The CLI turns a :class:`UserError` into a one-line message and exit code 2, and an
``OSError`` of a full disk or a read-only or forbidden folder (:data:`DISK_ERRNOS`) into one
line naming the path and exit code 1 (:func:`disk_error_line`); any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os


class UserError(Exception):
    """A problem with the user's input, files or configuration; the message says how to fix it."""


class MissingWeightsError(UserError):
    """A pretrained weight file is absent or fails its checksum."""


def one_line(error: BaseException, limit: int = 240) -> str:
    """An exception's message on one line (library errors often span many), at most ``limit``
    characters, so a :class:`UserError` that quotes it stays one line."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    text = text or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""errnos of a disk (or quota, or file size limit) that has no room for what is written."""
READ_ONLY = frozenset({errno.EROFS})
FORBIDDEN = frozenset({errno.EACCES, errno.EPERM})
DISK_ERRNOS = FULL | READ_ONLY | FORBIDDEN
"""errnos that are the machine's state, not a bug: the CLI names the path and exits 1."""


def disk_error_line(error: BaseException) -> str | None:
    """One line for an ``OSError`` of :data:`DISK_ERRNOS`, naming its path and what to do;
    None for any other error. The writers in :mod:`bench.core.atomic` put the final path
    (not a temporary name) in ``error.filename``."""
    if not isinstance(error, OSError) or error.errno not in DISK_ERRNOS:
        return None
    path = error.filename if error.filename is not None else "(a file)"
    reason = os.strerror(error.errno)  # libraries' own strerror may be long (pyarrow)
    if error.errno in FULL:
        return f"cannot write {path}: {reason}; free some space and run the command again"
    if error.errno in READ_ONLY:
        return (
            f"cannot write {path}: {reason}; make the folder writable or point paths.* "
            "in params.yaml elsewhere"
        )
    return f"{path}: {reason}; check its permissions (or point paths.* in params.yaml elsewhere)"
