"""DAI2I against the authors' code: parameter counts at their setting and forward passes with
their weights (golden files made by running xiaogang00/DAI2I's classes: tests/golden/README_dai2i.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from models.adain import AdaIN
from models.dai2i import DAI2I, Branches, DAI2ISettings
from models.edit_classifier import EditClassifier
from models.multiscale_critic import MultiScaleCritic, critic_loss, generator_loss
from models.perceptual import vgg19_trunk
from models.stargan import StarGAN

GOLDEN = Path(__file__).parent / "golden"
RELATIVE_TOLERANCE = 1e-4
"""Float32 forward passes through ~20 conv/norm layers of up to 9 x 256 = 2,304 products each:
eps32 (1.2e-7) x sqrt(2304) ~ 6e-6 relative per layer, compounding over the depth, and summation
order differs between CPUs, kernels and thread counts (1.0014e-5 seen on one machine against a
1e-5 bound). 1e-4 of the output's scale covers that; a wrong layer, weight or norm differs by 1e-2+."""


def golden(name: str) -> dict:
    return torch.load(GOLDEN / name, map_location="cpu", weights_only=True)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- key mapping: the authors' names -> ours ---------------------------------------------------
_TRANSLATOR = [
    (r"^main\.(\d+)\.(conv|deconv)\.", r"layers.\1.conv."),
    (r"^main\.(\d+)\.innorm\.", r"layers.\1.norm."),
    (r"^main\.(\d+)\.conv([12])\.", r"layers.\1.conv\2."),
    (r"^main\.(\d+)\.in([12])\.", r"layers.\1.norm\2."),
    (r"^out\.0\.", "head."),
]
_CRITIC = [
    (r"^main\.(\d+)\.main\.0\.", r"blocks.\1."),
    (r"^out_layers\.", "heads."),
    (r"^conv1\.", "final."),
]


