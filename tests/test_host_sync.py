"""No host sync inside a training step, checked on the CPU (tests/test_cuda.py checks the
same on a GPU): every trainable smoke model runs the trainer's real steps with
:class:`host_sync.HostSyncRecorder` watching from the batch's transfer to the device
until the step's losses are handed over (logging steps read them after that)."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO
from host_sync import HostSyncRecorder
from torch import nn

from bench.commands.perf_train import build, random_image_set
from bench.config import load_config, updated
from bench.core.device import to_device_async
from bench.trainer import Trainer
from models.base import TrainContext

SMOKE = load_config(REPO / "params.yaml", "smoke")
TRAINABLE = [m for m in SMOKE.table_models if m not in ("identity", "mr")]
IMAGE_SIZE = 32


class RecordedTrainer(Trainer):
    """Starts the recorder when the drawn batch goes to the device (the draws themselves
    are host work by design: a CPU generator)."""

    recorder: HostSyncRecorder

    def _to_device(self, indices: torch.Tensor) -> torch.Tensor:
        self.recorder.start()
        return super()._to_device(indices)


def recorded_steps(name: str, folder) -> tuple[HostSyncRecorder, int]:
    """(recorder, steps) after enough steps for every update of ``name`` to run."""
    data = random_image_set(IMAGE_SIZE, 0)
    torch.manual_seed(0)
    model = build(updated(SMOKE, {"image_size": IMAGE_SIZE}), name, data)
    steps = int(getattr(getattr(model, "hp", None), "n_critic", 1)) + 1  # a generator update too
    context = TrainContext(
        device=torch.device("cpu"),
        seed=0,
        checkpoint_dir=folder,
        steps=steps,
        batch_size=4,
        checkpoint_every=0,
        log_every=steps,
    )
    trainer = RecordedTrainer(model, data, context)
    trainer.recorder = recorder = HostSyncRecorder()
    try:
        trainer.run(lambda done, losses: recorder.stop())
    finally:
        recorder.stop()
    return recorder, steps


@pytest.mark.parametrize("name", TRAINABLE)
def test_training_step_makes_no_host_sync(name, tmp_path):
    recorder, steps = recorded_steps(name, tmp_path)
    assert recorder.windows == steps  # every step was watched
    events = sorted(set(recorder.events))
    assert not events, f"{name}: host syncs inside the training step: {events}"


def recorded(work) -> list[str]:
    """Events of ``work(weights)`` run inside the recorder, ``weights`` a device tensor."""
    weights = torch.randn(4, 3, requires_grad=True)  # made before the window: on the device
    recorder = HostSyncRecorder()
    recorder.start()
    try:
        work(weights)
    finally:
        recorder.stop()
    return [event.split(" at ")[0] for event in recorder.events]


def test_recorder_flags_what_waits_for_the_device_on_cuda():
    device = torch.device("cpu")  # stands for the model's device
    assert recorded(lambda w: float(w.detach().sum())) == [
        "aten._local_scalar_dense (item/float/int/bool of a device tensor)"
    ]
    assert recorded(lambda w: w.tolist()) == ["Tensor.tolist() of a device tensor"]
    assert recorded(lambda w: w.to("cpu")) == ["Tensor.to() of a device tensor"]
    assert recorded(lambda w: w[w > 0]) == ["aten.index with a boolean mask (nonzero)"]
    assert recorded(lambda w: torch.randperm(4).to(device)) == [
        "blocking host-to-device copy (Tensor.to, no non_blocking)"
    ]
    assert recorded(lambda w: w[torch.randperm(4)]) == [
        "__getitem__: host tensor(s) [(4,)] used with device tensors"
    ]
    assert recorded(lambda w: nn.functional.one_hot(w.argmax(1)))  # reads the largest label


def test_recorder_passes_host_work_and_asynchronous_copies():
    def step(w):
        optimizer = torch.optim.Adam([w])  # step counters on the host, read with item()
        w.square().sum().backward()
        optimizer.step()
        labels = to_device_async(torch.randperm(4), w.device)
        nn.functional.one_hot(labels, 7)  # the range check is CPU-only
        int(torch.randint(3, (1,)))  # a host value read on the host
        return w[labels] * torch.tensor(2.0)  # a host scalar is fine

    assert recorded(step) == []
