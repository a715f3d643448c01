"""``results/report.html``: one self-contained page with the comparison table of each dataset,
its figures (embedded as base64 PNG data URIs, so the page needs no network and no other
file), the notes and the provenance (collapsed). Rendered with jinja2 from
``templates/report.html.j2`` with autoescaping on, so every name (dataset, model, metric) is
escaped wherever it lands, text or attribute; written atomically.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bench.core import atomic
from bench.report.figures import DPI
from bench.report.tables import Table

SCREEN_DPI = 100
"""CSS pixels per figure inch: a PNG of :data:`~bench.report.figures.DPI` is shown at
``SCREEN_DPI / DPI`` of its pixel width (sharp on high-density screens, text at its size)."""


@dataclass
class DatasetSection:
    """One dataset's part of the page: its table (:func:`bench.report.tables.dataset_table`) and
    the notes under it, its figures (caption, PNG path) and its paired comparisons (HTML,
    :func:`bench.report.pairwise.section_html`)."""

    name: str
    table: Table
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)
    pairwise: str = ""


def data_uri(png: Path) -> str:
    """The PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def display_width(png: Path) -> int:
    """CSS width of a figure PNG: its pixel width (from the IHDR chunk) scaled by
    :data:`SCREEN_DPI` / :data:`~bench.report.figures.DPI`."""
    with open(png, "rb") as handle:
        head = handle.read(24)
    (width,) = struct.unpack(">I", head[16:20])
    return max(1, round(width * SCREEN_DPI / DPI))


def environment() -> jinja2.Environment:
    """The page's jinja2 environment: autoescaping, strict undefined, the figure filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["data_uri"] = data_uri
    env.filters["display_width"] = display_width
    return env


def table_html(table: Table, notes: Sequence[str] = ()) -> Markup:
    """One comparison table (and its notes) as HTML: ``<table id="table-<dataset>">``, the
    escaping as on the page (the template's ``comparison_table`` macro)."""
    macro = environment().get_template("table.html.j2").module.comparison_table
    return Markup(macro(table, list(notes)))


def render(
    sections: list[DatasetSection],
    figures: list[tuple[str, Path]],
    footnotes: list[str],
    record: dict[str, Any],
) -> str:
    """The page's HTML: ``sections`` per dataset, then dataset-independent ``figures``."""
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            sections=sections,
            figures=figures,
            footnotes=footnotes,
            profile=record.get("profile", ""),
            provenance=json.dumps(record, indent=1, sort_keys=True),
        )
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
