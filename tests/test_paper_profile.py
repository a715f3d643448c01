"""The paper profile builds every model at 128 px, trains one step through the real loop and
translates (CPU; batch 2 keeps it short: the sizes are the published ones)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import REPO

from bench.commands.perf_train import timed_run
from bench.config import load_config, updated

PAPER = load_config(REPO / "params.yaml", "paper")
MODELS = [m for m in PAPER.table_models if m not in ("identity", "mr")]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_paper_model_trains_one_step_and_translates(name):
    config = updated(PAPER, {"training.batch_size": 2, "training.batch_sizes": {}})
    assert config.image_size == 128
    _, losses, model = timed_run(config, name, torch.device("cpu"), steps=1, bf16=True)
    assert losses and all(math.isfinite(v) for v in losses.values()), losses
    images = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.inference_mode():
        out = model.eval().translate(images, torch.tensor([1, 2]))
    assert out.shape == images.shape and torch.isfinite(out).all()


def test_paper_profile_checkpoints_every_5000_steps_or_10_minutes():
    training = PAPER.training
    assert (training.checkpoint_every, training.checkpoint_minutes) == (5000, 10)
