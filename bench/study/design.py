"""Which pairs a participant judges: model-vs-model trials plus two attention checks per criterion.

A *comparison* trial shows one source face, one target expression and the outputs of two
models for that same source and target. Pairs of models take turns (round robin), and
each pair draws its (dataset, source, target) items without replacement from the items
both models have, reshuffling when they run out.

Attention checks (two per criterion, never counted as preferences):

- *identical*: the same output image on both sides; the only right answer is the
  "no difference" button (which every trial offers, so it does not give the check away);
- *obvious*: a genuine image against a garbled copy (tiles shuffled, colours inverted):
  the model output for ``expression`` (it shows a face, the garbled one does not), the
  source face itself for ``identity`` and ``realism``; the right answer is the genuine side.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.errors import UserError

QUESTIONS: dict[str, str] = {
    "expression": "Which face shows {target} better?",
    "identity": "Which face looks more like the same person as the source?",
    "realism": "Which face looks more like a real photo?",
}
"""The question of each criterion; ``{target}`` is the target expression word."""

COMPARISON, IDENTICAL, OBVIOUS = "comparison", "identical", "obvious"
SAME = "same"
"""The answer of the third ("no difference") button."""


@dataclass(frozen=True)
class Shown:
    """One image on screen: ``role`` is ``output`` (of ``model``), ``source`` or ``garbled``
    (a garbled copy of ``path``, made when the kit is written)."""

    role: str
    path: Path
    model: str | None = None


@dataclass(frozen=True)
class Trial:
    """One screen of the study (before blinding). ``correct``: for checks, the right answer
    (:data:`SAME`, or the index 0/1 of the genuine side among ``pair``); None for comparisons."""

    criterion: str
    kind: str
    dataset: str
    source_id: str
    target: str
    source: Path
    pair: tuple[Shown, Shown]
    correct: str | int | None = None


def parse_criteria(names: str | list[str]) -> list[str]:
    """Validate criterion names (comma-separated or a list); clear error listing the valid ones."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = [n for n in items if n not in QUESTIONS]
    if unknown or not items:
        raise UserError(
            f"unknown criterion {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid: {', '.join(QUESTIONS)}"
        )
    return list(dict.fromkeys(items))


def plan_trials(
    outputs: pd.DataFrame,
    sources: dict[tuple[str, str], Path],
    models: list[str],
    criteria: list[str],
    comparisons: int,
    rng: np.random.Generator,
) -> list[Trial]:
    """The trials of a kit, in a seeded order: ``comparisons`` per criterion plus the checks.

    ``outputs``: one row per output image with columns model, dataset, source_id,
    target_expression, path. ``sources[(dataset, source_id)]``: the source face's PNG.
    """
    if len(models) < 2:
        raise UserError(f"a pairwise study needs at least two models, got {models}")
    if comparisons < 1:
        raise UserError(f"--trials must be at least 1, got {comparisons}")
    path_of = {
        (r.model, r.dataset, r.source_id, r.target_expression): Path(r.path)
        for r in outputs.itertuples()
    }
    items_of = {model: {key[1:] for key in path_of if key[0] == model} for model in models}
    pairs = list(itertools.combinations(models, 2))
    trials: list[Trial] = []
    for criterion in criteria:
        pools: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for index in range(comparisons):
            first, second = pairs[index % len(pairs)]
            if not pools.get((first, second)):
                common = sorted(items_of[first] & items_of[second])
                if not common:
                    raise UserError(
                        f"{first} and {second} have no output for the same source and target"
                    )
                pools[(first, second)] = [common[i] for i in rng.permutation(len(common))]
            dataset, source_id, target = pools[(first, second)].pop()
            trials.append(
                Trial(
                    criterion,
                    COMPARISON,
                    dataset,
                    source_id,
                    target,
                    sources[(dataset, source_id)],
                    tuple(
                        Shown("output", path_of[(m, dataset, source_id, target)], m)
                        for m in (first, second)
                    ),
                )
            )
        trials += attention_checks(criterion, path_of, sources, rng)
    return [trials[i] for i in rng.permutation(len(trials))]


def attention_checks(
    criterion: str,
    path_of: dict[tuple[str, str, str, str], Path],
    sources: dict[tuple[str, str], Path],
    rng: np.random.Generator,
) -> list[Trial]:
    """The identical-pair and obvious-pair checks of one criterion, on randomly drawn outputs."""
    keys = sorted(path_of)
    checks = []
    for kind in (IDENTICAL, OBVIOUS):
        model, dataset, source_id, target = keys[rng.integers(len(keys))]
        output = Shown("output", path_of[(model, dataset, source_id, target)], model)
        source = sources[(dataset, source_id)]
        if kind == IDENTICAL:
            pair, correct = (output, output), SAME
        else:
            genuine = output if criterion == "expression" else Shown("source", source)
            side = int(rng.integers(2))
            garbled = Shown("garbled", genuine.path)
            pair = (genuine, garbled) if side == 0 else (garbled, genuine)
            correct = side
        checks.append(Trial(criterion, kind, dataset, source_id, target, source, pair, correct))
    return checks
