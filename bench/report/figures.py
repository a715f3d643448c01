"""Figures: the comparison grid (the paper's Figure 5 layout) and the per-expression plot.

Written as PNG (:data:`DPI` dots per inch, with the provenance JSON in a text chunk) and PDF
(provenance in the document's Subject), with no timestamps so reruns give identical files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from bench.core import atomic  # noqa: E402
from bench.report.columns import header, range_text  # noqa: E402
from bench.report.image_grid import image_blocks  # noqa: E402
from bench.report.set_level import SMALL_SET  # noqa: E402
from metrics.base import Column  # noqa: E402

DPI = 200
"""Resolution of the PNGs (the PDFs are vector graphics; their embedded images keep their pixels)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
"""One marker per model (cycled), so the plots read in greyscale too."""


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
            figure.savefig(tmp, dpi=DPI, metadata=metadata, format=suffix[1:])
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
    """One block per source face (side by side): its input, then per target expression (the
    columns) each model's output and the real target (the rows).

    ``output_file[(model, source_id, target)]``, ``input_file[source_id]`` and
    ``reference_file[(source_id, target)]`` give the PNGs; missing cells stay blank.
    """
    has_reference = bool(reference_file)
    row_labels = [*models] + (["real target"] if has_reference else [])
    blocks = []
    for source in sources["image_id"]:
        rows = [[output_file.get((m, source, t)) for t in targets] for m in models]
        if has_reference:
            rows.append([reference_file.get((source, t)) for t in targets])
        cells = [[input_file.get(source) if r == 0 else None, *row] for r, row in enumerate(rows)]
        blocks.append((f"source {source}", cells))
    title = f"{dataset}: neutral input → each model's output per target expression"
    return image_blocks(title, blocks, row_labels, ["input", *targets])


def per_expression_plot(
    records: pd.DataFrame,
    columns: list[str],
    dataset: str,
    targets: list[str],
    seed: int,
    set_values: pd.DataFrame | None = None,
    known: dict[str, Column] | None = None,
    confidence: float = 0.95,
) -> plt.Figure:
    """Mean per target expression and model, one panel per metric: points (no lines: the
    targets are categories), per-image metrics with their seeded bootstrap interval.

    ``set_values`` (long rows ``model, target_expression, metric, mean, n``) adds the
    set-level metrics computed per target (FID, KID, precision, recall, density, coverage) as
    panels after the per-image ones, one point per model and target and no interval; a panel
    whose values rest on fewer than :data:`~bench.report.set_level.SMALL_SET` images is marked
    ``†`` with the caveat under the figure. ``known`` gives each column's direction and range
    (the arrow in the title, the y label). Every panel names the targets on its x axis.
    """
    known = known or {}
    long = records.melt(
        id_vars=["model", "target_expression"],
        value_vars=columns,
        var_name="metric",
        value_name="value",
    ).dropna(subset=["value"])
    long["n"] = math.nan
    if set_values is not None and not set_values.empty:
        extra = set_values.rename(columns={"mean": "value"})
        extra = extra[["model", "target_expression", "metric", "value", "n"]]
        long = pd.concat([long, extra.dropna(subset=["value"])], ignore_index=True)
    if long.empty:
        figure, axis = plt.subplots(figsize=(4, 2))
        axis.text(0.5, 0.5, f"{dataset}: no per-image metric applies", ha="center", va="center")
        axis.set_axis_off()
        return figure
    metrics = list(dict.fromkeys(long["metric"]))
    models = list(dict.fromkeys(records["model"]))
    palette = dict(zip(models, sns.color_palette(n_colors=len(models)), strict=True))
    markers = [MARKERS[i % len(MARKERS)] for i in range(len(models))]
    lines = -(-len(metrics) // 4)  # at most 4 panels a line, the lines filled evenly
    wrap = -(-len(metrics) // lines)
    legend_width = 0.4 + 0.07 * max(len(m) for m in models)
    width = 3.2 * wrap + legend_width
    figure, axes = plt.subplots(lines, wrap, figsize=(width, 2.9 * lines + 0.9), squeeze=False)
    small_n: list[float] = []
    for axis, metric in zip(axes.flat, metrics, strict=False):
        data = long[long["metric"] == metric]
        set_level = bool(data["n"].notna().any())
        small = set_level and bool((data["n"] < SMALL_SET).any())
        small_n += list(data["n"]) if small else []
        sns.pointplot(
            data=data,
            x="target_expression",
            y="value",
            hue="model",
            order=targets,
            hue_order=models,
            palette=palette,
            markers=markers,
            linestyle="none",
            errorbar=None if set_level else ("ci", 100 * confidence),
            seed=seed,
            n_boot=1000,
            dodge=0.4 if len(models) > 1 else False,
            markersize=4,
            err_kws={"linewidth": 1},
            legend=False,
            ax=axis,
        )
        column = known.get(metric)
        title = header(column) if column else metric
        axis.set_title(title + (" †" if small else ""), fontsize=9)
        what = "value per target" if set_level else "mean"
        axis.set_ylabel(f"{what}, range {range_text(column)}" if column else what, fontsize=8)
        axis.set_xlabel("target expression", fontsize=8)
        axis.set_xticks(range(len(targets)), targets, rotation=30, ha="right", fontsize=8)
        axis.tick_params(axis="y", labelsize=8)
        axis.grid(axis="y", linewidth=0.3, alpha=0.5)
    for axis in axes.flat[len(metrics) :]:
        axis.set_axis_off()
    handles = [
        Line2D([], [], marker=marker, linestyle="none", color=palette[model], label=model)
        for model, marker in zip(models, markers, strict=True)
    ]
    figure.legend(handles=handles, title="model", loc="center right", fontsize=8, frameon=False)
    figure.suptitle(
        f"{dataset}: mean per target expression ({confidence:.0%} bootstrap interval over "
        "images; set-level metrics: one value per target, no interval)",
        fontsize=10,
    )
    bottom = 0.0
    if small_n:
        low, high = int(min(small_n)), int(max(small_n))
        count = f"{low}" if low == high else f"{low}-{high}"
        figure.text(
            0.01,
            0.01,
            f"† set-level values per target from n = {count} generated images, fewer than "
            f"{SMALL_SET:,}: unreliable, and not comparable with the tables' value over all "
            "targets\n(precision, recall, density and coverage use k-nearest-neighbour balls, "
            "which span much of so small a set; FID is biased upwards).",
            fontsize=7,
            va="bottom",
        )
        bottom = 0.45 / figure.get_figheight()
    figure.tight_layout(
        rect=(0, bottom, 1 - legend_width / width, 1 - 0.4 / figure.get_figheight())
    )
    return figure
