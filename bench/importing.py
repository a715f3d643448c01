"""``bench import``: a generator released by a baseline's authors becomes a harness checkpoint.

The authors' training code saves plain generator state dicts: StarGAN ``{iter}-G.ckpt``,
US-GAN ``usgan_87_G.ckpt``, SARGAN ``sargan_G.ckpt``, GANimation ``net_epoch_{n}_id_G.pth``.
Importing one reads its sizes from the weights, renames every key onto our module
(:meth:`models.stargan.StarGAN.authors_prefixes`), reorders the label channels of the first
convolution from the checkpoint's class order onto :data:`EXPRESSIONS` (``labels``), drops
what the authors' forward never reads (with a note) and writes
``checkpoints/<model>/<train_dataset>/model.pt``, which ``bench synthesize / evaluate / run``
then use like a trained one. The checkpoint's metadata says it was imported (source file
name and sha256, label map, dropped keys); the report marks such rows.

Before converting, the file's design (:func:`read_design`: residual blocks, SARGAN's
attention block, GANimation's heads and action units) must be the requested model's
(:data:`DESIGNS`); a file of another design is refused naming the model it fits, since
building the requested network from its shapes would silently give the wrong one. A file
that is no state dict at all is refused in one line (:func:`read_state_dict`), and an
existing checkpoint is only replaced with ``force`` (written atomically, temp + rename).
The design checks live here, not on the model classes, so that they are not part of any
model's code (``bench sources``) and adding one retrains nothing.

The critic is not released with the generators (and not needed to translate): an imported
checkpoint carries a one-channel placeholder critic (``critic_dim`` 1, one layer).
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bench import layout
from bench.core import provenance
from bench.core.errors import UserError, one_line
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.core.vocabulary import EXPRESSIONS
from models.authors import convert, permute_condition
from models.ganimation import ACTION_UNITS
from models.registry import MODELS

if TYPE_CHECKING:
    from bench.config import Config

IMPORTABLE = ("stargan", "usgan", "sargan", "ganimation")

DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    # StarGAN's RaFD setting: ImageFolder's sorted class folders (README: --c_dim 8)
    "stargan": (
        "angry",
        "contemptuous",
        "disgusted",
        "fearful",
        "happy",
        "neutral",
        "sad",
        "surprised",
    ),
    # US-GAN / SARGAN: the sorted dataset folders of the repositories (solver.py exp_list)
    "usgan": ("AFS", "ANS", "DIS", "HAS", "NES", "SAS", "SUS"),
    "sargan": ("AFS", "ANS", "DIS", "HAS", "NES", "SAS", "SUS"),
}
"""The class order of each model's released checkpoints (override with ``--labels``)."""

ALIASES = {
    "AFS": "fearful",
    "ANS": "angry",
    "DIS": "disgusted",
    "HAS": "happy",
    "NES": "neutral",
    "SAS": "sad",
    "SUS": "surprised",
    "afraid": "fearful",
    "fear": "fearful",
    "anger": "angry",
    "disgust": "disgusted",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprised",
}
"""Other spellings of our expressions (the KDEF-style folder codes of US-GAN / SARGAN)."""

PLACEHOLDER_CRITIC = {"critic_dim": 1, "critic_layers": 1}


ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of ``torch.save``'s zip archive (PyTorch >= 1.6)."""
PICKLE_MAGIC = b"\x80"
"""The first byte of a pickle of protocol 2 or later (``torch.save``'s legacy format)."""
UNSAFE = "left unread (unpickling it could run code)"


def not_a_checkpoint(path: Path, reason: str) -> UserError:
    """The one-line refusal of a file that holds no generator state dict."""
    return UserError(f"{path}: not a PyTorch checkpoint ({reason})")


