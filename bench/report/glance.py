"""The comparison at a glance, for the end of ``bench run`` and ``bench report``.

Reads ``results/tables/comparison.csv`` (one row per model, dataset and column: ``mean``,
``ci_low``, ``ci_high``) and gives the first dataset's table as Markdown, assembled as in the
report (:func:`bench.report.tables.dataset_table`: one row per model and the ``real images``
row, ``mean ± half-interval``), without bold or marks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from bench import layout
from bench.report.columns import known_columns
from bench.report.tables import dataset_table, markdown_table

if TYPE_CHECKING:
    from bench.config import Config


def first_table(config: Config) -> str | None:
    """``## <dataset>`` and its Markdown table; None when there is no comparison yet."""
    path = layout.tables_dir(config) / "comparison.csv"
    if not path.is_file():
        return None
    summary = pd.read_csv(path)
    if summary.empty:
        return None
    dataset = summary["dataset"].iloc[0]
    rows = summary[summary["dataset"] == dataset]
    columns = {
        name: column
        for name, column in known_columns(config.metrics).items()
        if name in set(rows["metric"])
    }
    table = dataset_table(rows, list(dict.fromkeys(rows["model"])), dataset, columns)
    return f"## {dataset}\n\n{markdown_table(table, bold=('', ''))}"
