"""What marks a row of ``bench score`` (:mod:`bench.score`): a name and a ``generator.json`` key.

A scored row has no checkpoint and is not a registered model; it is recognised by its name
(:func:`is_scored_name`: ``bench score`` accepts only plain names that are not models) and
carries ``scored_from_folder`` in its ``generator.json`` and in its records' metadata. Kept
apart from :mod:`bench.score` so that the synthesis, fingerprint and report code can ask
without importing the scoring.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bench import layout

if TYPE_CHECKING:
    import pandas as pd

    from bench.config import Config

SCORED = "scored_from_folder"
"""Key of ``generator.json`` (and of the records' generator metadata) that marks a scored row."""

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


def is_scored_name(name: str) -> bool:
    """A name ``bench score`` may have used: plain (letters, digits, ``_``, ``-``) and not a
    registered model (an ad hoc plugin's key always holds a dot)."""
    from models.registry import MODELS

    return bool(NAME_PATTERN.match(name)) and name not in MODELS


def scored_names(config: Config) -> list[str]:
    """Scored names with records under ``results/records/`` (sorted)."""
    root = layout.records_path(config, "x", "x").parent.parent
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_scored_name(p.name))


def scored_record(frame: pd.DataFrame) -> dict[str, Any] | None:
    """The ``scored_from_folder`` record of a records frame; None for a model's records."""
    return (frame.attrs.get("generator") or {}).get(SCORED)
