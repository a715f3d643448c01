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


def _entry(name: str, pull: bool) -> dict[str, str]:
    """The lock entry of one asset, pulling it first when ``pull`` and it is not cached.

    The entry depends only on the cache's state (never on how a download failed), so a
    lock file changes only when a file becomes available or changes.
    """
    result = manager.status([name])[0]
    if result.status != "ok" and pull:
        try:
            with console.status(f"{name}: fetching") as spinner:
                manager.pull(name, on_progress=spinner.update)
        except UserError as error:
            console.print(f"weights: {' '.join(str(error).split())}")
        result = manager.status([name])[0]
    if result.status == "ok":
        return {"sha256": cache.file_sha256(result.path)}
    if result.status == "corrupt":
        return {"unavailable": f"cached file {result.path} fails its sha256"}
    return {"unavailable": f"not in the cache ({result.path}); run `bench weights pull {name}`"}


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
                console.print(f"weights: {name} unavailable ({group}): {entry['unavailable']}")
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
