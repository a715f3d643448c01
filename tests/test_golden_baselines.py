"""Equivalence with the authors' code: golden files made by running it (tests/golden/README.md).

After ``bench import`` of the authors' generator state dicts, our generators reproduce their
outputs for every target; MR reproduces the authors' inputs, predictions and written images.
Training (the authors' loops replayed through our ``train_step``): tests/test_golden_training.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.config import Config
from bench.config.schema import Paths
from bench.core.errors import UserError
from bench.core.vocabulary import EXPRESSIONS, INDEX
from bench.importing import import_checkpoint
from bench.report.build import imported_marks
from bench.report.tables import Marks, dataset_table
from models.authors import convert, critic_prefixes
from models.base import load_generator
from models.expression_layer import ExpressionLayer
from models.mr import regression_inputs, regression_outputs
from models.registry import MODELS

GOLDEN = Path(__file__).parent / "golden"
FAMILY = ["stargan", "usgan", "sargan"]
FORWARD_ATOL = 1e-5


@pytest.fixture(autouse=True)
def one_cpu_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def golden(name: str) -> dict:
    return torch.load(GOLDEN / f"{name}.pt", map_location="cpu", weights_only=False)


def settings(hparams: dict, **extra) -> dict:
    """Our constructor arguments for the authors' tiny hyper-parameters."""
    kwargs = {
        "image_size": hparams["image_size"],
        "conv_dim": hparams["g_conv_dim"],
        "critic_dim": hparams["d_conv_dim"],
        "critic_layers": hparams["d_repeat_num"],
        **extra,
    }
    if "g_repeat_num" in hparams:
        kwargs["res_blocks"] = hparams["g_repeat_num"]
    if "sedn_c_mid" in hparams:
        kwargs["attention_dim"] = hparams["sedn_c_mid"]
    return kwargs


def config_for(tmp_path: Path, image_size: int) -> Config:
    """A configuration at ``image_size``, checkpoints under ``tmp_path``: built without the
    schema's checks, since the authors' golden outputs are 24 px (the schema's minimum is 32)."""
    return Config.model_construct(
        image_size=image_size,
        train_dataset="synthetic",
        paths=Paths(checkpoints=str(tmp_path / "checkpoints")),
    )


def imported(tmp_path: Path, name: str, state: dict, image_size: int, labels=None):
    """Our model after ``bench import`` of the authors' generator ``state``."""
    source = tmp_path / f"{name}-G.ckpt"
    torch.save(state, source)
    path = import_checkpoint(config_for(tmp_path, image_size), name, source, labels)
    return load_generator(path, name)


def load_pair(model, data: dict, generator_key: str, critic_key: str) -> None:
    """Load the authors' generator and critic state dicts (their key names) into ``model``."""
    model.generator.load_state_dict(
        convert(
            data[generator_key],
            model.generator.state_dict(),
            model.authors_prefixes(),
            model.authors_unused,
        ).state_dict
    )
    model.critic.load_state_dict(
        convert(
            data[critic_key], model.critic.state_dict(), critic_prefixes(model.hp.critic_layers)
        ).state_dict
    )


# -- forward passes ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILY)
def test_imported_generator_reproduces_the_authors_outputs_for_every_target(name, tmp_path):
    data = golden(f"{name}_forward")
    model = imported(tmp_path, name, data["G_state_dict"], 24, labels=list(EXPRESSIONS))
    assert model.checkpoint_metadata["imported"]["sha256"]
    with torch.no_grad():
        for target in range(len(EXPRESSIONS)):
            labels = data["c_trg"][target].argmax(1)
            raw = model.generate(model.generator, data["x"], labels)
            assert (raw - data["G_out"][target]).abs().max() <= FORWARD_ATOL
            clamped = model.translate(data["x"], labels)
            assert (clamped - data["G_out"][target].clamp(-1, 1)).abs().max() <= FORWARD_ATOL


@pytest.mark.parametrize("name", FAMILY)
def test_critic_reproduces_the_authors_outputs(name):
    data = golden(f"{name}_forward")
    model = MODELS.load(name)(**settings(data["hparams"]))
    load_pair(model, data, "G_state_dict", "D_state_dict")
    with torch.no_grad():
        scores, logits = model.critic(data["x"])
    assert (scores - data["D_out_src"]).abs().max() <= FORWARD_ATOL
    assert (logits - data["D_out_cls"]).abs().max() <= FORWARD_ATOL


def test_default_label_order_maps_the_authors_class_folders(tmp_path):
    """US-GAN's classes are its sorted folders AFS ANS DIS HAS NES SAS SUS: our "happy" must
    drive the channel of their class 3 (HAS), "neutral" class 4 (NES)."""
    data = golden("usgan_forward")
    model = imported(tmp_path, "usgan", data["G_state_dict"], 24)
    assert model.checkpoint_metadata["imported"]["label_map"]["happy"] == "HAS"
    with torch.no_grad():
        for ours, theirs in (("happy", 3), ("neutral", 4), ("fearful", 0)):
            labels = torch.full((2,), INDEX[ours])
            out = model.generate(model.generator, data["x"], labels)
            assert (out - data["G_out"][theirs]).abs().max() <= FORWARD_ATOL