def load_failure(path: Path, error: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, in words: its own messages for foreign files
    are misleading (a text file gives ``KeyError: 101``)."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        return "an empty file"
    if head.startswith(ZIP_MAGIC):
        if isinstance(error, pickle.UnpicklingError):  # weights_only met a Python class
            return f"it holds Python objects besides tensors, {UNSAFE}"
        return f"a damaged or truncated zip archive: {one_line(error, 120)}"
    if head.startswith(PICKLE_MAGIC):
        if isinstance(error, EOFError):
            return "a truncated pickle"
        return f"a pickle of Python objects, not torch.save's tensors, {UNSAFE}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "neither torch.save's zip archive nor a pickle"
    return "a text file"


def describe(value: object) -> str:
    """What a loaded object is, when it is not a state dict of tensors."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not a state dict (names -> tensors)"
    if not value:
        return "an empty dict"
    others = [str(key) for key, item in value.items() if not isinstance(item, torch.Tensor)]
    shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
    return f"a dict with entries other than tensors ({shown}), not a plain state dict"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain ``torch.save(state_dict)`` file (``module.`` prefixes of DataParallel removed).

    Anything else (missing, a folder, text, truncated, a pickle of other objects) is a
    one-line :class:`UserError` ``<path>: not a PyTorch checkpoint (<why>)``.
    """
    if not path.exists():
        raise not_a_checkpoint(path, "no such file")
    if path.is_dir():
        raise not_a_checkpoint(path, "a folder")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": not one line
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise not_a_checkpoint(path, one_line(error, 120)) from None
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise not_a_checkpoint(path, load_failure(path, error)) from None
    tensors = isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    if not tensors or not state:
        raise not_a_checkpoint(path, describe(state))
    return {str(key).removeprefix("module."): value for key, value in state.items()}


PLAIN_BLOCK = re.compile(r"main\.\d+\.main\.0\.weight")
"""First conv of a plain residual block (StarGAN's ``ResidualBlock``: StarGAN, US-GAN, GANimation)."""
ATTENTION_BLOCK = re.compile(r"main\.\d+\.conv1\.conv2d\.weight")
"""First conv of SARGAN's spatial-attention residual block (``SARB``)."""
HEADS = ("img_reg.0.weight", "attetion_reg.0.weight")
"""GANimation's colour and attention output convs (the authors' spelling)."""


@dataclass(frozen=True)
class Design:
    """What an authors' generator state dict shows of its design, from key names and shapes.
    All four start with StarGAN's 7x7 conv ``main.0``, whose input channels are 3 + the
    condition (classes, or GANimation's action units)."""

    stem: bool
    """Has ``main.0.weight`` (a 4-d conv weight)."""
    conditions: int
    """Condition channels of the first conv (0 without a stem)."""
    plain_blocks: int
    attention_blocks: int
    heads: bool
    """GANimation's two output heads, colour and attention."""

    def summary(self) -> str:
        """The structure in a few words, for a file that fits no design."""
        if not self.stem:
            return "no main.0.weight, the first conv of StarGAN-style generators"
        return (
            f"{self.plain_blocks} plain and {self.attention_blocks} attention residual blocks, "
            f"{plural(self.conditions, 'condition channel')}, "
            + ("colour and attention heads" if self.heads else "no GANimation heads")
        )


def read_design(state: Mapping[str, torch.Tensor]) -> Design:
    """The :class:`Design` of the authors' generator state dict ``state``."""
    first = state.get("main.0.weight")
    stem = first is not None and first.ndim == 4 and first.shape[1] >= 3
    return Design(
        stem=stem,
        conditions=int(first.shape[1]) - 3 if stem else 0,
        plain_blocks=sum(1 for key in state if PLAIN_BLOCK.fullmatch(key)),
        attention_blocks=sum(1 for key in state if ATTENTION_BLOCK.fullmatch(key)),
        heads=all(key in state for key in HEADS),
    )


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 residual block``, ``6 residual blocks`` (``nouns``: the plural if not noun + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def stargan_design(design: Design) -> str | None:
    """StarGAN: plain residual blocks, any number but US-GAN's one (the authors' default is
    6), no attention block, no GANimation heads."""
    if not design.stem or design.heads or design.attention_blocks or design.plain_blocks == 1:
        return None
    blocks = plural(design.plain_blocks, "residual block")
    return f"{blocks}, {plural(design.conditions, 'class', 'classes')}"


def usgan_design(design: Design) -> str | None:
    """US-GAN: exactly one plain residual block (the authors' ``Generator`` has no other
    setting) and the ultimate skip, which has no weights of its own."""
    if not design.stem or design.heads or design.attention_blocks or design.plain_blocks != 1:
        return None
    return "1 residual block, ultimate skip"


def sargan_design(design: Design) -> str | None:
    """SARGAN: spatial-attention residual blocks (``conv1`` / ``conv2`` / ``att_func``), no
    plain one, no GANimation heads."""
    if not design.stem or design.heads or design.plain_blocks or not design.attention_blocks:
        return None
    return "spatial-attention residual block, ultimate skip"


def ganimation_design(design: Design) -> str | None:
    """GANimation: colour and attention heads in place of StarGAN's output conv, plain
    residual blocks (the action-unit count is checked by :func:`check_design`)."""
    if not design.stem or not design.heads or design.attention_blocks:
        return None
    return f"colour and attention heads, {plural(design.conditions, 'action unit')}"


DESIGNS: dict[str, tuple[str, Callable[[Design], str | None]]] = {
    "stargan": ("StarGAN", stargan_design),
    "usgan": ("US-GAN", usgan_design),
    "sargan": ("SARGAN", sargan_design),
    "ganimation": ("GANimation", ganimation_design),
}
"""Each importable model's name in messages and its design test: a few words describing a
:class:`Design` that is the model's (shown when another model is asked for), else None."""


def check_design(model_name: str, design: Design, source: Path) -> None:
    """Refuse ``source`` unless its generator is of ``model_name``'s design, naming the model
    it fits: a StarGAN-family network built from another design's shapes would load (the
    ultimate skip has no weights) and silently be the wrong model."""
    title, fits = DESIGNS[model_name]
    if fits(design) is None:
        found = {name: (other, test(design)) for name, (other, test) in DESIGNS.items()}
        likely = next((name for name, (_, words) in found.items() if words), None)
        if likely is None:
            raise UserError(
                f"{source}: not a {title} generator, nor of another design bench import "
                f"knows ({design.summary()})"
            )
        other, words = found[likely]
        raise UserError(
            f"{source}: a {other} generator ({words}), not a {title} one; "
            f"import it with --model {likely}"
        )
    if model_name == "ganimation" and design.conditions != len(ACTION_UNITS):
        raise UserError(
            f"{source}: a GANimation generator for {plural(design.conditions, 'action unit')}; "
            f"ours reads {len(ACTION_UNITS)} ({', '.join(map(str, ACTION_UNITS))})"
        )


def check_target(target: Path, force: bool) -> None:
    """Refuse to overwrite an existing checkpoint (a trained one, say) unless ``force``."""
    if target.is_dir():
        raise UserError(f"{target} is a folder; --out names the checkpoint file")
    if target.exists() and not force:
        raise UserError(f"{target} already exists; pass --force to replace it")


def label_order(labels: list[str], conditions: int, source: Path) -> tuple[list[int], list[str]]:
    """For each of our expressions, its class index in the checkpoint; plus the checkpoint's
    classes outside our vocabulary (left out: their one-hot channel is never set)."""
    if len(labels) != conditions:
        raise UserError(
            f"{source} has {conditions} label channels but --labels names {len(labels)} "
            f"classes ({', '.join(labels)})"
        )
    canonical = [ALIASES.get(label, label) for label in labels]
    missing = [name for name in EXPRESSIONS if name not in canonical]
    if missing:
        raise UserError(
            f"--labels ({', '.join(labels)}) has no class for {', '.join(missing)}; "
            f"name the checkpoint's classes in order, from: {', '.join(EXPRESSIONS)} "
            f"(or {', '.join(ALIASES)})"
        )
    extra = [
        label for label, name in zip(labels, canonical, strict=True) if name not in EXPRESSIONS
    ]
    return [canonical.index(name) for name in EXPRESSIONS], extra


def import_checkpoint(
    config: Config,
    model_name: str,
    source: Path,
    labels: list[str] | None = None,
    out: Path | None = None,
    force: bool = False,
) -> Path:
    """Convert the authors' generator file ``source`` into a harness checkpoint; return its path.

    ``labels``: the checkpoint's classes in channel order (default :data:`DEFAULT_LABELS`;
    not for GANimation, whose condition is the 17 action units). ``out``: default
    ``checkpoints/<model>/<train_dataset>/model.pt``; an existing file there is replaced
    only with ``force``.
    """
    if model_name not in IMPORTABLE:
        raise UserError(f"bench import knows {', '.join(IMPORTABLE)}, not {model_name!r}")
    cls = MODELS.load(model_name)
    state = read_state_dict(source)
    check_design(model_name, read_design(state), source)
    target = out or layout.checkpoint_path(config, model_name)
    check_target(target, force)
    try:
        settings, conditions = cls.authors_settings(state)
    except KeyError as error:
        raise UserError(f"{source} is not a {model_name} generator (no {error})") from None
    label_map: dict[str, str] | None = None
    dropped_labels: list[str] = []
    if model_name == "ganimation":
        if labels:
            raise UserError("ganimation is conditioned on action units; --labels does not apply")
    else:
        labels = list(labels or DEFAULT_LABELS[model_name])
        order, dropped_labels = label_order(labels, conditions, source)
        state["main.0.weight"] = permute_condition(state["main.0.weight"], order)
        label_map = {name: labels[index] for name, index in zip(EXPRESSIONS, order, strict=True)}
    model = cls(image_size=config.image_size, **settings, **PLACEHOLDER_CRITIC)
    converted = convert(
        state,
        model.generator.state_dict(),
        model.authors_prefixes(),
        cls.authors_unused,
        source=str(source),
    )
    model.generator.load_state_dict(converted.state_dict)
    for reason, keys in converted.dropped.items():
        console.print(f"note: dropped {len(keys)} key(s) of {source.name}: {reason}")
    for label in dropped_labels:
        console.print(f"note: class {label!r} of {source.name} is outside our vocabulary; left out")
    digest = sha256_file(source)
    model.save(  # atomic: a temporary file beside the target, renamed onto it
        target,
        metadata={
            "train_dataset": None,
            "imported": {
                "source": source.name,
                "sha256": digest,
                "labels": labels,
                "label_map": label_map,
                "dropped_keys": converted.dropped,
                "dropped_labels": dropped_labels,
                "critic": "placeholder (not imported)",
            },
            "provenance": provenance.collect(config, inputs={source.name: digest}),
        },
    )
    return target
