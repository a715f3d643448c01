"""Running a trained model over a dataset's neutral source faces, for every target expression.

Writes ``outputs/<model>/<dataset>/<target>/<source-id>.png``, ``outputs.csv``
(output_id, source_id, subject, target_expression, file, sha256) and
``generator.json`` (which checkpoint made them, its sha256, what it was trained
on and, for adapted models, which target-domain images it saw). The folder is
built in a staging folder beside it and swapped in at the end
(:func:`bench.core.atomic.staged_dir`): the old outputs stay until the new ones
are complete, and an interrupted run's staging folder is removed by the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from bench import layout
from bench.core import atomic
from bench.core.device import inference_precision
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.progress import progress_bar
from bench.core.tensors import to_model_range, to_uint8
from bench.core.vocabulary import INDEX, NEUTRAL, parse_expressions
from datasets.manifest import MANIFEST, read_manifest
from datasets.png import save_png
from datasets.tensors import decode_images
from models.base import Generator, load_generator

if TYPE_CHECKING:
    from bench.config import Config

OUTPUTS_MANIFEST = "outputs.csv"
OUTPUT_COLUMNS = ("output_id", "source_id", "subject", "target_expression", "file", "sha256")
GENERATOR_FILE = "generator.json"


def generator_checkpoint(config: Config, model_name: str, dataset: str) -> Path:
    """The checkpoint that translates ``dataset``: the model's own one for that dataset when
    the model adapts per dataset (``bench adapt``), else the one trained on ``train_dataset``.
    A row of ``bench score`` has none: its ``outputs.csv`` made it (:mod:`bench.scored`)."""
    from bench.scored import is_scored_name
    from models.registry import MODELS

    if is_scored_name(model_name):
        return layout.outputs_dir(config, model_name, dataset) / OUTPUTS_MANIFEST
    adapted = MODELS.load(model_name).adapts_per_dataset
    return layout.checkpoint_path(config, model_name, dataset if adapted else None)


def generator_record(config: Config, path: Path, model: Generator) -> dict[str, Any]:
    """What ``generator.json`` says of ``model``, loaded from ``path`` (named relative to the
    checkpoints folder, so the record does not depend on where the project lives)."""
    metadata = model.checkpoint_metadata
    root = config.root("checkpoints")
    return {
        "model": model.name,
        "checkpoint": path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name,
        "checkpoint_sha256": sha256_file(path),
        "train_dataset": metadata.get("train_dataset"),
        "adaptation": metadata.get("adaptation"),
        "imported": metadata.get("imported"),
    }


def source_faces(config: Config, dataset: str) -> pd.DataFrame:
    """Neutral test-split faces of ``dataset`` used as sources (sorted, capped by max_sources)."""
    frame = read_manifest(layout.dataset_dir(config, dataset))
    sources = frame[(frame["expression"] == NEUTRAL) & (frame["split"] == "test")]
    sources = sources.sort_values("image_id").drop_duplicates("subject")
    if config.evaluation.max_sources is not None:
        sources = sources.head(config.evaluation.max_sources)
    if sources.empty:
        raise UserError(f"dataset {dataset!r} has no neutral test-split faces to translate")
    return sources.reset_index(drop=True)


def synthesize(config: Config, model_name: str, dataset: str, device: torch.device) -> Path:
    """Translate every source face of ``dataset`` to every target; return the outputs folder."""
    checkpoint = generator_checkpoint(config, model_name, dataset)
    model = load_generator(checkpoint, expected_model=model_name)
    model.to(device).eval()
    targets = parse_expressions(config.targets)
    root = layout.dataset_dir(config, dataset)
    sources = source_faces(config, dataset)
    images = decode_images([root / f for f in sources["file"]])
    if images.shape[-1] != model.image_size:
        raise UserError(
            f"{dataset} images are {images.shape[-1]} px but {model_name} was trained at "
            f"{model.image_size} px; prepare data and train with the same profile"
        )
    final = layout.outputs_dir(config, model_name, dataset)
    batch_size = config.evaluation.batch_size
    bf16 = config.evaluation.synthesis_bf16
    rows = []
    with (
        atomic.staged_dir(final) as staging,
        progress_bar(
            f"synthesize {model_name} on {dataset}", len(sources) * len(targets)
        ) as advance,
    ):
        for target in targets:
            (staging / target).mkdir()
            for start in range(0, len(sources), batch_size):
                batch = images[start : start + batch_size]
                labels = torch.full((len(batch),), INDEX[target], dtype=torch.int64, device=device)
                with torch.inference_mode(), inference_precision(device, bf16):
                    out = model.translate(to_model_range(batch.to(device)), labels)
                pixels = to_uint8(out).permute(0, 2, 3, 1).cpu().numpy()
                for offset, array in enumerate(pixels):
                    source = sources.iloc[start + offset]
                    rel = f"{target}/{source['image_id']}.png"
                    save_png(array, staging / rel)
                    rows.append(
                        {
                            "output_id": f"{source['image_id']}__{target}",
                            "source_id": source["image_id"],
                            "subject": source["subject"],
                            "target_expression": target,
                            "file": rel,
                            "sha256": sha256_file(staging / rel),
                        }
                    )
                advance(len(batch))
        table = pd.DataFrame(rows).sort_values("output_id").reset_index(drop=True)
        atomic.write_text(
            staging / OUTPUTS_MANIFEST, table.to_csv(index=False, lineterminator="\n")
        )
        atomic.write_text(
            staging / GENERATOR_FILE,
            json.dumps(generator_record(config, checkpoint, model), indent=2, sort_keys=True)
            + "\n",
        )
    return final


def read_outputs(config: Config, model_name: str, dataset: str) -> pd.DataFrame:
    """The outputs manifest of (model, dataset); clear error when not synthesized yet."""
    path = layout.outputs_dir(config, model_name, dataset) / OUTPUTS_MANIFEST
    if not path.is_file():
        raise UserError(
            f"no outputs at {path.parent} (run `bench synthesize --model {model_name} --dataset {dataset}`)"
        )
    return pd.read_csv(
        path, dtype={"subject": str, "source_id": str, "output_id": str, "sha256": str}
    )


def check_outputs(
    outputs: pd.DataFrame, manifest: pd.DataFrame, out_root: Path, data_root: Path
) -> None:
    """A one-line :class:`UserError` unless ``outputs.csv`` still fits the dataset and the disk.

    Every output's source id must be in the dataset's manifest with the same
    subject, every target a known expression, and every output file present
    with the sha256 that ``outputs.csv`` records (a dataset re-prepared after
    synthesis, or an outputs folder edited by hand, fails here).
    """
    path = out_root / OUTPUTS_MANIFEST
    rerun = "re-run `bench synthesize` (or `bench run`)"
    absent = [c for c in OUTPUT_COLUMNS if c not in outputs.columns]
    if absent:
        raise UserError(f"{path}: missing column(s) {absent}; {rerun}")
    subjects = manifest.set_index("image_id")["subject"]
    unknown = sorted(set(outputs["source_id"]) - set(subjects.index))
    if unknown:
        raise UserError(
            f"{path}: source id(s) {unknown[:3]} ({len(unknown)} in all) are not in "
            f"{data_root / MANIFEST}: the dataset changed after synthesis; {rerun}"
        )
    moved = outputs["subject"].to_numpy() != subjects.loc[outputs["source_id"]].to_numpy()
    if moved.any():
        row = outputs[moved].iloc[0]
        raise UserError(
            f"{path}: source {row['source_id']!r} is subject {row['subject']!r} there but "
            f"{subjects[row['source_id']]!r} in {data_root / MANIFEST}; {rerun}"
        )
    bad_targets = sorted(set(outputs["target_expression"]) - set(INDEX))
    if bad_targets:
        raise UserError(f"{path}: unknown target expression(s) {bad_targets}; {rerun}")
    for row in outputs.itertuples():
        file = out_root / row.file
        if not file.is_file():
            raise UserError(f"{path}: listed output {file} does not exist; {rerun}")
        if sha256_file(file) != row.sha256:
            raise UserError(f"{path}: {file} differs from the sha256 recorded for it; {rerun}")


def read_generator(config: Config, model_name: str, dataset: str) -> dict[str, Any]:
    """``generator.json`` of (model, dataset); empty when the outputs predate it."""
    path = layout.outputs_dir(config, model_name, dataset) / GENERATOR_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
