"""Paired comparisons between models: every pair, every per-image metric, every dataset.

Two models are compared on the images they share: rows are paired by
``(source_id, target_expression)`` (:data:`PAIR_KEYS`: the same input face asked for the
same expression), never by position, and an image counts only where both values are
finite (a metric that did not apply to it is NaN). For the differences
``d = a - b`` of the ``n`` shared images, :func:`paired_test` gives

- ``diff``: ``mean(d)``;
- ``ci_low``, ``ci_high``: the seeded percentile bootstrap interval of ``mean(d)`` (paired:
  images are resampled, each carrying both of its values), by
  :func:`metrics.aggregate.bootstrap_mean` (``scipy.stats.bootstrap``), the same interval
  the comparison table shows for each model's mean;
- ``p``: a two-sided **paired permutation (sign-flip) test** of ``mean(d) = 0``
  (:func:`sign_flip_p`): under the null hypothesis that the two models are exchangeable on
  each image, each ``d_i`` is as likely to be ``-d_i``; ``p`` is the share of sign
  flips whose ``|mean|`` reaches the observed one. Exact (all ``2^n`` flips) when
  ``2^n <= resamples``, otherwise ``resamples`` random flips with ``p = (k + 1) /
  (resamples + 1)``, so it is never 0.

Why the permutation test rather than the Wilcoxon signed-rank test: it tests the very
statistic the table reports (the mean difference), where Wilcoxon tests a shift of the
median of symmetric differences; and several metrics are 0/1 per image (ECS, FVS) or
otherwise heavily tied, so most differences are exactly 0 or +-1, where Wilcoxon needs its
zero-handling and tie corrections and its normal approximation, and the sign-flip test
stays exact without either. It is implemented here, vectorised, rather than with
``scipy.stats.permutation_test(..., permutation_type="samples")``, which computes the
same null distribution (the tests check that) but about 40 times slower (0.5 s for 2,000
images and 1,000 resamples, and a report runs thousands of such tests).

``p_holm``: Holm's step-down adjustment (:func:`holm`) across all pairs of one metric
and dataset (the family), which controls the family-wise error rate without assuming
anything about the dependence between the pairs (they share models, so they are
dependent). ``scipy.stats`` has no Holm (``false_discovery_control`` is Benjamini-Hochberg).

Everything is seeded: a rerun with the same records and seed writes a byte-identical
``results/tables/pairwise.csv`` (:func:`write_pairwise`).

Set-level metrics (FID, KID) have no per-image values; :func:`paired_set_bootstrap` compares
them by resampling source faces (:func:`source_weights`: every target of a drawn face) and
recomputing the metric for both models on the same resample, from the features the
evaluation keeps beside the records (:mod:`bench.report.set_pairs`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core import atomic
from metrics.aggregate import bootstrap_mean
from metrics.base import Column

PAIR_KEYS = ("source_id", "target_expression")
"""What identifies an output image across models: the input face and the target expression."""

COLUMNS = [
    "dataset",
    "metric",
    "model_a",
    "model_b",
    "n",
    "diff",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
]
"""Columns of ``pairwise.csv``; ``diff = mean(a - b)`` over the ``n`` shared images."""

ALPHA = 0.05
"""Significance level of the report's markers (on ``p_holm``)."""

NOT_AHEAD_MARK = "≈"
"""Marks the best cell of a column whose best model is not significantly ahead of the second."""

_MAX_CELLS = 4_000_000
"""Largest sign matrix (resamples x images) built at once."""


