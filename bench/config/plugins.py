"""Checking the names and hyper-parameters that models and metrics declare themselves.

A model declares its settings as a ``Settings`` dataclass class attribute (the
built-ins do; a plugin may), else through its constructor's keyword arguments; a
metric the same way. ``model_settings.<model>`` and ``metric_settings.<metric>`` are
checked against those declarations with the same one-line errors as the rest of
the configuration (unknown key with the closest valid one, wrong type).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from bench.config.errors import did_you_mean, unknown_key
from bench.core.errors import UserError
from bench.core.keywords import accepted_keywords


class SettingError(UserError):
    """A configuration mistake at ``path`` (a list of keys); the message has no path."""

    def __init__(self, path: list[str], message: str):
        super().__init__(f"{'.'.join(path)}: {message}")
        self.path = path
        self.message = message


def registry_key(registry: Any, name: str, path: list[str]) -> str:
    """``name``'s key in ``registry`` (models, metrics), or a :class:`SettingError` at ``path``."""
    try:
        return registry.check(name)
    except UserError:
        close = did_you_mean(name, registry.names())
        hint = f"; did you mean {close}?" if close else f"; known: {', '.join(registry.names())}"
        raise SettingError(path, f"unknown {registry.kind} {name!r}{hint}") from None


def declared_settings(cls: type) -> type | None:
    """The ``Settings`` dataclass ``cls`` declares (None: its constructor's keywords count)."""
    settings = getattr(cls, "Settings", None)
    return settings if settings is not None and dataclasses.is_dataclass(settings) else None


def check_settings(cls: type, given: Any, path: list[str], skip: tuple[str, ...] = ()) -> None:
    """Check ``given`` (the settings of ``cls`` at ``path``) against what ``cls`` declares."""
    if not isinstance(given, Mapping):
        raise SettingError(path, f"must be a mapping of settings, got {given!r}")
    settings = declared_settings(cls)
    if settings is not None:
        known = [f.name for f in dataclasses.fields(settings)]
    else:
        accepted = accepted_keywords(cls)  # the constructor's keywords (no self)
        if accepted is None:  # **kwargs: anything goes
            return
        known = [k for k in accepted if k not in skip]
    for key in given:
        if key not in known:
            raise SettingError([*path, key], unknown_key([*path, key], known).split(": ", 1)[1])
    if settings is None:
        return
    try:
        _schema(settings).model_validate(dict(given))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        loc = [str(p) for p in first["loc"]]
        message = first["msg"].replace("Input should be ", "must be ")
        raise SettingError([*path, *loc], f"{message}, got {first.get('input')!r}") from None


@functools.cache
def _schema(settings: type) -> type[BaseModel]:
    """A strict pydantic model with the fields, types and defaults of dataclass ``settings``."""
    hints = typing.get_type_hints(settings, include_extras=True)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        fields[field.name] = (hints[field.name], ... if default is dataclasses.MISSING else default)
    return create_model(
        f"{settings.__name__}Check", __config__=ConfigDict(strict=True, extra="forbid"), **fields
    )


def check_models(models: list[str], adapted: list[str], settings: Mapping[str, Any]) -> None:
    """Every model name is registered; every ``model_settings`` entry fits its model."""
    from models.registry import MODELS

    for field, names in (("models", models), ("adapted_models", adapted)):
        for index, name in enumerate(names):
            key = registry_key(MODELS, name, [f"{field}[{index}]"])
            if field == "adapted_models" and not MODELS.load(key).adapts_per_dataset:
                raise SettingError(
                    [f"{field}[{index}]"],
                    f"{name} is not adapted per dataset; list it under `models`",
                )
    for name, given in settings.items():
        key = registry_key(MODELS, name, ["model_settings", name])
        check_settings(MODELS.load(key), given, ["model_settings", name], skip=("image_size",))


def check_metrics(metrics: list[str], settings: Mapping[str, Any]) -> None:
    """Every metric name is registered; every ``metric_settings`` entry fits its metric."""
    from metrics.registry import METRICS

    for index, name in enumerate(metrics):
        registry_key(METRICS, name, [f"metrics[{index}]"])
    for name, given in settings.items():
        key = registry_key(METRICS, name, ["metric_settings", name])
        check_settings(METRICS.load(key), given or {}, ["metric_settings", name])
