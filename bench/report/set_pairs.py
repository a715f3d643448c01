"""Paired comparisons of set-level metrics (FID, KID) between models, over source faces.

The evaluation keeps, beside each records file, the Inception features the FID metric
computed its values from (:meth:`metrics.fid.FID.kept_features`: every output's row in the
records' order, the real reference images' rows and their targets). For a pair of models
on a dataset, the images both have (same source face and target expression, in every run
of each model) are resampled by source face (:func:`bench.report.pairwise.source_weights`),
and FID and KID are recomputed for both models on the same resamples, vectorised
(:func:`metrics.frechet.frechet_distances`, :func:`~metrics.frechet.kernel_distances`),
each model against its own reference features. A model with several seeds' runs scores the
mean of its runs' values on each resample (seed-averaged, like the per-image comparisons).

As in the tables, the value is over all outputs against the real images of all targets
(``overall: pooled``), or the mean of the per-target values (``overall: mean``). KID here is
the unbiased MMD^2 over the whole sets (what clean-fid's random-subset estimator averages
to), so ``diff`` may differ from the difference of the table's KID cells in the last digits;
FID's ``diff`` is the difference of the table's FIDs when both models have every image.
The rows join ``pairwise.csv`` (``n``: shared images; ``p`` from the normal approximation,
:func:`bench.report.pairwise.set_difference`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.evaluate import read_features, set_values_of
from bench.report.pairwise import COLUMNS, PAIR_KEYS, set_difference, source_weights
from metrics.frechet import frechet_distances, kernel_distances

if TYPE_CHECKING:
    from bench.config import Config
    from bench.report.seeds import Runs

STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "FID": frechet_distances,
    "KID": kernel_distances,
}
"""Set-level columns compared, and the vectorised statistic of each."""
PREFIX = "fid."
"""Key prefix of the FID metric's kept features (``fid.outputs``, ``fid.reference``, ...)."""


