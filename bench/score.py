"""``bench score``: a folder of outputs made anywhere becomes a row of a dataset's comparison,
and two plain folders get the set metrics that clean-fid and torch-fidelity give.

**A folder as a row** (:func:`score_folder`). The folder is laid out as
``<target-expression>/<source-image-id>.<ext>`` (the layout of ``outputs/<model>/<dataset>/``;
files at its top level, such as a copied ``outputs.csv``, are ignored), or a CSV
(``file,source_id,target_expression``) maps each file to its source and target. Every
(source face, configured target) pair of the dataset must have exactly one image of the
dataset's size (``allow_missing`` scores the pairs present; ``resize`` resizes with PIL
bicubic). Every problem found is one line of the :class:`UserError`. The images are copied,
re-encoded as the harness's PNGs, into ``outputs/<name>/<dataset>/`` with ``outputs.csv`` and a
``generator.json`` that says ``scored_from_folder`` (the folder, its content sha256, the
mapping, what was resized or missing): from there the ordinary evaluation
(:func:`bench.evaluate.evaluate`) writes ``results/records/<name>/`` and
``results/metrics/<name>/`` as for any model, so equal pixels give equal records.

A scored row has no checkpoint: what made it is its ``outputs.csv`` (which holds every image's
sha256). :func:`bench.synthesize.generator_checkpoint` returns that file for a *scored name*
(:func:`bench.scored.is_scored_name`: a plain name that is not a registered model; ``bench
score`` refuses model names), so the evaluation fingerprint, the report's stale check and its
fingerprint work unchanged. Rescoring a folder whose content sha256 and options are unchanged,
with current records (:func:`bench.fingerprint.evaluation_mismatch`), does nothing.

The report learns of scored rows by scanning ``results/records/``
(:func:`bench.scored.scored_names`, in :func:`bench.report.scope.current_scope`): a scored name
with a current record on a reported dataset joins the tables, on the datasets it was scored on
only (:mod:`bench.report.scored`), its row label marked ``§`` with a footnote.

**Two folders** (:func:`score_folders`): FID and KID between the Inception features of every
image under each folder (clean-fid's loader, "clean" resize and network, as
:mod:`metrics.fid`), QualiCLIP's mean over the fake folder.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from bench import fingerprint, layout
from bench.core import atomic
from bench.core.errors import MissingWeightsError, UserError, one_line
from bench.core.hashing import sha256_file
from bench.core.vocabulary import parse_expressions
from bench.scored import NAME_PATTERN, SCORED, is_scored_name
from bench.synthesize import GENERATOR_FILE, OUTPUTS_MANIFEST, read_generator, source_faces
from datasets.manifest import MANIFEST, read_manifest
from datasets.png import load_png, save_png

if TYPE_CHECKING:
    from bench.config import Config

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"})
RESIZE = "PIL bicubic"
SET_METRICS = ("fid", "kid", "qualiclip")


def check_name(config: Config, name: str) -> None:
    """A one-line error unless ``name`` can be a scored row's name."""
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"--name {name!r}: use letters, digits, '_' and '-' (it names folders and table rows)"
        )
    if not is_scored_name(name) or name in config.table_models:
        raise UserError(
            f"--name {name!r} is a model of the harness: choose another name for the scored row"
        )


# -- reading the folder ----------------------------------------------------------------------
def list_folder(folder: Path, mapping: Path | None) -> tuple[pd.DataFrame, list[str]]:
    """``(file, source_id, target_expression)`` of the folder's images (``file`` relative to
    ``folder``, POSIX), and the problems of the layout or mapping (one line each)."""
    if mapping is not None:
        return _read_mapping(folder, mapping)
    rows, stray = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES or len(rel.parts) == 1:
            continue  # outputs.csv, generator.json, notes: not images of the layout
        if len(rel.parts) != 2:
            stray.append(rel.as_posix())
            continue
        rows.append((rel.as_posix(), path.stem, rel.parts[0]))
    problems = []
    if stray:
        problems.append(
            f"{len(stray)} image(s) are not at <target-expression>/<source-image-id>.png "
            f"(e.g. {stray[0]}); or map them with --mapping CSV"
        )
    frame = pd.DataFrame(rows, columns=["file", "source_id", "target_expression"])
    return frame, problems


