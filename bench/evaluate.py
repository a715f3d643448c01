"""Scoring a model's outputs on a dataset with every configured metric.

Each output image is decoded once and fed to all metrics from the same batch;
the metrics (their networks and weights) are built once per process and reused
for every dataset a call covers (:func:`evaluate_datasets`), each evaluation
starting from :meth:`Metric.begin`.
Writes ``results/records/<model>/<dataset>.parquet`` (one row per output,
provenance, set-level values and missing metrics in the parquet metadata) and
``results/metrics/<model>/<dataset>.json`` (mean and bootstrap interval per
per-image metric, the set-level values such as FID, the reason of every
metric that could not run, and the parquet's sha256), each atomically and as
one unit: the old JSON is removed once the new parquet is complete and the
new one written last, so :func:`read_evaluation` refuses a pair that an
interruption left behind, and a full disk or a read-only folder that stops the
parquet changes nothing.

A metric whose weights are absent is reported as missing, with the reason,
unless the evaluation is strict (``--strict``, or ``evaluation.strict`` in
the configuration): then the :class:`~bench.core.errors.MissingWeightsError` stops it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from bench import fingerprint, layout
from bench.core import atomic, provenance
from bench.core.errors import MissingWeightsError, UserError
from bench.core.hashing import sha256_file
from bench.core.progress import progress_bar
from bench.core.tensors import to_model_range
from bench.core.vocabulary import INDEX, parse_expressions
from bench.synthesize import (
    GENERATOR_FILE,
    OUTPUTS_MANIFEST,
    check_outputs,
    generator_checkpoint,
    read_generator,
    read_outputs,
    synthesize,
)
from datasets.manifest import MANIFEST, read_info, read_manifest
from datasets.tensors import decode_images
from metrics.aggregate import summarise
from metrics.base import EvaluationContext, Metric, ScoringBatch, SetValue
from metrics.real_set import select_real_set
from metrics.registry import METRICS, build_metric

if TYPE_CHECKING:
    from bench.config import Config

RECORDS_SHA256 = "records_sha256"
"""Key of the metrics JSON that holds the sha256 of the records parquet written with it."""
FEATURES = "features"
"""``attrs`` key of the kept features, and what names their file (:func:`features_path`)."""
FEATURES_SHA256 = "features_sha256"
"""Key of the metrics JSON that holds the sha256 of the features file written with it."""

RECORD_KEYS = (
    "model",
    "dataset",
    "output_id",
    "source_id",
    "subject",
    "target_expression",
    "has_reference",
)


def is_strict(config: Config, strict: bool | None = None) -> bool:
    """``strict`` if given, else the configuration's ``evaluation.strict``."""
    return config.evaluation.strict if strict is None else bool(strict)


Built = tuple[list[Metric], dict[str, str]]
"""What :func:`build_metrics` returns: the metrics, and ``{name: reason}`` of the missing ones."""


def build_metrics(config: Config, device: torch.device, strict: bool = True) -> Built:
    """Instantiate the configured metrics, on ``device``.

    Returns the metrics and ``{metric name: reason}`` for those whose weights
    are missing; with ``strict`` a missing weight file raises instead.
    """
    metrics: list[Metric] = []
    missing: dict[str, str] = {}
    for name in METRICS.parse(config.metrics):
        try:
            metrics.append(build_metric(name, config.metric_settings_of(name)).to(device))
        except MissingWeightsError as error:
            if strict:
                raise
            missing[name] = str(error)
    return metrics, missing


def begin_metrics(
    metrics: list[Metric], context: EvaluationContext, missing: dict[str, str], strict: bool
) -> list[Metric]:
    """Call every metric's ``begin``; those missing weights join ``missing`` (or raise if strict)."""
    ready = []
    for metric in metrics:
        try:
            with torch.inference_mode():
                metric.begin(context)
        except MissingWeightsError as error:
            if strict:
                raise
            missing[metric.name] = str(error)
        else:
            ready.append(metric)
    return ready


def missing_columns(missing: dict[str, str]) -> dict[str, str]:
    """``{column: reason}`` for every column (per-image and set-level) of the missing metrics."""
    return {
        column.name: reason
        for name, reason in missing.items()
        for column in METRICS.load(name).all_columns()
    }


