"""Rows of ``bench score`` in the report: on the datasets they were scored on, marked ``§``.

:func:`bench.report.scope.current_scope` adds every scored name (:func:`bench.scored.scored_names`)
with a current record on a reported dataset; the report leaves out the (name, dataset) pairs
without one (:func:`absent_pairs`) and footnotes each scored row (:func:`scored_marks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.report.scope import stale_reason
from bench.scored import is_scored_name, scored_record

if TYPE_CHECKING:
    import pandas as pd

    from bench.config import Config


def absent_pairs(config: Config, models: list[str], datasets: list[str]) -> set[tuple[str, str]]:
    """(scored name, dataset) pairs without a current record: the report skips them."""
    return {
        (m, d)
        for m in models
        if is_scored_name(m)
        for d in datasets
        if stale_reason(config, m, d) is not None
    }


def scored_marks(per_pair: list[pd.DataFrame]) -> tuple[set[str], list[str]]:
    """Scored names (their row labels get the ``§`` of rows not made by a model trained here)
    and a footnote per (name, dataset): the folder, its content sha256, what was resized or
    left out."""
    names, notes = set(), []
    for frame in per_pair:
        scored = scored_record(frame)
        if not scored:
            continue
        name, dataset = frame["model"].iloc[0], frame["dataset"].iloc[0]
        names.add(name)
        extra = ""
        if scored.get("missing"):
            extra += (
                f"; n = {scored['scored_pairs']} of {scored['expected_pairs']} (source, target) "
                "pairs (--allow-missing)"
            )
        if scored.get("resized_images"):
            extra += f"; {scored['resized_images']} image(s) resized ({scored['resize']})"
        notes.append(
            f"§ {name} on {dataset}: scored from the folder {scored['folder']} with `bench score` "
            f"(content sha256 {scored['content_sha256'][:12]}…), not synthesized here{extra}."
        )
    return names, notes