def _read_mapping(folder: Path, mapping: Path) -> tuple[pd.DataFrame, list[str]]:
    if not mapping.is_file():
        raise UserError(f"--mapping {mapping}: no such file")
    try:
        table = pd.read_csv(mapping, dtype=str, keep_default_na=False)
    except Exception as error:
        raise UserError(f"--mapping {mapping}: not a readable CSV ({one_line(error)})") from None
    table = table.rename(columns={"target": "target_expression"})
    needed = ["file", "source_id", "target_expression"]
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise UserError(
            f"--mapping {mapping}: missing column(s) {absent}; expected file,source_id,"
            "target_expression (file relative to the folder)"
        )
    table = table[needed].copy()
    table["file"] = [Path(f).as_posix() for f in table["file"]]
    return table.reset_index(drop=True), []


def content_sha256(folder: Path, files: list[str], mapping: Path | None) -> str:
    """sha256 over the sorted (relative path, file sha256) of the images, and the mapping's
    bytes: the folder's content as far as scoring reads it."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        file = folder / rel
        digest.update(f"{rel}\t{sha256_file(file) if file.is_file() else '-'}\n".encode())
    if mapping is not None:
        digest.update(b"mapping\t" + mapping.read_bytes())
    return digest.hexdigest()


def _example(frame: pd.DataFrame) -> str:
    return str(frame["file"].iloc[0])


def check_folder(
    config: Config, dataset: str, folder: Path, frame: pd.DataFrame, allow_missing: bool
) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """The rows of ``frame`` that name a (source face, configured target) pair of ``dataset``
    (with ``subject`` added), the problems (one line each), and the counts of pairs."""
    data_root = layout.dataset_dir(config, dataset)
    manifest = read_manifest(data_root)
    sources = source_faces(config, dataset)
    targets = parse_expressions(config.targets)
    problems: list[str] = []
    in_dataset = frame["source_id"].isin(set(manifest["image_id"]))
    is_source = frame["source_id"].isin(set(sources["image_id"]))
    if (~in_dataset).any():
        bad = frame[~in_dataset]
        problems.append(
            f"{len(bad)} file(s) name source ids that are not in {data_root / MANIFEST} "
            f"(e.g. {_example(bad)}: {bad['source_id'].iloc[0]!r})"
        )
    if (in_dataset & ~is_source).any():
        bad = frame[in_dataset & ~is_source]
        problems.append(
            f"{len(bad)} file(s) name images of {dataset} that are not among its "
            f"{len(sources)} source faces (neutral, test split; e.g. {_example(bad)})"
        )
    known = frame["target_expression"].isin(targets)
    if (~known).any():
        names = sorted(set(frame.loc[~known, "target_expression"]))
        problems.append(
            f"unknown target expression(s) {names} ({int((~known).sum())} file(s), e.g. "
            f"{_example(frame[~known])}); the configured targets are {', '.join(targets)}"
        )
    valid = frame[is_source & known]
    doubled = valid[valid.duplicated(["source_id", "target_expression"], keep=False)]
    if not doubled.empty:
        problems.append(
            f"{doubled[['source_id', 'target_expression']].drop_duplicates().shape[0]} "
            f"(source, target) pair(s) have more than one image (e.g. "
            f"{', '.join(doubled['file'].head(2))})"
        )
    expected = len(sources) * len(targets)
    missing = expected - len(valid.drop_duplicates(["source_id", "target_expression"]))
    if missing and not allow_missing:
        have = set(zip(valid["source_id"], valid["target_expression"], strict=True))
        first = next(
            f"{t}/{s}.png" for t in targets for s in sources["image_id"] if (s, t) not in have
        )
        problems.append(
            f"{missing} of {expected} (source, target) pairs of {dataset} have no image in "
            f"{folder} (e.g. {first}); pass --allow-missing to score the rest"
        )
    subjects = sources.set_index("image_id")["subject"]
    valid = valid.assign(subject=subjects.reindex(valid["source_id"]).to_numpy())
    counts = {"expected_pairs": expected, "scored_pairs": expected - missing, "missing": missing}
    return valid.reset_index(drop=True), problems, counts


def read_images(
    folder: Path, frame: pd.DataFrame, size: tuple[int, int], resize: bool
) -> tuple[list[np.ndarray], list[str], int]:
    """Each row's image as (H, W, 3) uint8 RGB of ``size`` (H, W), the problems (unreadable
    files, wrong sizes without ``resize``) and how many were resized."""
    from PIL import Image

    images, unreadable, wrong = [], [], []
    resized = 0
    for rel in frame["file"]:
        try:
            with Image.open(folder / rel) as image:
                rgb = image.convert("RGB")
        except Exception as error:
            unreadable.append(f"{rel}: {one_line(error, 120)}")
            images.append(None)
            continue
        if (rgb.height, rgb.width) != size:
            if not resize:
                wrong.append((rel, rgb.width, rgb.height))
                images.append(None)
                continue
            rgb = rgb.resize((size[1], size[0]), Image.Resampling.BICUBIC)
            resized += 1
        images.append(np.asarray(rgb, dtype=np.uint8).copy())
    problems = []
    if unreadable:
        problems.append(f"{len(unreadable)} file(s) are not readable images (e.g. {unreadable[0]})")
    if wrong:
        rel, width, height = wrong[0]
        problems.append(
            f"{len(wrong)} image(s) are not {size[1]}x{size[0]} like the dataset's (e.g. {rel} "
            f"is {width}x{height}); pass --resize to resize them ({RESIZE}, said in provenance)"
        )
    return images, problems, resized


# -- scoring a folder as a row ---------------------------------------------------------------
def _unchanged(config: Config, name: str, dataset: str, scored: dict[str, Any]) -> bool:
    """The outputs of ``name`` came from the same folder content with the same options, and
    its records are current (:func:`bench.fingerprint.evaluation_mismatch`)."""
    recorded = read_generator(config, name, dataset).get(SCORED) or {}
    keys = ("content_sha256", "mapping_sha256", "resize", "allow_missing")
    same = all(recorded.get(k) == scored.get(k) for k in keys)
    return same and fingerprint.evaluation_mismatch(config, name, dataset) is None


def write_outputs(
    config: Config,
    name: str,
    dataset: str,
    rows: pd.DataFrame,
    images: list[np.ndarray],
    scored: dict[str, Any],
) -> Path:
    """``outputs/<name>/<dataset>/``: the images as PNGs in the standard layout, ``outputs.csv``
    and ``generator.json`` (its ``checkpoint_sha256`` is ``outputs.csv``'s, see module doc)."""
    final = layout.outputs_dir(config, name, dataset)
    table = []
    with atomic.staged_dir(final) as staging:
        for row, pixels in zip(rows.itertuples(), images, strict=True):
            rel = f"{row.target_expression}/{row.source_id}.png"
            (staging / row.target_expression).mkdir(exist_ok=True)
            save_png(pixels, staging / rel)
            table.append(
                {
                    "output_id": f"{row.source_id}__{row.target_expression}",
                    "source_id": row.source_id,
                    "subject": row.subject,
                    "target_expression": row.target_expression,
                    "file": rel,
                    "sha256": sha256_file(staging / rel),
                }
            )
        frame = pd.DataFrame(table).sort_values("output_id").reset_index(drop=True)
        manifest = staging / OUTPUTS_MANIFEST
        atomic.write_text(manifest, frame.to_csv(index=False, lineterminator="\n"))
        record = {
            "model": name,
            "checkpoint": f"{name}/{dataset}/{OUTPUTS_MANIFEST} (outputs folder)",
            "checkpoint_sha256": sha256_file(manifest),
            "train_dataset": None,
            "adaptation": None,
            "imported": None,
            SCORED: scored,
        }
        atomic.write_text(
            staging / GENERATOR_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n"
        )
    return final


def score_folder(
    config: Config,
    folder: Path,
    dataset: str,
    name: str,
    device: torch.device,
    mapping: Path | None = None,
    allow_missing: bool = False,
    resize: bool = False,
    strict: bool | None = None,
) -> tuple[Path, bool]:
    """Score ``folder`` as the row ``name`` of ``dataset`` (module doc); return the records path
    and whether they were reused (the folder and everything the scores depend on unchanged)."""
    from bench.data import check_dataset_names
    from bench.evaluate import evaluate

    check_name(config, name)
    check_dataset_names(config, [dataset])
    if config.data_per_seed:
        raise UserError(
            f"bench score {folder}: params `seed_data: per_seed` gives each seed its own "
            f"{dataset} images, and a folder of outputs answers one of them; score it in a "
            "project with seed_data: first (or one seed)"
        )
    data_root = layout.dataset_dir(config, dataset)
    if not (data_root / MANIFEST).is_file():
        raise UserError(
            f"dataset {dataset!r} is not prepared at {data_root}: run `bench data prepare`"
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    frame, problems = list_folder(folder, mapping)
    if frame.empty and not problems:
        raise UserError(f"{folder} holds no images laid out as <target-expression>/<source-id>.png")
    scored = {
        "folder": str(folder.resolve()),
        "content_sha256": content_sha256(folder, list(frame["file"]), mapping),
        "mapping": str(mapping.resolve()) if mapping else None,
        "mapping_sha256": sha256_file(mapping) if mapping else None,
        "resize": RESIZE if resize else None,
        "allow_missing": bool(allow_missing),
    }
    records = layout.records_path(config, name, dataset)
    if _unchanged(config, name, dataset, scored):
        return records, True
    rows, found, counts = check_folder(config, dataset, folder, frame, allow_missing)
    problems += found
    source = load_png(data_root / source_faces(config, dataset)["file"].iloc[0])
    images, found, resized = read_images(folder, rows, source.shape[:2], resize)
    problems += found
    if problems:
        raise UserError(
            f"{folder} cannot be scored as {name} on {dataset}:\n" + "\n".join(problems)
        )
    if rows.empty:
        raise UserError(f"{folder} has no image of any (source, target) pair of {dataset}")
    scored |= counts | {"resized_images": resized, "files": len(rows)}
    write_outputs(config, name, dataset, rows, images, scored)
    return evaluate(config, name, dataset, device, strict), False


# -- two plain folders -----------------------------------------------------------------------
def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursive, sorted, as clean-fid lists a folder)."""
    if not Path(folder).is_dir():
        raise UserError(f"{folder} is not a folder")
    files = sorted(
        p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise UserError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _readable(files: list[Path]) -> None:
    from PIL import Image

    for file in files:
        try:
            with Image.open(file) as image:
                image.verify()
        except Exception as error:
            raise UserError(f"{file}: not a readable image ({one_line(error, 120)})") from None


def parse_set_metrics(names: str | None) -> list[str]:
    """``fid,kid,qualiclip`` (default all) checked against :data:`SET_METRICS`."""
    chosen = [n.strip().lower() for n in (names or ",".join(SET_METRICS)).split(",") if n.strip()]
    unknown = [n for n in chosen if n not in SET_METRICS]
    if unknown or not chosen:
        raise UserError(
            f"--metrics: unknown metric(s) {unknown}; choose from {', '.join(SET_METRICS)}"
        )
    return list(dict.fromkeys(chosen))


def _qualiclip_mean(metric: Any, files: list[Path], device: torch.device) -> float:
    from bench.core.tensors import to_model_range

    scores = []
    for file in files:  # one at a time: the folder's images may differ in size
        pixels = torch.from_numpy(load_png(file)).permute(2, 0, 1)[None]
        scores.append(metric.quality(to_model_range(pixels.to(device))))
    return float(np.mean(np.concatenate(scores)))


def score_folders(
    config: Config, real: Path, fake: Path, metrics: list[str], device: torch.device
) -> dict[str, Any]:
    """FID / KID between every image under ``real`` and under ``fake`` (the configured ``fid``
    metric's Inception network and KID subsets, seeded with ``seed``) and QualiCLIP's mean
    over ``fake``; a metric whose weights are absent is in ``missing`` with the reason."""
    from metrics.frechet import frechet_distance, kernel_distance
    from metrics.registry import build_metric

    real_files, fake_files = image_files(real), image_files(fake)
    _readable(real_files + fake_files)
    values: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    details: dict[str, Any] = {}
    if {"fid", "kid"} & set(metrics):
        try:
            fid = build_metric("fid", config.metric_settings_of("fid")).to(device)
        except MissingWeightsError as error:
            for name in ("fid", "kid"):
                if name in metrics:
                    missing[name] = one_line(error)
        else:
            real_features = fid.features.of_files(real_files)
            fake_features = fid.features.of_files(fake_files)
            details["extractor"] = fid.features.describe()
            if "fid" in metrics:
                values["fid"] = frechet_distance(real_features, fake_features)
            if "kid" in metrics:
                values["kid"] = kernel_distance(
                    fake_features, real_features, fid.kid_subsets, fid.kid_subset_size, config.seed
                )
                details["kid"] = {
                    "subsets": fid.kid_subsets,
                    "subset_size": fid.kid_subset_size,
                    "seed": config.seed,
                }
    if "qualiclip" in metrics:
        try:
            quality = build_metric("qualiclip", config.metric_settings_of("qualiclip")).to(device)
        except MissingWeightsError as error:
            missing["qualiclip"] = one_line(error)
        else:
            values["qualiclip"] = _qualiclip_mean(quality, fake_files, device)
    return {
        "real": str(real),
        "fake": str(fake),
        "real_images": len(real_files),
        "fake_images": len(fake_files),
        "metrics": {
            k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()
        },
        "missing": missing,
        "details": details,
    }
