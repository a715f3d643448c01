"""Fingerprints: what made an artefact, so that it is reused only while that is unchanged.

Prepared data, the ECS classifier, every checkpoint, every resumable training state and
every evaluation record a fingerprint: the settings their stage's result depends on (the
same subtree of the stage table that DVC tracks, :mod:`bench.stages`) and the sha256 of
their input manifests (and base checkpoints). ``bench run`` reuses an artefact only when its
recorded fingerprint equals the one the current configuration gives, and otherwise rebuilds
it, saying in one line which values differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import layout, stages
from bench.core import atomic
from bench.core.hashing import sha256_file
from datasets.manifest import MANIFEST

if TYPE_CHECKING:
    from bench.config import Config

DATA_FINGERPRINT = "fingerprint.json"


def _flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(record, dict) and record:  # an empty mapping is a value of its own
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


def file_sha256(path: Path) -> str | None:
    """sha256 of ``path``; None when it does not exist (a missing input is a value too)."""
    return sha256_file(path) if path.is_file() else None


def lock_sha256(config: Config, group: str) -> str | None:
    """sha256 of the weights lock of ``group`` (``results/weights/<group>.json``)."""
    return file_sha256(layout.weights_lock_dir(config) / f"{group}.json")


def sources_sha256(config: Config, model: str) -> str | None:
    """sha256 of ``results/sources/<model>.json``: the code the model is made of."""
    return file_sha256(layout.sources_dir(config) / f"{model}.json")


def manifest_sha256(config: Config, dataset: str) -> str | None:
    """sha256 of a prepared dataset's manifest (its images' hashes are inside it); None when
    the dataset is not prepared."""
    path = layout.dataset_dir(config, dataset) / MANIFEST
    return sha256_file(path) if path.is_file() else None


# -- prepared data ---------------------------------------------------------------------------
def data_fingerprint(config: Config, spec_name: str) -> dict[str, Any]:
    """What a dataset spec's prepared folders depend on: :func:`bench.stages.data_settings` and
    the pinned weights of the face aligner (its lock file)."""
    return {
        **stages.data_settings(config, spec_name),
        "weights_lock": lock_sha256(config, "datasets"),
    }


def read_data_fingerprint(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / DATA_FINGERPRINT
    return json.loads(path.read_text()) if path.is_file() else None


def write_data_fingerprint(folder: Path, record: dict[str, Any]) -> None:
    atomic.write_text(Path(folder) / DATA_FINGERPRINT, json.dumps(record, sort_keys=True) + "\n")


def clear_data_fingerprint(folder: Path) -> None:
    """Remove it before re-preparing, so an interrupted preparation is never taken as current."""
    (Path(folder) / DATA_FINGERPRINT).unlink(missing_ok=True)


# -- models ----------------------------------------------------------------------------------
def train_fingerprint(config: Config, name: str) -> dict[str, Any]:
    """What a trained (or fitted) checkpoint of ``name`` depends on: its stage settings and the
    training set's manifest."""
    return {
        "settings": stages.train_settings(config, name),
        "train_manifest_sha256": manifest_sha256(config, config.train_dataset),
        "sources_sha256": sources_sha256(config, name),
    }


def resume_fingerprint(record: dict[str, Any]) -> dict[str, Any]:
    """The part a resumable training state must share with the run (all but the step count)."""
    settings = {k: v for k, v in record["settings"].items() if k != "steps"}
    return {**record, "settings": settings}


# -- the ECS classifier ----------------------------------------------------------------------
def classifier_fingerprint(config: Config) -> dict[str, Any]:
    """What the ECS classifier depends on (compared with its checkpoint's own fields)."""
    return {
        **stages.classifier_settings(config),
        "train_manifest_sha256": manifest_sha256(config, config.train_dataset),
    }


# -- evaluation and report -------------------------------------------------------------------
EVALUATION_SUFFIX = ".fingerprint.json"