def reference_files(dataset_frame: pd.DataFrame, outputs: pd.DataFrame) -> pd.Series:
    """For each output, the dataset file of the same subject with the target expression (or NaN)."""
    real = dataset_frame.sort_values("image_id").drop_duplicates(["subject", "expression"])
    lookup = real.set_index(["subject", "expression"])["file"]
    keys = pd.MultiIndex.from_arrays([outputs["subject"], outputs["target_expression"]])
    return pd.Series(lookup.reindex(keys).to_numpy(), index=outputs.index)


def evaluation_context(
    config: Config,
    model_name: str,
    dataset: str,
    device: torch.device,
    targets: tuple[str, ...],
) -> EvaluationContext:
    """What the metrics need beyond the batches, from the configuration: real set, seed,
    intervals, paths."""
    return EvaluationContext(
        model=model_name,
        dataset=dataset,
        device=device,
        real=select_real_set(
            layout.dataset_dir(config, dataset),
            targets,
            layout.dataset_dir(config, config.train_dataset),
        ),
        targets=targets,
        seed=config.seed,
        bootstrap_resamples=config.evaluation.bootstrap_resamples,
        confidence=config.evaluation.confidence,
        classifier_checkpoint=layout.classifier_path(config),
    )


def score(
    config: Config,
    model_name: str,
    dataset: str,
    device: torch.device,
    strict: bool | None = None,
    built: Built | None = None,
) -> pd.DataFrame:
    """Per-image records of every metric for (model, dataset).

    ``built``: metrics from :func:`build_metrics` to reuse (default: built here).
    ``attrs`` carries the provenance, ``ood``, ``set_values`` (list of
    :meth:`SetValue.as_dict`), ``missing`` (``{column: reason}``) and, where a metric keeps
    the features behind its set-level values (:meth:`Metric.kept_features`), ``features``
    (``{"<metric>.<name>": array, "output_id": ...}``; :func:`write_evaluation` moves them to
    their own file).
    """
    strict = is_strict(config, strict)
    data_root = layout.dataset_dir(config, dataset)
    out_root = layout.outputs_dir(config, model_name, dataset)
    outputs = read_outputs(config, model_name, dataset)
    frame = read_manifest(data_root)
    check_outputs(outputs, frame, out_root, data_root)
    by_id = frame.set_index("image_id")["file"]
    refs = reference_files(frame, outputs)
    # decode every distinct source and reference once
    source_ids = sorted(set(outputs["source_id"]))
    source_pixels = decode_images([data_root / by_id[i] for i in source_ids])
    source_row = {i: k for k, i in enumerate(source_ids)}
    ref_files = sorted(set(refs.dropna()))
    ref_pixels = decode_images([data_root / f for f in ref_files])
    ref_row = {f: k for k, f in enumerate(ref_files)}

    metrics, missing = built or build_metrics(config, device, strict)
    missing = dict(missing)  # begin_metrics adds to it: the caller's stays as built
    targets = tuple(parse_expressions(config.targets))
    context = evaluation_context(config, model_name, dataset, device, targets)
    metrics = begin_metrics(metrics, context, missing, strict)
    batch_size = config.evaluation.batch_size
    columns: dict[str, list[np.ndarray]] = {}
    with progress_bar(f"evaluate {model_name} on {dataset}", len(outputs)) as advance:
        for start in range(0, len(outputs), batch_size):
            part = outputs.iloc[start : start + batch_size]
            part_refs = refs.iloc[start : start + batch_size]
            out_px = decode_images([out_root / f for f in part["file"]]).to(device)
            src_px = source_pixels[[source_row[i] for i in part["source_id"]]].to(device)
            has_ref = torch.tensor(part_refs.notna().to_numpy(), device=device)
            ref_px = torch.zeros_like(out_px)
            if bool(has_ref.any()):
                ref_px[has_ref] = ref_pixels[[ref_row[f] for f in part_refs.dropna()]].to(device)
            batch = ScoringBatch(
                sources=to_model_range(src_px),
                outputs=to_model_range(out_px),
                target_expressions=torch.tensor(
                    [INDEX[t] for t in part["target_expression"]], device=device
                ),
                references=to_model_range(ref_px),
                has_reference=has_ref,
            )
            with torch.inference_mode():
                for metric in metrics:
                    for column, values in metric.score(batch).items():
                        kind = object if column in metric.label_columns else np.float64
                        columns.setdefault(column, []).append(np.asarray(values, dtype=kind))
            advance(len(part))
    set_values: list[SetValue] = []
    kept: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for metric in metrics:
            set_values += metric.finish()
            kept |= {f"{metric.name}.{k}": v for k, v in metric.kept_features().items()}
    records = outputs[["output_id", "source_id", "subject", "target_expression"]].copy()
    records.insert(0, "dataset", dataset)
    records.insert(0, "model", model_name)
    records["has_reference"] = refs.notna().to_numpy()
    for column, parts in columns.items():
        records[column] = np.concatenate(parts)
    gaps = missing_columns(missing)
    for name in missing:
        for column in METRICS.load(name).columns:
            records[column.name] = np.nan
    weights = {k: v for m in metrics for k, v in m.weight_checksums().items()}
    records.attrs["provenance"] = provenance.collect(
        config,
        weights=weights,
        inputs={
            f"data/{dataset}/{MANIFEST}": sha256_file(data_root / MANIFEST),
            f"outputs/{model_name}/{dataset}/{OUTPUTS_MANIFEST}": sha256_file(
                out_root / OUTPUTS_MANIFEST
            ),
        }
        | (
            {
                f"outputs/{model_name}/{dataset}/{GENERATOR_FILE}": sha256_file(
                    out_root / GENERATOR_FILE
                )
            }
            if (out_root / GENERATOR_FILE).is_file()
            else {}
        ),
    )
    records.attrs["generator"] = read_generator(config, model_name, dataset)
    records.attrs["ood"] = read_info(data_root).ood
    records.attrs["set_values"] = [value.as_dict() for value in set_values]
    records.attrs["missing"] = gaps
    if kept:
        records.attrs[FEATURES] = {"output_id": records["output_id"].to_numpy(str), **kept}
    return records


