"""The training loop shared by every trainable model.

Seeded batches (:class:`bench.sampler.PairSampler`), a resumable state written
atomically every ``checkpoint_every`` steps (model, optimizers, step, every RNG),
exact continuation after a kill (on CPU a resumed run ends with the same weights
as an uninterrupted one), bf16 autocast on CUDA, a progress bar with the losses,
sample grids, and DistributedDataParallel when launched by ``torchrun``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid

from bench import distributed
from bench.core import atomic
from bench.core.device import autocast
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar
from bench.core.tensors import ImageSet, to_model_range, to_uint8
from bench.fingerprint import difference
from bench.sampler import PairSampler
from datasets.png import save_png
from models.base import Generator, TrainContext
from models.trainable import TrainableGenerator, TrainBatch

STATE_FILE = "train_state.pt"
STATE_FORMAT = "fes-bench-train-state/1"
SAMPLE_SOURCES = 4


class Trainer:
    """Runs ``context.steps`` optimisation steps of ``model`` on ``data`` (see module doc)."""

    def __init__(self, model: TrainableGenerator, data: ImageSet, context: TrainContext):
        self.model = model
        self.data = data
        self.context = context
        self.dist = distributed.setup(context.device)
        self.device = self.dist.device(context.device)
        self.state_path = Path(context.checkpoint_dir) / STATE_FILE
        self.batch_size = max(1, context.batch_size // self.dist.world_size)

    # -- state -------------------------------------------------------------------------------
    def _rng_state(self, sampler: PairSampler) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "sampler": sampler.generator.get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _save_state(self, step: int, optimizers: dict, sampler: PairSampler) -> None:
        if not self.dist.is_main:
            return
        payload = {
            "format": STATE_FORMAT,
            "model": self.model.name,
            "config": self.model.config(),
            "step": step,
            "total_steps": self.context.steps,
            "fingerprint": self.context.fingerprint,
            "world_size": self.dist.world_size,
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "rng": self._rng_state(sampler),
        }
        atomic.torch_save(payload, self.state_path)

    def _load_state(self, optimizers: dict, sampler: PairSampler) -> int:
        """Restore a previous run's state if there is one; return the step to start from."""
        if not self.state_path.is_file():
            return 0
        try:
            payload = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated or foreign file
            raise UserError(
                f"training state {self.state_path} is unreadable ({type(error).__name__}: {error}); "
                "delete it to start over"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
            raise UserError(f"{self.state_path} is not a fes-bench training state; delete it")
        reason = self._stale_reason(payload)
        if reason:
            console.print(
                f"{self.model.name}: starting fresh, not resuming {self.state_path}: {reason}"
            )
            return 0
        if payload["world_size"] != self.dist.world_size:
            raise UserError(
                f"{self.state_path} was written by {payload['world_size']} process(es), "
                f"this run has {self.dist.world_size}; resume with the same number"
            )
        self.model.load_state_dict(payload["state_dict"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(payload["optimizers"][name])
        torch.set_rng_state(payload["rng"]["torch"])
        sampler.generator.set_state(payload["rng"]["sampler"])
        if "cuda" in payload["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(payload["rng"]["cuda"], self.device)
        console.print(
            f"{self.model.name}: resuming from step {payload['step']} ({self.state_path})"
        )
        return int(payload["step"])

    def _stale_reason(self, payload: dict[str, Any]) -> str | None:
        """Why a saved state cannot continue this run (None: it can); past the end is an error."""
        if payload["model"] != self.model.name or payload["config"] != self.model.config():
            return f"it was written for {payload['model']} with another configuration"
        if self.context.fingerprint:
            changed = difference(payload.get("fingerprint"), self.context.fingerprint)
            if changed:
                return f"it was made with other settings or data ({changed})"
        if int(payload["step"]) > self.context.steps:
            raise UserError(
                f"{self.state_path} is at step {payload['step']}, past the requested "
                f"{self.context.steps} steps; delete it (or pass --fresh) or raise the steps"
            )
        if payload.get("total_steps", self.context.steps) != self.context.steps:
            return (
                f"it was scheduled for {payload.get('total_steps')} steps, this run for "
                f"{self.context.steps} (the learning-rate schedule depends on it)"
            )
        return None

    # -- batches and samples -----------------------------------------------------------------
    def _batch(self, images: torch.Tensor, sampler: PairSampler) -> TrainBatch:
        source, target_expression, target = sampler.draw(self.batch_size)
        batch = TrainBatch(
            source=to_model_range(images[source.to(images.device)]),
            source_expression=self.data.expressions[source].to(self.device),
            target_expression=target_expression.to(self.device),
            target=to_model_range(images[target.to(images.device)]),
        )
        if self.model.augment_flip:
            batch = batch.flip(torch.rand(len(batch), generator=sampler.generator) < 0.5)
        return batch

    def _save_samples(self, images: torch.Tensor, sources: torch.Tensor, step: int) -> None:
        """Grid: one row per fixed source; columns = input, then every expression."""
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), autocast(self.device):
            self.model.eval()
            x = to_model_range(images[sources.to(images.device)])
            columns = [x]
            for expression in range(self.model.num_expressions):
                labels = torch.full((len(x),), expression, dtype=torch.int64, device=self.device)
                columns.append(self.model.translate(x, labels).float())
            self.model.train()
        tiles = torch.stack(columns, dim=1).flatten(0, 1)
        grid = make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0)
        pixels = to_uint8(grid).permute(1, 2, 0).cpu().numpy()
        save_png(pixels, Path(self.context.checkpoint_dir) / "samples" / f"step_{step:07d}.png")

    # -- loop --------------------------------------------------------------------------------
    def run(self) -> None:
        """Train to ``context.steps`` steps, resuming from the saved state when present."""
        model, context = self.model, self.context
        torch.manual_seed(context.seed)  # same initial weights on every rank
        model.to(self.device)
        model.prepare(self.data, self.device)
        model.amp = lambda: autocast(self.device)
        nets = {
            name: self.dist.wrap(net, self.device) for name, net in model.training_modules().items()
        }
        optimizers = model.configure_optimizers()
        sampler = PairSampler(
            self.data,
            model.source_mode,
            torch.Generator().manual_seed(context.seed * 1_000_003 + self.dist.rank),
        )
        start = self._load_state(optimizers, sampler)
        if start == 0:
            torch.manual_seed(context.seed + self.dist.rank)
        images = self.data.images.to(self.device)  # decoded once, kept on the device (uint8)
        sample_sources = PairSampler(self.data, model.source_mode, torch.Generator().manual_seed(0))
        sample_sources = sample_sources.draw(SAMPLE_SOURCES)[0]
        total = context.steps
        bar = (
            progress_bar(f"train {model.name}", total)
            if self.dist.is_main
            else contextlib.nullcontext()
        )
        with bar as advance:
            if advance and start:
                advance(start)
            model.train()
            for step in range(start, total):
                losses = model.train_step(
                    nets, optimizers, self._batch(images, sampler), step, total
                )
                done = step + 1
                if done % max(1, context.checkpoint_every) == 0 or done == total:
                    self._save_state(done, optimizers, sampler)
                if context.sample_every and self.dist.is_main and done % context.sample_every == 0:
                    self._save_samples(images, sample_sources, done)
                if advance:
                    advance(1, **losses)
        self.dist.barrier()
        model.eval()


def fit(model: Generator, data: ImageSet, context: TrainContext) -> None:
    """Train ``model`` on ``data``: the shared loop for a trainable model, its own fit otherwise."""
    if isinstance(model, TrainableGenerator):
        Trainer(model, data, context).run()
    else:
        model.fit(data, context)
