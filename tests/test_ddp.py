"""DistributedDataParallel on CPU: two gloo processes under torchrun (one launch for all checks).

The script below runs, in one process group: an uninterrupted 8-step run; a 4-step run
resumed to 8 steps; a deterministic toy run with global batch 4; one epoch of ``epochs``
sampling (84 images in global batches of 10: the ninth holds 4), uninterrupted and resumed
mid-epoch. Each process records
per step a checksum of its batch and one draw of torch's global RNG (the noise source
of dropout and the gradient penalty's mixing weights).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from toy_model import DeterministicToy

from bench.trainer import Trainer
from datasets.synthetic import generate
from datasets.tensors import load_image_set
from models.base import TrainContext

TESTS = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, torch
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from bench.trainer import Trainer
    from datasets.tensors import load_image_set
    from models.base import TrainContext
    from toy_model import DeterministicToy, ToyGenerator

    out, rank = Path({out!r}), int(os.environ["RANK"])
    data = load_image_set({data!r}, split="train")

    class Recording(ToyGenerator):
        records = []

        def train_step(self, nets, optimizers, batch, step, total_steps):
            images = batch.source.flatten(1).sum(1).tolist() + batch.target.flatten(1).sum(1).tolist()
            Recording.records.append([images, batch.target_expression.tolist(), float(torch.rand(()))])
            return super().train_step(nets, optimizers, batch, step, total_steps)

    class EpochRecording(Recording):
        source_mode = "any"

    def train(model_type, folder, steps, batch_size=4, sampling="authors"):
        torch.manual_seed(0)
        model = model_type(image_size=32)
        context = TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=out / folder,
                               steps=steps, batch_size=batch_size, checkpoint_every=2,
                               log_every=3, sampling=sampling)
        Trainer(model, data, context).run()
        return model

    straight = train(Recording, "straight", 8)
    straight_records, Recording.records = Recording.records, []
    train(Recording, "resumed", 4)
    resumed = train(Recording, "resumed", 8)
    resumed_records = Recording.records
    toy = train(DeterministicToy, "toy", 6)
    Recording.records = []
    train(EpochRecording, "epochs", 9, batch_size=10, sampling="epochs")
    epochs, Recording.records = Recording.records, []
    train(EpochRecording, "epochs_resumed", 4, batch_size=10, sampling="epochs")
    train(EpochRecording, "epochs_resumed", 9, batch_size=10, sampling="epochs")
    torch.save(
        {{"straight": straight.state_dict(), "resumed": resumed.state_dict(),
          "toy": toy.state_dict()}},
        out / f"weights{{rank}}.pt",
    )
    (out / f"records{{rank}}.json").write_text(
        json.dumps({{"straight": straight_records, "resumed": resumed_records,
                    "epochs": epochs, "epochs_resumed": Recording.records}})
    )
    """
)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[Path, Path]:
    """Run the script under torchrun with two CPU processes; return (output folder, data)."""
    root = tmp_path_factory.mktemp("ddp")
    generate(
        root, seed=0, image_size=32, train_subjects=12, test_subjects=1, ood_subjects=1,
        styles=["statue"],
    )  # fmt: skip
    data, out = root / "synthetic", root / "out"
    script = root / "ddp.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), data=str(data), out=str(out)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29531",
            str(script),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, data


def records(out: Path, rank: int) -> dict:
    return json.loads((out / f"records{rank}.json").read_text())


def test_ranks_draw_different_batches_and_noise_also_after_resume(two_ranks):
    out, _ = two_ranks
    first, second = records(out, 0), records(out, 1)
    for run in ("straight", "resumed"):
        assert len(first[run]) == len(second[run]) == 8
        for step, (a, b) in enumerate(zip(first[run], second[run], strict=True)):
            assert a[:2] != b[:2], f"{run} step {step}: both ranks trained on the same pairs"
            assert a[2] != b[2], f"{run} step {step}: both ranks drew the same random numbers"


def test_stop_and_resume_equals_uninterrupted_run(two_ranks):
    out, _ = two_ranks
    for rank in (0, 1):
        assert records(out, rank)["straight"] == records(out, rank)["resumed"]
    weights = torch.load(out / "weights0.pt", weights_only=True)
    for name, value in weights["straight"].items():
        assert torch.equal(value, weights["resumed"][name]), name
    other = torch.load(out / "weights1.pt", weights_only=True)
    assert all(torch.equal(v, other["resumed"][k]) for k, v in weights["resumed"].items())


def test_epochs_split_each_global_batch_and_resume_mid_epoch(two_ranks):
    """Both processes keep their half of one shuffled epoch (5 + 5 images per step, 2 + 2 in
    the last); together they see every training image once; a resumed run repeats it."""
    from bench.core.tensors import to_model_range

    out, data = two_ranks
    ranks = [records(out, rank) for rank in (0, 1)]
    for rank in ranks:
        assert rank["epochs"] == rank["epochs_resumed"]
        assert [len(step[1]) for step in rank["epochs"]] == [5] * 8 + [2]
    seen = sorted(x for rank in ranks for step in rank["epochs"] for x in step[0][: len(step[1])])
    images = to_model_range(load_image_set(data, split="train").images)
    assert len(seen) == len(images) == 84
    torch.testing.assert_close(torch.tensor(seen), images.flatten(1).sum(1).sort().values)


def test_two_ranks_with_global_batch_equal_one_process(two_ranks, tmp_path):
    out, data = two_ranks
    torch.manual_seed(0)
    single = DeterministicToy(image_size=32)
    context = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path, steps=6, batch_size=4
    )
    Trainer(single, load_image_set(data, split="train"), context).run()
    distributed = torch.load(out / "weights0.pt", weights_only=True)["toy"]
    for name, value in single.state_dict().items():
        torch.testing.assert_close(distributed[name], value, rtol=0, atol=1e-6, msg=name)


def test_resuming_with_another_world_size_is_refused(two_ranks, tmp_path):
    from bench.core.errors import UserError

    out, data = two_ranks
    torch.manual_seed(0)
    model = DeterministicToy(image_size=32)
    context = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=out / "toy", steps=8, batch_size=4
    )
    with pytest.raises(UserError, match="written by 2 process"):
        Trainer(model, load_image_set(data, split="train"), context).run()