def metric_columns(records: pd.DataFrame) -> list[str]:
    """The numeric metric value columns of a records frame (not the text label columns)."""
    return [
        c
        for c in records.columns
        if c not in RECORD_KEYS and pd.api.types.is_numeric_dtype(records[c])
    ]


def write_records(records: pd.DataFrame, path: Path) -> None:
    """Parquet with the provenance JSON in the schema metadata, written to ``path`` as it is
    (:func:`write_evaluation` gives it a temporary name and renames it)."""
    table = pa.Table.from_pandas(records, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.pop(b"pandas", None)  # holds attrs; provenance goes in its own key
    meta[b"fes_bench_provenance"] = json.dumps(
        records.attrs.get("provenance", {}), sort_keys=True
    ).encode()
    meta[b"fes_bench_ood"] = json.dumps(bool(records.attrs.get("ood", False))).encode()
    meta[b"fes_bench_set_values"] = json.dumps(
        records.attrs.get("set_values", []), sort_keys=True
    ).encode()
    meta[b"fes_bench_generator"] = json.dumps(
        records.attrs.get("generator", {}), sort_keys=True
    ).encode()
    meta[b"fes_bench_missing"] = json.dumps(
        records.attrs.get("missing", {}), sort_keys=True
    ).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


def read_records(path: Path) -> pd.DataFrame:
    """Read a records parquet back with its provenance in ``attrs``."""
    table = pq.read_table(path)
    records = table.to_pandas()
    meta = table.schema.metadata or {}
    records.attrs["provenance"] = json.loads(meta.get(b"fes_bench_provenance", b"{}"))
    records.attrs["ood"] = json.loads(meta.get(b"fes_bench_ood", b"false"))
    records.attrs["set_values"] = json.loads(meta.get(b"fes_bench_set_values", b"[]"))
    records.attrs["missing"] = json.loads(meta.get(b"fes_bench_missing", b"{}"))
    records.attrs["generator"] = json.loads(meta.get(b"fes_bench_generator", b"{}"))
    return records


def set_values_of(records: pd.DataFrame) -> list[SetValue]:
    """The set-level values stored with a records frame."""
    return [SetValue.from_dict(item) for item in records.attrs.get("set_values", [])]


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    """Short provenance for the DVC metrics file (the full record is in the parquet metadata)."""
    return {
        "git_commit": record["git"]["commit"],
        "git_dirty": record["git"]["dirty"],
        "profile": record["profile"],
        "params_sha256": record["params_sha256"],
        "full_record": "fes_bench_provenance metadata of the records parquet",
    }


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _set_metrics_json(values: list[SetValue]) -> dict[str, Any]:
    """Set-level values as ``{column: {mean, ci_low, ci_high, n, flag, details[, per_target]}}``."""
    body: dict[str, Any] = {}
    for value in values:
        item = value.as_dict()
        summary = {
            "mean": item["value"],
            "ci_low": item["ci_low"],
            "ci_high": item["ci_high"],
            "n": item["n"],
        }
        entry = body.setdefault(value.column, {})
        if value.target_expression is None:
            entry.update(summary, flag=value.flag, details=value.details)
        else:
            entry.setdefault("per_target", {})[value.target_expression] = summary
    return body


def check_outputs_current(config: Config, model_name: str, dataset: str) -> None:
    """A one-line error unless the outputs were made by the model's current checkpoint."""
    out_root = layout.outputs_dir(config, model_name, dataset)
    made_by = read_generator(config, model_name, dataset)
    checkpoint = generator_checkpoint(config, model_name, dataset)
    again = f"run `bench synthesize --model {model_name} --dataset {dataset}` again"
    if not made_by:
        raise UserError(f"{out_root / GENERATOR_FILE} is missing: {again}")
    current = sha256_file(checkpoint) if checkpoint.is_file() else None
    if made_by.get("checkpoint_sha256") != current:
        state = f"sha256 {current[:12]}" if current else "missing"
        raise UserError(
            f"{out_root} was made by checkpoint {made_by.get('checkpoint')} sha256 "
            f"{str(made_by.get('checkpoint_sha256'))[:12]}, but {checkpoint} is now {state}: {again}"
        )


def features_path(config: Config, model_name: str, dataset: str) -> Path:
    """Beside the records: ``results/records/<model>/<dataset>.features.npz``, the features
    the set-level values were computed from (:meth:`Metric.kept_features`)."""
    records = layout.records_path(config, model_name, dataset)
    return records.with_name(f"{records.stem}.{FEATURES}.npz")


def _lossless(array: np.ndarray) -> np.ndarray:
    """float32 when that keeps every value (features of a float32 network), else as is."""
    if array.dtype == np.float64 and np.array_equal(array.astype(np.float32), array):
        return array.astype(np.float32)
    return array


def write_features(path: Path, features: dict[str, np.ndarray]) -> str:
    """The kept features as an ``.npz`` (atomically); returns its sha256."""
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{k: _lossless(np.asarray(v)) for k, v in features.items()})
    return sha256_file(path)


