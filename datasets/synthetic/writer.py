"""Dataset generation: seeded subjects rendered into dataset folders with their manifests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.errors import UserError
from bench.core.hashing import sha256_file
from bench.core.vocabulary import EXPRESSIONS
from datasets.manifest import IMAGES, DatasetInfo, unpublish, write_dataset
from datasets.png import save_png
from datasets.synthetic.checks import check_int
from datasets.synthetic.identity import sample_identity
from datasets.synthetic.image import render_image
from datasets.synthetic.styles import STYLES

MIN_IMAGE_SIZE = 32  # pixels; below this the eyes and mouth are under 3 px


# Random streams are keyed SeedSequence([seed, purpose, stream, style index, subject, ...]):
# purpose 0 draws a subject's identity, 1 one image's jitter, 2 a subject's style textures;
# stream separates train/test subjects from the unseen OOD ones.
_TRAIN_STREAM = 0
_OOD_STREAM = 1


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Independent generator for one seeded stream; ``key`` names the stream."""
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _check_styles(styles: Sequence[str]) -> None:
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise UserError(f"synthetic data: unknown style(s) {unknown}; valid: {', '.join(STYLES)}")
    if len(set(styles)) != len(styles):
        raise UserError(f"synthetic data: a style is listed twice in {list(styles)}")


@dataclass(frozen=True)
class _Subject:
    """One subject to render: its id, split, style and the key of its seeded random streams."""

    name: str
    split: str
    key: tuple[int, int, int]  # (stream, style index, subject index)
    style: str | None = None


def _render_subject(
    root: Path,
    subject: _Subject,
    seed: int,
    size: int,
    per_expression: int,
    progress: Callable[[int], None] | None,
) -> list[dict[str, str]]:
    """Render and save every expression of one subject; return its manifest rows."""
    ident = sample_identity(_rng(seed, 0, *subject.key), vivid=subject.style == "avatar")
    rows = []
    for e, expression in enumerate(EXPRESSIONS):
        for k in range(per_expression):
            image_id = f"{subject.name}_{expression}_{k}"
            path = root / IMAGES / f"{image_id}.png"
            jitter = _rng(seed, 1, *subject.key, e, k)
            look = _rng(seed, 2, *subject.key)  # the same textures for every image of the subject
            save_png(render_image(ident, expression, size, jitter, subject.style, look), path)
            rows.append(
                {
                    "image_id": image_id,
                    "subject": subject.name,
                    "expression": expression,
                    "split": subject.split,
                    "sha256": sha256_file(path),
                    "file": f"{IMAGES}/{image_id}.png",
                    "source": "synthetic",
                }
            )
            if progress is not None:
                progress(1)
    return rows


def _write_folder(
    root: Path,
    subjects: list[_Subject],
    info: DatasetInfo,
    seed: int,
    per_expression: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Replace ``root/images`` with fresh renders of ``subjects`` and write the manifest (the
    old manifest goes first and the new one comes last: see :func:`write_dataset`)."""
    unpublish(root)
    images = root / IMAGES
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    rows = []
    for subject in subjects:
        rows += _render_subject(root, subject, seed, info.image_size, per_expression, progress)
    write_dataset(root, pd.DataFrame(rows), info)


def generate(
    out_root: Path,
    *,
    seed: int = 0,
    image_size: int = 64,
    train_subjects: int = 24,
    test_subjects: int = 8,
    ood_subjects: int = 4,
    images_per_expression: int = 1,
    styles: Sequence[str] = STYLES,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write data/<name>/ folders under out_root; return their paths: out_root/"synthetic"
    (train+test split) and out_root/f"synthetic_{style}" per style (split all "test").

    ``synthetic`` holds subjects ``s000``... (the first ``train_subjects`` in ``train``, the
    next ``test_subjects`` in ``test``), each with ``images_per_expression`` jittered images of
    all seven expressions, ``image_size`` x ``image_size`` pixels. Each style folder holds
    ``ood_subjects`` identities from a separate seeded stream (never in train or test), e.g.
    ``statue_o000``, with all seven expressions in that style. ``progress(n)`` is called with
    the number of images just written. The same arguments give byte-identical files.
    """
    seed = check_int("seed", seed, 0)
    image_size = check_int("image_size (pixels)", image_size, MIN_IMAGE_SIZE)
    train_subjects = check_int("train_subjects", train_subjects, 1)
    test_subjects = check_int("test_subjects", test_subjects, 1)
    ood_subjects = check_int("ood_subjects", ood_subjects, 1)
    images_per_expression = check_int("images_per_expression", images_per_expression, 1)
    styles = (styles,) if isinstance(styles, str) else tuple(styles)
    _check_styles(styles)
    out_root = Path(out_root)
    provenance = {"generator": "datasets.synthetic", "seed": seed}

    subjects = [
        _Subject(f"s{i:03d}", "train" if i < train_subjects else "test", (_TRAIN_STREAM, 0, i))
        for i in range(train_subjects + test_subjects)
    ]
    info = DatasetInfo(
        name="synthetic",
        kind="synthetic",
        image_size=image_size,
        ood=False,
        description=(
            f"procedural synthetic faces: {train_subjects} train + {test_subjects} test subjects"
            f" x {len(EXPRESSIONS)} expressions x {images_per_expression} image(s), {image_size} px"
        ),
        provenance={
            **provenance,
            "train_subjects": train_subjects,
            "test_subjects": test_subjects,
            "images_per_expression": images_per_expression,
        },
    )
    written = [out_root / "synthetic"]
    _write_folder(written[0], subjects, info, seed, images_per_expression, progress)

    for style in styles:
        index = STYLES.index(style)  # keys stay stable whichever styles are asked for
        subjects = [
            _Subject(f"{style}_o{i:03d}", "test", (_OOD_STREAM, index, i), style)
            for i in range(ood_subjects)
        ]
        info = DatasetInfo(
            name=f"synthetic_{style}",
            kind="synthetic_ood",
            image_size=image_size,
            ood=True,
            description=(
                f"procedural synthetic faces, {style} style: {ood_subjects} unseen subjects"
                f" x {len(EXPRESSIONS)} expressions, {image_size} px"
            ),
            provenance={**provenance, "style": style, "ood_subjects": ood_subjects},
        )
        written.append(out_root / f"synthetic_{style}")
        _write_folder(written[-1], subjects, info, seed, 1, progress)
    return written
