"""Figures: the comparison grid (the paper's Figure 5 layout) and the per-expression plot.

Written as PNG (with the provenance JSON in a text chunk) and PDF (provenance in
the document's Subject), with no timestamps so reruns give identical files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.core import atomic  # noqa: E402
from datasets.png import load_png  # noqa: E402


def save_figure(figure: plt.Figure, png: Path, pdf: Path, record: dict[str, Any]) -> list[Path]:
    """Save the figure as PNG and PDF atomically with provenance; close the figure.

    PNGs and PDFs live in separate folders because DVC renders only the PNGs as plots.
    """
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    paths = []
    for target, metadata in (
        (png, {"Software": None, "provenance": text}),
        (pdf, {"Creator": None, "Producer": None, "CreationDate": None, "Subject": text}),
    ):
        suffix = target.suffix
        with atomic.atomic_path(target) as tmp:
            figure.savefig(tmp, dpi=100, metadata=metadata, format=suffix[1:])
        paths.append(target)
    plt.close(figure)
    return paths


def comparison_grid(
    dataset: str,
    sources: pd.DataFrame,
    targets: list[str],
    models: list[str],
    output_file: dict[tuple[str, str, str], Path],
    input_file: dict[str, Path],
    reference_file: dict[tuple[str, str], Path],
) -> plt.Figure:
    """Rows: each source face x target expression; columns: input, each model, real target.

    ``output_file[(model, source_id, target)]``, ``input_file[source_id]`` and
    ``reference_file[(source_id, target)]`` give the PNGs; missing cells stay blank.
    """
    has_reference = bool(reference_file)
    titles = ["input", *models] + (["real target"] if has_reference else [])
    rows = [(s, t) for s in sources["image_id"] for t in targets]
    figure, axes = plt.subplots(
        len(rows),
        len(titles),
        figsize=(1.1 * len(titles) + 0.8, 1.1 * len(rows) + 0.4),
        squeeze=False,
    )
    for r, (source, target) in enumerate(rows):
        files = [input_file.get(source)] + [output_file.get((m, source, target)) for m in models]
        if has_reference:
            files.append(reference_file.get((source, target)))
        for c, path in enumerate(files):
            axis = axes[r, c]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if path is not None:
                axis.imshow(load_png(path), interpolation="nearest")
            if r == 0:
                axis.set_title(titles[c], fontsize=8)
        label = f"{source}\n→ {target}" if target == targets[0] else f"→ {target}"
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(f"{dataset}: neutral input → target expression", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    return figure


def per_expression_plot(
    records: pd.DataFrame,
    columns: list[str],
    dataset: str,
    targets: list[str],
    seed: int,
    set_values: pd.DataFrame | None = None,
) -> plt.Figure:
    """Mean per target expression and model, one panel per metric (95% seeded bootstrap bars).

    ``set_values`` (long rows ``model, target_expression, metric, mean``) adds the
    set-level metrics computed per target (FID, KID, precision, recall, density,
    coverage) as panels after the per-image ones, one point per model and target
    and no bar.
    """
    long = records.melt(
        id_vars=["model", "target_expression"],
        value_vars=columns,
        var_name="metric",
        value_name="value",
    ).dropna(subset=["value"])
    if set_values is not None and not set_values.empty:
        extra = set_values.rename(columns={"mean": "value"})
        extra = extra[["model", "target_expression", "metric", "value"]].dropna(subset=["value"])
        long = pd.concat([long, extra], ignore_index=True)
    if long.empty:
        figure, axis = plt.subplots(figsize=(4, 2))
        axis.text(0.5, 0.5, f"{dataset}: no per-image metric applies", ha="center", va="center")
        axis.set_axis_off()
        return figure
    grid = sns.catplot(
        data=long,
        x="target_expression",
        y="value",
        hue="model",
        col="metric",
        col_order=list(dict.fromkeys(long["metric"])),
        col_wrap=min(4, long["metric"].nunique()),
        kind="point",
        order=targets,
        hue_order=list(dict.fromkeys(records["model"])),
        errorbar=("ci", 95),
        seed=seed,
        n_boot=1000,
        sharey=False,
        dodge=0.3 if long["model"].nunique() > 1 else False,
        height=2.8,
        aspect=1.3,
    )
    grid.set_titles("{col_name}")
    grid.set_xticklabels(rotation=30)
    grid.set_axis_labels("target expression", "")
    grid.figure.suptitle(dataset, y=1.02)
    return grid.figure
