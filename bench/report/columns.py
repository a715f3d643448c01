"""What the report knows about each metric column: direction, description (from the metric classes),
and which per-image text columns (a classifier's predicted expression) the metrics keep."""

from __future__ import annotations

from metrics.base import Column
from metrics.registry import METRICS


def known_columns(metric_names: list[str]) -> dict[str, Column]:
    """Column name -> :class:`Column` for the given metrics (per-image, then set-level), in order."""
    columns: dict[str, Column] = {}
    for name in METRICS.parse(metric_names):
        for column in METRICS.load(name).all_columns():
            columns[column.name] = column
    return columns


def label_columns(metric_names: list[str]) -> list[str]:
    """The text columns the metrics keep per image (e.g. ``ECS predicted``), in order."""
    return [
        column
        for name in METRICS.parse(metric_names)
        for column in METRICS.load(name).label_columns
    ]


def header(column: Column) -> str:
    """A column's table header and plot title: its name and the arrow of the better direction
    (``ECS ↑``, ``FID ↓``)."""
    return f"{column.name} {'↑' if column.higher_is_better else '↓'}"


def range_text(column: Column) -> str:
    """The column's range as an interval, ``[0, 1]``, ``[0, ∞)``, ``(-∞, ∞)`` (the unit of a
    dimensionless score: what its axis spans)."""
    low, high = column.value_range

    def bound(value: float) -> str:
        if value in (float("inf"), float("-inf")):
            return "∞" if value > 0 else "-∞"
        return f"{value:g}"

    opening = "(" if low == float("-inf") else "["
    closing = ")" if high == float("inf") else "]"
    return f"{opening}{bound(low)}, {bound(high)}{closing}"
