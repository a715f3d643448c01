"""The prepared-dataset format: ``data/<name>/`` = ``images/*.png`` + ``manifest.csv`` + ``dataset.json``.

``manifest.csv`` has one row per image with the columns of :data:`COLUMNS`:

- ``image_id``: unique, file-name safe id; the image is ``images/<image_id>.png``
- ``subject``: identity id (string); splits never share a subject
- ``expression``: canonical name from :mod:`bench.core.vocabulary`
- ``split``: ``train`` or ``test`` (OOD sets are all ``test``)
- ``sha256``: hex digest of the PNG file's bytes
- ``file``: path of the PNG relative to the dataset folder
- ``source``: where the image came from (original file or ``synthetic``)

``dataset.json`` holds the dataset's name, kind, image size, whether it is
out-of-distribution, and the provenance of the ingest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core import atomic
from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.vocabulary import EXPRESSIONS

COLUMNS: tuple[str, ...] = (
    "image_id",
    "subject",
    "expression",
    "split",
    "sha256",
    "file",
    "source",
)
SPLITS: tuple[str, ...] = ("train", "test")
MANIFEST = "manifest.csv"
INFO = "dataset.json"
IMAGES = "images"


@dataclass
class DatasetInfo:
    """What ``dataset.json`` says about a prepared dataset."""

    name: str
    kind: str  # "synthetic", "synthetic_ood", "cfee", "folder"
    image_size: int  # pixels, square
    ood: bool  # out-of-distribution: sources only, no labelled targets of its own domain
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)


def validate(frame: pd.DataFrame, where: str = "manifest") -> pd.DataFrame:
    """Check columns, vocabulary, splits, id uniqueness and subject-disjointness; return ``frame``."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{where}: missing column(s) {', '.join(missing)}")
    bad_expr = sorted(set(frame["expression"]) - set(EXPRESSIONS))
    if bad_expr:
        raise UserError(
            f"{where}: unknown expression(s) {bad_expr}; valid: {', '.join(EXPRESSIONS)}"
        )
    bad_split = sorted(set(frame["split"]) - set(SPLITS))
    if bad_split:
        raise UserError(f"{where}: unknown split(s) {bad_split}; valid: {', '.join(SPLITS)}")
    dup = frame["image_id"][frame["image_id"].duplicated()]
    if len(dup):
        raise UserError(f"{where}: duplicate image_id {dup.iloc[0]!r}")
    per_subject = frame.groupby("subject")["split"].nunique()
    shared = per_subject[per_subject > 1]
    if len(shared):
        raise UserError(f"{where}: subject {shared.index[0]!r} is in both train and test")
    return frame


def unpublish(root: str | Path) -> None:
    """Remove ``manifest.csv`` (first) and ``dataset.json`` before a dataset is rewritten, so a
    half-rewritten folder never pairs the old manifest with new pixels."""
    (Path(root) / MANIFEST).unlink(missing_ok=True)
    (Path(root) / INFO).unlink(missing_ok=True)


def write_dataset(root: str | Path, frame: pd.DataFrame, info: DatasetInfo) -> None:
    """Validate and write ``dataset.json`` and then ``manifest.csv``, each atomically (images
    already in place; :func:`unpublish` ran before they were written).

    The manifest comes last: a folder with a manifest is a complete dataset.
    ``dataset.json`` gets the ingest's own provenance plus the git commit and
    library versions. Rows are sorted by ``image_id`` so the file is
    byte-identical for the same content.
    """
    root = Path(root)
    frame = validate(frame[list(COLUMNS)].copy(), where=str(root / MANIFEST))
    frame["subject"] = frame["subject"].astype(str)
    frame = frame.sort_values("image_id", kind="stable").reset_index(drop=True)
    from bench.core.provenance import git_state, library_versions

    record = dict(info.__dict__)
    record["provenance"] = {**info.provenance, "git": git_state(), "versions": library_versions()}
    atomic.write_text(root / INFO, json.dumps(record, indent=2, sort_keys=True) + "\n")
    atomic.write_text(root / MANIFEST, frame.to_csv(index=False, lineterminator="\n"))


def read_manifest(root: str | Path, check_files: bool = True) -> pd.DataFrame:
    """Read and validate ``root/manifest.csv``; with ``check_files``, every image must exist
    with the sha256 the manifest records (a set re-prepared in part, or edited by hand, is a
    :class:`UserError`)."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise UserError(
            f"no prepared dataset at {root}: {path} is missing "
            "(prepare it first, e.g. `bench data synthetic` or `dvc repro data`)"
        )
    frame = pd.read_csv(path, dtype={"subject": str, "image_id": str, "sha256": str})
    validate(frame, where=str(path))
    if check_files:
        for rel, expected in zip(frame["file"], frame["sha256"], strict=True):
            if not (root / rel).is_file():
                raise UserError(f"{path}: listed image {root / rel} does not exist")
            if sha256_file(root / rel) != expected:
                raise UserError(
                    f"{path}: {root / rel} differs from the sha256 the manifest records; "
                    "prepare the dataset again (`bench data prepare`)"
                )
    return frame


def read_info(root: str | Path) -> DatasetInfo:
    """Read ``root/dataset.json``."""
    path = Path(root) / INFO
    if not path.is_file():
        raise UserError(f"no prepared dataset at {root}: {path} is missing")
    return DatasetInfo(**json.loads(path.read_text(encoding="utf-8")))
