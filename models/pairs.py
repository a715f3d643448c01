"""Neutral -> target training pairs of one subject, for the paired models (MR, RegGAN's G_E).

A pair is (a neutral image, an image of the target expression) of the same
subject. A subject with several images of either kind contributes every
combination; a subject without a neutral image, or without the target
expression, contributes nothing to that expression.
"""

from __future__ import annotations

import torch

from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL


def neutral_pairs(data: ImageSet, expression: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (source, target) into ``data`` of every same-subject neutral -> ``expression`` pair.

    Both are int64 (n,), ordered by subject and then by row, so the order is
    deterministic; n is 0 when no subject has both expressions.
    """
    neutral = INDEX[NEUTRAL]
    sources: list[int] = []
    targets: list[int] = []
    subjects = data.frame["subject"].astype(str).to_numpy()
    labels = data.expressions.tolist()
    rows_of: dict[str, tuple[list[int], list[int]]] = {}
    for row, (subject, label) in enumerate(zip(subjects, labels, strict=True)):
        neutral_rows, target_rows = rows_of.setdefault(subject, ([], []))
        if label == neutral:
            neutral_rows.append(row)
        elif label == expression:
            target_rows.append(row)
    for subject in sorted(rows_of):
        neutral_rows, target_rows = rows_of[subject]
        for source in neutral_rows:
            for target in target_rows:
                sources.append(source)
                targets.append(target)
    return torch.tensor(sources, dtype=torch.int64), torch.tensor(targets, dtype=torch.int64)
