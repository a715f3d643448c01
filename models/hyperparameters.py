"""Turning a model's ``params.yaml`` settings into its hyper-parameter dataclass, with clear errors."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from bench.core.errors import UserError

Settings = TypeVar("Settings")


def resolve(settings_type: type[Settings], settings: dict[str, Any], model: str) -> Settings:
    """Build ``settings_type`` (a dataclass with defaults) from ``settings``; unknown keys and
    values of the wrong kind are a :class:`UserError` naming the model and the valid keys."""
    fields = {f.name: f for f in dataclasses.fields(settings_type)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise UserError(
            f"model {model!r}: unknown setting(s) {', '.join(unknown)} in params model_settings; "
            f"valid: {', '.join(fields) or 'none (it has no settings)'}"
        )
    values = {}
    for name, value in settings.items():
        kind = type(fields[name].default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserError(
                f"model {model!r}: setting {name} must be {kind.__name__}, got {value!r}"
            )
        values[name] = value
    return settings_type(**values)
