"""A stand-in for CFEE_Database_230: synthetic faces under CFEE's folder and file naming.

CFEE itself is licensed by request and cannot ship, so tests and rehearsals of the
``kind: cfee`` path draw a tree with the same layout (``datasets.cfee.EXPECTED_LAYOUT``):
``CFEE_Database_230/01-04/Images1/EE_SSS_NNNN.jpg``, subjects grouped by four, ``EE`` the
two-digit category id (01-07 basic, 08-22 compound), ``SSS`` the subject, ``NNNN`` the
shot. The faces come from the embedded synthetic renderer, drawn as photographs: a face
of ``face_px`` pixels in the middle of a larger frame (its background colour carried to
the edges) saved as JPEG, so the real ingest (dlib HOG detection, 5-point landmarks, eye
alignment, crop) runs on them. dlib finds and aligns every face of the default tree
(checked by ``tests/test_paper_rehearsal.py``); 160 px faces in a 480 x 360 frame
are found for every expression of the first 12 seeded subjects (at 200 px and above, a
few of one subject's are not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.core.vocabulary import EXPRESSIONS
from datasets.cfee import BASIC_CATEGORIES, parse_name
from datasets.synthetic import render_image, sample_identity

ROOT_NAME = "CFEE_Database_230"
SUBJECTS_PER_FOLDER = 4
COMPOUND_CATEGORY = 8
"""A compound category (CFEE's 08, happily surprised): written once per subject, so the
ingest's skip path runs; never ingested."""


def cfee_file_name(category: int, subject: int, shot: int) -> str:
    """``EE_SSS_NNNN.jpg``, as :func:`datasets.cfee.parse_name` reads it."""
    return f"{category:02d}_{subject:03d}_{shot:04d}.jpg"


def subject_folder(subject: int) -> str:
    """``01-04/Images1`` for subjects 1-4, ``05-08/Images2`` for 5-8, ... (subjects from 1)."""
    group = (subject - 1) // SUBJECTS_PER_FOLDER
    first = group * SUBJECTS_PER_FOLDER + 1
    return f"{first:02d}-{first + SUBJECTS_PER_FOLDER - 1:02d}/Images{group + 1}"


def _photo(face: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """``face`` centred in a ``frame`` (height, width) photo, its border pixels carried out."""
    height, width = frame
    side = face.shape[0]
    top, left = (height - side) // 2, (width - side) // 2
    pad = ((top, height - side - top), (left, width - side - left), (0, 0))
    return np.pad(face, pad, mode="edge")


def write_cfee_tree(
    out: Path,
    *,
    subjects: int = 10,
    seed: int = 0,
    face_px: int = 160,
    frame: tuple[int, int] = (360, 480),
    compound: bool = True,
) -> Path:
    """Write ``out/CFEE_Database_230`` with ``subjects`` subjects x the 7 basic categories
    (plus one compound image each when ``compound``); return the tree's root.

    Deterministic in ``seed`` (identities and per-image jitter are seeded per subject and
    category). Subjects are numbered from 1; each subject's shots are numbered in order.
    """
    root = Path(out) / ROOT_NAME
    categories = [*BASIC_CATEGORIES, *([COMPOUND_CATEGORY] if compound else [])]
    for subject in range(1, subjects + 1):
        folder = root / subject_folder(subject)
        folder.mkdir(parents=True, exist_ok=True)
        identity = sample_identity(np.random.default_rng([seed, 0, subject]))
        for shot, category in enumerate(categories, start=1):
            # a compound face is drawn as the basic expression it is closest to
            expression = BASIC_CATEGORIES.get(category, EXPRESSIONS[5])
            jitter = np.random.default_rng([seed, 1, subject, category])
            face = render_image(identity, expression, face_px, jitter)
            name = cfee_file_name(category, subject, shot)
            assert parse_name(name) is not None, name
            Image.fromarray(_photo(face, frame)).save(folder / name, quality=95)
    return root
