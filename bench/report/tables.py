"""Comparison tables in the shape of the paper's: one table per dataset, models as rows, one
column per metric.

One function assembles every table (:func:`dataset_table`: a :class:`Table` of :class:`Cell`),
and the renderers only lay it out: Markdown (:func:`markdown_table`), LaTeX (:func:`latex_table`,
booktabs) and HTML (``templates/report.html.j2``), so every format shows the same cells.

Cells are ``mean ± h`` with ``h`` the half-width of the bootstrap interval (95% by default);
set-level values without an interval (FID, KID) show the value alone, ``†`` marks a flagged
value (e.g. a set-level value from fewer than 2,048 images), ``‡`` a cell whose model saw that
dataset's unlabelled images in training (DAI2I), ``≈`` a best cell not significantly ahead of
the second (:mod:`bench.report.pairwise`) and ``missing`` a metric that could not run (reason in
a note). Columns that score the real images instead of the outputs
(:attr:`metrics.base.Column.real_images_of`: the ECS classifiers' accuracy on the real test
images) are the same for every model: they are shown once, in a ``real images`` row under the
column they are the ceiling of, never bold. Bold marks the best non-reference model of a column
only when it is unique at the shown precision (3 decimals): a tie for best bolds none.

The CSV keeps the numbers unformatted (long format) and reads with a plain
``pandas.read_csv``: its provenance is a sidecar JSON (``comparison.csv`` ->
``comparison.provenance.json``); Markdown and LaTeX carry theirs as a comment (``<!-- -->``,
``%``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core import atomic
from bench.core.provenance import as_comment
from bench.report.columns import header
from metrics.base import Column

REFERENCE_MODELS = ("identity",)
"""Rows shown for reference only: never marked best."""

REAL_IMAGES = "real images"
"""Label of the reference row that holds the real-images columns (the evaluators' ceilings)."""

DIGITS = 3
"""Decimals shown; ties for best are judged at this precision (what a reader sees)."""

MARKS = "†‡§≈"
"""Characters that mark cells or rows; a note starting with one explains it."""


def format_cell(
    mean: float, low: float, high: float, digits: int = DIGITS, seed_sd: float = math.nan
) -> str:
    """``mean ± half-interval`` or ``n/a`` when the metric did not apply; `` (sd s)`` after
    it for a model trained per seed (``seed_sd``: the across-seed standard deviation)."""
    if not math.isfinite(mean):
        return "n/a"
    spread = f" (sd {seed_sd:.{digits}f})" if math.isfinite(seed_sd) else ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.{digits}f}{spread}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}{spread}"


