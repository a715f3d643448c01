"""The ``weights`` step: pull every pretrained file the configured pipeline needs and pin it.

Which files: the assets each configured metric declares for its settings
(:meth:`metrics.base.Metric.weights`), each table model for its settings
(:meth:`models.base.Generator.weights`), and the face aligner for every
``cfee`` / ``folder`` dataset. They are pulled with the weights manager
(registry members and URLs, sha256 verified) unless offline, and written to one
lock file per group under ``results/weights/``::

    results/weights/datasets.json   face alignment        -> the data stage
    results/weights/models.json     e.g. DAI2I's VGG-19   -> the adapt stages
    results/weights/metrics.json    evaluators            -> the evaluate stages

Each maps an asset to ``{"sha256": ...}`` or ``{"unavailable": reason}``. A DVC
stage depends only on its group's file, so pulling one more evaluator later
(``bench weights pull qualiclip``, which refreshes existing lock files) reruns
exactly the stages that read it. An asset that cannot be had is never a crash:
it stays a "missing" cell with its reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import layout
from bench.core import atomic
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar
from bench.core.weights import cache, manager

if TYPE_CHECKING:
    from bench.config import Config

GROUPS = ("datasets", "models", "metrics")
OFFLINE_ENV = "FES_BENCH_OFFLINE"
ALIGNED_KINDS = ("cfee", "folder")


def offline_from_env() -> bool:
    """True when ``$FES_BENCH_OFFLINE`` is set to 1/true/yes."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def needed_assets(config: Config) -> dict[str, list[str]]:
    """Group -> sorted asset names that the configured datasets, models and metrics read."""
    from datasets.align import LANDMARK_ASSET
    from metrics.registry import METRICS
    from models.registry import MODELS

    needed: dict[str, set[str]] = {group: set() for group in GROUPS}
    if any(spec.kind in ALIGNED_KINDS for spec in config.datasets.values()):
        needed["datasets"].add(LANDMARK_ASSET)
    for name in config.table_models:
        needed["models"].update(MODELS.load(name).weights(**config.settings_of(name)))
    for name in METRICS.parse(config.metrics):
        needed["metrics"].update(METRICS.load(name).weights(**config.metric_settings_of(name)))
    return {group: sorted(names) for group, names in needed.items()}


def lock_path(config: Config, group: str) -> Path:
    """``results/weights/<group>.json``."""
    return layout.weights_lock_dir(config) / f"{group}.json"


FAILED_FILE = "unavailable.json"
"""In the weights cache: the assets whose download failed, with the reason. They are not
tried again by the pipeline (no network wait and no error on every run) until
``bench weights pull NAME`` is asked, which tries and forgets (or records) again."""


def _failed_path() -> Path:
    return cache.cache_root() / FAILED_FILE


def failed_downloads() -> dict[str, str]:
    """Asset -> why its last download failed (assets not tried again until pulled by name)."""
    try:
        return dict(json.loads(_failed_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def remember_failure(name: str, reason: str | None) -> None:
    """Record (``reason``) or forget (None) a failed download of ``name``."""
    failed = failed_downloads()
    if reason is None and name not in failed:
        return
    if reason is None:
        del failed[name]
    else:
        failed[name] = reason
    try:
        atomic.write_text(_failed_path(), json.dumps(failed, indent=2, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only cache: the pipeline simply tries again next time


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _entry(name: str, pull: bool) -> dict[str, str]:
    """The lock entry of one asset, pulling it first when ``pull`` and it is not cached (and
    its download did not fail before: see :data:`FAILED_FILE`).

    The entry depends only on the cache's state (never on how a download failed), so a
    lock file changes only when a file becomes available or changes.
    """
    result = manager.status([name])[0]
    if result.status != "ok" and pull and name not in failed_downloads():
        try:
            with console.status(f"{name}: fetching") as spinner:
                manager.pull(name, on_progress=spinner.update)
        except UserError as error:
            remember_failure(name, one_line(error))
        else:
            remember_failure(name, None)
        result = manager.status([name])[0]
    if result.status == "ok":
        return {"sha256": cache.file_sha256(result.path)}
    if result.status == "corrupt":
        return {"unavailable": f"cached file {result.path} fails its sha256"}
    return {"unavailable": f"not in the cache ({result.path}); run `bench weights pull {name}`"}


def _say_unavailable(name: str, entry: dict[str, str]) -> None:
    """One line for an asset that cannot be had (why, and how to try again)."""
    failed = failed_downloads().get(name)
    if failed:
        why = f"download failed ({one_line(failed, 100)}); `bench weights pull {name}` tries again"
    else:
        why = entry["unavailable"]
    console.print(f"weights: {name} unavailable: {why}", highlight=False, soft_wrap=True)


def pull_assets(
    config: Config,
    groups: list[str] | tuple[str, ...] = GROUPS,
    offline: bool | None = None,
    models: list[str] | None = None,
) -> dict[str, dict[str, str]]:
    """Pull what the configuration needs of ``groups`` into the cache (no lock file written):
    each command does this first, so any command works on a fresh machine. Unless offline
    (``offline`` or ``$FES_BENCH_OFFLINE``); a failed download is one line and is not retried
    until ``bench weights pull``. ``models``: only these models' files for the ``models``
    group (a command about one model). Returns asset -> lock entry."""
    offline = offline_from_env() if offline is None else offline
    needed = needed_assets(config)
    if models is not None:
        from models.registry import MODELS

        needed["models"] = sorted(
            {a for m in models for a in MODELS.load(m).weights(**config.settings_of(m))}
        )
    names = [name for group in groups for name in needed[group]]
    entries = {name: _entry(name, pull=not offline) for name in names}
    for name, entry in entries.items():
        if "unavailable" in entry:
            _say_unavailable(name, entry)
    return entries


def write_locks(config: Config, offline: bool = False) -> dict[str, dict[str, Any]]:
    """Pull (unless ``offline``) every needed asset and write the lock files; return them."""
    needed = needed_assets(config)
    total = sum(len(names) for names in needed.values())
    locks: dict[str, dict[str, Any]] = {}
    with progress_bar("weights" + (" (offline)" if offline else ""), total) as advance:
        for group, names in needed.items():
            locks[group] = {}
            for name in names:
                locks[group][name] = _entry(name, pull=not offline)
                advance()
    for group, entries in locks.items():
        atomic.write_text(
            lock_path(config, group), json.dumps(entries, indent=2, sort_keys=True) + "\n"
        )
        for name, entry in entries.items():
            if "unavailable" in entry:
                _say_unavailable(name, entry)
    return locks


def refresh_existing_locks(config: Config) -> bool:
    """Rewrite the lock files from the cache (no network) if a previous step wrote them.

    Returns True when they were refreshed. Used after ``bench weights pull`` so that
    the stages that read a newly pulled file see their lock change.
    """
    if not any(lock_path(config, group).is_file() for group in GROUPS):
        return False
    write_locks(config, offline=True)
    return True
