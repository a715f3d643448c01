"""Ingest a copy of CFEE (Du, Tao & Martinez, PNAS 2014) into the prepared-dataset format.

CFEE is distributed as ``CFEE_Database_230/<group>/Images<k>/EE_SSS_NNNN.jpg``
(``EE`` category id, ``SSS`` subject, ``NNNN`` shot). Every file below the
root is considered, whatever the folder names; the file name decides. The
category ids of the 7-class vocabulary are mapped in :data:`BASIC_CATEGORIES`,
the one place that does it; ids 08-22 are the 15 compound categories, skipped
with a reason. ``AU_annotation_all_subjects.xls``, when present and readable
(it needs ``xlrd``), is used to check that mapping and to name the compound
categories in the report; it never makes the ingest fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from datasets import ingest
from datasets.align import FaceAligner
from datasets.ingest import IngestReport, IngestSummary, Progress
from datasets.manifest import IMAGES, DatasetInfo, write_dataset
from datasets.png import save_png
from datasets.split import check_test_fraction, subject_split

BASIC_CATEGORIES: dict[int, str] = {
    1: "neutral",
    2: "happy",
    3: "sad",
    4: "fearful",
    5: "angry",
    6: "surprised",
    7: "disgusted",
}
"""CFEE category id -> canonical expression (the order of the CFEE paper)."""

COMPOUND_CATEGORIES = range(8, 23)
"""Ids of CFEE's 15 compound categories (not in the 7-class vocabulary)."""

ANNOTATION_TABLE = "AU_annotation_all_subjects.xls"
FILE_NAME = re.compile(r"^(?P<category>\d{2})_(?P<subject>\d+)_(?P<shot>\d+)\.jpe?g$", re.I)
EXPECTED_LAYOUT = (
    "CFEE_Database_230/{01-04/Images1, 05-08/Images2, ...}/EE_SSS_NNNN.jpg "
    "(EE: two-digit category id, 01 = neutral; SSS: subject id; NNNN: shot number)"
)

_NAME_SYNONYMS = {
    "happiness": "happy",
    "sadness": "sad",
    "fear": "fearful",
    "anger": "angry",
    "surprise": "surprised",
    "disgust": "disgusted",
}


@dataclass(frozen=True)
class CfeeName:
    """The parts of a CFEE file name ``EE_SSS_NNNN.jpg`` (digit strings kept as written)."""

    category: int
    subject: str
    shot: str

    @property
    def image_id(self) -> str:
        """``<subject>_<category>_<shot>``: unique per file, groups a subject's images."""
        return f"{self.subject}_{self.category:02d}_{self.shot}"


def parse_name(name: str) -> CfeeName | None:
    """Parse a file name such as ``05_017_0001.jpg``; ``None`` if it is not one."""
    match = FILE_NAME.match(name)
    if match is None:
        return None
    return CfeeName(int(match["category"]), match["subject"], match["shot"])


def category_names_from_sheets(sheets: dict[str, pd.DataFrame]) -> dict[int, str]:
    """Category id -> name from the annotation workbook's sheets (read with ``header=None``).

    Uses the sheet called ``summary`` when there is one, else the first sheet
    that yields names; a row counts when its first cell is an integer id 1..99
    and its second a non-empty text.
    """
    ordered = sorted(sheets.items(), key=lambda item: str(item[0]).strip().lower() != "summary")
    for _, frame in ordered:
        names: dict[int, str] = {}
        for row in frame.itertuples(index=False):
            if len(row) < 2:
                break
            category_id = pd.to_numeric(row[0], errors="coerce")
            if pd.isna(category_id) or category_id != int(category_id):
                continue
            if 1 <= int(category_id) <= 99 and isinstance(row[1], str) and row[1].strip():
                names[int(category_id)] = row[1].strip()
        if names:
            return names
    return {}


def _canonical(name: str) -> str:
    key = " ".join(name.lower().split())
    return _NAME_SYNONYMS.get(key, key)


def check_category_names(names: dict[int, str]) -> list[str]:
    """Disagreements between the table's names and :data:`BASIC_CATEGORIES` (empty: they agree)."""
    problems = []
    for category_id, expression in BASIC_CATEGORIES.items():
        if category_id not in names:
            problems.append(f"id {category_id:02d} ({expression}) is missing from the table")
        elif _canonical(names[category_id]) != expression:
            problems.append(
                f"id {category_id:02d} is {names[category_id]!r} in the table, {expression!r} here"
            )
    return problems


