"""Expression vs identity: the ECS-vs-FSS scatter of one dataset with its Pareto front.

A model is on the Pareto front when no other model is at least as good on both axes and
strictly better on one (both ECS and FSS are higher-is-better). The reference rows
(``identity``: output = input, so FSS is at its ceiling and ECS at its floor) are drawn
with a hollow marker and labelled, but left out of the front: the front shows the
trade-off between models that edit the face.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.tables import REFERENCE_MODELS  # noqa: E402

ECS_COLUMNS = ("ECS", "ECS-FER")
"""Expression columns, in order of preference: the in-pipeline classifier, then FER2013's."""
FSS_COLUMN = "FSS"


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (N, 2), both coordinates to be
    maximised. Rows with a NaN are never on the front; equal rows are all on it."""
    points = np.asarray(points, dtype=float)
    valid = ~np.isnan(points).any(axis=1)
    front = np.zeros(len(points), dtype=bool)
    for i in np.flatnonzero(valid):
        others = points[valid]
        dominated = (others >= points[i]).all(axis=1) & (others > points[i]).any(axis=1)
        front[i] = not dominated.any()
    return front


def ecs_column(summary: pd.DataFrame, dataset: str) -> str | None:
    """The expression column to plot for ``dataset``: the first of :data:`ECS_COLUMNS` with a
    value for it, or None."""
    rows = summary[(summary["dataset"] == dataset) & summary["mean"].notna()]
    return next((c for c in ECS_COLUMNS if (rows["metric"] == c).any()), None)


def scatter_points(summary: pd.DataFrame, dataset: str, models: list[str]) -> pd.DataFrame | None:
    """Per model (in ``models`` order): ECS and FSS means and interval bounds on ``dataset``,
    and whether it is on the front (``on_front``) or a reference row (``reference``); None
    when the dataset lacks an ECS or the FSS column."""
    column = ecs_column(summary, dataset)
    rows = summary[summary["dataset"] == dataset]
    if column is None or not (rows["metric"] == FSS_COLUMN).any():
        return None
    table = {}
    for axis, metric in (("ecs", column), ("fss", FSS_COLUMN)):
        values = rows[rows["metric"] == metric].set_index("model")
        for stat in ("mean", "ci_low", "ci_high"):
            table[f"{axis}_{stat}"] = values[stat]
    points = pd.DataFrame(table).reindex([m for m in models if m in rows["model"].values])
    points = points.dropna(subset=["ecs_mean", "fss_mean"])
    points["reference"] = points.index.isin(REFERENCE_MODELS)
    points["on_front"] = False
    editing = ~points["reference"]
    points.loc[editing, "on_front"] = pareto_front(
        points.loc[editing, ["ecs_mean", "fss_mean"]].to_numpy()
    )
    points.attrs["ecs_column"] = column
    return points


def pareto_figure(points: pd.DataFrame, dataset: str) -> plt.Figure:
    """Scatter of ``scatter_points`` output: 95% interval bars, the front as a dashed line,
    the front's models filled red, reference rows hollow."""
    figure, axis = plt.subplots(figsize=(4.8, 4.0))
    labels: dict[tuple[int, int], list[tuple[float, float, str]]] = {}  # near points: one label
    span = [max(float(np.ptp(points[c])), 1e-9) * 0.02 for c in ("ecs_mean", "fss_mean")]
    for model, row in points.iterrows():
        xerr = [[row.ecs_mean - row.ecs_ci_low], [row.ecs_ci_high - row.ecs_mean]]
        yerr = [[row.fss_mean - row.fss_ci_low], [row.fss_ci_high - row.fss_mean]]
        color = "tab:red" if row.on_front else "tab:blue"
        axis.errorbar(
            row.ecs_mean,
            row.fss_mean,
            xerr=np.nan_to_num(xerr),
            yerr=np.nan_to_num(yerr),
            fmt="o",
            color="grey" if row.reference else color,
            markerfacecolor="none" if row.reference else color,
            capsize=2,
            linewidth=0.8,
        )
        label = f"{model} (reference)" if row.reference else model
        cell = (round(row.ecs_mean / span[0]), round(row.fss_mean / span[1]))  # 2% of the axes
        labels.setdefault(cell, []).append((row.ecs_mean, row.fss_mean, label))
    for group in labels.values():
        names = ", ".join(label for _, _, label in group)
        axis.annotate(names, group[0][:2], xytext=(4, 4), textcoords="offset points", fontsize=7)
    front = points[points["on_front"]].sort_values("ecs_mean")
    if len(front):
        axis.plot(
            front["ecs_mean"],
            front["fss_mean"],
            "--o",
            color="tab:red",
            linewidth=1,
            markersize=0,
            label="Pareto front (red)",
        )
        axis.legend(fontsize=7, loc="lower left")
    axis.set_xlabel(
        f"{points.attrs['ecs_column']} ↑: share of outputs showing the target expression, [0, 1]",
        fontsize=8,
    )
    axis.set_ylabel(f"{FSS_COLUMN} ↑: identity kept, cosine similarity, [-1, 1]", fontsize=8)
    axis.set_title(f"{dataset}: expression vs identity (bars: bootstrap intervals)", fontsize=9)
    figure.tight_layout()
    return figure
