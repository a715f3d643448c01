"""The vectorised PairSampler draws exactly the batches the per-sample loop drew."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
import torch

from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL
from bench.sampler import PairSampler


def reference_draw(
    data: ImageSet, source_mode: str, generator: torch.Generator, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sampler as it was before vectorising: one ``randint(n, (1,))`` per choice."""
    subjects = data.frame["subject"].astype(str).tolist()
    expressions = data.expressions.tolist()
    images_of: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, key in enumerate(zip(subjects, expressions, strict=True)):
        images_of[key].append(index)
    expressions_of: dict[str, set[int]] = defaultdict(set)
    for subject, expression in images_of:
        expressions_of[subject].add(expression)
    usable, targets = [], []
    for index, (subject, expression) in enumerate(zip(subjects, expressions, strict=True)):
        if source_mode == "neutral" and expression != INDEX[NEUTRAL]:
            continue
        options = sorted(expressions_of[subject] - {expression})
        if options:
            usable.append(index)
            targets.append(options)

    def pick(n: int) -> int:
        return int(torch.randint(n, (1,), generator=generator))

    picks = torch.randint(len(usable), (batch_size,), generator=generator).tolist()
    sources, chosen, target_images = [], [], []
    for p in picks:
        expression = targets[p][pick(len(targets[p]))]
        images = images_of[(subjects[usable[p]], expression)]
        sources.append(usable[p])
        chosen.append(expression)
        target_images.append(images[pick(len(images))])
    return tuple(torch.tensor(v, dtype=torch.int64) for v in (sources, chosen, target_images))


def ragged_set() -> ImageSet:
    """Subjects with 1..7 expressions and 1..5 images per (subject, expression), shuffled rows."""
    rows = []
    for s in range(9):
        kinds = [e for e in range(7) if (e * 5 + s * 3) % 7 < 1 + s % 7]
        rows += [(f"s{s}", e) for e in kinds for _ in range(1 + (s + e) % 5)]
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).tolist()
    rows = [rows[i] for i in order]
    frame = pd.DataFrame({"subject": [subject for subject, _ in rows]})
    expressions = torch.tensor([expression for _, expression in rows], dtype=torch.int64)
    return ImageSet(torch.empty(0, dtype=torch.uint8), expressions, frame)


@pytest.mark.parametrize("source_mode", ["any", "neutral"])
def test_draw_equals_the_per_sample_loop_and_leaves_the_same_generator_state(source_mode):
    data = ragged_set()
    groups = data.frame.assign(expression=data.expressions.numpy()).groupby("subject")
    assert groups["expression"].nunique().nunique() > 2  # ragged option counts
    assert groups.value_counts().nunique() > 2  # ragged images per (subject, expression)
    sampler = PairSampler(data, source_mode, torch.Generator())
    for seed in range(25):
        sampler.generator.manual_seed(seed)
        reference = torch.Generator().manual_seed(seed)
        for batch_size in (1, 7, 64, 257):
            drawn = sampler.draw(batch_size)
            expected = reference_draw(data, source_mode, reference, batch_size)
            for got, want in zip(drawn, expected, strict=True):
                assert torch.equal(got, want), (seed, batch_size)
            assert torch.equal(sampler.generator.get_state(), reference.get_state())
        # later draws from the same generator (the trainer's flips) are unchanged too
        flips = torch.rand(16, generator=sampler.generator)
        assert torch.equal(flips, torch.rand(16, generator=reference))
