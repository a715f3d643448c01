"""The comparison at a glance, for the end of ``bench run`` and ``bench report``.

Reads ``results/tables/comparison.csv`` (one row per model, dataset and column: ``mean``,
``ci_low``, ``ci_high``) and gives the first dataset's table as Markdown: one row per model,
one column per metric column, ``mean ± half-interval`` (or the value alone / ``n/a``), and
the across-seed ``(sd ...)`` of models trained per seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from bench import layout
from bench.report.tables import cell_numbers, format_cell

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
    models = list(dict.fromkeys(rows["model"]))
    metrics = list(dict.fromkeys(rows["metric"]))
    cells = {(r.model, r.metric): format_cell(*cell_numbers(r)) for r in rows.itertuples()}
    table = pd.DataFrame(
        [[cells.get((m, c), "") for c in metrics] for m in models],
        index=pd.Index(models, name="model"),
        columns=metrics,
    )
    return f"## {dataset}\n\n{table.to_markdown()}"
