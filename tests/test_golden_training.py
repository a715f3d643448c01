"""Our real training step against the authors' own training loops (tests/golden/README.md).

The ``*_train_loop.pt`` files were made by running the authors' loops outside this repository
(StarGAN's, US-GAN's and SARGAN's ``Solver.train``, GANimation's ``Train._train`` with its data
set class), in float64, for enough iterations that their learning-rate schedules lower the rates:
StarGAN 1010 iterations (a drop after 1000), US-GAN and SARGAN 5010 (after 5000), GANimation 30
epochs of 5 iterations (a drop after each of epochs 21-30). Each model is built from its own
defaults and from params.yaml's paper profile, with only the widths and the image size shrunk
to the golden's, and :meth:`train_step` is called as ``bench.trainer.Trainer`` calls it:

* for every iteration of the run, with the optimisation itself stubbed out: the learning rates
  it sets must be the ones the authors' loop used;
* for two windows in full, from the authors' weights and Adam moments at the window's start:
  the first iterations (four critic-only ones, then one with the generator step) and the
  iterations at the rate change. Their batch (images, labels, flips) goes in as a
  :class:`TrainBatch`; their random draws replace ours (:func:`authors_draws`). After every
  iteration the losses, both learning rates and both networks' weights must match theirs.

Precision: both sides run in float64 (:func:`float64`), so each tolerance below is a bound on
what the arithmetic and the golden's storage can differ by (derived there, with the largest
difference measured), on any CPU and thread count, and still at least a hundred times smaller
than what a changed setting produces. Run time: ~5 s for the 16 tests.
"""

from __future__ import annotations

import contextlib
import functools
import math
from pathlib import Path
from unittest import mock

import pytest
import torch

from bench.config import load_config
from bench.core.tensors import to_model_range
from models.authors import convert, critic_prefixes, rename
from models.registry import MODELS
from models.trainable import TrainBatch

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[1]
FAMILY = ["stargan", "usgan", "sargan"]
SOURCES = ["defaults", "params"]

LR_RTOL = 1e-12
"""Rates: theirs accumulate ``lr -= lr0 / decay`` in Python floats, ours compute ``lr0 - k * lr0
/ decay``; at most ten subtractions apart, i.e. ~1e-15 relative."""
LOSS_RTOL = 1e-9
"""Losses: float64 sums in another order (one critic call on real and fake together, ``norm``
for their ``sqrt(sum(g**2))``, any thread count) differ by ~1e-16 relative per operation; after
six iterations measured <= 1.7e-14."""
WEIGHT_ATOL = 1e-9
"""Weights: the golden stores each iteration's change from the window's start in float32;
|change| <= 2e-3, so its rounding is <= 2e-3 * 2**-24 = 1.2e-10 (measured 5.8e-11, all of the
difference). The float64 arithmetic adds ~1e-12 at most: an Adam step moves a weight by
lr * m / (sqrt(v) + eps), whose derivative in the gradient is at most lr / eps = 1e4, so a
1e-16 gradient difference moves it by <= 1e-12, even where a gradient is ~0 (in float32 such
weights flip the sign of Adam's first step: +-lr, which is why float32 cannot be compared
tightly). A changed setting moves weights by ~1e-7 (0.2% of a rate) to ~1e-4 (a step)."""

FAMILY_LOSSES = {
    "D/loss_real": "d_real",
    "D/loss_fake": "d_fake",
    "D/loss_cls": "d_cls",
    "D/loss_gp": "d_gp",
    "G/loss_fake": "g_fake",
    "G/loss_cls": "g_cls",
    "G/loss_rec": "g_rec",
}
GANIMATION_LOSSES = {
    "loss_d_real": "d_real",
    "loss_d_fake": "d_fake",
    "loss_d_cond": "d_au",
    "loss_d_gp": "d_gp",
    "loss_g_masked_fake": "g_fake",
    "loss_g_masked_cond": "g_au",
    "loss_g_cyc": "g_cyc",
    "loss_g_mask_1": "g_mask",
    "loss_g_mask_2": "g_mask_cycle",
    "loss_g_mask_1_smooth": "g_smooth",
    "loss_g_mask_2_smooth": "g_smooth_cycle",
}


