"""Comparison tables in the shape of the paper's: models as rows, per dataset one column per metric.

Cells are ``mean ± h`` with ``h`` the half-width of the 95% bootstrap interval;
set-level values without an interval (FID, KID) show the value alone, ``†``
marks a flagged value (e.g. FID on fewer than 2,048 images), ``‡`` a cell whose
model saw that dataset's unlabelled images in training (DAI2I), ``≈`` a best cell not
significantly ahead of the second (:mod:`bench.report.pairwise`) and ``missing`` a
metric that could not run (reason in a footnote). The best non-reference model
per column is bold (Markdown and LaTeX). The CSV keeps the numbers unformatted
(long format) and reads with a plain ``pandas.read_csv``: its provenance is a
sidecar JSON (``comparison.csv`` -> ``comparison.provenance.json``); Markdown and
LaTeX carry theirs as a comment (``<!-- -->``, ``%``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core import atomic
from bench.core.provenance import as_comment
from metrics.base import Column

REFERENCE_MODELS = ("identity",)
"""Rows shown for reference only: never marked best."""


def format_cell(
    mean: float, low: float, high: float, digits: int = 3, seed_sd: float = math.nan
) -> str:
    """``mean ± half-interval`` or ``n/a`` when the metric did not apply; `` (sd s)`` after
    it for a model trained per seed (``seed_sd``: the across-seed standard deviation)."""
    if not math.isfinite(mean):
        return "n/a"
    spread = f" (sd {seed_sd:.{digits}f})" if math.isfinite(seed_sd) else ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.{digits}f}{spread}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}{spread}"


LATEX_SPECIAL = {
    "\\": "\\textbackslash{}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    "`": "",
    "±": "$\\pm$",
    "↑": "$\\uparrow$",
    "↓": "$\\downarrow$",
    "→": "$\\rightarrow$",
    "†": "$^\\dagger$",
    "‡": "$^\\ddagger$",
    "§": "\\S{}",
    "≈": "$\\approx$",
}


def latex_text(text: str) -> str:
    """Escape plain text (names, captions) for LaTeX, turning ± ↑ ↓ → into math symbols."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def best_models(summary: pd.DataFrame, columns: dict[str, Column]) -> set[tuple[str, str, str]]:
    """(model, dataset, metric) of the best non-reference mean per dataset and metric."""
    best = set()
    candidates = summary[~summary["model"].isin(REFERENCE_MODELS) & summary["mean"].notna()]
    for (dataset, metric), group in candidates.groupby(["dataset", "metric"]):
        column = columns.get(metric)
        if column is None or group.empty:
            continue
        if len(group) > 1 and group["mean"].nunique() == 1:
            continue  # all tied (e.g. a classifier's accuracy on real images): nothing is best
        value = group["mean"].max() if column.higher_is_better else group["mean"].min()
        for model in group.loc[group["mean"] == value, "model"]:
            best.add((model, dataset, metric))
    return best


def cell_numbers(row: Any) -> tuple[float, float, float, int, float]:
    """A summary row's cell numbers: mean, interval, digits, across-seed sd (NaN if none)."""
    return row.mean, row.ci_low, row.ci_high, 3, float(getattr(row, "seed_sd", math.nan))


def wide_table(
    summary: pd.DataFrame,
    models: list[str],
    datasets: list[str],
    columns: dict[str, Column],
    bold: tuple[str, str],
    missing: set[tuple[str, str, str]] | None = None,
    flagged: set[tuple[str, str, str]] | None = None,
    adapted: set[tuple[str, str]] | None = None,
    imported: set[str] | None = None,
    not_ahead: set[tuple[str, str, str]] | None = None,
) -> pd.DataFrame:
    """Formatted wide table: index = model, columns = (dataset, metric ↑/↓).

    ``missing`` cells read ``missing``; ``flagged`` cells get a ``†``; cells of
    ``adapted`` (model, dataset) pairs get a ``‡``; ``imported`` models' rows a ``§``;
    best cells in ``not_ahead`` (not significantly ahead of the second) a ``≈``.
    """
    best = best_models(summary, columns)
    cells = {(r.model, r.dataset, r.metric): r for r in summary.itertuples()}
    header = {m: f"{m} {'↑' if c.higher_is_better else '↓'}" for m, c in columns.items()}
    data: dict[tuple[str, str], list[str]] = {}
    for dataset in datasets:
        for metric in columns:
            values = []
            for model in models:
                key = (model, dataset, metric)
                row = cells.get(key)
                text = "n/a" if row is None else format_cell(*cell_numbers(row))
                if missing and key in missing:
                    text = "missing"
                if key in best and text not in ("n/a", "missing"):
                    text = f"{bold[0]}{text}{bold[1]}"
                    if not_ahead and key in not_ahead:
                        text += "≈"
                if flagged and key in flagged and text not in ("n/a", "missing"):
                    text += "†"
                if adapted and (model, dataset) in adapted and text not in ("n/a", "missing"):
                    text += "‡"
                values.append(text)
            data[(dataset, header[metric])] = values
    labels = [f"{m} §" if imported and m in imported else m for m in models]
    table = pd.DataFrame(data, index=pd.Index(labels, name="model"))
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["dataset", "metric"])
    return table


