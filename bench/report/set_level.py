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
from metrics.fid import RELIABLE_IMAGES

SUMMARY_COLUMNS = ["metric", "mean", "ci_low", "ci_high", "n"]
FLAG_MARK = "†"

SMALL_SET = RELIABLE_IMAGES
"""Set-level values (no interval) from fewer generated images than this are flagged: 2,048 is
the dimension of the Inception features FID, KID and precision/recall/density/coverage compare."""

SMALL_SET_CAVEAT = (
    f"from fewer than {SMALL_SET:,} generated images (n in comparison.csv), the dimension of the "
    "Inception features compared: FID is then biased upwards, KID noisy, and precision, recall, "
    "density and coverage (k-nearest-neighbour balls) swing with the sample; compare them only "
    "between models with the same n"
)
"""The caveat of a small-sample set-level value (a ``†`` note)."""


def small_set(value_n: float, ci_low: float) -> bool:
    """Whether a set-level value without an interval rests on too few images (:data:`SMALL_SET`)."""
    return bool(pd.isna(ci_low)) and 0 < value_n < SMALL_SET


def short_reason(reason: str) -> str:
    """The first line of a missing-metric reason (the full text is in the metrics JSON)."""
    return reason.strip().splitlines()[0] if reason.strip() else "no reason given"


@dataclass
class SetLevel:
    """Everything the tables need beyond the per-image summary.

    ``overall`` / ``per_target``: long-format rows (model, dataset, [target_expression,]
    metric, mean, ci_low, ci_high, n). ``missing``: (model, dataset, column) -> reason.
    ``flags``: (model, dataset, column) -> caveat. ``references``: dataset -> where
    its real comparison images came from. ``undefined``: (model, dataset, column) -> why the
    value is NaN (an ``n/a`` cell, e.g. precision on fewer than k + 1 images).
    """

    overall: pd.DataFrame
    per_target: pd.DataFrame
    missing: dict[tuple[str, str, str], str] = field(default_factory=dict)
    flags: dict[tuple[str, str, str], str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    undefined: dict[tuple[str, str, str], str] = field(default_factory=dict)


def collect(frames: list[pd.DataFrame], columns: dict[str, Column]) -> SetLevel:
    """Gather the set-level values and missing metrics of every records frame (known columns
    only); frames of several seeds' runs (a ``seed`` column) give one row per seed, with it
    (:func:`bench.report.seeds.collapse` averages them)."""
    overall, per_target = [], []
    missing: dict[tuple[str, str, str], str] = {}
    flags: dict[tuple[str, str, str], str] = {}
    undefined: dict[tuple[str, str, str], str] = {}
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
                if value.flag and pd.isna(value.value):
                    undefined[(model, dataset, value.column)] = value.flag
                elif value.flag:
                    flags[(model, dataset, value.column)] = value.flag
                elif not columns[value.column].real_images_of and small_set(value.n, value.ci_low):
                    flags[(model, dataset, value.column)] = SMALL_SET_CAVEAT
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
        undefined=undefined,
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
    """Notes on set-level values, their flags and missing metrics (every table's)."""
    lines = []
    present = set(level.overall["metric"]) if not level.overall.empty else set()
    if present & {"FID", "KID"}:
        lines.append(
            "FID, KID: one value per model and dataset over all its outputs against real test "
            "images of the target expressions (clean-fid clean resize, Inception-v3 2015-12-05); "
            "no interval in the table (pairs of models: a paired bootstrap over source faces, "
            "tables/pairwise.csv)."
        )
    for text, flagged in _columns_by_text(level.flags, columns).items():
        prefix = f"{', '.join(flagged)} " if text == SMALL_SET_CAVEAT else ""
        lines.append(f"{FLAG_MARK} {prefix}{text}.")
    for text, undefined in _columns_by_text(level.undefined, columns).items():
        lines.append(f"n/a in {', '.join(undefined)}: {text}.")
    reasons: dict[str, set[str]] = {}
    for (_, _, column), reason in level.missing.items():
        reasons.setdefault(column, set()).add(short_reason(reason))
    for column in (c for c in columns if c in reasons):
        lines.append(f"{column} missing: {'; '.join(sorted(reasons[column]))}")
    return lines


def _columns_by_text(
    texts: dict[tuple[str, str, str], str], columns: dict[str, Column]
) -> dict[str, list[str]]:
    """Each distinct text of ``(model, dataset, column) -> text`` (sorted) with the columns it
    is said of, in the table's column order."""
    return {
        text: [c for c in columns if any(k[2] == c and t == text for k, t in texts.items())]
        for text in sorted(set(texts.values()))
    }
