"""The CUDA paths (skipped without a GPU): one step per model with no host sync outside the
logging steps, resume on the GPU, and float32 synthesis within one uint8 level of the CPU.

The sync check runs each step under ``torch.cuda.set_sync_debug_mode("error")``: any
operation that waits for the device (``.item()``, ``float(tensor)``, a blocking copy to
the host, ``nonzero``) raises inside the step. The mode is switched on when the batch is
drawn and off after the step's losses are handed over, so logging steps may read them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import REPO
from toy_model import ToyGenerator

from bench.commands.perf_train import build, random_image_set
from bench.config import load_config
from bench.core.device import inference_precision
from bench.core.tensors import to_uint8
from bench.trainer import Trainer
from models.base import TrainContext

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SMOKE = load_config(REPO / "params.yaml", "smoke")
TRAINABLE = [m for m in SMOKE.table_models if m not in ("identity", "mr")]
CUDA = torch.device("cuda")


class SyncCheckedTrainer(Trainer):
    """Raises on any host sync between drawing a batch and the end of the step."""

    def _batch(self, *args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        return super()._batch(*args, **kwargs)


def context(folder: Path, steps: int, **extra) -> TrainContext:
    return TrainContext(
        device=CUDA, seed=0, checkpoint_dir=folder, steps=steps, batch_size=4, **extra
    )


@pytest.mark.parametrize("name", TRAINABLE)
def test_one_cycle_per_model_has_finite_losses_and_no_host_sync(name, tmp_path):
    data = random_image_set(SMOKE.image_size, 0)
    torch.manual_seed(0)
    model = build(SMOKE, name, data)
    steps = int(getattr(getattr(model, "hp", None), "n_critic", 1)) + 1  # a generator update too
    losses: dict[int, dict[str, float]] = {}

    def observe(done, step_losses):
        torch.cuda.set_sync_debug_mode("default")
        losses[done] = {k: float(v) for k, v in step_losses.items()}  # reading is allowed here

    try:
        SyncCheckedTrainer(model, data, context(tmp_path, steps, log_every=steps)).run(observe)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sorted(losses) == list(range(1, steps + 1))
    assert all(math.isfinite(v) for step in losses.values() for v in step.values()), losses


def test_resume_on_the_gpu_matches_an_uninterrupted_run(tmp_path):
    data = random_image_set(32, 0)

    def train(folder: Path, steps: int) -> ToyGenerator:
        torch.manual_seed(0)
        model = ToyGenerator(image_size=32)
        Trainer(model, data, context(folder, steps, checkpoint_every=2, cuda_fast=False)).run()
        return model

    straight = train(tmp_path / "straight", 6)
    train(tmp_path / "resumed", 4)
    resumed = train(tmp_path / "resumed", 6)
    state = torch.load(tmp_path / "resumed" / "train_state.pt", weights_only=True)
    assert "cuda" in state["rng"][0]
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["stargan", "ganimation", "reggan"])
def test_float32_synthesis_on_cuda_is_within_one_level_of_the_cpu(name):
    data = random_image_set(SMOKE.image_size, 0)
    torch.manual_seed(0)
    model = build(SMOKE, name, data).eval()
    if hasattr(model, "prepare"):
        model.prepare(data, torch.device("cpu"))
    images = data.images[:14].float() / 127.5 - 1
    labels = data.expressions[:14].roll(1)
    outputs = []
    for device in (torch.device("cpu"), CUDA):
        model.to(device)
        with torch.inference_mode(), inference_precision(device, bf16=False):
            out = model.translate(images.to(device), labels.to(device))
        outputs.append(to_uint8(out).cpu().int())
    assert (outputs[0] - outputs[1]).abs().max() <= 1
