"""Generators trained by the harness's shared loop: the hooks a model implements.

A trainable model declares its networks (:meth:`TrainableGenerator.training_modules`),
its optimizers and one optimisation step; the trainer owns everything else:
seeded batch sampling, atomic checkpoints, exact resume, optional bf16 autocast on CUDA,
the progress bar, sample grids and DistributedDataParallel under ``torchrun``.
The orchestration runs the loop on the model (``bench.trainer.fit``); a model
never imports it.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from models.base import Generator


@dataclass
class TrainBatch:
    """One training batch on the training device.

    ``source``: real faces (B, 3, H, W) in [-1, 1] (neutral ones when the model's
    ``source_mode`` is ``"neutral"``); ``target``: the same subject's real image
    of ``target_expression`` (for paired losses); expressions are int64 (B,).
    ``target_expression`` never equals ``source_expression``. A subject with a single
    expression (``epochs`` / ``uniform`` sampling, ``source_mode "any"``) has no pair:
    its target expression is another expression of the training set and ``target`` is
    the source itself. B is smaller for an epoch's last batch (``epochs`` sampling).
    """

    source: torch.Tensor
    source_expression: torch.Tensor
    target_expression: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def flip(self, mask: torch.Tensor) -> TrainBatch:
        """This batch with the images where ``mask`` (B,) bool is true mirrored left-right
        (source and its paired target together; labels unchanged)."""
        where = mask.to(self.source.device)[:, None, None, None]
        return TrainBatch(
            source=torch.where(where, self.source.flip(-1), self.source),
            source_expression=self.source_expression,
            target_expression=self.target_expression,
            target=torch.where(where, self.target.flip(-1), self.target),
        )


class TrainableGenerator(Generator):
    """A generator optimised step by step by :class:`bench.trainer.Trainer`."""

    kind: ClassVar[str] = "trained"
    source_mode: ClassVar[str] = "any"
    """``"any"``: sources of every expression (StarGAN-style); ``"neutral"``: neutral -> target pairs."""
    authors_sampling: ClassVar[str] = "independent"
    """How the model's authors draw training batches, used under ``training.sampling:
    authors`` (:mod:`bench.sampler`): ``epochs`` (every image once per epoch, reshuffled),
    ``uniform`` (every image, with replacement) or ``independent`` (fes-bench's pair draws;
    the default for models without authors' code or that need same-subject pairs)."""
    epoch_drop_last: ClassVar[bool] = False
    """Under ``epochs`` sampling, drop each epoch's incomplete last batch (the authors'
    ``DataLoader(drop_last=True)``); otherwise it is trained on, smaller."""
    augment_flip: bool = False
    """Mirror each training image left-right with probability 1/2 (the loop draws the coin
    from its seeded sampler); the StarGAN family's and GANimation's data loaders do."""

    def amp(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (bf16 on CUDA when ``training.bf16``;
        set by the trainer)."""
        return contextlib.nullcontext()

    def prepare(self, data: Any, device: torch.device) -> None:
        """One-off work before the loop (e.g. a closed-form fit); runs on every (re)start."""

    @abc.abstractmethod
    def training_modules(self) -> dict[str, nn.Module]:
        """The networks the loop optimises, by name (the trainer may wrap them in DDP)."""

    @abc.abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name (their state is checkpointed and restored)."""

    @abc.abstractmethod
    def train_step(
        self,
        nets: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batch: TrainBatch,
        step: int,
        total_steps: int,
    ) -> dict[str, torch.Tensor]:
        """One optimisation step (0-based ``step`` of ``total_steps``); returns losses to display.

        Losses are detached 0-dim tensors left on the device (never ``.item()``: that
        waits for the device every step); the trainer reads them every ``log_every`` steps.

        Use ``nets[name]`` (possibly DDP-wrapped) for forward passes; all randomness
        must come from torch's global RNG so a resumed run repeats an uninterrupted one.
        """
