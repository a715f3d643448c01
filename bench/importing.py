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

The critic is not released with the generators (and not needed to translate): an imported
checkpoint carries a one-channel placeholder critic (``critic_dim`` 1, one layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench import layout
from bench.core import provenance
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import console
from bench.core.vocabulary import EXPRESSIONS
from models.authors import convert, permute_condition
from models.registry import MODELS

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


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain ``torch.save(state_dict)`` file (``module.`` prefixes of DataParallel removed)."""
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated / foreign files
        raise UserError(f"{path} is unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a state dict (a mapping of names to tensors)")
    if "main.0.weight" not in {k.removeprefix("module.") for k in state}:
        raise UserError(f"{path} has no main.0.weight: not a StarGAN-style generator")
    return {k.removeprefix("module."): v for k, v in state.items()}


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
    params: dict[str, Any],
    model_name: str,
    source: Path,
    labels: list[str] | None = None,
    out: Path | None = None,
) -> Path:
    """Convert the authors' generator file ``source`` into a harness checkpoint; return its path.

    ``labels``: the checkpoint's classes in channel order (default :data:`DEFAULT_LABELS`;
    not for GANimation, whose condition is the 17 action units). ``out``: default
    ``checkpoints/<model>/<train_dataset>/model.pt``.
    """
    if model_name not in IMPORTABLE:
        raise UserError(f"bench import knows {', '.join(IMPORTABLE)}, not {model_name!r}")
    cls = MODELS.load(model_name)
    state = read_state_dict(source)
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
    model = cls(image_size=int(params["image_size"]), **settings, **PLACEHOLDER_CRITIC)
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
    target = out or layout.checkpoint_path(params, model_name)
    model.save(
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
            "provenance": provenance.collect(params, inputs={source.name: digest}),
        },
    )
    return target