@dataclass
class Run:
    """One run's outputs on a dataset: the pair keys of each row and the kept features."""

    keys: pd.DataFrame
    """``source_id``, ``target_expression`` per output row (the records' order)."""
    features: dict[str, np.ndarray]

    @classmethod
    def of(cls, records: pd.DataFrame, features: dict[str, np.ndarray]) -> Run | None:
        """The run of a records frame and its kept features; None without FID's features."""
        if f"{PREFIX}outputs" not in features:
            return None
        if not np.array_equal(features["output_id"], records["output_id"].to_numpy(str)):
            raise ValueError("kept features are not in the records' row order")
        return cls(records[list(PAIR_KEYS)].reset_index(drop=True), features)

    def values(self, shared: pd.MultiIndex, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each column of :data:`STATISTICS` on every row of ``weights`` (over ``shared``)."""
        index = pd.MultiIndex.from_frame(self.keys)
        rows = index.get_indexer(shared)
        outputs = self.features[f"{PREFIX}outputs"][rows]
        reference = self.features[f"{PREFIX}reference"]
        if str(self.features[f"{PREFIX}overall"]) == "pooled":
            return {c: f(outputs, reference, weights) for c, f in STATISTICS.items()}
        targets = shared.get_level_values("target_expression").to_numpy(str)
        labels = self.features[f"{PREFIX}reference_targets"]
        per_target = {c: [] for c in STATISTICS}
        for target in dict.fromkeys(targets):
            mine, theirs = targets == target, labels == target
            for column, statistic in STATISTICS.items():
                per_target[column].append(
                    statistic(outputs[mine], reference[theirs], weights[:, mine])
                )
        return {c: np.mean(v, axis=0) for c, v in per_target.items()}


def compare(
    runs: dict[tuple[str, str], list[Run]],
    models: Sequence[str],
    seed: int,
    resamples: int,
    confidence: float = 0.95,
    matched: bool = False,
) -> pd.DataFrame:
    """Rows of :data:`bench.report.pairwise.COLUMNS` (without ``p_holm``) for every pair of
    ``models`` with kept features on a dataset, FID and KID; ``runs[(model, dataset)]``: the
    model's runs there (one per seed). Resamples are shared by every pair with the same
    shared images, so each model's values are computed once per such set.

    ``matched`` (data made per seed: each seed's runs scored their own images): the i-th runs
    of the two models are paired with each other only, each such stratum resampled by its own
    source faces (a stratified bootstrap), and a model's value on a resample is the mean of
    its runs' values; ``n`` counts the shared images of every stratum."""
    rows = []
    cache: dict[tuple[str, str, bytes], dict[str, np.ndarray]] = {}
    datasets = list(dict.fromkeys(d for _, d in runs))
    for dataset in datasets:
        present = [m for m in models if runs.get((m, dataset))]
        for model_a, model_b in itertools.combinations(present, 2):
            pair = (runs[model_a, dataset], runs[model_b, dataset])
            strata = _strata(*pair, matched, seed, resamples)
            if not strata:
                continue
            token = b"".join(
                pd.util.hash_pandas_object(shared.to_frame(), index=False).to_numpy().tobytes()
                for shared, _ in strata
            )
            values = {}
            for model, model_runs in zip((model_a, model_b), pair, strict=True):
                key = (model, dataset, token)
                if key not in cache:
                    per_run = [
                        run.values(*strata[i if matched else 0]) for i, run in enumerate(model_runs)
                    ]
                    cache[key] = {c: np.mean([v[c] for v in per_run], axis=0) for c in STATISTICS}
                values[model] = cache[key]
            n = sum(len(shared) for shared, _ in strata)
            for column in STATISTICS:
                result = set_difference(
                    values[model_a][column], values[model_b][column], confidence
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "metric": column,
                        "model_a": model_a,
                        "model_b": model_b,
                        "n": n,
                        **result,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS[:-1])


def of_runs(config: Config, runs: Runs, models: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """:func:`compare` over the runs the report read (features from beside their records),
    and a footnote naming the models whose FID was computed but whose features were not kept
    (evaluated before they were: no paired FID / KID until `bench evaluate` runs again)."""
    kept, unpaired = {}, []
    for (model, dataset), frames in runs.items():
        found = [Run.of(frame, read_features(run, model, dataset)) for run, frame in frames]
        if all(run is not None for run in found):
            kept[(model, dataset)] = found
        elif any(v.column in STATISTICS for _, frame in frames for v in set_values_of(frame)):
            unpaired.append(model)
    evaluation = config.evaluation
    pairs = compare(
        kept,
        models,
        config.seed,
        evaluation.set_bootstrap_resamples,
        evaluation.confidence,
        matched=config.data_per_seed,
    )
    note = (
        f"FID, KID of {', '.join(dict.fromkeys(unpaired))}: no paired comparison (records "
        "evaluated before the features were kept beside them; `bench evaluate` again)."
    )
    return pairs, [note] if unpaired else []


def _strata(
    runs_a: list[Run], runs_b: list[Run], matched: bool, seed: int, resamples: int
) -> list[tuple[pd.MultiIndex, np.ndarray]]:
    """The shared images and resample weights (first row: all ones, the point estimate) of
    each stratum: one over every run of both models, or, ``matched``, one per pair of i-th
    runs (each with its own resamples); none when a stratum shares no image."""
    groups = [[a, b] for a, b in zip(runs_a, runs_b, strict=True)] if matched else [runs_a + runs_b]
    strata = []
    for index, group in enumerate(groups):
        shared = _shared(group)
        if len(shared) == 0:
            return []
        clusters = shared.get_level_values("source_id").to_numpy(str)
        drawn = source_weights(clusters, seed + index, resamples)
        strata.append((shared, np.vstack([np.ones(len(shared)), drawn])))
    return strata


def _shared(runs: list[Run]) -> pd.MultiIndex:
    """The pair keys every run has, sorted."""
    shared = pd.MultiIndex.from_frame(runs[0].keys)
    for run in runs[1:]:
        shared = shared.intersection(pd.MultiIndex.from_frame(run.keys))
    return shared.sort_values()
