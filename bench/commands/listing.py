"""Printing a listing (``bench models``, ``bench metrics``, ``bench weights list``) as data.

The rows go to stdout (messages go to stderr): a table on a terminal; tab-separated lines
with a header row when piped or redirected (one row per line, never wrapped); a JSON list of
objects with ``--json``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

JsonFlag = Annotated[
    bool, typer.Option("--json", help="print the rows as a JSON list of objects (stdout)")
]


def print_rows(
    rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str = ""
) -> None:
    """Print ``rows`` (dicts keyed by ``columns``) to stdout as described in the module doc."""
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    if not sys.stdout.isatty():

        def cell(value: Any) -> str:
            return " ".join(str(value).split())  # one line per row: tabs and newlines become spaces

        lines = ["\t".join(columns)] + ["\t".join(cell(row[c]) for c in columns) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title or None)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console().print(table)
