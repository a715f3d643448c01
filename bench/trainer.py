"""The training loop shared by every trainable model.

Seeded batches (:mod:`bench.sampler`: shuffled epochs, uniform or independent pair
draws, ``training.sampling``), a resumable state written atomically every
``checkpoint_every`` steps or ``checkpoint_minutes`` (model, optimizers, step, the
sampler's state and every process's own RNG states), exact continuation after a kill,
also mid-epoch (on CPU a resumed run ends with the same weights as an uninterrupted
one), optional bf16 autocast (``training.bf16``, off by default: the authors train in
float32) and channels_last on CUDA, a progress bar with the losses, sample grids, and
DistributedDataParallel when launched by ``torchrun``.

The step itself never waits for the device: the losses stay on it and are read
once every ``log_every`` steps; batch indices go to the device from pinned memory.
Under DDP every process draws the same global batch from one seeded stream and
keeps its own slice, so N processes with global batch B see the images one
process with batch B would. An epoch's smaller last batch (``epochs`` sampling) is
split as evenly as it goes (slices differ by at most one image; DDP then averages
the per-process means) and must give every process at least one image.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid

from bench import distributed
from bench.core import atomic
from bench.core.device import autocast, to_device_async, tune_cuda
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar
from bench.core.tensors import ImageSet, to_model_range, to_uint8
from bench.fingerprint import difference
from bench.sampler import ImageSampler, PairSampler, make_sampler, resolve_sampling
from datasets.png import save_png
from models.base import Generator, TrainContext
from models.trainable import TrainableGenerator, TrainBatch

STATE_FILE = "train_state.pt"
HISTORY_FILE = "history.csv"
STATE_FORMAT = "fes-bench-train-state/2"
SAMPLE_SOURCES = 4
Sampler = PairSampler | ImageSampler


class LossMeter:
    """Running sums of the step losses since the last read, kept on the device (no host sync)."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, losses: Mapping[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().float()
            self._sums[name] = self._sums[name] + value if name in self._sums else value
            self._counts[name] = self._counts.get(name, 0) + 1

    def read(self) -> dict[str, float]:
        """Mean of each loss over the steps since the last read (one host sync), then reset."""
        if not self._sums:
            return {}
        names = list(self._sums)
        means = (
            torch.stack([self._sums[n] for n in names]).cpu()
            / torch.tensor([float(self._counts[n]) for n in names])
        ).tolist()
        self._sums.clear()
        self._counts.clear()
        return dict(zip(names, means, strict=True))


class History:
    """``history.csv`` beside ``train_state.pt``: one row per loss read (every ``log_every``
    steps and the last): ``step``, each loss (the mean since the previous row), ``lr_<optimizer>``
    and ``s_per_step`` (wall time per step since the previous row). Only values the loop
    already has on the host are written: no extra device sync. On resume the rows after the
    resumed step go (those steps run again); a start from step 0 starts a new file."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.columns: list[str] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if start == 0 or not path.is_file():
            path.unlink(missing_ok=True)
            return
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            self.columns = list(reader.fieldnames or []) or None
            rows = [row for row in reader if int(float(row["step"])) <= start]
        buffer = io.StringIO()
        if self.columns:
            writer = csv.DictWriter(buffer, self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        atomic.write_text(path, buffer.getvalue())

    def add(
        self, step: int, losses: Mapping[str, float], rates: Mapping[str, float], seconds: float
    ) -> None:
        row = {"step": step, **losses, **{f"lr_{k}": v for k, v in rates.items()}}
        row["s_per_step"] = round(seconds, 6)
        new = self.columns is None
        if new:
            self.columns = list(row)
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, self.columns, extrasaction="ignore", lineterminator="\n"
            )
            if new:
                writer.writeheader()
            writer.writerow(row)


def _learning_rates(optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, float]:
    """The first parameter group's learning rate of each optimizer (host floats)."""
    rates = {}
    for name, optimizer in optimizers.items():
        rate = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        if isinstance(rate, int | float):
            rates[name] = float(rate)
    return rates