def test_ganimation_imported_generator_reproduces_colour_attention_and_output(tmp_path):
    data = golden("ganimation_forward")
    model = imported(tmp_path, "ganimation", data["G_state_dict"], 24)
    with torch.no_grad():
        for target in range(len(data["au_targets"])):
            output, attention, colour = model.generator(data["x"], data["au_targets"][target])
            assert (output - data["G_out"][target]).abs().max() <= FORWARD_ATOL
            assert (attention - data["G_attention"][target]).abs().max() <= FORWARD_ATOL
            assert (colour - data["G_color"][target]).abs().max() <= FORWARD_ATOL
    critic_model = MODELS.load("ganimation")(**settings(data["hparams"]))
    load_pair(critic_model, data, "G_state_dict", "D_state_dict")
    with torch.no_grad():
        scores, aus = critic_model.critic(data["x"])
    assert (scores.squeeze(1) - data["D_out_src"]).abs().max() <= FORWARD_ATOL
    assert (aus - data["D_out_au"]).abs().max() <= FORWARD_ATOL


# -- MR ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_mr_reproduces_the_authors_inputs_predictions_and_images(channels):
    data = golden("mr_golden")["by_channels"][channels]

    def faces(split: str) -> torch.Tensor:  # the authors' BGR uint8 -> our RGB (B, 3, H, W)
        return data["raw_uint8_bgr"][split].flip(-1).permute(0, 3, 1, 2).contiguous()

    def bgr(tensor: torch.Tensor) -> torch.Tensor:  # authors' [B | G | R] rows -> our RGB
        tensor = tensor.double().reshape(len(tensor), channels, 6, 6)
        return tensor.flip(1) if channels == 3 else tensor

    layer = ExpressionLayer(6, 2, 3, 0.4, channels=channels)
    inputs = regression_inputs(faces("testA"), "authors", channels)
    assert ((inputs.double() + 1) / 2 - bgr(data["test_imagesA"])).abs().max() <= 1e-6
    layer.fit_expression(
        1,
        regression_inputs(faces("trainA"), "authors", channels),
        regression_inputs(faces("trainB"), "authors", channels),
    )
    with torch.no_grad():
        prediction = layer(inputs.float(), torch.ones(2, dtype=torch.int64))
    assert ((prediction.double() + 1) / 2 - bgr(data["pred_raw"])).abs().max() <= FORWARD_ATOL
    levels = regression_outputs(prediction, "authors").double().add(1).mul(127.5).round()
    for index, name in enumerate(data["test_names"]):  # [target | output | target] panels
        panel = data["test_png"][name].double()[:, 6:12]
        panel = panel[None] if channels == 1 else panel.permute(2, 0, 1).flip(0)
        assert torch.equal(levels[index, :channels], panel)


# -- import errors -----------------------------------------------------------------------------
def test_import_names_mismatched_keys_and_bad_labels(tmp_path):
    state = dict(golden("stargan_forward")["G_state_dict"])
    state["main.99.weight"] = torch.zeros(1)
    source = tmp_path / "bad-G.ckpt"
    torch.save(state, source)
    config = config_for(tmp_path, 24)
    with pytest.raises(UserError, match="unexpected main.99.weight"):
        import_checkpoint(config, "stargan", source, list(EXPRESSIONS))
    with pytest.raises(UserError, match="has 7 label channels but --labels names 8"):
        import_checkpoint(config, "stargan", source)  # RaFD's 8 sorted classes by default
    with pytest.raises(UserError, match="no class for neutral"):
        import_checkpoint(config, "stargan", source, [*EXPRESSIONS[1:], "contemptuous"])


def test_import_command_writes_the_harness_checkpoint_and_fails_in_one_line(tmp_path):
    source = tmp_path / "usgan_87_G.ckpt"
    torch.save(golden("usgan_forward")["G_state_dict"], source)
    runner = CliRunner()
    out = tmp_path / "model.pt"
    args = ["import", str(source), "-m", "usgan", "--out", str(out), "--profile", "paper"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_generator(out, "usgan").checkpoint_metadata["imported"]["source"] == source.name
    bad = subprocess.run(
        [sys.executable, "-m", "bench.cli", "import", str(tmp_path / "nope.ckpt"), "-m", "usgan"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "nope.ckpt: not a PyTorch checkpoint (no such file)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_report_marks_imported_rows():
    frame = pd.DataFrame({"model": ["usgan"], "dataset": ["synthetic"]})
    frame.attrs["generator"] = {"imported": {"source": "usgan_87_G.ckpt", "sha256": "ab" * 32}}
    plain = pd.DataFrame({"model": ["stargan"], "dataset": ["synthetic"]})
    models, notes = imported_marks([frame, plain])
    assert models == {"usgan"} and "usgan_87_G.ckpt" in notes[0]
    summary = pd.DataFrame(columns=["model", "dataset", "metric", "mean", "ci_low", "ci_high"])
    table = dataset_table(summary, ["stargan", "usgan"], "synthetic", {}, Marks(imported=models))
    assert [label for label, _ in table.rows] == ["stargan", "usgan §"]
