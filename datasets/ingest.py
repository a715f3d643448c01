"""What every photo ingest shares: the per-file report, the summary, crop-or-skip, output hygiene.

Every file an ingest looks at gets exactly one row in ``<out>/ingest_report.csv``
(columns :data:`REPORT_COLUMNS`): ``ingested`` with its ``image_id``, or
``skipped`` with a reason ``"<category>: <detail>"``. Nothing is dropped silently.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core import atomic
from datasets.align import AlignError, FaceAligner
from datasets.imageio import ImageReadError, read_image
from datasets.manifest import IMAGES, unpublish

REPORT = "ingest_report.csv"
REPORT_COLUMNS: tuple[str, ...] = ("file", "status", "reason", "image_id")

Progress = Callable[[int], None]
"""Called with the number of files just finished (1 per file looked at)."""


@dataclass
class IngestSummary:
    """The outcome of one ingest.

    ``reasons`` counts skipped files per reason category (e.g. ``"no face"``,
    ``"too small"``, ``"unreadable"``); ``notes`` are remarks for the user
    (e.g. whether CFEE's category table was checked).
    """

    ingested: int
    skipped: int
    report_path: Path
    out: Path
    reasons: dict[str, int]
    notes: list[str] = field(default_factory=list)


class IngestReport:
    """Collects one row per source file; paths are stored relative to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: list[dict[str, str]] = []
        self.skip_categories: list[str] = []

    def relative(self, path: Path) -> str:
        """``path`` relative to the ingest root, with ``/`` separators."""
        return path.relative_to(self.root).as_posix()

    def ingested(self, path: Path, image_id: str) -> None:
        """Record a file that became ``images/<image_id>.png``."""
        self.rows.append(
            {"file": self.relative(path), "status": "ingested", "reason": "", "image_id": image_id}
        )

    def skipped(self, path: Path, category: str, detail: str) -> None:
        """Record a file left out, with a reason category and a human-readable detail."""
        self.rows.append(
            {
                "file": self.relative(path),
                "status": "skipped",
                "reason": f"{category}: {detail}",
                "image_id": "",
            }
        )
        self.skip_categories.append(category)

    def crop(self, path: Path, aligner: FaceAligner) -> np.ndarray | None:
        """Read and align ``path``; on failure record the skip and return ``None``."""
        try:
            return aligner.align(read_image(path)).image
        except ImageReadError as error:
            self.skipped(path, error.kind, error.detail)
        except AlignError as error:
            self.skipped(path, error.category, str(error))
        return None

    def write(self, out: Path) -> Path:
        """Write the report atomically as ``<out>/ingest_report.csv``, rows sorted by file."""
        frame = pd.DataFrame(self.rows, columns=list(REPORT_COLUMNS))
        frame = frame.sort_values("file", kind="stable")
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        path = out / REPORT
        atomic.write_text(path, buffer.getvalue())
        return path

    def summary(self, out: Path, report_path: Path, notes: Iterable[str] = ()) -> IngestSummary:
        """Counts of this report as an :class:`IngestSummary`."""
        reasons = dict(sorted(Counter(self.skip_categories).items()))
        skipped = sum(reasons.values())
        return IngestSummary(
            ingested=len(self.rows) - skipped,
            skipped=skipped,
            report_path=report_path,
            out=out,
            reasons=reasons,
            notes=list(notes),
        )


def start_output(out: Path) -> Path:
    """Create ``<out>/images``; drop an earlier manifest so a half-done ingest never looks ready."""
    unpublish(out)
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    return out / IMAGES


def remove_stale_images(out: Path, image_ids: Iterable[str]) -> None:
    """Delete ``<out>/images/*.png`` left by an earlier ingest that are not in ``image_ids``."""
    keep = {f"{image_id}.png" for image_id in image_ids}
    for png in (out / IMAGES).glob("*.png"):
        if png.name not in keep:
            png.unlink()


def files_under(root: Path, exclude: Path | Iterable[Path]) -> list[Path]:
    """Every regular file below ``root`` (sorted), except those inside ``exclude`` (one folder
    or several) and symbolic links that lead out of ``root`` (:func:`links_out_of`)."""
    excluded = [p.resolve() for p in ([exclude] if isinstance(exclude, Path) else exclude)]
    outside = set(links_out_of(root))
    found = []
    for path in root.rglob("*"):
        if path in outside or not path.is_file():
            continue
        if not any(path.resolve().is_relative_to(folder) for folder in excluded):
            found.append(path)
    return sorted(found)


def links_out_of(root: Path) -> list[Path]:
    """Symbolic links below ``root`` (to files or folders) whose target lies outside ``root``:
    an ingest never reads them (a photo folder must not reach other files), it reports them."""
    inside = root.resolve()
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_symlink() and not path.resolve().is_relative_to(inside)
    )
