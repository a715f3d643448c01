"""Reading ``params.yaml``: the defaults with the chosen profile merged over them.

The file has top-level defaults plus ``profiles: {smoke: {...}, paper: {...}}``;
``profile: <name>`` picks one, whose keys override the defaults (nested dicts
are merged key by key). The resolved dict is what every stage reads and what
the results' provenance records.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from bench.core.errors import UserError

DEFAULT_PARAMS = "params.yaml"
PARAMS_ENV = "FES_BENCH_PARAMS"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``override`` wins; neither input is modified."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def params_path(path: str | Path | None = None) -> Path:
    """The params file: the argument, else ``$FES_BENCH_PARAMS``, else ``./params.yaml``."""
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def load_params(path: str | Path | None = None, profile: str | None = None) -> dict[str, Any]:
    """Load and resolve the params file (see module doc); ``profile`` overrides the file's choice."""
    path = params_path(path)
    if not path.is_file():
        raise UserError(
            f"params file {path} not found (run from the repository root or pass --params)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UserError(f"params file {path} is not valid YAML: {error}") from None
    profiles = raw.pop("profiles", {}) or {}
    chosen = profile or raw.get("profile", "smoke")
    if chosen not in profiles:
        raise UserError(
            f"{path}: unknown profile {chosen!r}; defined: {', '.join(profiles) or 'none'}"
        )
    params = merge(raw, profiles[chosen])
    params["profile"] = chosen
    for key in ("image_size", "models", "eval_datasets", "train_dataset", "targets", "paths"):
        if key not in params:
            raise UserError(f"{path}: missing key {key!r} (profile {chosen!r})")
    return params


def table_models(params: dict[str, Any]) -> list[str]:
    """Rows of the tables: ``models`` (trained once) then ``adapted_models`` (adapted per dataset)."""
    return list(dict.fromkeys([*params["models"], *(params.get("adapted_models") or [])]))