def paper_settings(name: str) -> dict:
    """params.yaml's paper-profile ``model_settings`` of ``name`` (the only config read here)."""
    return load_config(REPO / "params.yaml", profile="paper").settings_of(name)


@functools.cache
def golden(name: str) -> dict:
    return torch.load(GOLDEN / f"{name}_train_loop.pt", map_location="cpu", weights_only=True)


@contextlib.contextmanager
def float64():
    """Build and run our model in float64. Our step calls ``.float()`` on network outputs so
    that bf16 forward passes give float32 losses; on float64 tensors that would round to
    float32, so here ``.float()`` leaves float64 tensors as they are (and still converts others)."""
    dtype, cast = torch.get_default_dtype(), torch.Tensor.float

    def keep_float64(tensor, *args, **kwargs):
        return tensor if tensor.dtype == torch.float64 else cast(tensor, *args, **kwargs)

    torch.set_default_dtype(torch.float64)
    try:
        with mock.patch.object(torch.Tensor, "float", keep_float64):
            yield
    finally:
        torch.set_default_dtype(dtype)


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Tiny tensors: threads only add overhead (several times slower on a busy 2-core machine).
    The comparison does not depend on it: it passes with 1, 2 and 4 threads, measured alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(name: str, source: str):
    """``name`` from its own defaults or params.yaml's paper profile, shrunk to the golden's sizes."""
    hp = golden(name)["hparams"]
    settings = paper_settings(name) if source == "params" else {}
    settings.update(
        image_size=hp["image_size"],
        conv_dim=hp["g_conv_dim"],
        critic_dim=hp["d_conv_dim"],
        critic_layers=hp["d_repeat_num"],
    )
    if "g_repeat_num" in hp:  # US-GAN and SARGAN hard-code one block: left to their settings
        settings["res_blocks"] = hp["g_repeat_num"]
    if "sedn_c_mid" in hp:
        settings["attention_dim"] = hp["sedn_c_mid"]
    model = MODELS.load(name)(**settings)
    model.train()
    return model


# -- the authors' state in our names -----------------------------------------------------------
def unflatten(flat: torch.Tensor, layout: list) -> dict[str, torch.Tensor]:
    out, offset = {}, 0
    for key, shape in layout:
        size = math.prod(shape)
        out[key] = flat[offset : offset + size].double().view(shape)
        offset += size
    assert offset == flat.numel()
    return out


def mapping(model, part: str):
    """(our module, our prefix -> theirs, their unused prefixes) of "G" or "D"."""
    if part == "G":
        return model.generator, model.authors_prefixes(), model.authors_unused
    return model.critic, critic_prefixes(model.hp.critic_layers), ()


def ours(model, part: str, flat: torch.Tensor, layout: list) -> dict[str, torch.Tensor]:
    """A flat vector of the authors' generator ("G") or critic ("D") parameters, in our names."""
    module, prefixes, unused = mapping(model, part)
    names = dict(module.named_parameters())
    return convert(unflatten(flat, layout), names, prefixes, unused).state_dict


def start_window(model, data: dict, window: dict) -> dict[str, torch.optim.Optimizer]:
    """The authors' weights and Adam moments at the window's start, loaded into ``model``."""
    optimizers = model.configure_optimizers()
    for part, name in (("G", "generator"), ("D", "critic")):
        module, prefixes, _ = mapping(model, part)
        layout = data["layout"][part]
        module.load_state_dict(ours(model, part, window["state_before"][part], layout))
        adam = window["state_before"][f"{part}_adam"]
        if adam is None:  # the run's first iteration
            continue
        first = ours(model, part, adam["exp_avg"], layout)
        second = ours(model, part, adam["exp_avg_sq"], layout)
        steps = dict(zip((key for key, _ in layout), adam["step"], strict=True))
        for key, parameter in module.named_parameters():
            step = steps[rename(key, prefixes)]  # per parameter: GANimation's AU head skips
            if step:  # the penalty's Adam steps (no gradient there)
                optimizers[name].state[parameter] = {
                    "step": torch.tensor(step),
                    "exp_avg": first[key].clone(),
                    "exp_avg_sq": second[key].clone(),
                }
    return optimizers


