"""The one exception type for mistakes a user can fix (bad path, unknown name, ...).

The CLI turns a :class:`UserError` into a one-line message and a non-zero exit
code; any other exception is a bug and keeps its traceback.
"""


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
