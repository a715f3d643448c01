"""Seeded training batches: source faces, target expressions and the paired real targets.

All randomness comes from one ``torch.Generator`` whose state the trainer
checkpoints, so a resumed run draws exactly the batches an uninterrupted run would.

A draw is a few table lookups (no per-sample Python) that reproduce, bit for bit and
with the same generator state afterwards, the per-sample stream this sampler has
always drawn: ``randint(sources, (B,))``, then per sample ``randint(options, (1,))``
and ``randint(images, (1,))``. On CPU a ``randint(n)`` with ``n < 2**28`` takes one
32-bit Mersenne-Twister word ``r`` and returns ``r % n``; ``random_`` over the full
int64 range takes two words per element, the first as its high half. So one
full-range draw of ``B`` values hands back, in order, the ``2B`` words the per-sample
loop consumed (the high half of value ``i`` picked sample ``i``'s expression, the low
half its image), and ``word % count`` is that loop's choice.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL

_WORD = 0xFFFFFFFF  # one 32-bit generator word
_INT64_MIN = torch.iinfo(torch.int64).min  # random_(min, None): full 64-bit draws


def _padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of different lengths as a (len(rows), longest) int64 table (padded with 0) + lengths."""
    table = torch.zeros(len(rows), max(len(row) for row in rows), dtype=torch.int64)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return table, torch.tensor([len(row) for row in rows], dtype=torch.int64)


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
        group_of = {key: group for group, key in enumerate(by_key)}
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
                [group_of[(subjects[source], e)] for e in choices]
                for source, choices in zip(sources, options, strict=True)
            ]
        )
        self._group_images, self._group_sizes = _padded(list(by_key.values()))

    def __len__(self) -> int:
        """Number of usable source images."""
        return len(self._sources)

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source_index, target_expression, target_index)``, each (batch_size,) int64.

        Takes ``3 * batch_size`` words from the generator (see the module docstring).
        """
        picks = torch.randint(len(self._sources), (batch_size,), generator=self.generator)
        words = torch.empty(batch_size, dtype=torch.int64)
        words.random_(_INT64_MIN, None, generator=self.generator)
        option = ((words >> 32) & _WORD) % self._option_counts[picks]
        groups = self._option_groups[picks, option]
        member = (words & _WORD) % self._group_sizes[groups]
        return (
            self._sources[picks],
            self._options[picks, option],
            self._group_images[groups, member],
        )
