"""Seeded training batches: source faces, target expressions and the paired real targets.

All randomness comes from one ``torch.Generator`` whose state the trainer
checkpoints, so a resumed run draws exactly the batches an uninterrupted run would.
A draw is three vectorised lookups into padded index tables (no per-sample Python).
"""

from __future__ import annotations

from collections import defaultdict

import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL


def _padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of different lengths as a (len(rows), longest) int64 table (padded with 0) + lengths."""
    table = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.int64)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return table, torch.tensor([len(r) for r in rows], dtype=torch.int64)


class PairSampler:
    """Draws (source, target expression, same-subject target image) index triples.

    ``source_mode`` ``"any"`` takes sources of every expression, ``"neutral"`` only
    neutral ones. A source is usable when its subject has at least one real image
    of another expression; the target expression is drawn uniformly among those,
    then the target image uniformly among the subject's images of that expression.
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
        group_of = {key: g for g, key in enumerate(by_key)}
        expressions_of: dict[str, set[int]] = defaultdict(set)
        for subject, expression in by_key:
            expressions_of[subject].add(expression)
        sources: list[int] = []
        options: list[list[int]] = []  # per usable source: its possible target expressions
        for index, (subject, expression) in enumerate(zip(subjects, expressions, strict=True)):
            if source_mode == "neutral" and expression != INDEX[NEUTRAL]:
                continue
            choices = sorted(expressions_of[subject] - {expression})
            if choices:
                sources.append(index)
                options.append(choices)
        if not sources:
            raise UserError(
                f"no usable training pairs (source_mode={source_mode!r}): every subject needs "
                "images of at least two expressions"
            )
        self._sources = torch.tensor(sources, dtype=torch.int64)
        self._options, self._option_counts = _padded(options)
        self._option_groups, _ = _padded(
            [
                [group_of[(subjects[s], e)] for e in choices]
                for s, choices in zip(sources, options, strict=True)
            ]
        )
        self._group_images, self._group_sizes = _padded(list(by_key.values()))

    def __len__(self) -> int:
        """Number of usable source images."""
        return len(self._sources)

    def _uniform_below(self, counts: torch.Tensor) -> torch.Tensor:
        """One uniform integer in [0, counts[i]) per entry (float64 draws, exact for small counts)."""
        draws = torch.rand(len(counts), generator=self.generator, dtype=torch.float64)
        return torch.minimum((draws * counts).long(), counts - 1)

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source_index, target_expression, target_index)``, each (batch_size,) int64."""
        picks = torch.randint(len(self._sources), (batch_size,), generator=self.generator)
        option = self._uniform_below(self._option_counts[picks])
        groups = self._option_groups[picks, option]
        member = self._uniform_below(self._group_sizes[groups])
        return (
            self._sources[picks],
            self._options[picks, option],
            self._group_images[groups, member],
        )
