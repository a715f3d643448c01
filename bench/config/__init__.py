"""The configuration: ``params.yaml`` read once into typed, validated, frozen objects.

:func:`load_config` is the only reader of the file; every stage receives the
:class:`Config` (or the few fields it needs). See :mod:`bench.config.schema` for every
key, type, range and default, and :mod:`bench.config.load` for profiles and ``--set``.
"""

from bench.config.load import (
    DEFAULT_PARAMS,
    PARAMS_ENV,
    load_config,
    merge,
    params_path,
    parse_override,
    resolve,
    updated,
)
from bench.config.schema import Config

__all__ = [
    "DEFAULT_PARAMS",
    "PARAMS_ENV",
    "Config",
    "load_config",
    "merge",
    "params_path",
    "parse_override",
    "resolve",
    "updated",
]