@dataclass(frozen=True)
class Marks:
    """What the cells carry beyond their numbers.

    ``missing`` (model, dataset, column): the metric could not run (cell ``missing``);
    ``flagged`` (model, dataset, column): a caveat (``†``); ``adapted`` (model, dataset): the
    model saw the dataset's unlabelled images (``‡``); ``imported`` models: rows not trained
    here (``§`` on the row label); ``not_ahead`` (model, dataset, column): a best cell not
    significantly ahead of the runner-up (``≈``).
    """

    missing: set[tuple[str, str, str]] = field(default_factory=set)
    flagged: set[tuple[str, str, str]] = field(default_factory=set)
    adapted: set[tuple[str, str]] = field(default_factory=set)
    imported: set[str] = field(default_factory=set)
    not_ahead: set[tuple[str, str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text (``0.954 ± 0.006``, ``n/a``, ``missing`` or empty), whether it
    is the column's best, and the marks that follow it (``≈†‡``)."""

    text: str = ""
    best: bool = False
    marks: str = ""

    def render(self, bold: tuple[str, str] = ("", "")) -> str:
        """The cell as text, the best wrapped in ``bold`` (opening, closing)."""
        return (f"{bold[0]}{self.text}{bold[1]}" if self.best else self.text) + self.marks


@dataclass(frozen=True)
class Table:
    """One dataset's comparison table: ``headers`` per metric column, one row per model
    (label, cells) and the ``real images`` reference row (None when no column scores them)."""

    dataset: str
    metrics: list[str]
    headers: list[str]
    rows: list[tuple[str, list[Cell]]]
    reference: list[Cell] | None = None

    def all_rows(self) -> list[tuple[str, list[Cell]]]:
        """Model rows, then the reference row when there is one."""
        return self.rows + ([(REAL_IMAGES, self.reference)] if self.reference else [])

    def used_marks(self) -> set[str]:
        """The mark characters that occur in the cells or row labels."""
        texts = [label for label, _ in self.rows]
        texts += [cell.marks for _, cells in self.all_rows() for cell in cells]
        return {char for text in texts for char in text if char in MARKS}


def best_cells(
    summary: pd.DataFrame,
    columns: dict[str, Column],
    missing: Collection[tuple[str, str, str]] = frozenset(),
) -> set[tuple[str, str, str]]:
    """(model, dataset, metric) of the best non-reference mean per dataset and output column,
    when it is unique at :data:`DIGITS` decimals among at least two models (a tie: none)."""
    best = set()
    candidates = summary[~summary["model"].isin(REFERENCE_MODELS) & summary["mean"].notna()]
    for (dataset, metric), group in candidates.groupby(["dataset", "metric"]):
        column = columns.get(metric)
        if column is None or column.real_images_of:
            continue
        group = group[[(m, dataset, metric) not in missing for m in group["model"]]]
        if len(group) < 2:
            continue
        shown = group["mean"].round(DIGITS)
        top = shown.max() if column.higher_is_better else shown.min()
        winners = group.loc[shown == top, "model"]
        if len(winners) == 1:
            best.add((winners.iloc[0], dataset, metric))
    return best


def shown_columns(columns: dict[str, Column], selected: list[str] | None = None) -> list[str]:
    """The table's columns, in ``selected``'s order when given: every output column, and each
    real-images column whose output column is not shown (it keeps a column of its own)."""
    names = list(columns) if selected is None else [c for c in selected if c in columns]
    return [
        name
        for name in names
        if not (columns[name].real_images_of and columns[name].real_images_of in names)
    ]


def dataset_table(
    summary: pd.DataFrame,
    models: list[str],
    dataset: str,
    columns: dict[str, Column],
    marks: Marks | None = None,
    selected: list[str] | None = None,
) -> Table:
    """The comparison table of ``dataset``: ``models`` as rows (summary rows ``model, dataset,
    metric, mean, ci_low, ci_high``), ``columns`` (or the ``selected`` ones) as columns; the
    real-images columns in the ``real images`` row (module doc)."""
    marks = marks or Marks()
    rows = summary[(summary["dataset"] == dataset) & summary["model"].isin(models)]
    values = {(r.model, r.metric): r for r in rows.itertuples()}
    best = best_cells(rows, columns, marks.missing)
    shown = shown_columns(columns, selected)

    def cell(model: str, metric: str) -> Cell:
        key = (model, dataset, metric)
        row = values.get((model, metric))
        if key in marks.missing:
            return Cell("missing")
        if row is None or not math.isfinite(row.mean):
            return Cell("n/a")
        after = "≈" if key in best and key in marks.not_ahead else ""
        after += "†" if key in marks.flagged else ""
        after += "‡" if (model, dataset) in marks.adapted else ""
        sd = float(getattr(row, "seed_sd", math.nan))
        return Cell(format_cell(row.mean, row.ci_low, row.ci_high, seed_sd=sd), key in best, after)

    def real_cell(metric: str) -> Cell:
        sources = [metric] if columns[metric].real_images_of else []
        sources += [c for c, col in columns.items() if col.real_images_of == metric]
        found = [cell(m, c).text for c in sources for m in models if (m, c) in values]
        texts = dict.fromkeys(t for t in found if t not in ("n/a", "missing", ""))
        return Cell(" / ".join(texts))  # one value (the same real images) unless records differ

    table_rows = [
        (
            f"{model} §" if model in marks.imported else model,
            [Cell() if columns[m].real_images_of else cell(model, m) for m in shown],
        )
        for model in models
    ]
    reference = [real_cell(m) for m in shown]
    return Table(
        dataset=dataset,
        metrics=shown,
        headers=[header(columns[m]) for m in shown],
        rows=table_rows,
        reference=reference if any(c.text for c in reference) else None,
    )


def table_frame(table: Table, bold: tuple[str, str] = ("", "")) -> pd.DataFrame:
    """The table as strings: index = row labels (named ``model``), columns = headers."""
    rows = table.all_rows()
    return pd.DataFrame(
        [[cell.render(bold) for cell in cells] for _, cells in rows],
        index=pd.Index([label for label, _ in rows], name="model"),
        columns=table.headers,
    )


def markdown_table(table: Table, bold: tuple[str, str] = ("**", "**")) -> str:
    """The table in Markdown (best cells in ``bold``), the cells as written (``1.000``, not
    tabulate's ``1``)."""
    return table_frame(table, bold).to_markdown(disable_numparse=True)


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
    "<": "\\textless{}",
    ">": "\\textgreater{}",
    "`": "",
    "±": "$\\pm$",
    "↑": "$\\uparrow$",
    "↓": "$\\downarrow$",
    "→": "$\\rightarrow$",
    "†": "$^\\dagger$",
    "‡": "$^\\ddagger$",
    "§": "\\S{}",
    "≈": "$\\approx$",
    "…": "\\ldots{}",
    "≥": "$\\geq$",
    "≤": "$\\leq$",
}


def latex_text(text: str) -> str:
    """Escape plain text (names, captions) for LaTeX, turning ± ↑ ↓ → † ‡ ≈ into math symbols."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def mark_notes(table: Table, notes: list[str]) -> list[str]:
    """The notes that explain a mark (``†``, ``‡``, ``§``, ``≈``) occurring in ``table``."""
    used = table.used_marks()
    return [note for note in notes if note[:1] in MARKS and note[:1] in used]


def latex_table(table: Table, caption: str, notes: list[str], label: str) -> str:
    """One ``table`` float: the caption above, a booktabs ``tabular`` shrunk to the line width
    when wider (``\\resizebox``; needs ``booktabs`` and ``graphicx``), the notes under it in
    ``\\footnotesize`` (only the mark notes whose mark occurs in the table)."""
    notes = [n for n in notes if n[:1] not in MARKS] + mark_notes(table, notes)

    def number(text: str) -> str:  # the half-interval smaller, so the columns stay narrow
        mean, _, half = text.partition(" ± ")
        smaller = f"\\,{{\\scriptsize$\\pm${latex_text(half)}}}" if half else ""
        return latex_text(mean) + smaller

    def row(label: str, cells: list[Cell]) -> str:
        texts = [latex_text(label)]
        for cell in cells:
            text = number(cell.text)
            texts.append((f"\\textbf{{{text}}}" if cell.best else text) + latex_text(cell.marks))
        return " & ".join(texts) + " \\\\"

    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        "\\setlength{\\tabcolsep}{4pt}",
        f"\\caption{{{latex_text(caption)}}}",
        f"\\label{{{label}}}",
        "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{"
        f"\\begin{{tabular}}{{l{'c' * len(table.headers)}}}",
        "\\toprule",
        " & ".join(["model", *(latex_text(h) for h in table.headers)]) + " \\\\",
        "\\midrule",
        *(row(label, cells) for label, cells in table.rows),
    ]
    if table.reference:
        lines += ["\\midrule", row(REAL_IMAGES, table.reference)]
    lines += ["\\bottomrule", "\\end{tabular}}"]
    if notes:
        lines += [
            "\\par\\smallskip",
            "\\begin{minipage}{\\linewidth}\\footnotesize\\raggedright",
            *(f"{latex_text(note)}\\par" for note in notes),
            "\\end{minipage}",
        ]
    return "\n".join([*lines, "\\end{table}", ""])


def legend(confidence: float = 0.95) -> str:
    """The note that says how to read the cells."""
    return (
        f"Cells: mean ± half-width of the {confidence:.0%} bootstrap interval over images "
        "(seeded); a value alone is set-level (one value over all outputs). ↑/↓: higher/lower "
        f"is better. Bold: the best model of a column, only when unique at the {DIGITS} decimals "
        "shown (a tie for best: none bold). References, never bold: "
        f"{', '.join(REFERENCE_MODELS)} (output = input) and the {REAL_IMAGES} row (what the "
        "column's evaluator gives the real test images of the target expressions, e.g. the ECS "
        "classifier's accuracy, ECS real acc: the ceiling of ECS)."
    )


def notes(profile: str, extra: list[str] | None = None, confidence: float = 0.95) -> list[str]:
    """The notes of every table: profile, how to read the cells, then ``extra``."""
    lines = [
        f"Profile `{profile}`"
        + (
            " (embedded synthetic smoke run: shows the pipeline works, not the paper's numbers)."
            if profile == "smoke"
            else "."
        ),
        legend(confidence),
        "L1 / SSIM compare each output with the same subject's real image of the target expression; "
        "n/a where the dataset has none.",
    ]
    return lines + list(extra or [])


def dataset_notes(name: str, info: dict[str, Any], reference: str | None = None) -> list[str]:
    """Notes of one dataset's table: what kind of set, how many outputs, the reference images."""
    kind = "out-of-distribution" if info["ood"] else "in-distribution"
    lines = [f"{name}: {kind}, {info['outputs']} outputs from {info['sources']} source faces."]
    if reference:
        lines.append(f"{name}: set-level metrics compare with {reference}.")
    return lines


def sidecar_path(csv_path: Path) -> Path:
    """The provenance sidecar of a CSV table: ``x.csv`` -> ``x.provenance.json``."""
    return csv_path.with_name(f"{csv_path.stem}.provenance.json")


def write_tables(
    summary: pd.DataFrame,
    per_expression: pd.DataFrame,
    models: list[str],
    datasets: list[str],
    columns: dict[str, Column],
    record: dict[str, Any],
    out_dir: Path,
    footnotes: list[str],
    per_dataset: dict[str, list[str]],
    marks: Marks | None = None,
    latex_columns: list[str] | None = None,
) -> list[Path]:
    """Write comparison.{csv,md,tex} and per_expression.csv, each CSV with its provenance
    sidecar (:func:`sidecar_path`); return the paths.

    Markdown and LaTeX hold one table per dataset (:func:`dataset_table`), each followed by its
    ``per_dataset`` notes; ``footnotes`` apply to every table (the Markdown lists them once at
    the end, each LaTeX table carries them as its notes). LaTeX shows ``latex_columns`` when
    given (``report.latex_columns``), every column otherwise.
    """
    # every digit (the shortest text that reads back as the same float): the CSV is the data of
    # record, and `bench run` prints its table from it (:mod:`bench.report.glance`); a rounded
    # CSV would round the cells twice (19.28053 -> 19.2805 -> 19.280, not 19.281)
    csv_text = summary.to_csv(index=False, lineterminator="\n")
    per_expr_text = per_expression.to_csv(index=False, lineterminator="\n")
    sidecar = json.dumps(record, indent=2, sort_keys=True) + "\n"
    sections, floats = [], []
    for dataset in datasets:
        table = dataset_table(summary, models, dataset, columns, marks)
        own = per_dataset.get(dataset, [])
        sections.append(
            f"## {dataset}\n\n{markdown_table(table)}\n\n" + "".join(f"- {n}\n" for n in own)
        )
        chosen = dataset_table(summary, models, dataset, columns, marks, latex_columns)
        caption = f"{dataset}: comparison of the models" + (
            f" ({own[0].removeprefix(f'{dataset}: ').rstrip('.')})." if own else "."
        )
        label = f"tab:{dataset.replace('_', '.')}"  # no "_" (an active character), no dot in names
        floats.append(latex_table(chosen, caption, footnotes + own[1:], label))
    markdown = (
        "# Comparison\n\n"
        + "\n".join(sections)
        + "\n## Notes\n\n"
        + "".join(f"- {n}\n" for n in footnotes)
        + "\n<!-- "
        + as_comment(record, "").strip()
        + " -->\n"
    )
    latex = as_comment(record, "% ") + "\n".join(floats)
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
