"""Reading ``params.yaml`` into a :class:`~bench.config.schema.Config`, once, with clear errors.

The file has top-level defaults plus ``profiles: {smoke: {...}, paper: {...}}``;
``profile: <name>`` picks one, whose keys override the defaults (nested mappings
are merged key by key); then ``--set key.path=value`` overrides (values in YAML
syntax) apply. The result is validated as a whole: any mistake is a
:class:`~bench.core.errors.UserError` of one line naming the file, the key's full
path (``profiles.smoke.training.steps.reggan`` when the profile set it) and what
is allowed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bench.config.errors import describe, did_you_mean, joined, unknown_key
from bench.config.plugins import SettingError, check_metrics, check_models
from bench.config.schema import Config
from bench.core.errors import UserError

DEFAULT_PARAMS = "params.yaml"
TOP_LEVEL_ONLY = (
    "models",
    "adapted_models",
    "eval_datasets",
    "train_dataset",
    "paths",
    "seeds",
    "seed",
    "seed_data",
)
"""Keys dvc.yaml reads from the file's top level (its matrices and paths) or is laid out by
(``seeds``: one training per seed; ``seed``: its old spelling; ``seed_data``: data per seed): a profile may not override
them, or DVC and ``bench`` would run different stages."""
PARAMS_ENV = "FES_BENCH_PARAMS"


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive mapping merge: ``override`` wins; neither input is modified."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def params_path(path: str | Path | None = None) -> Path:
    """The params file: the argument, else ``$FES_BENCH_PARAMS``, else ``./params.yaml``."""
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"training.steps.reggan=50"`` -> (``["training", "steps", "reggan"]``, 50); the value is
    read as YAML (``true``, ``0.5``, ``[a, b]``, ``{x: 1}``, ``null``)."""
    key, sep, value = text.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or not all(path):
        raise UserError(f"--set {text!r}: expected key.path=value, e.g. training.steps.reggan=50")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return path, parsed


