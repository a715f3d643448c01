"""``bench import`` knows its models: a released generator file of another design, a file that
is no PyTorch state dict, and an existing checkpoint at the destination all end in one line
and exit code 2, and nothing is written; ``--force`` replaces the checkpoint.

The authors' files are made tiny (conv_dim 2) from our generators, renamed onto the authors'
key names (:meth:`models.stargan.StarGAN.authors_prefixes`), as ``bench import`` reads them;
one is the authors' own US-GAN state dict of tests/golden/.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import pytest
import torch

from bench import layout
from bench.config import load_config
from models.authors import rename
from models.base import load_generator
from models.registry import MODELS

GOLDEN = Path(__file__).parent / "golden"

DESIGNS = {
    "stargan": {"res_blocks": 6},  # the authors' default, RaFD-like with our 7 classes
    "usgan": {},
    "sargan": {"attention_dim": 2},
    "ganimation": {"res_blocks": 2},
}


@pytest.fixture(autouse=True)
def one_cpu_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def authors_state(name: str, seed: int = 0, **settings) -> dict[str, torch.Tensor]:
    """A tiny generator of ``name``'s design as its authors' code saves it (their key names)."""
    torch.manual_seed(seed)
    options = {**DESIGNS[name], **settings}
    model = MODELS.load(name)(image_size=16, conv_dim=2, critic_dim=1, critic_layers=1, **options)
    prefixes = model.authors_prefixes()
    return {rename(key, prefixes): value for key, value in model.generator.state_dict().items()}


def authors_file(folder: Path, name: str, seed: int = 0, **settings) -> Path:
    path = folder / f"{name}_{seed}_G.ckpt"
    torch.save(authors_state(name, seed, **settings), path)
    return path


def bench(capsys, params_file: Path, *args: str) -> tuple[int, list[str]]:
    """Run the console entry point ``bench ARGS --params params_file`` in this process; return
    its exit code and non-blank output lines. Any exception but a UserError escapes ``main()``
    (the traceback a user would see) and fails the test."""
    from bench.cli import main

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exited:
        patch.setattr(sys, "argv", ["bench", *args, "--params", str(params_file)])
        main()
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    return exited.value.code or 0, lines


def refused(capsys, params_file: Path, *args: str) -> str:
    """``bench ARGS`` ends with exit code 2 and one line; return it."""
    code, lines = bench(capsys, params_file, *args)
    assert code == 2 and len(lines) == 1, (code, lines)
    return lines[0]


def destination(params_file: Path, model: str) -> Path:
    return layout.checkpoint_path(load_config(params_file), model)


# -- a file of another design --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("design", "requested", "words"),
    [
        ("stargan", "usgan", "StarGAN generator (6 residual blocks, 7 classes), not a US-GAN"),
        ("usgan", "sargan", "US-GAN generator (1 residual block, ultimate skip), not a SARGAN"),
        ("sargan", "usgan", "a SARGAN generator (spatial-attention residual block, ultimate skip)"),
        ("sargan", "stargan", "a SARGAN generator"),
        ("ganimation", "stargan", "a GANimation generator (colour and attention heads, 17 action"),
        ("stargan", "ganimation", "a StarGAN generator (6 residual blocks, 7 classes)"),
    ],
)
def test_a_file_of_another_design_is_refused_naming_its_model(
    design, requested, words, capsys, params_file, tmp_path
):
    source = authors_file(tmp_path, design)
    line = refused(capsys, params_file, "import", str(source), "--model", requested)
    assert f"{source}: " in line and words in line, line
    assert line.endswith(f"; import it with --model {design}"), line
    assert not destination(params_file, requested).exists()


def test_the_authors_usgan_file_is_refused_as_stargan(capsys, params_file, tmp_path):
    source = tmp_path / "usgan_G.ckpt"
    state = torch.load(GOLDEN / "usgan_forward.pt", map_location="cpu", weights_only=False)
    torch.save(state["G_state_dict"], source)  # with the InstanceNorm running statistics
    line = refused(capsys, params_file, "import", str(source), "-m", "stargan")
    assert line.endswith(
        "usgan_G.ckpt: a US-GAN generator (1 residual block, ultimate skip), not a StarGAN "
        "one; import it with --model usgan"
    ), line
    assert not destination(params_file, "stargan").exists()


def test_a_ganimation_file_for_other_action_units_is_refused(capsys, params_file, tmp_path):
    state = authors_state("ganimation")
    state["main.0.weight"] = state["main.0.weight"][:, : 3 + 12].clone()
    source = tmp_path / "net_epoch_30_id_G.pth"
    torch.save(state, source)
    line = refused(capsys, params_file, "import", str(source), "-m", "ganimation")
    assert "a GANimation generator for 12 action units; ours reads 17" in line, line


# -- an existing checkpoint ------------------------------------------------------------------------
def test_an_existing_checkpoint_is_replaced_only_with_force(capsys, params_file, tmp_path):
    first, second = (authors_file(tmp_path, "usgan", seed) for seed in (1, 2))
    code, lines = bench(capsys, params_file, "import", str(first), "-m", "usgan")
    assert code == 0, lines
    target = destination(params_file, "usgan")
    before = target.read_bytes()
    line = refused(capsys, params_file, "import", str(second), "-m", "usgan")
    assert str(target) in line and "--force" in line, line
    assert target.read_bytes() == before
    assert sorted(target.parent.iterdir()) == [target]  # no temporary file left beside it
    code, lines = bench(capsys, params_file, "import", str(second), "-m", "usgan", "--force")
    assert code == 0, lines
    assert target.read_bytes() != before
    assert load_generator(target, "usgan").checkpoint_metadata["imported"]["source"] == second.name
    assert sorted(target.parent.iterdir()) == [target]


# -- not a PyTorch checkpoint ----------------------------------------------------------------------
def write_text(path: Path) -> str:
    path.write_text("generator weights: see the authors' Google Drive\n")
    return "a text file"


def write_truncated(path: Path) -> str:
    torch.save(authors_state("usgan"), path)
    path.write_bytes(path.read_bytes()[:2000])
    return "a damaged or truncated zip archive"


def write_list(path: Path) -> str:
    torch.save([torch.zeros(2)], path)
    return "a list, not a state dict"


def write_nested(path: Path) -> str:
    torch.save({"G": authors_state("usgan"), "iteration": torch.tensor(5)}, path)
    return "a dict with entries other than tensors (G)"


def write_objects(path: Path) -> str:
    torch.save({"G": authors_state("usgan"), "args": argparse.Namespace(c_dim=7)}, path)
    return "it holds Python objects besides tensors, left unread"


def write_python_pickle(path: Path) -> str:
    path.write_bytes(pickle.dumps({"main.0.weight": [0.0] * 4}))
    return "a pickle of Python objects, not torch.save's tensors"


def write_nothing(path: Path) -> str:
    return "no such file"


def write_folder(path: Path) -> str:
    path.mkdir()
    return "a folder"


def write_empty(path: Path) -> str:
    path.write_bytes(b"")
    return "an empty file"


@pytest.mark.parametrize(
    "write",
    [
        write_text,
        write_truncated,
        write_list,
        write_nested,
        write_objects,
        write_python_pickle,
        write_nothing,
        write_folder,
        write_empty,
    ],
)
def test_a_file_that_is_no_state_dict_is_not_a_pytorch_checkpoint(
    write, capsys, params_file, tmp_path
):
    source = tmp_path / "usgan_G.ckpt"
    reason = write(source)
    line = refused(capsys, params_file, "import", str(source), "-m", "usgan")
    assert f"{source}: not a PyTorch checkpoint ({reason}" in line, line
    assert not destination(params_file, "usgan").exists()
