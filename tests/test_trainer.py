"""The shared training loop: seeded batches, exact resume (also after SIGKILL), errors, samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from toy_model import ToyGenerator

from bench.core.errors import UserError
from bench.core.tensors import to_model_range
from bench.core.vocabulary import INDEX
from bench.distributed import Distributed
from bench.sampler import PairSampler
from bench.trainer import Trainer
from datasets.synthetic import generate
from datasets.tensors import load_image_set
from models.base import TrainContext

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate(
        root,
        seed=0,
        image_size=32,
        train_subjects=3,
        test_subjects=1,
        ood_subjects=1,
        styles=["statue"],
    )
    return root / "synthetic"


def run(
    data_root: Path, ckpt: Path, steps: int, checkpoint_every: int = 3, **extra
) -> ToyGenerator:
    torch.manual_seed(0)
    model = ToyGenerator(image_size=32)
    context = TrainContext(
        device=torch.device("cpu"),
        seed=0,
        checkpoint_dir=ckpt,
        steps=steps,
        batch_size=4,
        checkpoint_every=checkpoint_every,
        **extra,
    )
    Trainer(model, load_image_set(data_root, split="train"), context).run()
    return model


def test_sampler_pairs_are_same_subject_and_other_expression(train_set):
    data = load_image_set(train_set, split="train")
    sampler = PairSampler(data, "neutral", torch.Generator().manual_seed(1))
    sources, expressions, targets = sampler.draw(64)
    subjects = data.frame["subject"]
    assert all(data.expressions[s] == INDEX["neutral"] for s in sources)
    assert all(
        subjects[s] == subjects[t] for s, t in zip(sources.tolist(), targets.tolist(), strict=True)
    )
    assert torch.equal(data.expressions[targets], expressions)
    assert (expressions != INDEX["neutral"]).all()
    again = PairSampler(data, "neutral", torch.Generator().manual_seed(1)).draw(64)
    assert all(
        torch.equal(a, b) for a, b in zip(again, (sources, expressions, targets), strict=True)
    )


def test_training_lowers_loss_and_writes_state_and_samples(train_set, tmp_path):
    before = run(train_set, tmp_path / "a", steps=0)
    after = run(train_set, tmp_path / "b", steps=12, sample_every=6)
    data = load_image_set(train_set, split="train")
    sampler = PairSampler(data, "neutral", torch.Generator().manual_seed(5))
    s, e, t = sampler.draw(16)
    from bench.core.tensors import to_model_range

    def l1(model):
        with torch.inference_mode():
            model.eval()
            return (
                (
                    model.translate(to_model_range(data.images[s]), e)
                    - to_model_range(data.images[t])
                )
                .abs()
                .mean()
            )

    assert l1(after) < l1(before)
    assert (tmp_path / "b" / "train_state.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "b" / "samples").iterdir()) == [
        "step_0000006.png",
        "step_0000012.png",
    ]


def test_resume_equals_uninterrupted(train_set, tmp_path):
    straight = run(train_set, tmp_path / "straight", steps=9)
    run(train_set, tmp_path / "resumed", steps=6)  # stops after the step-6 checkpoint
    resumed = run(train_set, tmp_path / "resumed", steps=9)
    for (name, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


class AnyToy(ToyGenerator):
    """The toy on sources of every expression, so that an epoch has 21 images."""

    source_mode = "any"


def run_any(data_root: Path, ckpt: Path, steps: int, sampling: str = "epochs") -> AnyToy:
    torch.manual_seed(0)
    model = AnyToy(image_size=32)
    context = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=ckpt, steps=steps, batch_size=4,
        checkpoint_every=3, sampling=sampling,
    )  # fmt: skip
    Trainer(model, load_image_set(data_root, split="train"), context).run()
    return model


def test_epochs_resume_mid_epoch_equals_uninterrupted(train_set, tmp_path):
    """21 images in batches of 4: an epoch is 5 full batches and one of 1 (6 steps)."""
    straight = run_any(train_set, tmp_path / "straight", steps=9)
    run_any(train_set, tmp_path / "resumed", steps=3)  # stops half-way through epoch 1
    sampler = _state(tmp_path / "resumed")["rng"][0]["sampler"]
    assert sampler["position"] == 12 and len(sampler["order"]) == 21
    resumed = run_any(train_set, tmp_path / "resumed", steps=9)
    for (name, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    other = run_any(train_set, tmp_path / "independent", steps=9, sampling="independent")
    assert not torch.equal(other.net[0].weight, straight.net[0].weight)  # other batches


def test_an_epochs_last_batch_is_split_over_the_processes(train_set, tmp_path):
    """Every process draws the same global batch and keeps its slice, the smaller last
    batch of an epoch too (21 = 5 x 4 + 1 would leave a process without an image)."""
    data = load_image_set(train_set, split="train")
    context = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path, steps=1, batch_size=6,
        sampling="epochs",
    )  # fmt: skip
    slices = []
    for rank in range(3):
        trainer = Trainer(AnyToy(image_size=32), data, context)
        trainer.dist = Distributed(rank=rank, world_size=3)
        sampler = trainer.make_sampler()
        slices.append(
            [trainer._batch(data.images, data.expressions, sampler) for _ in range(4)]
        )  # 21 = 3 x 6 + 3: the fourth batch holds 3 images, one per process
    for step in range(4):
        sizes = [len(slices[rank][step]) for rank in range(3)]
        assert sizes == ([2, 2, 2] if step < 3 else [1, 1, 1])
    sources = torch.cat([b.source for step in range(4) for b in (s[step] for s in slices)])
    faces = to_model_range(data.images)
    assert torch.equal(
        torch.sort(sources.flatten(1).sum(1)).values, torch.sort(faces.flatten(1).sum(1)).values
    )  # the three processes together saw every image once
    crowded = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path, steps=1, batch_size=4,
        sampling="epochs",
    )  # fmt: skip
    trainer = Trainer(AnyToy(image_size=32), data, crowded)
    trainer.dist = Distributed(rank=0, world_size=2)
    with pytest.raises(UserError, match="last batch of each epoch holds 1"):
        trainer.make_sampler()


def test_bf16_is_off_and_sampling_follows_the_authors_by_default(tmp_path):
    import yaml
    from conftest import REPO

    from bench.config import resolve
    from bench.stages import train_settings
    from bench.train import train_context

    context = TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path)
    assert context.bf16 is False and context.sampling == "authors"
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert raw["training"]["bf16"] is False
    assert train_context(resolve(raw), "stargan", torch.device("cpu")).bf16 is False
    del raw["training"]["bf16"], raw["training"]["sampling"]  # the schema's defaults
    config = resolve(raw)

    def loop(name: str) -> dict:
        settings = train_settings(config, name)
        return {k: settings[k] for k in ("sampling", "bf16") if k in settings}

    assert loop("stargan") == {"sampling": "epochs", "bf16": False}
    assert loop("ganimation") == {"sampling": "uniform", "bf16": False}
    assert loop("mr") == {}  # no training loop
    raw["training"]["sampling"] = "independent"
    assert train_settings(resolve(raw), "stargan")["sampling"] == "independent"


def test_bad_state_files_are_clear_errors(train_set, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "train_state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="unreadable"):
        run(train_set, ckpt, steps=2)
    run(train_set, tmp_path / "other", steps=3)
    torch.manual_seed(0)
    wider = ToyGenerator(image_size=32, width=8)
    context = TrainContext(
        device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path / "other", steps=4
    )
    Trainer(wider, load_image_set(train_set, split="train"), context).run()  # starts fresh
    saved = torch.load(tmp_path / "other" / "train_state.pt", weights_only=True)
    assert saved["step"] == 4 and saved["config"] == wider.config()


def _state(ckpt: Path) -> dict:
    return torch.load(ckpt / "train_state.pt", weights_only=True)


def test_resume_only_from_a_state_with_the_same_fingerprint(train_set, tmp_path, capsys):
    """Another seed/data/params in the fingerprint -> a fresh start equal to an uninterrupted run."""
    straight = run(train_set, tmp_path / "straight", steps=6, fingerprint={"seed": 0})
    ckpt = tmp_path / "ckpt"
    run(train_set, ckpt, steps=6, checkpoint_every=3, fingerprint={"seed": 99})
    assert _state(ckpt)["fingerprint"] == {"seed": 99}
    resumed = run(train_set, ckpt, steps=6, fingerprint={"seed": 0})
    assert "starting fresh" in capsys.readouterr().err
    for (name, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_resume_says_so_and_refuses_a_state_past_the_requested_steps(train_set, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    run(train_set, ckpt, steps=6, checkpoint_every=3, fingerprint={"seed": 0})
    capsys.readouterr()
    run(train_set, ckpt, steps=6, fingerprint={"seed": 0})
    assert "resuming from step 6" in capsys.readouterr().err
    with pytest.raises(UserError, match="past the requested 4 steps"):
        run(train_set, ckpt, steps=4, fingerprint={"seed": 0})


def test_more_steps_extend_the_saved_run_and_say_so(train_set, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    run(train_set, ckpt, steps=3, checkpoint_every=3)
    run(train_set, ckpt, steps=6)
    said = " ".join(capsys.readouterr().err.split())
    assert "resuming from step 3" in said and "scheduled for 3 steps, this run goes to 6" in said
    assert _state(ckpt)["step"] == 6 and _state(ckpt)["total_steps"] == 6


SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from bench.trainer import Trainer
    from datasets.tensors import load_image_set
    from models.base import TrainContext
    from toy_model import ToyGenerator

    class Slow(ToyGenerator):
        def train_step(self, *args, **kwargs):
            time.sleep({delay})
            return super().train_step(*args, **kwargs)

    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    model = Slow(image_size=32)
    context = TrainContext(device=torch.device("cpu"), seed=0, checkpoint_dir=Path({ckpt!r}),
                           steps={steps}, batch_size=4, checkpoint_every=2)
    Trainer(model, load_image_set({data!r}, split="train"), context).run()
    torch.save(model.state_dict(), Path({ckpt!r}) / "final.pt")
    """
)


def launch(data: Path, ckpt: Path, steps: int, delay: float) -> subprocess.Popen:
    code = SCRIPT.format(tests=str(TESTS), data=str(data), ckpt=str(ckpt), steps=steps, delay=delay)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_sigkill_then_restart_matches_uninterrupted_run(train_set, tmp_path):
    straight = launch(train_set, tmp_path / "straight", steps=12, delay=0.0)
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()
    killed_dir = tmp_path / "killed"
    victim = launch(train_set, killed_dir, steps=12, delay=0.3)
    deadline = time.time() + 120
    while not (killed_dir / "train_state.pt").is_file() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (killed_dir / "final.pt").exists(), "the run finished before it was killed"
    step = torch.load(killed_dir / "train_state.pt", weights_only=True)["step"]
    assert 0 < step < 12
    assert not list(killed_dir.glob(".train_state*")), "a half-written state file was left behind"
    restarted = launch(train_set, killed_dir, steps=12, delay=0.0)
    assert restarted.wait(timeout=300) == 0, restarted.stderr.read().decode()
    a = torch.load(tmp_path / "straight" / "final.pt", weights_only=True)
    b = torch.load(killed_dir / "final.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