def evaluation_fingerprint(config: Config, model: str, dataset: str) -> dict[str, Any]:
    """What (model, dataset)'s outputs and records depend on: the evaluate stage's settings,
    the dataset, the model's checkpoint and (with ECS) the classifier."""
    from bench.synthesize import generator_checkpoint

    checkpoint = generator_checkpoint(config, model, dataset)
    classifier = layout.classifier_path(config)
    record: dict[str, Any] = {
        "settings": stages.evaluate_settings(config, model),
        "dataset": dataset,
        "manifest_sha256": manifest_sha256(config, dataset),
        "checkpoint_sha256": file_sha256(checkpoint),
        "weights_lock": lock_sha256(config, "metrics"),
    }
    if "ecs" in config.metrics:
        record["classifier_sha256"] = sha256_file(classifier) if classifier.is_file() else None
    return record


def evaluation_fingerprint_path(config: Config, model: str, dataset: str) -> Path:
    """Beside the records: ``results/records/<model>/<dataset>.fingerprint.json``."""
    records = layout.records_path(config, model, dataset)
    return records.with_name(records.stem + EVALUATION_SUFFIX)


def write_evaluation_fingerprint(config: Config, model: str, dataset: str) -> None:
    """Record what made (model, dataset)'s records (after they are written)."""
    record = evaluation_fingerprint(config, model, dataset)
    path = evaluation_fingerprint_path(config, model, dataset)
    atomic.write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def evaluation_mismatch(config: Config, model: str, dataset: str) -> str | None:
    """None when (model, dataset)'s records are current; else why to evaluate again."""
    from bench.synthesize import OUTPUTS_MANIFEST

    path = evaluation_fingerprint_path(config, model, dataset)
    if not layout.metrics_path(config, model, dataset).is_file() or not path.is_file():
        return "not evaluated yet"
    if not (layout.outputs_dir(config, model, dataset) / OUTPUTS_MANIFEST).is_file():
        return "its outputs are gone"
    recorded = json.loads(path.read_text(encoding="utf-8"))
    return difference(recorded, evaluation_fingerprint(config, model, dataset))


REPORT_FINGERPRINT = "report.fingerprint.json"


def _report_path(config: Config) -> Path:
    return layout.tables_dir(config) / REPORT_FINGERPRINT


def report_fingerprint(config: Config, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """What the tables, figures and report depend on: the report stage's settings and the
    records of every run of the (model, dataset) ``pairs`` they cover (sha256; keyed
    ``<model>/<dataset>``, or ``<model>/seed<k>/<dataset>`` for a model trained per seed)."""
    from bench.synthesize import generator_checkpoint

    records, checkpoints = {}, {}
    for model, dataset in pairs:
        for run, _ in stages.runs(config, model):
            key = f"{layout.run_dir(run, model)}/{dataset}"
            records[key] = file_sha256(layout.records_path(run, model, dataset))
            checkpoints[key] = file_sha256(generator_checkpoint(run, model, dataset))
    return {
        "settings": stages.report_settings(config),
        "records": records,
        "checkpoints": checkpoints,  # the report checks each record was made by its checkpoint
        "train_manifest_sha256": manifest_sha256(config, config.train_dataset),  # Figure 3
    }


def write_report_fingerprint(config: Config, pairs: list[tuple[str, str]]) -> None:
    """Record what made the report (after it is written)."""
    record = report_fingerprint(config, pairs)
    atomic.write_text(_report_path(config), json.dumps(record, indent=2, sort_keys=True) + "\n")


def reported_pairs(config: Config) -> list[tuple[str, str]] | None:
    """The (model, dataset) pairs the current report covers (None: no report yet)."""
    path = _report_path(config)
    if not path.is_file():
        return None
    recorded = json.loads(path.read_text(encoding="utf-8"))
    pairs = []  # (model, dataset) from "<model>[/seed<k>]/<dataset>" (names hold no "/")
    for key in recorded.get("records", {}):
        run, dataset = key.rsplit("/", 1)
        pairs.append((run.split("/", 1)[0], dataset))
    return list(dict.fromkeys(pairs))


def report_mismatch(config: Config) -> str | None:
    """None when the report was made with the current settings from records that are unchanged
    since; else why to write it again."""
    pairs = reported_pairs(config)
    if pairs is None:
        return "no report yet"
    recorded = json.loads(_report_path(config).read_text(encoding="utf-8"))
    return difference(recorded, report_fingerprint(config, pairs))