def write_evaluation(config: Config, model_name: str, dataset: str, records: pd.DataFrame) -> Path:
    """Write the records parquet, the kept features (moved out of ``records.attrs``) and the
    metrics JSON of (model, dataset) as one unit."""
    path = layout.records_path(config, model_name, dataset)
    metrics_file = layout.metrics_path(config, model_name, dataset)
    features = records.attrs.pop(FEATURES, None)  # before any copy of the frame carries them
    features_file = features_path(config, model_name, dataset)
    summary = summarise(
        records,
        metric_columns(records),
        by=["model", "dataset"],
        seed=config.seed,
        resamples=config.evaluation.bootstrap_resamples,
        confidence=config.evaluation.confidence,
    )
    body = {
        "model": model_name,
        "dataset": dataset,
        "outputs": len(records),
        "metrics": {
            r.metric: {
                "mean": _finite(r.mean),
                "ci_low": _finite(r.ci_low),
                "ci_high": _finite(r.ci_high),
                "n": int(r.n),
            }
            for r in summary.itertuples()
        }
        | _set_metrics_json(set_values_of(records))
        | {
            column: {"mean": None, "missing": reason}
            for column, reason in records.attrs.get("missing", {}).items()
        },
        "generator": records.attrs.get("generator", {}),
        "provenance": _compact(records.attrs["provenance"]),
    }
    # one unit: the new parquet is complete (a full disk or a read-only folder fails here and
    # changes nothing) before the old JSON goes and the parquet replaces the old one; the new
    # JSON, naming the parquet's sha256, comes last, so an interruption in between leaves a
    # pair that read_evaluation refuses
    with atomic.atomic_path(path) as tmp:
        write_records(records, tmp)
        body[RECORDS_SHA256] = sha256_file(tmp)
        metrics_file.unlink(missing_ok=True)
        features_file.unlink(missing_ok=True)
        if features:
            body[FEATURES_SHA256] = write_features(features_file, features)
    atomic.write_text(
        metrics_file, json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
    )
    fingerprint.write_evaluation_fingerprint(config, model_name, dataset)  # `bench run` reuses it
    return path


