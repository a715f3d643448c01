"""Seeded training batches: source faces, target expressions and the paired real targets.

All randomness comes from one ``torch.Generator`` whose state the trainer
checkpoints, so a resumed run draws exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL


class PairSampler:
    """Draws (source, target expression, same-subject target image) index triples.

    ``source_mode`` ``"any"`` takes sources of every expression, ``"neutral"`` only
    neutral ones. A source is usable when its subject has at least one real image
    of another expression; the target expression is drawn uniformly among those.
    """

    def __init__(self, data: ImageSet, source_mode: str, generator: torch.Generator):
        if source_mode not in ("any", "neutral"):
            raise ValueError(f"source_mode must be 'any' or 'neutral', got {source_mode!r}")
        self.generator = generator
        by_key: dict[tuple[str, int], list[int]] = defaultdict(list)
        subjects = data.frame["subject"].astype(str).tolist()
        expressions = data.expressions.tolist()
        for index, (subject, expression) in enumerate(zip(subjects, expressions, strict=True)):
            by_key[(subject, expression)].append(index)
        self._images_of = dict(by_key)
        expressions_of: dict[str, set[int]] = defaultdict(set)
        for subject, expression in self._images_of:
            expressions_of[subject].add(expression)
        self._sources: list[int] = []
        self._targets: list[list[int]] = []  # per usable source: its possible target expressions
        for index, (subject, expression) in enumerate(zip(subjects, expressions, strict=True)):
            if source_mode == "neutral" and expression != INDEX[NEUTRAL]:
                continue
            options = sorted(expressions_of[subject] - {expression})
            if options:
                self._sources.append(index)
                self._targets.append(options)
        self._subjects = subjects
        if not self._sources:
            raise UserError(
                f"no usable training pairs (source_mode={source_mode!r}): every subject needs "
                "images of at least two expressions"
            )

    def __len__(self) -> int:
        """Number of usable source images."""
        return len(self._sources)

    def _pick(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source_index, target_expression, target_index)``, each (batch_size,) int64."""
        picks = torch.randint(len(self._sources), (batch_size,), generator=self.generator).tolist()
        sources, expressions, targets = [], [], []
        for pick in picks:
            options = self._targets[pick]
            expression = options[self._pick(len(options))]
            images = self._images_of[(self._subjects[self._sources[pick]], expression)]
            sources.append(self._sources[pick])
            expressions.append(expression)
            targets.append(images[self._pick(len(images))])
        return (
            torch.tensor(sources, dtype=torch.int64),
            torch.tensor(expressions, dtype=torch.int64),
            torch.tensor(targets, dtype=torch.int64),
        )
