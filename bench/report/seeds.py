"""Several training seeds in the tables: seed-averaged per-image scores and the across-seed spread.

A model trained per seed (:func:`bench.layout.runs_per_seed`) has one records frame per
seed, each tagged with a ``seed`` column. The tables and the paired comparisons read one
score per image: its mean over the seeds (:func:`average`), so a cell's interval is the
bootstrap over images of the seed-averaged scores and a pair of models is compared image by
image on them. Beside it, :func:`spread` gives the standard deviation across seeds of the
per-seed means (per-image metrics) and :func:`collapse` the mean and standard deviation of
the per-seed values of set-level metrics (FID, KID): the columns ``seeds`` (how many) and
``seed_sd`` (NaN for a model with one run) of ``comparison.csv``.

With ``seed_data: per_seed`` each seed has its own images, so there is nothing to average
image by image: each (seed, image) is a unit of its own (:func:`average` with ``pooled``), a
cell is the mean over every seed's images and a pair of models is compared on the units they
share (the same image of the same seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench import layout, stages
from bench.evaluate import read_evaluation

if TYPE_CHECKING:
    from bench.config import Config

Runs = dict[tuple[str, str], list[tuple["Config", pd.DataFrame]]]
"""(model, dataset) -> each run's (configuration, records frame), first seed first."""

SEED = "seed"
"""Column of the records frames (and set-level rows) naming the run's training seed."""


def read_runs(config: Config, covered: list[tuple[str, str]]) -> tuple[list[pd.DataFrame], Runs]:
    """Every run's records of the ``covered`` (model, dataset) pairs: the first run's frame of
    each pair (marks, counts, figures), and each pair's runs; with several seeds each frame
    gets a ``seed`` column."""
    runs: Runs = {}
    for model, dataset in covered:
        for run, _ in stages.runs(config, model):
            frame = read_evaluation(run, model, dataset)
            if len(config.seeds) > 1:
                frame = frame.assign(**{SEED: run.run_seed})
            runs.setdefault((model, dataset), []).append((run, frame))
    return [frames[0][1] for frames in runs.values()], runs


def note(config: Config, models: list[str]) -> list[str]:
    """The footnote on the across-seed spread (none without a model trained per seed)."""
    trained = [m for m in models if layout.runs_per_seed(config, m)]
    if not trained:
        return []
    once = [m for m in models if m not in trained]
    seeds = f"({', '.join(map(str, config.seeds))})"
    if config.data_per_seed:
        return [
            f"sd: standard deviation across the {len(config.seeds)} seeds {seeds}, each with "
            "its own data, splits, ECS classifier and training (seed_data: per_seed), of the "
            "mean (per-image metrics) or the value (FID, KID) of each model; a cell is the mean "
            "over every seed's images (FID, KID: over the seeds' values), its ± interval is "
            "over those (seed, image) units, which the paired comparisons pair within a seed"
            + (f"; {', '.join(once)} run once (no sd)." if once else ".")
        ]
    return [
        f"sd: standard deviation across the {len(config.seeds)} training seeds {seeds} of the "
        f"mean (per-image metrics) or the value (FID, KID) of each model trained per seed "
        f"({', '.join(trained)}); such a cell is the mean over its seeds, its ± interval is "
        "over images of the seed-averaged per-image scores, which the paired comparisons use "
        "too" + (f"; {', '.join(once)} run once (no sd)." if once else ".")
    ]


POOLED_ID = "seed{seed}:{id}"
"""A unit's source and output ids when the data is made per seed (``seed1:s03_happy``)."""


def average(
    records: pd.DataFrame, value_columns: Sequence[str], pooled: bool = False
) -> pd.DataFrame:
    """One row per (model, dataset, output) with each value column's mean over the seeds
    (NaN seeds skipped: the metric did not apply to that seed's output); every other column
    from the first seed's row. Without a ``seed`` column, ``records`` itself.

    ``pooled`` (data made per seed: each seed scored its own images): no averaging; every
    row is a unit, its ``source_id`` and ``output_id`` prefixed with its seed
    (:data:`POOLED_ID`), so pairs match only the same image of the same seed."""
    if SEED not in records:
        return records
    if pooled:
        tagged = records.copy()
        for column in ("source_id", "output_id"):
            tagged[column] = [
                POOLED_ID.format(seed=seed, id=value)
                for seed, value in zip(records[SEED], records[column], strict=True)
            ]
        return tagged.drop(columns=SEED)
    keys = ["model", "dataset", "output_id"]
    first = records.drop_duplicates(keys).drop(columns=SEED).set_index(keys)
    means = records.groupby(keys, sort=False)[list(value_columns)].mean()
    first[list(value_columns)] = means.loc[first.index]
    return first.reset_index()[[c for c in records.columns if c != SEED]]


def spread(records: pd.DataFrame, value_columns: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Per (``by``, metric): ``seeds`` (runs with a finite mean) and ``seed_sd``, the standard
    deviation (ddof 1) across seeds of each run's mean of the column (NaN under 2 runs)."""
    keys = [*by, "metric"]
    means = records.groupby([*by, SEED], sort=True)[list(value_columns)].mean().reset_index()
    long = means.melt(id_vars=[*by, SEED], var_name="metric", value_name="mean")
    spreads = long.groupby(keys, sort=False)["mean"].agg(seeds="count", seed_sd="std")
    return spreads.reset_index()


def collapse(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Set-level rows (one per run, with a ``seed`` column) as one row per (``by``, metric):
    the mean over seeds (no interval where several were averaged), ``seeds`` and ``seed_sd``
    (the values' standard deviation across seeds, ddof 1). Without a ``seed`` column,
    ``rows`` itself."""
    if SEED not in rows:
        return rows
    grouped = rows.groupby([*by, "metric"], sort=False)
    collapsed = grouped.agg(
        mean=("mean", "mean"),
        ci_low=("ci_low", "first"),
        ci_high=("ci_high", "first"),
        n=("n", "first"),
        seeds=("mean", "count"),
        seed_sd=("mean", "std"),
    )
    collapsed.loc[grouped.size() > 1, ["ci_low", "ci_high"]] = np.nan
    return collapsed.reset_index()


def with_spread(summary: pd.DataFrame, spreads: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``summary`` with ``spreads``' columns joined on (``by``, metric) (NaN where none)."""
    return summary.merge(spreads, on=[*by, "metric"], how="left")