def evaluate(
    config: Config,
    model_name: str,
    dataset: str,
    device: torch.device,
    strict: bool | None = None,
    built: Built | None = None,
) -> Path:
    """Score (model, dataset); write records and the metrics JSON; return the records path.

    ``strict`` (default: the configuration's ``evaluation.strict``) turns a missing
    weight file into an error instead of a metric reported as missing;
    ``built``: metrics from :func:`build_metrics` to reuse.
    """
    check_outputs_current(config, model_name, dataset)
    try:
        records = score(config, model_name, dataset, device, strict, built)
    except FileNotFoundError as error:  # checked above, gone since: deleted while scoring
        raise UserError(
            f"{error.filename} disappeared while {model_name} was scored on {dataset} "
            "(deleted during `bench evaluate`?); nothing was written, earlier records are "
            f"unchanged; run `bench synthesize --model {model_name} --dataset {dataset}` "
            "and evaluate again"
        ) from error
    return write_evaluation(config, model_name, dataset, records)


def evaluate_datasets(
    config: Config,
    model_name: str,
    datasets: list[str],
    device: torch.device,
    strict: bool | None = None,
    synthesize_first: bool = False,
) -> list[Path]:
    """:func:`evaluate` ``model_name`` on each of ``datasets`` in this process, building the
    metrics once (with ``synthesize_first``, translate each dataset just before scoring it).

    Every (model, dataset) result is byte-identical to evaluating it alone: each evaluation
    starts from the metrics' :meth:`~metrics.base.Metric.begin`.
    """
    built: Built | None = None
    paths = []
    for dataset in datasets:
        if synthesize_first:
            synthesize(config, model_name, dataset, device)
        built = built or build_metrics(config, device, is_strict(config, strict))
        paths.append(evaluate(config, model_name, dataset, device, strict, built))
    return paths


def read_evaluation(config: Config, model_name: str, dataset: str) -> pd.DataFrame:
    """The records of (model, dataset), once its metrics JSON confirms they are complete.

    ``bench evaluate`` writes the parquet and then the JSON with the parquet's
    sha256; a missing JSON or another sha256 (an interrupted or mixed-up
    evaluation) is a :class:`UserError` that says how to redo it.
    """
    path = layout.records_path(config, model_name, dataset)
    metrics_file = layout.metrics_path(config, model_name, dataset)
    redo = f"re-run `bench evaluate --model {model_name} --dataset {dataset}`"
    if not path.is_file():
        raise UserError(f"no records for {model_name} on {dataset} at {path}; {redo}")
    if not metrics_file.is_file():
        raise UserError(
            f"{path} has no {metrics_file} beside it (an interrupted evaluation?); {redo}"
        )
    recorded = json.loads(metrics_file.read_text(encoding="utf-8")).get(RECORDS_SHA256)
    if recorded != sha256_file(path):
        raise UserError(f"{metrics_file} was not written with {path} (sha256 differs); {redo}")
    return read_records(path)


def read_features(config: Config, model_name: str, dataset: str) -> dict[str, np.ndarray]:
    """The features kept with (model, dataset)'s records (:func:`features_path`), once its
    metrics JSON confirms they were written with them; empty when none were kept."""
    path = features_path(config, model_name, dataset)
    metrics_file = layout.metrics_path(config, model_name, dataset)
    body = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    recorded = body.get(FEATURES_SHA256)
    if recorded is None:
        return {}
    if not path.is_file() or sha256_file(path) != recorded:
        raise UserError(
            f"{path} is missing or was not written with {metrics_file} (sha256 differs); "
            f"re-run `bench evaluate --model {model_name} --dataset {dataset}`"
        )
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
