"""Confusion matrices of the expression classifiers behind ECS, per model and dataset.

ECS records keep the expression each classifier predicted for each output
(``ECS predicted``, ``ECS-FER predicted``). A matrix counts outputs by requested
target expression (rows) and predicted expression (columns, every class of the
vocabulary, so predicting "neutral" shows); the figure shades each row by its
share, so the diagonal is the per-target ECS.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.core.vocabulary import EXPRESSIONS  # noqa: E402

PREDICTED_SUFFIX = " predicted"


def confusion_counts(records: pd.DataFrame, column: str, targets: list[str]) -> pd.DataFrame:
    """Counts (targets x EXPRESSIONS) of outputs by target and ``column``'s predicted expression."""
    known = records[column].notna()
    table = pd.crosstab(records.loc[known, "target_expression"], records.loc[known, column])
    return table.reindex(index=targets, columns=list(EXPRESSIONS), fill_value=0).astype(int)


def confusion_long(records: pd.DataFrame, columns: list[str], targets: list[str]) -> pd.DataFrame:
    """Long table (model, dataset, classifier, target_expression, predicted, count), zeros kept."""
    rows = []
    for (model, dataset), group in records.groupby(["model", "dataset"], sort=False):
        for column in columns:
            if column not in group or group[column].isna().all():
                continue
            counts = confusion_counts(group, column, targets)
            for target, row in counts.iterrows():
                for predicted, count in row.items():
                    rows.append(
                        {
                            "model": model,
                            "dataset": dataset,
                            "classifier": column.removesuffix(PREDICTED_SUFFIX),
                            "target_expression": target,
                            "predicted": predicted,
                            "count": int(count),
                        }
                    )
    return pd.DataFrame(
        rows,
        columns=["model", "dataset", "classifier", "target_expression", "predicted", "count"],
    )


def confusion_figure(
    records: pd.DataFrame, columns: list[str], targets: list[str], title: str
) -> plt.Figure:
    """One panel per classifier column: row shares as shades, counts written in the cells."""
    present = [c for c in columns if c in records and records[c].notna().any()]
    figure, axes = plt.subplots(1, len(present), figsize=(4.8 * len(present), 3.8), squeeze=False)
    for axis, column in zip(axes[0], present, strict=True):
        counts = confusion_counts(records, column, targets)
        totals = counts.sum(axis=1).to_numpy()[:, None]
        shares = np.divide(counts.to_numpy(), np.maximum(totals, 1))
        image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for (r, c), count in np.ndenumerate(counts.to_numpy()):
            if count:
                colour = "white" if shares[r, c] > 0.6 else "black"
                axis.text(c, r, str(count), ha="center", va="center", fontsize=7, color=colour)
        axis.set_xticks(range(len(EXPRESSIONS)), EXPRESSIONS, rotation=45, ha="right", fontsize=7)
        axis.set_yticks(range(len(targets)), targets, fontsize=7)
        axis.set_xlabel(
            f"expression the {column.removesuffix(PREDICTED_SUFFIX)} classifier predicted",
            fontsize=8,
        )
        axis.set_ylabel("target expression (asked for)", fontsize=8)
        bar = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.03)
        bar.set_label("share of the target's outputs (counts in cells)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
