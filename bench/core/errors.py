"""The one exception type for mistakes a user can fix (bad path, unknown name, ...).

The CLI turns a :class:`UserError` into a one-line message and a non-zero exit
code; any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, files or configuration; the message says how to fix it."""


class MissingWeightsError(UserError):
    """A pretrained weight file is absent or fails its checksum."""