def _rename(key: str, rules: list[tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def branches_state(theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``adain_net.Generator_split_v2`` (main1, main2, im2style) -> :class:`Branches`."""
    ours = {}
    for key, value in theirs.items():
        prefix, rest = key.split(".", 1)
        if prefix == "im2style":
            rest = re.sub(r"^main\.(\d+)\.main\.0\.", lambda m: f"body.{2 * int(m[1])}.", rest)
            ours["style." + rest.replace("cls.", "head.")] = value
        else:
            branch = {"main1": "to_source", "main2": "to_target"}[prefix]
            ours[f"{branch}.{_rename(rest, _TRANSLATOR)}"] = value
    return ours


def critic_state(theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``Discriminator_split_sn_multiScale``'s trained ``main1`` -> :class:`MultiScaleCritic`
    (``main2`` is never used by the authors and has no counterpart here)."""
    return {
        _rename(key.removeprefix("main1."), _CRITIC): value
        for key, value in theirs.items()
        if key.startswith("main1.")
    }


def classifier_state(theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``Adapt_Net.domain_invariant`` (main, main_class) -> :class:`EditClassifier`."""
    return {
        re.sub(r"^main_class\.", "head.", re.sub(r"^main\.", "features.", k)): v
        for k, v in theirs.items()
    }


def stargan_generator_state(theirs: dict[str, torch.Tensor], ours: dict) -> dict:
    """``model_stargan.Generator`` -> our StarGAN generator, entry by entry in layer order
    (both list conv, norm weight, norm bias ... in the same order; shapes are checked)."""
    assert len(theirs) == len(ours)
    for (their_key, value), (our_key, target) in zip(theirs.items(), ours.items(), strict=True):
        assert value.shape == target.shape, (their_key, our_key)
    return dict(zip(ours, theirs.values(), strict=True))


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    difference = (ours - theirs).abs().max().item()
    bound = RELATIVE_TOLERANCE * max(1.0, theirs.abs().max().item())
    assert difference <= bound, (difference, bound)
    return difference


# -- parameter counts at the authors' setting ----------------------------------------------------
def test_parameter_counts_equal_the_authors_classes():
    counts = json.loads((GOLDEN / "dai2i_param_counts.json").read_text())
    translator = counts["translator_G (adain_net.Generator_split_v2)"]
    branches = Branches(DAI2ISettings())
    assert count(branches) == translator["total"] == 15_007_270
    assert count(branches.to_source) == count(branches.to_target) == 7_121_155
    assert count(branches.style) == 764_960
    adain = sum(count(m.style) for m in branches.to_source.modules() if isinstance(m, AdaIN))
    assert adain == translator["main1.AdaIN style convs (all AdaptiveInstanceNorm.style)"]

    critic_counts = counts[
        "critic_D (stargan_model.Discriminator_split_sn_multiScale, conv_dim=64 default)"
    ]
    critic = MultiScaleCritic(128)
    assert count(critic) == critic_counts["main1 (trained, used with src_cond=0)"] == 44_714_436
    assert (
        sum(b.numel() for b in critic.buffers())
        == critic_counts["spectral_norm_buffers_per_main (u,v vectors; not parameters)"]
    )

    classifier = EditClassifier(128, 8)
    classifier_counts = counts["classifier (Adapt_Net.domain_invariant(n_layers=7, num_classes=8))"]
    assert count(classifier) == classifier_counts["total"] == 2_832_288
    running = sum(b.numel() for n, b in classifier.named_buffers() if "num_batches" not in n)
    assert running == classifier_counts["batchnorm_buffers"]

    vgg = counts["vgg19_to_relu5_1 (base_network.VGG, frozen, perceptual/analogy loss)"]
    assert count(vgg19_trunk()) == vgg


# -- forward passes with the authors' weights ----------------------------------------------------
@pytest.fixture(scope="module")
def forward_golden() -> dict:
    return golden("dai2i_forward.pt")


def tiny_dai2i(hparams: dict, base_state: dict) -> DAI2I:
    """Our DAI2I at the golden's sizes around a StarGAN holding the authors' base weights."""
    base = StarGAN(
        hparams["image_size"],
        hparams["base_c_dim"],
        conv_dim=hparams["base_conv_dim"],
        res_blocks=hparams["base_repeat_num"],
        critic_layers=2,
    )
    base.generator.load_state_dict(stargan_generator_state(base_state, base.generator.state_dict()))
    return DAI2I.from_base(
        base,
        "golden",
        conv_dim=hparams["conv_dim"],
        res_blocks=hparams["repeat_num"],
        downsamplings=hparams["n_down"],
        style_dim=hparams["style_dim"],
        style_encoder_dim=hparams["im2style_channels"],
        style_encoder_layers=hparams["im2style_n_layer"],
        critic_layers=2,
        critic_scales=1,
    ).eval()


def test_branches_reproduce_the_authors_generator(forward_golden):
    g = forward_golden
    model = tiny_dai2i(g["hparams"], g["base_stargan_state_dict"])
    model.branches.load_state_dict(branches_state(g["G_state_dict"]))
    x = g["x"]
    with torch.no_grad():
        style = model.branches.style(x)
        assert_close(style, g["style"])
        assert_close(model.branches.to_source(x, style), g["G_out_cond0"])
        assert_close(model.branches.to_target(x, style), g["G_out_cond1"])
        for index, label in enumerate(g["hparams"]["base_targets"]):
            labels = torch.full((len(x),), label, dtype=torch.int64)
            out = model.branches(x, labels, model._base_translate)
            assert_close(out["x_edit"], g["base_and_back"][index, 0])
            assert_close(out["output"], g["base_and_back"][index, 1])
            assert_close(model.translate(x, labels), g["base_and_back"][index, 1].clamp(-1, 1))


def test_classifier_reproduces_the_authors_train_mode_forward(forward_golden):
    g = forward_golden
    size = g["x_classifier"].shape[-1]
    classifier = EditClassifier(size, g["hparams"]["classifier_classes"]).train()
    classifier.load_state_dict(classifier_state(g["classifier_state_dict"]))
    seen = {}
    classifier.features.register_forward_hook(lambda m, i, out: seen.update(features=out))
    with torch.no_grad():
        logits = classifier(g["x_classifier"])
    assert_close(seen["features"].flatten(1), g["classifier_feature"])
    assert_close(logits, g["classifier_logits"])
    after = classifier_state(g["classifier_state_dict_after_train_forward"])
    for key, value in classifier.state_dict().items():
        assert_close(value.float(), after[key].float())


def test_critic_and_gan_losses_reproduce_the_authors():
    g = golden("dai2i_critic.pt")
    hp = g["hparams"]
    critic = MultiScaleCritic(hp["image_size"], hp["conv_dim"], hp["repeat_num"], hp["n_scale"])
    critic.load_state_dict(critic_state(g["D_state_dict_before"]))
    critic.train()
    with torch.no_grad():
        real, fake = critic(g["real"]), critic(g["fake"])  # two power iterations, as theirs
    for ours, theirs in zip(real + fake, g["out_real"] + g["out_fake"], strict=True):
        assert_close(ours, theirs)
    after = critic_state(g["D_state_dict_after"])
    for key, value in critic.state_dict().items():
        assert_close(value, after[key])
    assert_close(critic_loss(real, fake, "norm"), torch.tensor(g["lsgan_loss_d"]))
    assert_close(generator_loss(fake, "norm"), torch.tensor(g["lsgan_loss_g"]))