def read_category_table(path: Path | None) -> tuple[dict[int, str], str]:
    """Read and check the annotation table: (id -> name, a one-line note on the check)."""
    if path is None:
        return {}, f"{ANNOTATION_TABLE} not found: ids 01-07 mapped as documented, unchecked"
    try:
        import xlrd
    except ImportError:
        return {}, f"{ANNOTATION_TABLE} not checked: reading .xls needs xlrd (pip install xlrd)"
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, engine="xlrd")
    except (xlrd.XLRDError, ValueError, OSError) as error:
        return {}, f"{ANNOTATION_TABLE} not checked: could not read it ({error})"
    names = category_names_from_sheets(sheets)
    if not names:
        return {}, f"{ANNOTATION_TABLE} not checked: no (id, name) rows found in it"
    problems = check_category_names(names)
    if problems:
        return names, f"WARNING: {ANNOTATION_TABLE} disagrees with the mapping: " + "; ".join(
            problems
        )
    return names, f"{ANNOTATION_TABLE} checked: ids 01-07 agree with the mapping"


def _category_skip(category: int, names: dict[int, str]) -> tuple[str, str]:
    """(reason category, detail) for a file whose category id is not in the vocabulary."""
    if category in COMPOUND_CATEGORIES:
        label = f" ({names[category]})" if category in names else ""
        return "compound category", f"{category:02d}{label} is not in the 7-class vocabulary"
    return "unknown category", f"id {category:02d} is not a CFEE category (01-22)"


def ingest_cfee(
    root: Path,
    out: Path,
    *,
    image_size: int = 128,
    test_fraction: float = 0.2,
    seed: int = 0,
    aligner: FaceAligner | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Detect, align and crop every basic-category CFEE image below ``root`` into ``out``.

    Writes ``out/images/<image_id>.png`` (``image_size`` px square), the manifest
    and ``dataset.json`` (named after ``out``; kind ``cfee``) with a seeded
    subject-disjoint split (``test_fraction`` of the subjects with at least one
    ingested image go to test), and ``out/ingest_report.csv`` with one row per
    file below ``root``. ``aligner`` defaults to dlib's (needs the
    ``dlib_landmarks_5`` weights); a given one must crop to ``image_size``.

    Raises :class:`UserError` when ``root`` holds no CFEE-named image, or when
    no image could be ingested (after writing the report).
    """
    root, out = Path(root), Path(out)
    check_test_fraction(test_fraction)
    if not root.is_dir():
        raise UserError(f"CFEE root {root} is not a folder; expected {EXPECTED_LAYOUT}")
    files = ingest.files_under(root, exclude=out)
    if not any(parse_name(path.name) for path in files):
        raise UserError(f"no CFEE images found under {root}; expected {EXPECTED_LAYOUT}")
    aligner = aligner or FaceAligner(image_size)
    if aligner.image_size != image_size:
        raise ValueError(f"aligner crops to {aligner.image_size} px, ingest asks {image_size} px")
    table = next((p for p in files if p.name.lower() == ANNOTATION_TABLE.lower()), None)
    names, table_note = read_category_table(table)

    images = ingest.start_output(out)
    report = IngestReport(root)
    rows: list[dict[str, str]] = []
    taken: dict[str, str] = {}  # image_id -> source file, to catch copies
    for path in files:
        parsed = parse_name(path.name)
        if path == table:
            report.skipped(path, "annotation table", table_note)
        elif parsed is None:
            report.skipped(path, "unrecognised name", "does not match EE_SSS_NNNN.jpg")
        elif parsed.category not in BASIC_CATEGORIES:
            report.skipped(path, *_category_skip(parsed.category, names))
        elif parsed.image_id in taken:
            report.skipped(path, "duplicate", f"same name as {taken[parsed.image_id]}")
        elif (crop := report.crop(path, aligner)) is not None:
            png = images / f"{parsed.image_id}.png"
            save_png(crop, png)
            taken[parsed.image_id] = report.relative(path)
            rows.append(
                {
                    "image_id": parsed.image_id,
                    "subject": parsed.subject,
                    "expression": BASIC_CATEGORIES[parsed.category],
                    "sha256": sha256_file(png),
                    "file": f"{IMAGES}/{png.name}",
                    "source": report.relative(path),
                }
            )
            report.ingested(path, parsed.image_id)
        if progress is not None:
            progress(1)

    report_path = report.write(out)
    if not rows:
        raise UserError(f"no face could be ingested from {root}; see {report_path}")
    split = subject_split((row["subject"] for row in rows), test_fraction, seed)
    frame = pd.DataFrame(rows)
    frame["split"] = frame["subject"].map(split)
    summary = report.summary(out, report_path, notes=[table_note])
    info = DatasetInfo(
        name=out.name,
        kind="cfee",
        image_size=image_size,
        ood=False,
        description="CFEE basic categories: detected, eye-aligned, cropped",
        provenance={
            "source_root": str(root),
            "image_size": image_size,
            "test_fraction": test_fraction,
            "seed": seed,
            "categories": {f"{k:02d}": v for k, v in BASIC_CATEGORIES.items()},
            "category_table": table_note,
            "aligner": aligner.settings(),
            "subjects": {side: list(split.values()).count(side) for side in ("train", "test")},
            "ingested": summary.ingested,
            "skipped": summary.reasons,
            "report": ingest.REPORT,
        },
    )
    write_dataset(out, frame, info)
    ingest.remove_stale_images(out, frame["image_id"])
    return summary
