"""Fingerprints: what made an artefact, so that it is reused only while that is unchanged.

Prepared data, the ECS classifier, every checkpoint and every resumable training
state record a fingerprint: a JSON-able dict of the params that affect them
(profile, image size, settings, steps, seed) and the sha256 of their input
manifests. ``bench run`` reuses an artefact only when its recorded fingerprint
equals the one the current params give, and otherwise rebuilds it, saying in one
line which values differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import layout
from bench.core import atomic
from bench.core.hashing import sha256_file
from datasets.manifest import MANIFEST

DATA_FINGERPRINT = "fingerprint.json"


def _flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(record, dict):
        flat: dict[str, Any] = {}
        for key, value in record.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): record}


def difference(recorded: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """None when equal; else a short description of what differs (``key old -> new``, first 3)."""
    if recorded is None:
        return "no fingerprint recorded"
    old, new = _flatten(json.loads(json.dumps(recorded))), _flatten(json.loads(json.dumps(current)))
    changed = [
        f"{key} {old.get(key, '(none)')} -> {new.get(key, '(none)')}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    if not changed:
        return None
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    return ", ".join(changed[:3]) + more


def manifest_sha256(params: dict[str, Any], dataset: str) -> str:
    """sha256 of a prepared dataset's manifest (its images' hashes are inside it)."""
    return sha256_file(layout.dataset_dir(params, dataset) / MANIFEST)


# -- prepared data ---------------------------------------------------------------------------
def data_fingerprint(params: dict[str, Any], spec_name: str) -> dict[str, Any]:
    """What a dataset spec's prepared folders depend on: kind, image size, seed, its settings."""
    spec = dict((params.get("datasets") or {})[spec_name] or {})
    record: dict[str, Any] = {
        "spec": spec,
        "image_size": int(params["image_size"]),
        "seed": int(spec.get("seed", params["seed"])),
    }
    if spec.get("kind") == "synthetic":
        record["synthetic"] = params.get("synthetic")
    else:
        record["ingest"] = params.get("ingest")
    return record


def read_data_fingerprint(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / DATA_FINGERPRINT
    return json.loads(path.read_text()) if path.is_file() else None


def write_data_fingerprint(folder: Path, record: dict[str, Any]) -> None:
    atomic.write_text(Path(folder) / DATA_FINGERPRINT, json.dumps(record, sort_keys=True) + "\n")


def clear_data_fingerprint(folder: Path) -> None:
    """Remove it before re-preparing, so an interrupted preparation is never taken as current."""
    (Path(folder) / DATA_FINGERPRINT).unlink(missing_ok=True)


# -- models ----------------------------------------------------------------------------------
def train_fingerprint(
    params: dict[str, Any], name: str, config: dict[str, Any], steps: int, batch_size: int
) -> dict[str, Any]:
    """What a trained checkpoint depends on (``config``: the model's constructor arguments)."""
    return {
        "model": name,
        "profile": params.get("profile"),
        "config": config,
        "steps": int(steps),
        "batch_size": int(batch_size),
        "seed": int(params["seed"]),
        "train_dataset": params["train_dataset"],
        "train_manifest_sha256": manifest_sha256(params, params["train_dataset"]),
    }


def resume_fingerprint(record: dict[str, Any]) -> dict[str, Any]:
    """The part a resumable training state must share with the run (all but ``steps``)."""
    return {key: value for key, value in record.items() if key != "steps"}


# -- the ECS classifier ----------------------------------------------------------------------
def classifier_fingerprint(params: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What the ECS classifier depends on (compared with its checkpoint's own fields)."""
    return {
        "image_size": int(params["image_size"]),
        "seed": int(params["seed"]),
        "settings": settings,
        "train_dataset": params["train_dataset"],
        "train_manifest_sha256": manifest_sha256(params, params["train_dataset"]),
    }
