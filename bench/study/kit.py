"""Write the study kit: a static page set (index.html, study.js, study.css, trials.js, img/)
that runs from file:// or any static host, and the answer key in a separate file.

Participant-facing files name images only by blinded ids (random tokens from the seed);
``key.json`` maps each blinded id back to its model, dataset, target and source and lists
every trial with its kind (comparison or attention check) and right answer. The kit folder
is built under a temporary name and swapped in whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench import layout
from bench.core import atomic, provenance
from bench.core.errors import UserError
from bench.study.design import QUESTIONS, SAME, Shown, Trial, plan_trials
from bench.synthesize import read_outputs, source_faces
from datasets.png import load_png, save_png

if TYPE_CHECKING:
    from bench.config import Config

ASSETS = ("index.html", "study.js", "study.css")
GARBLE_TILES = 4
"""A garbled image is the genuine one with colours inverted and its 4 x 4 tiles shuffled."""


def collect_outputs(
    config: Config, models: list[str], datasets: list[str]
) -> tuple[pd.DataFrame, dict[tuple[str, str], Path]]:
    """Every synthesized output of ``models`` on ``datasets`` (model, dataset, source_id,
    target_expression, path) and each dataset's source faces ``{(dataset, source_id): png}``."""
    rows = []
    sources: dict[tuple[str, str], Path] = {}
    for dataset in datasets:
        root = layout.dataset_dir(config, dataset)
        for face in source_faces(config, dataset).itertuples():
            sources[(dataset, face.image_id)] = root / face.file
        for model in models:
            folder = layout.outputs_dir(config, model, dataset)
            for row in read_outputs(config, model, dataset).itertuples():
                if (dataset, row.source_id) in sources:
                    rows.append(
                        {
                            "model": model,
                            "dataset": dataset,
                            "source_id": row.source_id,
                            "target_expression": row.target_expression,
                            "path": folder / row.file,
                        }
                    )
    return pd.DataFrame(rows), sources


def garble(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An obviously broken copy of uint8 (H, W, 3) ``pixels``: colours inverted, tiles shuffled."""
    height, width = (side - side % GARBLE_TILES for side in pixels.shape[:2])
    inverted = 255 - pixels[:height, :width]
    th, tw = height // GARBLE_TILES, width // GARBLE_TILES
    tiles = [
        inverted[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
        for r in range(GARBLE_TILES)
        for c in range(GARBLE_TILES)
    ]
    order = rng.permutation(len(tiles))
    rows = [
        np.concatenate([tiles[i] for i in order[r * GARBLE_TILES : (r + 1) * GARBLE_TILES]], 1)
        for r in range(GARBLE_TILES)
    ]
    return np.ascontiguousarray(np.concatenate(rows, 0))


def blinded_ids(trials: list[Trial], rng: np.random.Generator) -> dict[Shown, str]:
    """A distinct random token (``i`` + 10 hex digits) for every image the trials show."""
    images = {Shown("source", t.source) for t in trials} | {s for t in trials for s in t.pair}
    ordered = sorted(images, key=lambda s: (s.role, s.path.as_posix(), s.model or ""))
    tokens: dict[Shown, str] = {}
    used: set[str] = set()
    for image in ordered:
        token = f"i{int(rng.integers(16**10)):010x}"
        while token in used:
            token = f"i{int(rng.integers(16**10)):010x}"
        used.add(token)
        tokens[image] = token
    return tokens


def image_record(image: Shown, trial: Trial) -> dict[str, Any]:
    """What the key says of one blinded image (``model`` is None for sources and garbled ones)."""
    return {
        "role": image.role,
        "model": image.model,
        "dataset": trial.dataset,
        "target": trial.target if image.role == "output" else None,
        "source_id": trial.source_id,
        "file": image.path.as_posix(),
    }


def build(
    trials: list[Trial], rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Shown]]:
    """The participant-facing study data, the key (without provenance) and blinded id -> image."""
    tokens = blinded_ids(trials, rng)
    public, key_trials, images = [], {}, {}
    width = len(str(len(trials)))
    for number, trial in enumerate(trials, 1):
        trial_id = f"t{number:0{width}d}"
        pair = [tokens[s] for s in trial.pair]
        source = tokens[Shown("source", trial.source)]
        public.append(
            {
                "id": trial_id,
                "criterion": trial.criterion,
                "target": trial.target,
                "source": source,
                "images": pair,
            }
        )
        correct = trial.correct if trial.correct in (None, SAME) else pair[trial.correct]
        key_trials[trial_id] = {
            "criterion": trial.criterion,
            "kind": trial.kind,
            "dataset": trial.dataset,
            "source_id": trial.source_id,
            "target": trial.target,
            "source": source,
            "images": pair,
            "correct": correct,
        }
        for image in (Shown("source", trial.source), *trial.pair):
            images.setdefault(tokens[image], (image, trial))
    questions = {c: QUESTIONS[c] for c in dict.fromkeys(t.criterion for t in trials)}
    key = {
        "trials": key_trials,
        "images": {token: image_record(*images[token]) for token in sorted(images)},
    }
    digest = hashlib.sha256(
        json.dumps([public, questions, key], sort_keys=True).encode()
    ).hexdigest()[:16]
    study = {"kit_id": digest, "questions": questions, "trials": public}
    return (
        study,
        {"kit_id": digest, "questions": questions, **key},
        {t: s for t, (s, _) in images.items()},
    )


def write_images(folder: Path, images: dict[str, Shown], rng: np.random.Generator) -> None:
    """Copy every shown image to ``folder/<blinded id>.png``; draw the garbled ones."""
    folder.mkdir()
    for token in sorted(images):
        image = images[token]
        if image.role == "garbled":
            save_png(garble(load_png(image.path), rng), folder / f"{token}.png")
        else:
            shutil.copyfile(image.path, folder / f"{token}.png")


def make_kit(
    config: Config,
    models: list[str],
    datasets: list[str],
    criteria: list[str],
    comparisons: int,
    seed: int,
    out: Path,
    key_path: Path,
) -> dict[str, Any]:
    """Write the kit folder ``out`` and the answer key ``key_path``; return the key.

    ``comparisons``: model-vs-model trials per criterion (every participant sees all of
    them, plus two attention checks per criterion). The same inputs and seed give the
    same kit, byte for byte.
    """
    out, key_path = Path(out), Path(key_path)
    if key_path.resolve().is_relative_to(out.resolve()):
        raise UserError(f"the key {key_path} must not be inside the kit folder {out}")
    rng = np.random.default_rng(seed)
    outputs, sources = collect_outputs(config, models, datasets)
    trials = plan_trials(outputs, sources, models, criteria, comparisons, rng)
    study, key, images = build(trials, rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for name in ASSETS:
            text = resources.files("bench.study").joinpath("assets", name).read_text("utf-8")
            (staging / name).write_text(text, encoding="utf-8")
        (staging / "trials.js").write_text(
            "window.FES_STUDY = " + json.dumps(study, indent=1, sort_keys=True) + ";\n",
            encoding="utf-8",
        )
        write_images(staging / "img", images, rng)
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    key = {
        **key,
        "seed": seed,
        "models": models,
        "datasets": datasets,
        "criteria": criteria,
        "provenance": provenance.collect(config),
    }
    atomic.write_text(key_path, json.dumps(key, indent=1, sort_keys=True) + "\n")
    return key