def align(
    a: pd.DataFrame, b: pd.DataFrame, keys: Sequence[str] = PAIR_KEYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``a`` and ``b`` for the images both have, in the same (sorted key) order.

    Raises ``ValueError`` if a key occurs twice in one frame (the pairing would be ambiguous).
    """
    indexed = []
    for name, frame in (("first", a), ("second", b)):
        frame = frame.set_index(list(keys))
        if not frame.index.is_unique:
            duplicated = frame.index[frame.index.duplicated()][0]
            raise ValueError(f"{name} frame has {list(keys)} = {duplicated} more than once")
        indexed.append(frame)
    shared = indexed[0].index.intersection(indexed[1].index).sort_values()
    return indexed[0].loc[shared], indexed[1].loc[shared]


def paired_values(
    a: pd.DataFrame, b: pd.DataFrame, column: str, keys: Sequence[str] = PAIR_KEYS
) -> tuple[np.ndarray, np.ndarray]:
    """``column`` of ``a`` and ``b`` on their shared images where both are finite, paired."""
    left, right = align(a, b, keys)
    x = left[column].to_numpy(dtype=np.float64)
    y = right[column].to_numpy(dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    return x[finite], y[finite]


def sign_flip_p(differences: np.ndarray, seed: int, resamples: int = 1000) -> float:
    """Two-sided p-value of the paired permutation (sign-flip) test of ``mean = 0``.

    Exact over all ``2^n`` sign vectors when ``2^n <= resamples``; otherwise
    ``resamples`` random ones (seeded) and ``(k + 1) / (resamples + 1)``. Matches
    ``scipy.stats.permutation_test((d,), mean, permutation_type="samples")``.
    """
    d = np.asarray(differences, dtype=np.float64)
    n = d.size
    if n == 0:
        return float("nan")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(observed, float(np.abs(d).mean()))
    exact = n < 63 and 2**n <= resamples
    total = 2**n if exact else int(resamples)
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // n)
    hits = 0
    for start in range(0, total, chunk):
        size = min(chunk, total - start)
        if exact:
            codes = np.arange(start, start + size, dtype=np.int64)[:, None]
            bits = (codes >> np.arange(n, dtype=np.int64)) & 1
        else:
            bits = rng.integers(0, 2, size=(size, n), dtype=np.int8)
        signs = 1.0 - 2.0 * bits
        null = np.abs(signs @ d) / n
        hits += int(np.count_nonzero(null >= observed - tolerance))
    if exact:
        return hits / total
    return (hits + 1) / (total + 1)


def paired_test(
    a: np.ndarray, b: np.ndarray, seed: int, resamples: int = 1000, confidence: float = 0.95
) -> dict[str, float]:
    """``n``, ``diff = mean(a - b)``, its bootstrap interval and the sign-flip ``p`` of paired
    arrays (``a[i]`` and ``b[i]`` are the same image)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    d = d[np.isfinite(d)]
    diff, low, high, n = bootstrap_mean(d, seed, resamples, confidence)
    p = 1.0 if n and not np.any(d) else sign_flip_p(d, seed, resamples)
    return {"n": n, "diff": diff, "ci_low": low, "ci_high": high, "p": p}


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order; NaNs stay NaN and do not count.

    Sorted ascending, ``p_(i)`` (``i = 1..m``) becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    values = np.asarray(p, dtype=np.float64)
    adjusted = np.full(values.shape, np.nan)
    present = np.flatnonzero(np.isfinite(values))
    m = present.size
    if m == 0:
        return adjusted
    order = present[np.argsort(values[present], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def compare(
    records: pd.DataFrame,
    models: Sequence[str],
    metrics: Sequence[str],
    seed: int,
    resamples: int = 1000,
    confidence: float = 0.95,
    keys: Sequence[str] = PAIR_KEYS,
) -> pd.DataFrame:
    """Every pair of ``models`` (in their order: ``model_a`` before ``model_b``) on every
    dataset of ``records`` and every per-image column in ``metrics``: the :data:`COLUMNS`
    rows, ``p_holm`` over the pairs of one (dataset, metric). Pairs without a shared finite
    image are left out."""
    rows = []
    for dataset in pd.unique(records["dataset"]):
        subset = records[records["dataset"] == dataset]
        frames = {m: subset[subset["model"] == m] for m in models}
        present = [m for m in models if not frames[m].empty]
        for model_a, model_b in itertools.combinations(present, 2):
            left, right = align(frames[model_a], frames[model_b], keys)
            for metric in metrics:
                if metric not in left or metric not in right:
                    continue
                result = paired_test(
                    left[metric].to_numpy(dtype=np.float64),
                    right[metric].to_numpy(dtype=np.float64),
                    seed,
                    resamples,
                    confidence,
                )
                if result["n"] == 0:
                    continue
                rows.append(
                    {
                        "dataset": dataset,
                        "metric": metric,
                        "model_a": model_a,
                        "model_b": model_b,
                        **result,
                    }
                )
    return adjusted(pd.DataFrame(rows, columns=COLUMNS[:-1]), metrics)


def adjusted(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Rows of :data:`COLUMNS` without ``p_holm``: with it (Holm over the pairs of each
    dataset and metric), sorted by dataset (stable) then the order of ``metrics``."""
    frame = frame.copy()
    frame["p_holm"] = np.nan
    for _, group in frame.groupby(["dataset", "metric"], sort=False):
        frame.loc[group.index, "p_holm"] = holm(group["p"].to_numpy())
    order = {m: i for i, m in enumerate(metrics)}
    frame["_order"] = frame["metric"].map(order)
    frame = frame.sort_values(["dataset", "_order"], kind="stable").drop(columns="_order")
    frame["n"] = frame["n"].astype(np.int64)
    return frame.reset_index(drop=True)[COLUMNS]


def write_pairwise(frame: pd.DataFrame, path: Path, record: dict[str, Any]) -> list[Path]:
    """``pairwise.csv`` (long format, :data:`COLUMNS`) and its provenance sidecar."""
    sidecar = path.with_name(f"{path.stem}.provenance.json")
    text = frame[COLUMNS].to_csv(index=False, lineterminator="\n", float_format="%.6g")
    atomic.write_text(path, text)
    atomic.write_text(sidecar, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return [path, sidecar]


def oriented(pairs: pd.DataFrame, dataset: str, metric: str, first: str, second: str) -> dict:
    """The row of (``first``, ``second``) with ``diff = mean(first - second)`` and its interval,
    whichever order the pair is stored in; empty if there is none."""
    rows = pairs[(pairs["dataset"] == dataset) & (pairs["metric"] == metric)]
    forward = rows[(rows["model_a"] == first) & (rows["model_b"] == second)]
    if not forward.empty:
        return forward.iloc[0].to_dict()
    backward = rows[(rows["model_a"] == second) & (rows["model_b"] == first)]
    if backward.empty:
        return {}
    row = backward.iloc[0].to_dict()
    return row | {
        "model_a": first,
        "model_b": second,
        "diff": -row["diff"],
        "ci_low": -row["ci_high"],
        "ci_high": -row["ci_low"],
    }


def leaders(
    summary: pd.DataFrame,
    pairs: pd.DataFrame,
    columns: dict[str, Column],
    exclude: Sequence[str] = (),
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Best and runner-up model per (dataset, metric) of ``pairs``, ranked by the summary's
    ``mean`` in the column's direction (``exclude``: reference models), with the paired
    ``diff`` (best - runner-up), its interval, ``p_holm`` and ``ahead``: the best is
    significantly ahead (``p_holm < alpha`` and ``diff`` in the better direction). No row
    where the two leaders tie on the mean."""
    rows = []
    ranked = summary[~summary["model"].isin(exclude) & summary["mean"].notna()]
    for (dataset, metric), _ in pairs.groupby(["dataset", "metric"], sort=False):
        column = columns.get(metric)
        group = ranked[(ranked["dataset"] == dataset) & (ranked["metric"] == metric)]
        if column is None or len(group) < 2:
            continue
        group = group.sort_values(
            "mean", ascending=not column.higher_is_better, kind="stable"
        ).reset_index(drop=True)
        best, second = group.loc[0], group.loc[1]
        if best["mean"] == second["mean"]:
            continue
        row = oriented(pairs, dataset, metric, best["model"], second["model"])
        if not row:
            continue
        sign = 1.0 if column.higher_is_better else -1.0
        rows.append(
            {
                "dataset": dataset,
                "metric": metric,
                "best": best["model"],
                "runner_up": second["model"],
                "n": row["n"],
                "diff": row["diff"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "p_holm": row["p_holm"],
                "ahead": bool(row["p_holm"] < alpha and sign * row["diff"] > 0),
            }
        )
    names = ["dataset", "metric", "best", "runner_up", "n", "diff", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=[*names, "p_holm", "ahead"])


def not_ahead(top: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(model, dataset, metric) of each best model that is not significantly ahead."""
    return {(r.best, r.dataset, r.metric) for r in top.itertuples() if not r.ahead}


def footnote(alpha: float = ALPHA) -> str:
    """The footnote of :data:`NOT_AHEAD_MARK`."""
    return (
        f"{NOT_AHEAD_MARK} the best model is not significantly ahead of the runner-up: paired "
        f"sign-flip permutation test on the images both have, Holm-adjusted over the model "
        f"pairs of the metric and dataset, p_holm >= {alpha:g} (all pairs: tables/pairwise.csv). "
        "FID and KID: paired bootstrap over source faces (normal-approximation p)."
    )


def _p_text(p: float) -> str:
    return f"{p:.2g}" if math.isfinite(p) else "n/a"


def leader_lines(top: pd.DataFrame, dataset: str, columns: dict[str, Column]) -> list[str]:
    """One line per metric of ``dataset``: best vs runner-up, paired difference and ``p_holm``."""
    lines = []
    for r in top[top["dataset"] == dataset].itertuples():
        arrow = "↑" if columns[r.metric].higher_is_better else "↓"
        verdict = "ahead" if r.ahead else f"{NOT_AHEAD_MARK} not significantly ahead"
        lines.append(
            f"{r.metric} {arrow}: {r.best} vs {r.runner_up}: {r.diff:+.3f} "
            f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] over {r.n} shared images, "
            f"p_holm = {_p_text(r.p_holm)} ({verdict})"
        )
    return lines


def matrix(pairs: pd.DataFrame, dataset: str, metric: str, models: Sequence[str]) -> pd.DataFrame:
    """Models x models of one (dataset, metric): cell = ``mean(row - column)`` and ``p_holm``
    (``*`` where ``p_holm < ALPHA``); ``-`` on the diagonal and where a pair has no row."""
    present = [m for m in models if ((pairs["model_a"] == m) | (pairs["model_b"] == m)).any()]
    cells = pd.DataFrame(
        "-", index=pd.Index(present), columns=pd.Index(present, name="row - column")
    )
    for first, second in itertools.permutations(present, 2):
        row = oriented(pairs, dataset, metric, first, second)
        if row:
            star = "*" if row["p_holm"] < ALPHA else ""
            cells.loc[first, second] = f"{row['diff']:+.3f}{star} (p {_p_text(row['p_holm'])})"
    return cells


def section_html(
    pairs: pd.DataFrame,
    top: pd.DataFrame,
    dataset: str,
    models: Sequence[str],
    columns: dict[str, Column],
) -> str:
    """The report page's paired comparisons of one dataset: best-vs-runner-up lines, then one
    matrix per metric (tables of class ``pairwise``)."""
    import html

    rows = pairs[pairs["dataset"] == dataset]
    if rows.empty:
        return ""
    parts = [f'<h3 id="pairwise-{html.escape(dataset)}">Paired comparisons</h3>', "<ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in leader_lines(top, dataset, columns)]
    parts += [
        "</ul>",
        "<p>Cells: mean(row model - column model) over the images both have, * where the "
        f"Holm-adjusted p &lt; {ALPHA:g} (paired sign-flip permutation test).</p>",
    ]
    for metric in pd.unique(rows["metric"]):
        arrow = "↑" if columns[metric].higher_is_better else "↓"
        table = matrix(rows[rows["metric"] == metric], dataset, metric, models)
        parts.append(f"<h4>{html.escape(metric)} {arrow}</h4>")
        parts.append(table.to_html(escape=True, classes="pairwise"))
    return "\n".join(parts)


def source_weights(clusters: np.ndarray, seed: int, resamples: int = 1000) -> np.ndarray:
    """(resamples, n) counts of a bootstrap over source faces: each resample draws the faces
    with replacement (``clusters[i]``: the source id of row ``i``) and takes every row of each
    drawn face as often as it was drawn, so both models of a pair get the same faces and
    targets. Seeded."""
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, ids.size, size=(int(resamples), ids.size))
    per_face = np.zeros((int(resamples), ids.size))
    np.add.at(per_face, (np.arange(int(resamples))[:, None], draws), 1.0)
    return per_face[:, inverse]


def set_difference(
    values_a: np.ndarray, values_b: np.ndarray, confidence: float = 0.95
) -> dict[str, float]:
    """``diff``, interval and ``p`` of a set-level metric from each model's values on the same
    sets: entry 0 on the shared images themselves, then one per resample.

    ``diff = a[0] - b[0]``; ``ci_low``, ``ci_high``: percentiles of the resampled differences
    re-centred on ``diff`` (their mean moved to it): a resample repeats images, which biases
    FID and KID (repeats shrink a set's spread and raise its self-similarity), so the
    uncentred percentiles can leave ``diff`` at their edge; ``p``: two-sided, from the normal
    approximation with the bootstrap standard error, ``2 Phi(-|diff| / se)`` (1 when nothing
    differs, 0 when a nonzero difference never varies). Not exact, unlike the per-image test,
    but not floored at 1 / resamples either, so it can survive Holm's correction over many
    pairs with a modest number of resamples.
    """
    from scipy.stats import norm

    diff = float(values_a[0] - values_b[0])
    deltas = np.asarray(values_a[1:], dtype=np.float64) - np.asarray(values_b[1:], np.float64)
    deltas = deltas[np.isfinite(deltas)]
    if not math.isfinite(diff) or deltas.size < 2:
        return {"diff": diff, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas - deltas.mean() + diff, [tail, 1.0 - tail])
    se = float(deltas.std(ddof=1))
    if se > 0:
        p = float(2.0 * norm.sf(abs(diff) / se))
    else:
        p = 1.0 if diff == 0 else 0.0
    return {"diff": diff, "ci_low": float(low), "ci_high": float(high), "p": p}


def paired_set_bootstrap(
    statistic_a: Callable[[np.ndarray], np.ndarray],
    statistic_b: Callable[[np.ndarray], np.ndarray],
    clusters: np.ndarray,
    seed: int,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of a set-level metric (FID, KID) over source faces.

    ``statistic_a(weights)`` / ``statistic_b(weights)``: the metric of model a / b on each row
    of ``weights`` (``(k, n)`` counts of the aligned shared images, as from :func:`align`;
    vectorised, e.g. :func:`metrics.frechet.frechet_distances`); row 0 is all ones (the
    shared images themselves), then :func:`source_weights`. Returns ``n`` (shared images) and
    :func:`set_difference`'s ``diff``, interval and ``p``.
    """
    clusters = np.asarray(clusters)
    weights = np.vstack([np.ones(clusters.size), source_weights(clusters, seed, resamples)])
    return {"n": int(clusters.size)} | set_difference(
        statistic_a(weights), statistic_b(weights), confidence
    )
