"""One line per configuration mistake: the key's full path, what is wrong, what is allowed.

pydantic reports where a value failed as a ``loc`` tuple; :func:`describe` turns the
first error into ``training.step: unknown setting; did you mean training.steps?`` or
``training.batch_size: must be greater than or equal to 1, got 0``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest of ``candidates`` to ``word`` (None when nothing is close)."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key(path: list[str], candidates: Iterable[str], what: str = "setting") -> str:
    """``a.b.c: unknown setting; did you mean a.b.d?`` (or the valid keys when none is close)."""
    candidates = sorted(candidates)
    *parent, key = path
    close = did_you_mean(key, candidates)
    if close is not None:
        return f"{joined(path)}: unknown {what}; did you mean {joined([*parent, close])}?"
    valid = ", ".join(candidates) or "none"
    return f"{joined(path)}: unknown {what}; valid: {valid}"


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that holds keys."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _union_members(annotation: Any) -> list[type[BaseModel]]:
    return [
        a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
    ]


def display_path(schema: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], Any]:
    """``loc`` without pydantic's tagged-union markers, and the type found at its parent."""
    path: list[str] = []
    current: Any = schema
    parent: Any = schema
    items = list(loc)
    while items:
        item = items.pop(0)
        current = _unwrap(current)
        parent = current
        if isinstance(current, type) and issubclass(current, BaseModel):
            path.append(str(item))
            field = current.model_fields.get(str(item))
            current = field.annotation if field is not None else None
            if field is not None and field.metadata:
                current = typing.Annotated[(current, *field.metadata)]
            continue
        origin = typing.get_origin(current)
        if origin is dict:
            path.append(str(item))
            current = typing.get_args(current)[1]
            continue
        if origin is list:
            path.append(f"[{item}]" if isinstance(item, int) else str(item))
            current = typing.get_args(current)[0]
            continue
        members = _union_members(current)
        if members:  # the discriminator's tag: pick the member, show nothing
            chosen = [m for m in members if _tag(m) == item]
            current = chosen[0] if chosen else None
            if not chosen:
                path.append(str(item))
            continue
        path.append(str(item))
        current = None
    return path, parent


def _tag(member: type[BaseModel]) -> Any:
    field = member.model_fields.get("kind")
    args = typing.get_args(field.annotation) if field is not None else ()
    return args[0] if args else None


def joined(path: list[str]) -> str:
    """``["targets", "[1]"]`` -> ``targets[1]``; ``["training", "steps"]`` -> ``training.steps``."""
    text = ""
    for part in path:
        text += part if part.startswith("[") or not text else f".{part}"
    return text


def _candidates(parent: Any) -> list[str]:
    parent = _unwrap(parent)
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return list(parent.model_fields)
    return []


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(error: ValidationError, schema: type[BaseModel]) -> tuple[list[str], str]:
    """The first problem of ``error`` as (key path, one-line message without the path)."""
    first = error.errors(include_url=False)[0]
    path, parent = display_path(schema, tuple(first["loc"]))
    kind = first["type"]
    if kind == "extra_forbidden":
        return path, unknown_key(path, _candidates(parent)).split(": ", 1)[1]
    if kind == "missing":
        return path, "required setting is missing"
    message = first["msg"]
    for prefix in ("Input should be ", "Value should be ", "Value error, "):
        if message.startswith(prefix):
            message = ("must be " if "should" in prefix else "") + message[len(prefix) :]
    if kind == "string_pattern_mismatch" and path == ["device"]:
        message = "must be auto, cpu, cuda or cuda:N"
    elif kind == "string_pattern_mismatch" and path == ["launcher", "mem"]:
        message = "must be a size like 16G (K, M, G or T; a bare number is MB)"
    elif kind == "string_pattern_mismatch" and path[:2] == ["launcher", "extra"]:
        message = "must be an sbatch long option without its dashes, e.g. qos"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a mapping of settings"
    elif kind == "list_type":
        message = "must be a list"
    elif kind == "union_tag_invalid":
        message = f"kind must be one of {first['ctx']['expected_tags']}"
    elif kind == "union_tag_not_found":
        message = "set `kind` (synthetic, cfee or folder)"
    return path, f"{message}, got {_value(first.get('input'))}"


__all__ = ["describe", "did_you_mean", "display_path", "joined", "unknown_key"]
