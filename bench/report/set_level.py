"""Set-level values (FID, KID, classifier accuracy on real images) and missing metrics, for the tables.

Per-image metrics are aggregated from the records; set-level values were
computed once per (model, dataset[, target]) at evaluation time and travel in
the records' metadata. This module turns them into rows of the same long format
as :func:`metrics.aggregate.summarise`, and collects the flags, reference sets
and missing-metric reasons that become table cells and footnotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.evaluate import set_values_of
from metrics.base import Column

SUMMARY_COLUMNS = ["metric", "mean", "ci_low", "ci_high", "n"]
FLAG_MARK = "†"


def short_reason(reason: str) -> str:
    """The first line of a missing-metric reason (the full text is in the metrics JSON)."""
    return reason.strip().splitlines()[0] if reason.strip() else "no reason given"


@dataclass
class SetLevel:
    """Everything the tables need beyond the per-image summary.

    ``overall`` / ``per_target``: long-format rows (model, dataset, [target_expression,]
    metric, mean, ci_low, ci_high, n). ``missing``: (model, dataset, column) -> reason.
    ``flags``: (model, dataset, column) -> caveat. ``references``: dataset -> where
    its real comparison images came from.
    """

    overall: pd.DataFrame
    per_target: pd.DataFrame
    missing: dict[tuple[str, str, str], str] = field(default_factory=dict)
    flags: dict[tuple[str, str, str], str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)


def collect(frames: list[pd.DataFrame], columns: dict[str, Column]) -> SetLevel:
    """Gather the set-level values and missing metrics of every records frame (known columns
    only); frames of several seeds' runs (a ``seed`` column) give one row per seed, with it
    (:func:`bench.report.seeds.collapse` averages them)."""
    overall, per_target = [], []
    missing: dict[tuple[str, str, str], str] = {}
    flags: dict[tuple[str, str, str], str] = {}
    references: dict[str, str] = {}
    for frame in frames:
        if frame.empty:
            continue
        model, dataset = frame["model"].iloc[0], frame["dataset"].iloc[0]
        for column, reason in frame.attrs.get("missing", {}).items():
            if column in columns:
                missing[(model, dataset, column)] = reason
        for value in set_values_of(frame):
            if value.column not in columns:
                continue
            row = {
                "model": model,
                "dataset": dataset,
                "metric": value.column,
                "mean": value.value,
                "ci_low": value.ci_low,
                "ci_high": value.ci_high,
                "n": value.n,
            }
            if "seed" in frame:
                row["seed"] = frame["seed"].iloc[0]
            if value.target_expression is None:
                overall.append(row)
                if value.flag:
                    flags[(model, dataset, value.column)] = value.flag
                reference = value.details.get("reference_set") or value.details.get("real_set")
                if reference:
                    references.setdefault(dataset, reference)
            else:
                per_target.append({**row, "target_expression": value.target_expression})
    base = ["model", "dataset"]
    tail = ["seed"] if any("seed" in frame for frame in frames) else []
    return SetLevel(
        overall=pd.DataFrame(overall, columns=[*base, *SUMMARY_COLUMNS, *tail]),
        per_target=pd.DataFrame(
            per_target, columns=[*base, "target_expression", *SUMMARY_COLUMNS, *tail]
        ),
        missing=missing,
        flags=flags,
        references=references,
    )


def combine(
    summary: pd.DataFrame, extra: pd.DataFrame, columns: dict[str, Column], by: list[str]
) -> pd.DataFrame:
    """Per-image summary rows plus set-level rows, sorted by ``by`` then the columns' order."""
    frames = [f for f in (summary, extra) if not f.empty]
    if not frames:
        return summary
    merged = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(columns)}
    merged["_order"] = merged["metric"].map(order).fillna(len(order))
    merged = merged.sort_values([*by, "_order"], kind="stable").drop(columns="_order")
    return merged.reset_index(drop=True)


def notes(level: SetLevel, columns: dict[str, Column]) -> list[str]:
    """Footnotes on set-level values, their reference sets, flags and missing metrics."""
    lines = []
    present = set(level.overall["metric"]) if not level.overall.empty else set()
    if present & {"FID", "KID"}:
        lines.append(
            "FID, KID: one value per model and dataset over all its outputs against real test "
            "images of the target expressions (clean-fid clean resize, Inception-v3 2015-12-05); "
            "no interval in the table (pairs of models: a paired bootstrap over source faces, "
            "tables/pairwise.csv)."
        )
    accuracy = sorted(c for c in present if c.endswith("real acc"))
    if accuracy:
        lines.append(
            f"{', '.join(accuracy)}: the classifier's accuracy on the dataset's real labelled "
            "test images (the ceiling of its ECS), 95% bootstrap interval over images."
        )
    for dataset, reference in sorted(level.references.items()):
        lines.append(f"{dataset}: set-level metrics compare with {reference}.")
    for flag in sorted(set(level.flags.values())):
        lines.append(f"{FLAG_MARK} {flag}.")
    reasons: dict[str, set[str]] = {}
    for (_, _, column), reason in level.missing.items():
        reasons.setdefault(column, set()).add(short_reason(reason))
    for column in (c for c in columns if c in reasons):
        lines.append(f"{column} missing: {'; '.join(sorted(reasons[column]))}")
    return lines
