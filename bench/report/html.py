"""``results/report.html``: one self-contained page with the comparison table of each dataset,
its figures (embedded as base64 PNG data URIs, so the page needs no network and no other
file), the footnotes and the provenance. Rendered with jinja2 from
``templates/report.html.j2``, written atomically.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from bench.core import atomic
from bench.report.tables import wide_table
from metrics.base import Column

BOLD = ("\x02", "\x03")
"""Markers for the best cell, swapped for <strong> after HTML escaping."""


@dataclass
class DatasetSection:
    """One dataset's part of the page: its table (HTML), its figures (caption, PNG path) and
    its paired comparisons (HTML, :func:`bench.report.pairwise.section_html`)."""

    name: str
    table: str
    figures: list[tuple[str, Path]] = field(default_factory=list)
    pairwise: str = ""


def dataset_table(
    summary: pd.DataFrame,
    models: list[str],
    dataset: str,
    columns: dict[str, Column],
    missing: set[tuple[str, str, str]],
    flagged: set[tuple[str, str, str]],
    adapted: set[tuple[str, str]],
    not_ahead: set[tuple[str, str, str]] | None = None,
) -> str:
    """The comparison table of one dataset as an HTML ``<table id="table-<dataset>">``, cells
    as in the Markdown table (mean ± half-interval, best in bold, †, ‡, ≈, missing)."""
    table = wide_table(
        summary, models, [dataset], columns, BOLD, missing, flagged, adapted, not_ahead=not_ahead
    )
    table.columns = [metric for _, metric in table.columns]
    html = table.to_html(escape=True, table_id=f"table-{dataset}", classes="comparison")
    return html.replace(BOLD[0], "<strong>").replace(BOLD[1], "</strong>")


def data_uri(png: Path) -> str:
    """The PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def render(
    sections: list[DatasetSection],
    figures: list[tuple[str, Path]],
    footnotes: list[str],
    record: dict[str, Any],
) -> str:
    """The page's HTML: ``sections`` per dataset, then dataset-independent ``figures``."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["data_uri"] = data_uri
    return environment.get_template("report.html.j2").render(
        sections=sections,
        figures=figures,
        footnotes=footnotes,
        profile=record.get("profile", ""),
        provenance=json.dumps(record, indent=1, sort_keys=True),
    )


def write_report_html(
    path: Path,
    sections: list[DatasetSection],
    figures: list[tuple[str, Path]],
    footnotes: list[str],
    record: dict[str, Any],
) -> Path:
    """Render the page and write it to ``path`` atomically; return ``path``."""
    atomic.write_text(path, render(sections, figures, footnotes, record))
    return path
