"""Checking a settings mapping from ``params.yaml`` against the keyword arguments a class takes.

A mistyped key must be a one-line :class:`~bench.core.errors.UserError` naming
where it sits in params and the keys that are valid, not a ``TypeError`` from
deep inside a constructor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from bench.core.errors import UserError

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepted_keywords(target: Callable[..., Any]) -> list[str] | None:
    """Sorted names of the keyword arguments ``target`` accepts; None when it takes ``**kwargs``."""
    parameters = inspect.signature(target).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return sorted(p.name for p in parameters if p.kind in _NAMED)


def check_keywords(target: Callable[..., Any], given: Any, where: str) -> dict[str, Any]:
    """``given`` (a mapping, or None for none) as a dict, once every key is one ``target`` accepts.

    ``where`` names the settings in params (e.g. ``metric_settings.l1``); an
    unknown key or a non-mapping is a :class:`UserError` such as
    ``params metric_settings.l1: unknown key(s) ['x']; known: ['batch_size']``.
    """
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise UserError(f"params {where}: expected a mapping of settings, got {given!r}")
    known = accepted_keywords(target)
    unknown = sorted(set(given) - set(known)) if known is not None else []
    if unknown:
        raise UserError(f"params {where}: unknown key(s) {unknown}; known: {known}")
    return dict(given)
