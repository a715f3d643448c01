"""Ingest any folder of photos as an out-of-distribution set of neutral source faces.

Every file below the folder is considered, in sorted path order, whatever its
extension: anything Pillow can decode (JPEG, PNG, WebP, BMP, TIFF, GIF, ...)
goes through the same detect-align-crop as CFEE; the largest face of each
photo becomes one image, its own subject, expression ``neutral``, split
``test``. Every file gets a row in ``ingest_report.csv``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.vocabulary import NEUTRAL
from datasets import ingest
from datasets.align import DEFAULT_MIN_FACE_PX, FaceAligner
from datasets.ingest import IngestReport, IngestSummary, Progress
from datasets.manifest import IMAGES, DatasetInfo, write_dataset
from datasets.png import save_png

MAX_ID_CHARS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def image_id_for(relative: str, taken: set[str]) -> str:
    """A file-name-safe id from a relative path, unique among ``taken`` (which it joins).

    ``"a b/cé.jpg"`` -> ``"a_b__c_"``: the extension is dropped, folders are
    joined by ``__``, other characters outside ``[A-Za-z0-9._-]`` become ``_``;
    a clash gets ``-2``, ``-3``, ... appended (stable for a sorted walk).
    """
    stem = PurePosixPath(relative).with_suffix("").as_posix()
    base = _UNSAFE.sub("_", stem.replace("/", "__")).lstrip(".")[:MAX_ID_CHARS] or "image"
    candidate, count = base, 1
    while candidate in taken:
        count += 1
        candidate = f"{base}-{count}"
    taken.add(candidate)
    return candidate


def ingest_folder(
    src: Path,
    out: Path,
    *,
    name: str,
    image_size: int = 128,
    min_face_px: int = DEFAULT_MIN_FACE_PX,
    aligner: FaceAligner | None = None,
    progress: Progress | None = None,
    exclude: Path | None = None,
) -> IngestSummary:
    """Detect, align and crop the largest face of every photo below ``src`` into ``out``.

    Writes ``out/images/<image_id>.png`` (``image_size`` px square), the manifest
    and ``dataset.json`` (``name``, kind ``folder``, OOD), and
    ``out/ingest_report.csv`` with a row for every file (ingested, or skipped as
    unreadable, truncated, no face, too small). Faces whose detected box side is
    below ``min_face_px`` source pixels are skipped. ``aligner`` defaults to
    dlib's (needs the ``dlib_landmarks_5`` weights); a given one must match
    ``image_size`` and ``min_face_px``.

    Symbolic links that lead out of ``src`` are not read: they are reported as skipped
    (``symlink: ...``). ``exclude``: a further folder whose files are never read (the
    dataset's final folder when ``out`` is a staging folder).

    Raises :class:`UserError` when ``src`` is not a folder or holds no file,
    and (after writing the report) when no face could be ingested.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UserError(f"photo folder {src} is not a folder")
    files = ingest.files_under(src, exclude=[out] + ([exclude] if exclude else []))
    links = ingest.links_out_of(src)
    if not files and not links:
        raise UserError(f"photo folder {src} holds no files; put face photos in it")
    aligner = aligner or FaceAligner(image_size, min_face_px=min_face_px)
    if (aligner.image_size, aligner.min_face_px) != (image_size, min_face_px):
        raise ValueError(
            f"aligner has image_size={aligner.image_size}, min_face_px={aligner.min_face_px}; "
            f"ingest asks {image_size}, {min_face_px}"
        )

    images = ingest.start_output(out)
    report = IngestReport(src)
    for link in links:
        report.skipped(
            link, "symlink", f"points outside the folder (to {link.resolve()}); not read"
        )
    taken: set[str] = set()
    rows: list[dict[str, str]] = []
    for path in files:
        crop = report.crop(path, aligner)
        if crop is not None:
            image_id = image_id_for(report.relative(path), taken)
            png = images / f"{image_id}.png"
            save_png(crop, png)
            rows.append(
                {
                    "image_id": image_id,
                    "subject": image_id,
                    "expression": NEUTRAL,
                    "split": "test",
                    "sha256": sha256_file(png),
                    "file": f"{IMAGES}/{png.name}",
                    "source": report.relative(path),
                }
            )
            report.ingested(path, image_id)
        if progress is not None:
            progress(1)

    report_path = report.write(out)
    if not rows:
        raise UserError(
            f"no usable face in any of the {len(files)} files under {src}; "
            f"see {report_path} for each file's reason"
        )
    summary = report.summary(out, report_path)
    info = DatasetInfo(
        name=name,
        kind="folder",
        image_size=image_size,
        ood=True,
        description=f"photos from {src.name}: largest face per photo, aligned; neutral sources",
        provenance={
            "source_root": str(src),
            "image_size": image_size,
            "min_face_px": min_face_px,
            "aligner": aligner.settings(),
            "ingested": summary.ingested,
            "skipped": summary.reasons,
            "report": ingest.REPORT,
        },
    )
    write_dataset(out, pd.DataFrame(rows), info)
    ingest.remove_stale_images(out, (row["image_id"] for row in rows))
    return summary