# -- the authors' random draws in place of ours ------------------------------------------------
class Draw:
    """Stands in for one random draw of our step: checks what is asked, returns their value."""

    def __init__(self, value, check):
        self.value, self.check, self.calls = value, check, 0

    def __call__(self, *args, **kwargs):
        self.check(*args, **kwargs)
        self.calls += 1
        return self.value


@contextlib.contextmanager
def authors_draws(**draws: Draw):
    """Patch ``torch.<name>`` (``models.ganimation.shuffled`` for ``shuffled``) by the given
    draws; each must be asked for exactly once in the step (as in the authors' iteration)."""
    with contextlib.ExitStack() as stack:
        for name, draw in draws.items():
            target = "models.ganimation.shuffled" if name == "shuffled" else f"torch.{name}"
            stack.enter_context(mock.patch(target, draw))
        yield
    for name, draw in draws.items():
        assert draw.calls == 1, f"our step drew {name} {draw.calls} times, the authors once"


def family_iteration(data: dict, faces: torch.Tensor, it: dict):
    """(batch, draws) of one StarGAN / US-GAN / SARGAN iteration: their data loader's images,
    flips and labels, ``torch.randperm`` (the target labels) and the penalty's ``torch.rand``."""
    index, flip, label_org, rand_idx, label_trg = it["batch"]
    assert torch.equal(data["labels"][index], label_org)
    batch = TrainBatch(faces[index], label_org, label_trg, faces[index]).flip(flip.bool())
    size = len(index)

    def check_perm(n, *args, **kwargs):
        assert n == size and not args

    def check_alpha(*shape, **kwargs):
        assert shape == (size, 1, 1, 1), shape

    draws = {
        "randperm": Draw(rand_idx, check_perm),
        "rand": Draw(it["alpha"].view(size, 1, 1, 1), check_alpha),
    }
    return batch, draws


def ganimation_iteration(data: dict, faces: torch.Tensor, it: dict):
    """(batch, draws) of one GANimation iteration: their data set's images and flips; the
    targets are the AUs of a random other face plus U(-0.1, 0.1) noise, ours the prototype of a
    label plus ``au_jitter * (2 * rand_like - 1)``: ``shuffled`` returns their face's class and
    ``rand_like`` the uniform that gives their noise; the penalty's ``torch.rand`` their alpha."""
    index, flip, target = it["batch"]
    labels = data["labels"][index]
    batch = TrainBatch(faces[index], labels, target, faces[index]).flip(flip.bool())
    size, half_width = len(index), data["train_config"]["desired_cond_jitter"]

    def check_labels(source):
        assert torch.equal(source, labels)

    def check_noise(like):
        assert like.shape == it["jitter"].shape

    def check_alpha(*shape, **kwargs):
        assert shape == (size, 1, 1, 1), shape

    draws = {
        "shuffled": Draw(target, check_labels),
        "rand_like": Draw((it["jitter"] / half_width + 1) / 2, check_noise),
        "rand": Draw(it["alpha"].view(size, 1, 1, 1), check_alpha),
    }
    return batch, draws


# -- the tests ---------------------------------------------------------------------------------
def rates(optimizers) -> tuple[float, float]:
    return tuple(optimizers[n].param_groups[0]["lr"] for n in ("generator", "critic"))


