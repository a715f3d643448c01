"""The vectorised PairSampler draws exactly the batches the per-sample loop drew; the
epoch and uniform samplers (``training.sampling``) visit, reshuffle and resume as documented."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL
from bench.sampler import ImageSampler, PairSampler, resolve_sampling


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


# -- epochs and uniform (training.sampling) ---------------------------------------------------
def single_expression_subjects(data: ImageSet) -> set[str]:
    counts = data.frame.assign(expression=data.expressions.numpy()).groupby("subject")
    return set(counts["expression"].nunique().loc[lambda n: n == 1].index)


def check_targets(data: ImageSet, drawn: tuple[torch.Tensor, ...]) -> None:
    """Paired sources get a same-subject image of another expression; single-expression
    subjects another expression of the set and the source itself as target."""
    subjects = data.frame["subject"].astype(str)
    alone = single_expression_subjects(data)
    for source, expression, target in zip(*(v.tolist() for v in drawn), strict=True):
        assert expression != int(data.expressions[source])
        assert int(data.expressions[target]) == expression or subjects[source] in alone
        if subjects[source] in alone:
            assert target == source
        else:
            assert subjects[target] == subjects[source]


def test_epochs_visit_every_image_once_per_epoch_and_reshuffle():
    data = ragged_set()
    assert len(single_expression_subjects(data)) == 2  # s0, s7: dropped by PairSampler
    assert len(PairSampler(data, "any", torch.Generator())) < len(data)
    sampler = ImageSampler(data, "any", torch.Generator().manual_seed(3), "epochs")
    assert sampler.smallest_batch(8) == len(data) % 8 == 3
    orders = []
    for _ in range(3):
        batches = [sampler.draw(8) for _ in range(len(data) // 8 + 1)]
        assert [len(b[0]) for b in batches] == [8] * (len(data) // 8) + [3]
        order = torch.cat([b[0] for b in batches])
        assert torch.equal(order.sort().values, torch.arange(len(data)))  # each image once
        for batch in batches:
            check_targets(data, batch)
        orders.append(order)
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])


def test_epochs_with_drop_last_keep_full_batches_of_distinct_images():
    data = ragged_set()
    sampler = ImageSampler(data, "any", torch.Generator().manual_seed(1), "epochs", drop_last=True)
    assert sampler.smallest_batch(8) == 8
    for _ in range(3):
        epoch = torch.cat([sampler.draw(8)[0] for _ in range(len(data) // 8)])
        assert len(epoch) == len(data) - len(data) % 8 and len(epoch.unique()) == len(epoch)
    with pytest.raises(UserError, match="drop_last"):
        ImageSampler(data, "any", torch.Generator(), "epochs", drop_last=True).draw(len(data) + 1)


def test_epochs_over_neutral_sources_keep_same_subject_pairs():
    data = ragged_set()
    sampler = ImageSampler(data, "neutral", torch.Generator().manual_seed(2), "epochs")
    usable = PairSampler(data, "neutral", torch.Generator())
    epoch = [sampler.draw(4) for _ in range(-(-len(usable) // 4))]
    sources, expressions, targets = (torch.cat(v) for v in zip(*epoch, strict=True))
    assert torch.equal(sources.sort().values, usable._sources.sort().values)
    assert (data.expressions[sources] == INDEX[NEUTRAL]).all()
    subjects = data.frame["subject"].astype(str)
    assert (subjects[sources.numpy()].to_numpy() == subjects[targets.numpy()].to_numpy()).all()
    assert torch.equal(data.expressions[targets], expressions)
    assert (expressions != INDEX[NEUTRAL]).all()


def test_epoch_sampler_resumes_mid_epoch_exactly(tmp_path):
    data = ragged_set()

    def fresh() -> ImageSampler:
        return ImageSampler(data, "any", torch.Generator().manual_seed(7), "epochs")

    straight = fresh()
    expected = [torch.stack(straight.draw(8)) for _ in range(40)]  # about 3.5 epochs
    first = fresh()
    for _ in range(17):  # stop in the middle of the second epoch
        first.draw(8)
    torch.save(first.state(), tmp_path / "state.pt")  # as the trainer's checkpoint does
    resumed = fresh()
    resumed.load_state(torch.load(tmp_path / "state.pt", weights_only=True))
    for want in expected[17:]:
        assert torch.equal(torch.stack(resumed.draw(8)), want)
    assert torch.equal(resumed.generator.get_state(), straight.generator.get_state())
    with pytest.raises(UserError, match="independent"):
        fresh().load_state(PairSampler(data, "any", torch.Generator()).state())


def test_uniform_draws_every_image_and_equals_independent_when_all_subjects_pair():
    data = ragged_set()
    sampler = ImageSampler(data, "any", torch.Generator().manual_seed(0), "uniform")
    drawn = sampler.draw(4000)
    check_targets(data, drawn)
    assert torch.equal(drawn[0].unique(), torch.arange(len(data)))  # singletons included
    paired = data.frame["subject"].astype(str).isin(single_expression_subjects(data))
    keep = torch.from_numpy(~paired.to_numpy())
    complete = ImageSet(
        data.images, data.expressions[keep], data.frame[keep.numpy()].reset_index(drop=True)
    )
    for source_mode in ("any", "neutral"):
        uniform = ImageSampler(complete, source_mode, torch.Generator().manual_seed(5), "uniform")
        independent = PairSampler(complete, source_mode, torch.Generator().manual_seed(5))
        for size in (1, 16, 100):
            for got, want in zip(uniform.draw(size), independent.draw(size), strict=True):
                assert torch.equal(got, want)


def test_authors_sampling_is_the_default_per_model():
    from models.registry import MODELS

    expected = {
        "stargan": ("epochs", False),
        "usgan": ("epochs", False),
        "sargan": ("epochs", False),
        "ganimation": ("uniform", True),
        "dai2i": ("epochs", True),
        "reggan": ("independent", False),
    }
    for name, (mode, drop_last) in expected.items():
        model = MODELS.load(name)
        assert resolve_sampling("authors", model.authors_sampling) == mode, name
        assert (model.epoch_drop_last, resolve_sampling("independent", mode)) == (
            drop_last,
            "independent",
        )
    with pytest.raises(UserError, match="training.sampling"):
        resolve_sampling("shuffled", "epochs")
