"""The canonical expression vocabulary shared by every dataset, model and metric.

Index order is fixed (it is the order of the RegGAN paper and of CFEE's category
ids 01-07): a model's class ``k`` is always ``EXPRESSIONS[k]``.
"""

from __future__ import annotations

from bench.core.errors import UserError

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "fearful",
    "angry",
    "surprised",
    "disgusted",
)
"""The seven basic categories, in class-index order."""

NEUTRAL = "neutral"
TARGET_EXPRESSIONS: tuple[str, ...] = EXPRESSIONS[1:]
"""Expressions a neutral face is translated to by default."""

INDEX: dict[str, int] = {name: i for i, name in enumerate(EXPRESSIONS)}


def expression_index(name: str) -> int:
    """Class index of a canonical expression name; a clear error for anything else."""
    try:
        return INDEX[name]
    except KeyError:
        raise UserError(f"unknown expression {name!r}; valid: {', '.join(EXPRESSIONS)}") from None


def parse_expressions(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Parse ``"happy,sad"`` or a list into validated canonical names (order kept)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    for name in names:
        expression_index(name)
    return list(names)