def authors_rates(data: dict) -> list[tuple[float, float]]:
    """The rates in effect at every iteration of the authors' run (from their change points)."""
    changes = {i: (g, d) for i, g, d in data["lr_changes"]}
    out = []
    for i in range(data["train_config"]["num_iters"]):
        out.append(changes.get(i, out[-1] if out else None))
    return out


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", [*FAMILY, "ganimation"])
def test_every_iterations_learning_rates_follow_the_authors_schedule(name, source):
    data = golden(name)
    total = data["train_config"]["num_iters"]
    theirs = authors_rates(data)
    with float64():
        model = build(name, source)
        nets, optimizers = model.training_modules(), model.configure_optimizers()
        faces = to_model_range(data["images"].double())
        batch = TrainBatch(faces[:4], data["labels"][:4], data["labels"][:4], faces[:4])
        with mock.patch.object(model, "optimise", return_value={}):
            ours_ = []
            for step in range(total):
                model.train_step(nets, optimizers, batch, step, total)
                ours_.append(rates(optimizers))
    if name != "ganimation":
        for step, (got, want) in enumerate(zip(ours_, theirs, strict=True)):
            assert got == pytest.approx(want, rel=LR_RTOL), f"iteration {step}"
        return
    # GANimation lowers the rate once per epoch (after each of the last 10 of 30), ours
    # linearly per step: equal at every epoch's first iteration, between that epoch's rate
    # and the next one's inside it
    per_epoch = data["train_config"]["iterations_per_epoch"]
    for step, (got, want) in enumerate(zip(ours_, theirs, strict=True)):
        epoch_start = step - step % per_epoch
        if step == epoch_start:
            assert got == pytest.approx(want, rel=LR_RTOL), f"iteration {step}"
        else:
            low = theirs[epoch_start + per_epoch] if epoch_start + per_epoch < total else (0, 0)
            for value, high_, low_ in zip(got, theirs[epoch_start], low, strict=True):
                assert low_ * (1 - LR_RTOL) <= value <= high_ * (1 + LR_RTOL), f"iteration {step}"


def assert_weights(model, data: dict, part: str, flat: torch.Tensor, where: str) -> None:
    want = ours(model, part, flat, data["layout"][part])
    module = model.generator if part == "G" else model.critic
    worst = max((p - want[k]).abs().max().item() for k, p in module.named_parameters())
    assert worst <= WEIGHT_ATOL, f"{where}: {part} weights off by {worst:.3g}"


def replay(name: str, source: str, window: dict) -> None:
    """The window's iterations through ``train_step``, checked after each one."""
    data = golden(name)
    total = data["train_config"]["num_iters"]
    losses_of, iteration = (
        (GANIMATION_LOSSES, ganimation_iteration)
        if name == "ganimation"
        else (FAMILY_LOSSES, family_iteration)
    )
    faces = to_model_range(data["images"].double())
    model = build(name, source)
    nets, optimizers = model.training_modules(), start_window(model, data, window)
    before = window["state_before"]
    generator = before["G"]
    for it in window["iterations"]:
        where = f"{name} ({source}) iteration {it['i']}"
        batch, draws = iteration(data, faces, it)
        with authors_draws(**draws):
            losses = model.train_step(nets, optimizers, batch, it["i"], total)
        assert rates(optimizers) == pytest.approx(it["lr"], rel=LR_RTOL), where
        for their_key, key in losses_of.items():
            if key.startswith("d_") or it["generator_step"]:  # G's: logged on its steps
                want = it["losses"][their_key]
                assert float(losses[key]) == pytest.approx(want, rel=LOSS_RTOL), f"{where}: {key}"
        if it["generator_step"]:
            generator = before["G"] + it["G_delta"].double()
        assert_weights(model, data, "D", before["D"] + it["D_delta"].double(), where)
        assert_weights(model, data, "G", generator, where)  # unchanged on critic-only ones


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", [*FAMILY, "ganimation"])
def test_training_iterations_reproduce_the_authors_losses_rates_and_weights(name, source):
    with float64():
        for window in golden(name)["windows"]:
            replay(name, source, window)
