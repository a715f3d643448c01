"""Seeded training batches: source faces, target expressions and the paired real targets.

All randomness comes from one ``torch.Generator``; the trainer checkpoints the sampler's
:meth:`state` (that generator, plus the current epoch's order and position for
``epochs``), so a resumed run draws exactly the batches an uninterrupted run would.

Three ways to pick a batch's source images (``training.sampling``; ``authors``, the
default, takes each model's :attr:`~models.trainable.TrainableGenerator.authors_sampling`):

- ``epochs`` (:class:`ImageSampler`): every training image once per epoch, in a fresh
  shuffled order each epoch, in consecutive batches; the epoch's last batch is smaller
  unless the model drops it (``epoch_drop_last``). A PyTorch ``DataLoader`` with
  ``shuffle=True`` re-iterated at ``StopIteration`` (StarGAN, US-GAN, SARGAN, DAI2I).
- ``uniform`` (:class:`ImageSampler`): each batch element drawn uniformly from every
  training image, with replacement (GANimation's ``dataset_aus.py``).
- ``independent`` (:class:`PairSampler`): fes-bench's earlier sampler, uniform with
  replacement over the images whose subject also has another expression (subjects with a
  single expression are dropped).

Every source comes with a target expression and a target image: one of the subject's
other expressions, drawn uniformly, and one of the subject's images of it. A subject with
a single expression (possible in ``epochs`` and ``uniform`` with ``source_mode "any"``)
has none: its target expression is drawn uniformly among the training set's other
expressions and its target image is the source itself (no model reads it: only paired
models, ``source_mode "neutral"``, use target images, and their sources always have one).

A draw is a few table lookups (no per-sample Python). :class:`PairSampler` reproduces,
bit for bit and with the same generator state afterwards, the per-sample stream this
sampler has always drawn: ``randint(sources, (B,))``, then per sample
``randint(options, (1,))`` and ``randint(images, (1,))``. On CPU a ``randint(n)`` with
``n < 2**28`` takes one 32-bit Mersenne-Twister word ``r`` and returns ``r % n``;
``random_`` over the full int64 range takes two words per element, the first as its high
half. So one full-range draw of ``B`` values hands back, in order, the ``2B`` words the
per-sample loop consumed (the high half of value ``i`` picked sample ``i``'s expression,
the low half its image), and ``word % count`` is that loop's choice. :class:`ImageSampler`
draws its targets the same way, so ``uniform`` equals ``independent`` exactly when every
subject has at least two expressions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from bench.core.errors import UserError
from bench.core.tensors import ImageSet
from bench.core.vocabulary import INDEX, NEUTRAL

_WORD = 0xFFFFFFFF  # one 32-bit generator word
_INT64_MIN = torch.iinfo(torch.int64).min  # random_(min, None): full 64-bit draws

SAMPLING_MODES = ("epochs", "uniform", "independent")
"""Values of ``training.sampling`` besides ``authors`` (each model's own, see module doc)."""


def resolve_sampling(requested: str, authors_sampling: str) -> str:
    """The sampling mode a model trains with: ``requested``, or the model's authors' way
    when ``requested`` is ``authors``; a :class:`UserError` for an unknown value."""
    if requested not in ("authors", *SAMPLING_MODES):
        raise UserError(
            f"training.sampling must be one of authors, {', '.join(SAMPLING_MODES)}; "
            f"got {requested!r}"
        )
    return authors_sampling if requested == "authors" else requested


def _padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of different lengths as a (len(rows), longest) int64 table (padded with 0) + lengths."""
    table = torch.zeros(len(rows), max(len(row) for row in rows), dtype=torch.int64)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return table, torch.tensor([len(row) for row in rows], dtype=torch.int64)


class _Pairs:
    """The lookup tables of the target draw: per usable source (an image of ``source_mode``
    whose subject has another expression) its target expressions and their image groups."""

    def __init__(self, data: ImageSet, source_mode: str):
        if source_mode not in ("any", "neutral"):
            raise ValueError(f"source_mode must be 'any' or 'neutral', got {source_mode!r}")
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
        self.sources = sources
        rows = options or [[0]]  # one dummy row keeps the tables valid when none is usable
        self.options, self.option_counts = _padded(rows)
        self.option_groups, _ = _padded(
            [
                [group_of[(subjects[source], e)] for e in choices]
                for source, choices in zip(sources, options, strict=True)
            ]
            or [[0]]
        )
        self.group_images, self.group_sizes = _padded(list(by_key.values()) or [[0]])

    def targets(self, rows: torch.Tensor, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target expression, target image) of the usable sources ``rows`` from one full-range
        word each (high half: the expression, low half: the image)."""
        option = ((words >> 32) & _WORD) % self.option_counts[rows]
        groups = self.option_groups[rows, option]
        member = (words & _WORD) % self.group_sizes[groups]
        return self.options[rows, option], self.group_images[groups, member]


def _no_pairs(source_mode: str) -> UserError:
    return UserError(
        f"no usable training pairs (source_mode={source_mode!r}): every subject needs "
        "images of at least two expressions"
    )


class PairSampler:
    """Draws (source, target expression, same-subject target image) index triples
    (``training.sampling: independent``).

    ``source_mode`` ``"any"`` takes sources of every expression, ``"neutral"`` only
    neutral ones. A source is usable when its subject has at least one real image
    of another expression; sources are drawn uniformly with replacement among the usable
    ones, the target expression uniformly among the subject's others, then the target
    image uniformly among the subject's images of that expression.
    """

    def __init__(self, data: ImageSet, source_mode: str, generator: torch.Generator):
        pairs = _Pairs(data, source_mode)
        if not pairs.sources:
            raise _no_pairs(source_mode)
        self.generator = generator
        self._pairs = pairs
        self._sources = torch.tensor(pairs.sources, dtype=torch.int64)

    def __len__(self) -> int:
        """Number of usable source images."""
        return len(self._sources)

    def smallest_batch(self, batch_size: int) -> int:
        """The smallest batch :meth:`draw` returns for ``batch_size`` (always full here)."""
        return batch_size

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source_index, target_expression, target_index)``, each (batch_size,) int64.

        Takes ``3 * batch_size`` words from the generator (see the module docstring).
        """
        picks = torch.randint(len(self._sources), (batch_size,), generator=self.generator)
        words = torch.empty(batch_size, dtype=torch.int64)
        words.random_(_INT64_MIN, None, generator=self.generator)
        return (self._sources[picks], *self._pairs.targets(picks, words))

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to continue the stream (checkpointed by the trainer)."""
        return {"generator": self.generator.get_state()}

    def load_state(self, state: dict[str, Any] | torch.Tensor) -> None:
        """Continue from :meth:`state` (or a bare generator state, as earlier versions saved)."""
        self.generator.set_state(state if isinstance(state, torch.Tensor) else state["generator"])