def notes(
    datasets_info: dict[str, dict[str, Any]], profile: str, extra: list[str] | None = None
) -> list[str]:
    """Footnotes: profile, sample sizes, reference images used per dataset, then ``extra``."""
    lines = [
        f"Profile `{profile}`"
        + (
            " (embedded synthetic smoke run: shows the pipeline works, not the paper's numbers)."
            if profile == "smoke"
            else "."
        ),
        "Cells: mean ± half-width of the 95% percentile bootstrap interval (seeded); "
        "↑ higher is better, ↓ lower is better; best non-reference model in bold; "
        f"{', '.join(REFERENCE_MODELS)} (output = input) is a reference row, never marked best.",
        "L1 / SSIM compare each output with the same subject's real image of the target expression; "
        "n/a where the dataset has none.",
    ]
    for name, info in datasets_info.items():
        kind = "out-of-distribution" if info["ood"] else "in-distribution"
        lines.append(
            f"{name}: {kind}, {info['outputs']} outputs from {info['sources']} source faces."
        )
    return lines + list(extra or [])


def sidecar_path(csv_path: Path) -> Path:
    """The provenance sidecar of a CSV table: ``x.csv`` -> ``x.provenance.json``."""
    return csv_path.with_name(f"{csv_path.stem}.provenance.json")


def write_tables(
    summary: pd.DataFrame,
    per_expression: pd.DataFrame,
    models: list[str],
    datasets: list[str],
    columns: dict[str, Column],
    datasets_info: dict[str, dict[str, Any]],
    record: dict[str, Any],
    out_dir: Path,
    missing: set[tuple[str, str, str]] | None = None,
    flagged: set[tuple[str, str, str]] | None = None,
    extra_notes: list[str] | None = None,
    adapted: set[tuple[str, str]] | None = None,
    imported: set[str] | None = None,
    not_ahead: set[tuple[str, str, str]] | None = None,
) -> list[Path]:
    """Write comparison.{csv,md,tex} and per_expression.csv, each CSV with its provenance
    sidecar (:func:`sidecar_path`); return the paths.

    ``missing`` / ``flagged``: (model, dataset, metric) cells shown as ``missing``
    or with a ``†``; ``adapted`` (model, dataset) cells get a ``‡``; ``imported`` models'
    rows a ``§``; best cells in ``not_ahead`` a ``≈``; ``extra_notes`` are appended to the
    footnotes.
    """
    footnotes = notes(datasets_info, record.get("profile", ""), extra_notes)
    csv_text = summary.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    per_expr_text = per_expression.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    sidecar = json.dumps(record, indent=2, sort_keys=True) + "\n"
    md_table = wide_table(
        summary,
        models,
        datasets,
        columns,
        ("**", "**"),
        missing,
        flagged,
        adapted,
        imported,
        not_ahead,
    )
    flat = md_table.copy()
    flat.columns = [f"{d}: {m}" for d, m in flat.columns]
    markdown = (
        "# Comparison\n\n"
        + flat.to_markdown()
        + "\n\n"
        + "\n".join(f"- {n}" for n in footnotes)
        + "\n\n<!-- "
        + as_comment(record, "").strip()
        + " -->\n"
    )
    tex_table = wide_table(
        summary,
        models,
        datasets,
        columns,
        ("\\textbf{", "}"),
        missing,
        flagged,
        adapted,
        imported,
        not_ahead,
    )
    tex_table.columns = tex_table.columns.map(lambda key: tuple(latex_text(k) for k in key))
    tex_table.index = tex_table.index.map(latex_text)
    latex = tex_table.to_latex(
        escape=False,
        multicolumn=True,
        multicolumn_format="c",
        column_format="l" + "c" * tex_table.shape[1],
        caption=latex_text(" ".join(footnotes)),
        label="tab:comparison",
    )
    latex = latex.replace("±", "$\\pm$").replace("†", "$^\\dagger$").replace("‡", "$^\\ddagger$")
    latex = latex.replace("≈", "$\\approx$")
    latex = as_comment(record, "% ") + latex
    paths = []
    for name, text in (
        ("comparison.csv", csv_text),
        (sidecar_path(Path("comparison.csv")).name, sidecar),
        ("comparison.md", markdown),
        ("comparison.tex", latex),
        ("per_expression.csv", per_expr_text),
        (sidecar_path(Path("per_expression.csv")).name, sidecar),
    ):
        atomic.write_text(out_dir / name, text)
        paths.append(out_dir / name)
    return paths