def apply_override(raw: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """``raw`` with ``value`` set at ``path`` (mappings created as needed; a copy)."""
    result = copy.deepcopy(raw)
    node = result
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise UserError(f"--set {'.'.join(path)}: {where} is not a mapping of settings")
        node = child
    node[path[-1]] = value
    return result


def _origin(path: list[str], profile: str, overlay: Mapping[str, Any], sets: set[str]) -> str:
    """Where the value at ``path`` came from: ``--set``, the profile, or the file's top level."""
    dotted = joined(path)
    if any(dotted == s or dotted.startswith(s + ".") for s in sets):
        return f"--set {dotted}"
    node: Any = overlay
    for key in path:
        if not isinstance(node, Mapping) or key.split("[")[0] not in node:
            return dotted
        node = node[key.split("[")[0]]
    return f"profiles.{profile}.{dotted}"


def validate(
    raw: Mapping[str, Any],
    source: str = DEFAULT_PARAMS,
    profile: str = "smoke",
    overlay: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> Config:
    """A :class:`Config` from a resolved mapping (profile merged), or a one-line ``UserError``
    naming ``source`` and the key (``overlay``: the profile's own keys, to name them)."""
    sets = set(sets)

    def fail(path: list[str], message: str) -> UserError:
        return UserError(f"{source}: {_origin(path, profile, overlay or {}, sets)}: {message}")

    old_spelling = "seed" in raw
    if old_spelling:
        if "seeds" in raw and "seed" in sets and "seeds" not in sets:
            raw = {k: v for k, v in raw.items() if k != "seeds"}  # --set seed=k: seeds [k]
        if "seeds" in raw:
            raise fail(
                ["seed"],
                "`seed` and `seeds` are both set (seed: k is the old spelling of seeds: [k]): "
                f"set only seeds, e.g. seeds: [{raw['seed']}]",
            )
        raw = {**{k: v for k, v in raw.items() if k != "seed"}, "seeds": [raw["seed"]]}
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        path, message = describe(error, Config)
        if old_spelling and path[:1] == ["seeds"]:
            path = ["seed"]  # name the key the file has
        raise fail(path, message) from None
    try:
        check_models(config.models, config.adapted_models, config.model_settings)
        check_metrics(config.metrics, config.metric_settings)
    except SettingError as error:
        raise fail(error.path, error.message) from None
    _check_datasets(config, fail)
    _check_per_model(config, fail)
    _check_report(config, fail)
    return _canonical(config)


def _canonical(config: Config) -> Config:
    """Model and metric names as their registry keys (``pkg.mod:Class`` -> ``pkg.mod.Class``)."""
    from metrics.registry import METRICS
    from models.registry import MODELS

    return config.model_copy(
        update={
            "models": list(dict.fromkeys(MODELS.check(m) for m in config.models)),
            "adapted_models": list(dict.fromkeys(MODELS.check(m) for m in config.adapted_models)),
            "metrics": list(dict.fromkeys(METRICS.check(m) for m in config.metrics)),
        }
    )


def _check_datasets(config: Config, fail: Any) -> None:
    declared = config.declared_datasets()
    for field, names in (
        ("train_dataset", [config.train_dataset]),
        ("eval_datasets", config.eval_datasets),
    ):
        for index, name in enumerate(names):
            if name not in declared:
                close = did_you_mean(name, declared)
                hint = f"did you mean {close!r}? " if close else ""
                where = [field] if field == "train_dataset" else [f"{field}[{index}]"]
                raise fail(
                    where,
                    f"dataset {name!r} is not declared under `datasets:` ({hint}declared: "
                    f"{', '.join(declared)}; `bench data folder PATH --name {name}` declares one)",
                )
    for name, spec in config.datasets.items():
        if spec.kind == "synthetic" and name != "synthetic":
            raise fail(["datasets", name], "the synthetic dataset spec must be named `synthetic`")
        root = getattr(spec, "root", None)
        if root is not None and not Path(root).expanduser().is_dir():
            raise fail(["datasets", name, "root"], f"{root} is not a folder")


def _check_per_model(config: Config, fail: Any) -> None:
    from models.registry import MODELS

    listed = {MODELS.check(m) for m in config.models}
    for index, name in enumerate(config.adapted_models):
        cls = MODELS.load(name)
        for base in cls.dependencies(**config.settings_of(MODELS.check(name))):
            if MODELS.check(base) not in listed:
                raise fail(
                    [f"adapted_models[{index}]"],
                    f"{name} adapts the trained {base}: add {base} to `models` (it is trained "
                    "first, and its checkpoint is what the adaptation starts from)",
                )
    known = set(MODELS.names())
    for field in ("steps", "batch_sizes"):
        for name in getattr(config.training, field):
            if name not in known:
                try:
                    MODELS.check(name)
                except UserError:
                    raise fail(
                        ["training", field, name],
                        unknown_key(["training", field, name], known, "model").split(": ", 1)[1],
                    ) from None


def _check_report(config: Config, fail: Any) -> None:
    """Every ``report.latex_columns`` entry is a column of the chosen metrics."""
    if not config.report.latex_columns:
        return
    from metrics.registry import METRICS

    known = [c.name for m in METRICS.parse(config.metrics) for c in METRICS.load(m).all_columns()]
    for index, name in enumerate(config.report.latex_columns):
        if name not in known:
            close = did_you_mean(name, known)
            hint = f"did you mean {close!r}? " if close else ""
            raise fail(
                ["report", f"latex_columns[{index}]"],
                f"{name!r} is not a column of the chosen metrics ({hint}columns: "
                f"{', '.join(known)})",
            )


def load_config(
    path: str | Path | None = None,
    profile: str | None = None,
    overrides: Iterable[str] = (),
) -> Config:
    """Read, resolve and validate the params file (see module doc).

    ``profile`` overrides the file's ``profile:``; ``overrides`` are ``key.path=value``
    strings (``bench ... --set``), applied last and recorded in provenance.
    """
    path = params_path(path)
    if not path.is_file():
        raise UserError(
            f"params file {path} not found (run from the repository root or pass --params)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise UserError(f"{path}: not valid YAML: {detail}") from None
    return resolve(raw if raw is not None else {}, str(path), profile, overrides)


def resolve(
    raw: Any,
    source: str = DEFAULT_PARAMS,
    profile: str | None = None,
    overrides: Iterable[str] = (),
) -> Config:
    """:func:`load_config` on an already-parsed document ``raw``."""
    if not isinstance(raw, dict):
        raise UserError(
            f"{source}: expected a mapping of settings at the top level, got {type(raw).__name__}"
        )
    raw = dict(raw)
    profiles = raw.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise UserError(f"{source}: profiles: must be a mapping of profile name -> settings")
    chosen = profile or raw.get("profile", "smoke")
    if not isinstance(chosen, str) or chosen not in profiles:
        close = did_you_mean(str(chosen), profiles)
        hint = f"did you mean {close!r}? " if close else ""
        raise UserError(
            f"{source}: profile: unknown profile {chosen!r}; {hint}defined: "
            f"{', '.join(profiles) or 'none'}"
        )
    overlay = profiles[chosen] or {}
    if not isinstance(overlay, dict):
        raise UserError(f"{source}: profiles.{chosen}: must be a mapping of settings")
    for key in TOP_LEVEL_ONLY:
        if key in overlay:
            raise UserError(
                f"{source}: profiles.{chosen}.{key}: set it at the top level, not in a profile "
                "(dvc.yaml lays its stages out from the top-level value)"
            )
    # the file's own values first: a profile's mapping must not hide a list where one belongs
    validate({**raw, "profile": chosen}, source, chosen)
    resolved = merge(raw, overlay)
    resolved["profile"] = chosen
    applied = []
    for text in overrides:
        key, value = parse_override(text)
        resolved = apply_override(resolved, key, value)
        applied.append(".".join(key))
    config = validate(resolved, source, chosen, overlay, applied)
    config._overrides = tuple(overrides)
    return config


def updated(config: Config, changes: Mapping[str, Any]) -> Config:
    """``config`` with ``{"dotted.key": value}`` changes applied and validated again (tests,
    tools); the result keeps ``config``'s overrides."""
    raw = config.model_dump(mode="python")
    for key, value in changes.items():
        raw = apply_override(raw, key.split("."), value)
    new = validate(raw, "changes", config.profile, {}, list(changes))
    new._overrides = config.overrides
    return new