def place(model: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> None:
    """Move ``model`` to ``device``; with channels_last, store its initialised 4-D tensors so
    (lazy modules, e.g. DAI2I's LazyBatchNorm2d, are left to initialise on first use)."""
    model.to(device)
    if memory_format != torch.channels_last:
        return
    for tensor in (*model.parameters(), *model.buffers()):
        if (
            not isinstance(tensor, torch.nn.parameter.UninitializedTensorMixin)
            and tensor.dim() == 4
        ):
            tensor.data = tensor.data.contiguous(memory_format=memory_format)


class Trainer:
    """Runs ``context.steps`` optimisation steps of ``model`` on ``data`` (see module doc)."""

    def __init__(self, model: TrainableGenerator, data: ImageSet, context: TrainContext):
        self.model = model
        self.data = data
        self.context = context
        self.dist = distributed.setup(context.device)
        self.device = self.dist.device(context.device)
        self.state_path = Path(context.checkpoint_dir) / STATE_FILE
        if context.batch_size % self.dist.world_size:
            raise UserError(
                f"training.batch_size {context.batch_size} is not divisible by the "
                f"{self.dist.world_size} processes of this run"
            )
        self.batch_size = context.batch_size // self.dist.world_size
        self.memory_format = torch.contiguous_format

    # -- state -------------------------------------------------------------------------------
    def _rng_state(self, sampler: Sampler) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "sampler": sampler.state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _save_state(self, step: int, optimizers: dict, sampler: Sampler) -> None:
        """Write the state (collective: every process contributes its own RNG states)."""
        rng = self.dist.gather(self._rng_state(sampler))
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
            "rng": rng,
        }
        atomic.torch_save(payload, self.state_path)

    def _read_state(self) -> dict[str, Any] | None:
        """The saved state if it can continue this run; None (said in one line) if it was made
        with other settings or data, so training starts fresh."""
        try:
            payload = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated or foreign file
            raise UserError(
                f"training state {self.state_path} is unreadable ({type(error).__name__}: {error}); "
                "delete it to start over"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
            raise UserError(
                f"{self.state_path} is not a training state of this fes-bench version "
                f"({STATE_FORMAT}); delete it (or pass --fresh) to train from scratch"
            )
        reason = self._stale_reason(payload)
        if reason:
            console.print(
                f"{self.model.name}: starting fresh, not resuming {self.state_path}: {reason}"
            )
            return None
        if payload["world_size"] != self.dist.world_size:
            raise UserError(
                f"{self.state_path} was written by {payload['world_size']} process(es), "
                f"this run has {self.dist.world_size}; resume with the same number"
            )
        return payload

    def _load_state(self, optimizers: dict, sampler: Sampler) -> int:
        """Restore a previous run's state if there is one; return the step to start from.

        Each process restores its own RNG states (sampler, CPU, CUDA), so the processes
        keep drawing different noise after a resume, as they did before it; the sampler's
        state includes the current epoch's order and position (``epochs``).
        """
        if not self.state_path.is_file():
            return 0
        payload = self._read_state()
        if payload is None:
            return 0
        self.model.load_state_dict(payload["state_dict"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(payload["optimizers"][name])
        rng = payload["rng"][self.dist.rank]
        torch.set_rng_state(rng["torch"])
        sampler.load_state(rng["sampler"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        note = ""
        if payload.get("total_steps", self.context.steps) != self.context.steps:
            note = (
                f"; it was scheduled for {payload.get('total_steps')} steps, this run goes to "
                f"{self.context.steps} (the learning-rate schedule follows {self.context.steps} "
                "from here)"
            )
        console.print(
            f"{self.model.name}: resuming from step {payload['step']} ({self.state_path}){note}"
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
        return None

    # -- batches and samples -----------------------------------------------------------------
    def _to_device(self, indices: torch.Tensor) -> torch.Tensor:
        """Host index tensor -> device, asynchronously from pinned memory on CUDA."""
        return to_device_async(indices, self.device)

    def _batch(
        self, images: torch.Tensor, expressions: torch.Tensor, sampler: Sampler
    ) -> TrainBatch:
        """This process's slice of the next global batch, on the device (mirrored images
        drawn for the global batch too, when the model asks for flips)."""
        drawn = torch.stack(sampler.draw(self.context.batch_size))
        size = drawn.shape[1]  # smaller for an epoch's last batch
        if self.model.augment_flip:
            flips = torch.rand(size, generator=sampler.generator) < 0.5
            drawn = torch.cat([drawn, flips[None].long()])
        world, rank = self.dist.world_size, self.dist.rank
        start, end = rank * size // world, (rank + 1) * size // world
        local = self._to_device(drawn[:, start:end].contiguous())
        source, target_expression, target = local[:3]

        def faces(index: torch.Tensor) -> torch.Tensor:
            return to_model_range(images[index]).contiguous(memory_format=self.memory_format)

        batch = TrainBatch(
            source=faces(source),
            source_expression=expressions[source],
            target_expression=target_expression,
            target=faces(target),
        )
        return batch.flip(local[3].bool()) if self.model.augment_flip else batch

    def _save_samples(self, images: torch.Tensor, sources: torch.Tensor, step: int) -> None:
        """Grid: one row per fixed source; columns = input, then every expression."""
        with (
            torch.random.fork_rng(devices=[]),
            torch.inference_mode(),
            autocast(self.device, self.context.bf16),
        ):
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

    def make_sampler(self) -> Sampler:
        """The training sampler of ``context.sampling`` for this model, seeded from
        ``context.seed``; the same stream on every rank (each keeps its slice)."""
        model = self.model
        mode = resolve_sampling(self.context.sampling, model.authors_sampling)
        generator = torch.Generator().manual_seed(self.context.seed * 1_000_003)
        sampler = make_sampler(self.data, model.source_mode, generator, mode, model.epoch_drop_last)
        smallest = sampler.smallest_batch(self.context.batch_size)
        if smallest < self.dist.world_size:
            raise UserError(
                f"the last batch of each epoch holds {smallest} of the {len(sampler)} training "
                f"images, fewer than the {self.dist.world_size} processes; choose a batch size "
                "or number of processes that leaves each one an image, or "
                "`training.sampling: uniform`"
            )
        return sampler

    # -- loop --------------------------------------------------------------------------------
    def _checkpoint_due(self, done: int, logged: bool, last_save: float) -> bool:
        """Every ``checkpoint_every`` steps, at the end, or (on log steps) after the time limit;
        never when ``checkpoint_every`` is 0 (benchmarks: no resumable state at all)."""
        context = self.context
        if context.checkpoint_every <= 0:
            return False
        if done % context.checkpoint_every == 0 or done == context.steps:
            return True
        if not logged or context.checkpoint_minutes <= 0:
            return False
        late = time.monotonic() - last_save >= 60 * context.checkpoint_minutes
        return self.dist.agree(late)  # rank 0's clock decides for every process

    def run(
        self, observer: Callable[[int, Mapping[str, torch.Tensor]], None] | None = None
    ) -> None:
        """Train to ``context.steps`` steps, resuming from the saved state when present.

        ``observer(done_steps, losses)`` is called after every step with the step's losses
        (device tensors), e.g. by ``bench perf train`` to time the steps.
        """
        model, context = self.model, self.context
        torch.manual_seed(context.seed)  # same initial weights on every rank
        self.memory_format = tune_cuda(self.device, context.cuda_fast)
        place(model, self.device, self.memory_format)
        model.prepare(self.data, self.device)
        model.amp = lambda: autocast(self.device, context.bf16)
        nets = {
            name: self.dist.wrap(net, self.device) for name, net in model.training_modules().items()
        }
        optimizers = model.configure_optimizers()
        sampler = self.make_sampler()
        start = self._load_state(optimizers, sampler)
        if start == 0:
            torch.manual_seed(context.seed + self.dist.rank)
        images = self.data.images.to(self.device)  # decoded once, kept on the device (uint8)
        expressions = self.data.expressions.to(self.device)
        sample_sources = PairSampler(self.data, model.source_mode, torch.Generator().manual_seed(0))
        sample_sources = sample_sources.draw(SAMPLE_SOURCES)[0]
        total = context.steps
        bar = (
            progress_bar(f"train {model.name}", total)
            if self.dist.is_main
            else contextlib.nullcontext()
        )
        meter, last_save = LossMeter(), time.monotonic()
        history = (
            History(self.state_path.parent / HISTORY_FILE, start) if self.dist.is_main else None
        )
        last_log = (start, time.perf_counter())
        with bar as advance:
            if advance and start:
                advance(start)
            model.train()
            for step in range(start, total):
                batch = self._batch(images, expressions, sampler)
                losses = model.train_step(nets, optimizers, batch, step, total)
                meter.add(losses)
                done = step + 1
                if observer:
                    observer(done, losses)
                logged = done % max(1, context.log_every) == 0 or done == total
                if self._checkpoint_due(done, logged, last_save):
                    self._save_state(done, optimizers, sampler)
                    last_save = time.monotonic()
                if context.sample_every and self.dist.is_main and done % context.sample_every == 0:
                    self._save_samples(images, sample_sources, done)
                losses = meter.read() if logged else {}  # every process: no unbounded sums
                if logged and history is not None:
                    now = time.perf_counter()
                    per_step = (now - last_log[1]) / max(1, done - last_log[0])
                    history.add(done, losses, _learning_rates(optimizers), per_step)
                    last_log = (done, now)
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