class ImageSampler:
    """Draws (source, target expression, target image) index triples from every training
    image of ``source_mode``: ``mode`` ``"epochs"`` (shuffled epochs) or ``"uniform"``
    (independent draws with replacement); see the module docstring.

    The pool is every image for ``source_mode "any"`` and, for ``"neutral"`` (paired
    models), every neutral image whose subject has another expression. In ``epochs`` the
    state is the generator plus the current order and position, so a run resumed
    mid-epoch continues the same epoch.
    """

    def __init__(
        self,
        data: ImageSet,
        source_mode: str,
        generator: torch.Generator,
        mode: str = "epochs",
        drop_last: bool = False,
    ):
        if mode not in ("epochs", "uniform"):
            raise ValueError(f"mode must be 'epochs' or 'uniform', got {mode!r}")
        pairs = _Pairs(data, source_mode)
        usable = torch.tensor(pairs.sources, dtype=torch.int64)
        if source_mode == "neutral":
            if not pairs.sources:
                raise _no_pairs(source_mode)
            pool, rows = usable, torch.arange(len(usable))
        else:
            pool = torch.arange(len(data))
            rows = torch.full((len(data),), -1, dtype=torch.int64)
            rows[usable] = torch.arange(len(usable))
        classes = sorted(set(data.expressions.tolist()))
        if len(classes) < 2:
            raise UserError(
                "training needs images of at least two expressions; the training set has "
                f"{len(classes)}"
            )
        others = torch.zeros(max(classes) + 1, len(classes) - 1, dtype=torch.int64)
        for expression in classes:
            others[expression] = torch.tensor([c for c in classes if c != expression])
        self.generator = generator
        self.mode = mode
        self.drop_last = drop_last
        self._pairs = pairs
        self._pool = pool
        self._rows = rows
        self._expressions = data.expressions.to(torch.int64)
        self._others = others
        self._order = torch.empty(0, dtype=torch.int64)  # the current epoch's pool positions
        self._position = 0  # of the next batch in _order

    def __len__(self) -> int:
        """Number of images in the pool (one epoch without dropped images)."""
        return len(self._pool)

    def smallest_batch(self, batch_size: int) -> int:
        """The smallest batch :meth:`draw` returns for ``batch_size``: the epoch's last
        (``len % batch_size`` images) in ``epochs`` without ``drop_last``, else full."""
        if self.mode == "epochs" and not self.drop_last and len(self) % batch_size:
            return len(self) % batch_size
        return batch_size

    def _epoch_positions(self, batch_size: int) -> torch.Tensor:
        """Pool positions of the next batch; a new shuffled order when the epoch is done."""
        size = len(self._pool)
        if self.drop_last and size < batch_size:
            raise UserError(
                f"batch size {batch_size} is larger than the {size} training images, and "
                "this model drops an epoch's incomplete last batch (its authors' drop_last)"
            )
        left = len(self._order) - self._position
        if left == 0 or (self.drop_last and left < batch_size):
            self._order = torch.randperm(size, generator=self.generator)
            self._position = 0
        positions = self._order[self._position : self._position + batch_size]
        self._position += len(positions)
        return positions

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source_index, target_expression, target_index)``, each (n,) int64 with
        ``n = batch_size``, or fewer for the last batch of an epoch (see :meth:`smallest_batch`)."""
        if self.mode == "uniform":
            positions = torch.randint(len(self._pool), (batch_size,), generator=self.generator)
        else:
            positions = self._epoch_positions(batch_size)
        words = torch.empty(len(positions), dtype=torch.int64)
        words.random_(_INT64_MIN, None, generator=self.generator)
        source = self._pool[positions]
        rows = self._rows[positions]
        paired = rows >= 0
        expression, target = self._pairs.targets(rows.clamp(min=0), words)
        others = self._others[self._expressions[source]]
        fallback = others[torch.arange(len(source)), ((words >> 32) & _WORD) % others.shape[1]]
        return (
            source,
            torch.where(paired, expression, fallback),
            torch.where(paired, target, source),
        )

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to continue the stream (checkpointed by the trainer)."""
        return {
            "generator": self.generator.get_state(),
            "order": self._order.clone(),
            "position": self._position,
        }

    def load_state(self, state: dict[str, Any] | torch.Tensor) -> None:
        """Continue from :meth:`state`."""
        if isinstance(state, torch.Tensor) or "order" not in state:
            raise UserError(
                "the saved training state was drawn with `training.sampling: independent`; "
                "resume with that setting, or delete train_state.pt (--fresh) to start over"
            )
        order = state["order"].to(torch.int64)
        if len(order) not in (0, len(self._pool)):
            raise UserError(
                f"the saved training state shuffled {len(order)} images, this run has "
                f"{len(self._pool)}; delete train_state.pt (--fresh) to start over"
            )
        self.generator.set_state(state["generator"])
        self._order = order.clone()
        self._position = int(state["position"])


def make_sampler(
    data: ImageSet, source_mode: str, generator: torch.Generator, mode: str, drop_last: bool
) -> PairSampler | ImageSampler:
    """The sampler of a resolved ``training.sampling`` mode (see :func:`resolve_sampling`)."""
    if mode == "independent":
        return PairSampler(data, source_mode, generator)
    if mode in ("epochs", "uniform"):
        return ImageSampler(data, source_mode, generator, mode, drop_last)
    raise UserError(f"unknown sampling mode {mode!r}; one of {', '.join(SAMPLING_MODES)}")
