"""The procedural synthetic face set: determinism, layout, locality of expressions, styles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.core.errors import UserError
from bench.core.vocabulary import EXPRESSIONS
from datasets import synthetic
from datasets.manifest import read_info, read_manifest
from datasets.png import load_png

SMALL = {"image_size": 40, "train_subjects": 3, "test_subjects": 2, "ood_subjects": 2}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[int]]:
    root = tmp_path_factory.mktemp("synthetic")
    calls: list[int] = []
    paths = synthetic.generate(root, seed=3, progress=calls.append, **SMALL)
    return root, paths, calls


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _image(root: Path, image_id: str) -> np.ndarray:
    return load_png(root / "images" / f"{image_id}.png").astype(float)


def test_returns_every_folder_and_reports_progress(generated):
    root, paths, calls = generated
    assert paths == [root / "synthetic"] + [root / f"synthetic_{s}" for s in synthetic.STYLES]
    assert sum(calls) == 5 * 7 + len(synthetic.STYLES) * 2 * 7


def test_same_seed_gives_identical_bytes(generated, tmp_path):
    root, paths, _ = generated
    again = synthetic.generate(tmp_path, seed=3, **SMALL)
    for first, second in zip(paths, again, strict=True):
        assert _folder_bytes(first) == _folder_bytes(second)


def test_other_seed_gives_other_faces(generated, tmp_path):
    root, _, _ = generated
    synthetic.generate(tmp_path, seed=4, styles=(), **SMALL)
    assert read_manifest(root / "synthetic")["sha256"].tolist() != (
        read_manifest(tmp_path / "synthetic")["sha256"].tolist()
    )


def test_layout_splits_and_expressions(generated):
    root, _, _ = generated
    frame = read_manifest(root / "synthetic")
    info = read_info(root / "synthetic")
    assert (info.name, info.kind, info.ood, info.image_size) == (
        "synthetic",
        "synthetic",
        False,
        40,
    )
    assert info.provenance["seed"] == 3
    splits = frame.groupby("subject")["split"].agg(set).to_dict()
    assert splits == {
        "s000": {"train"},
        "s001": {"train"},
        "s002": {"train"},
        "s003": {"test"},
        "s004": {"test"},
    }
    for _, group in frame.groupby("subject"):
        assert sorted(group["expression"]) == sorted(EXPRESSIONS)
    assert (frame["source"] == "synthetic").all()
    assert "s003_happy_0" in set(frame["image_id"])
    assert load_png(root / "synthetic" / frame["file"].iloc[0]).shape == (40, 40, 3)


def test_styles_are_unseen_subjects_in_their_own_folders(generated):
    root, _, _ = generated
    for style in synthetic.STYLES:
        folder = root / f"synthetic_{style}"
        info = read_info(folder)
        frame = read_manifest(folder)
        assert (info.kind, info.ood, info.provenance["style"]) == ("synthetic_ood", True, style)
        assert set(frame["split"]) == {"test"}
        assert set(frame["subject"]) == {f"{style}_o000", f"{style}_o001"}
        assert len(frame) == 2 * len(EXPRESSIONS)


def test_styles_look_different(generated):
    root, _, _ = generated
    neutral = {s: _image(root / f"synthetic_{s}", f"{s}_o000_neutral_0") for s in synthetic.STYLES}
    colour = {s: np.abs(img - img.mean(axis=2, keepdims=True)).mean() for s, img in neutral.items()}
    # Stone and pencil are (nearly) grey; paint and cartoon are colourful.
    assert max(colour["statue"], colour["sketch"]) < 12 < min(colour["painting"], colour["avatar"])
    assert neutral["sketch"].mean() > 170  # mostly white paper
    assert neutral["statue"][:4, :4].mean() < 100  # dim backdrop


@pytest.mark.parametrize("identity_seed", [0, 4, 7])
def test_expressions_change_only_the_face_locally(identity_seed):
    ident = synthetic.sample_identity(np.random.default_rng(identity_seed))
    size = 64
    rest = synthetic.render_face(ident, synthetic.ACTIONS["neutral"], size).rgb
    centres = (np.arange(size) + 0.5) * 2 / size - 1
    y = np.broadcast_to(centres[:, None], (size, size))
    x = np.broadcast_to(centres[None, :], (size, size))
    face = (np.abs(x) < 0.6) & (y > -0.75) & (y < 0.7)
    lower = face & (y > synthetic.EYE_Y + 0.15)  # below the eyes: nose, cheeks, mouth
    diffs = {}
    for expression in EXPRESSIONS[1:]:
        image = synthetic.render_face(ident, synthetic.ACTIONS[expression], size).rgb
        diffs[expression] = np.abs(image - rest).sum(axis=2)
    for expression, diff in diffs.items():
        assert diff.sum() > 10.0, expression  # in full-scale channel units: clearly visible
        assert diff[face].sum() > 0.995 * diff.sum(), expression
    happy = diffs["happy"]
    assert happy[lower].sum() > 0.4 * happy.sum()


def test_expressions_are_distinct_from_each_other(generated):
    root, _, _ = generated
    images = {e: _image(root / "synthetic", f"s000_{e}_0") for e in EXPRESSIONS}
    for i, a in enumerate(EXPRESSIONS):
        for b in EXPRESSIONS[i + 1 :]:
            assert np.abs(images[a] - images[b]).mean() > 0.5, (a, b)


def test_jittered_repeats_differ_slightly(tmp_path):
    synthetic.generate(tmp_path, seed=1, styles=(), images_per_expression=2, **SMALL)
    frame = read_manifest(tmp_path / "synthetic")
    assert len(frame) == 5 * 7 * 2
    first = _image(tmp_path / "synthetic", "s001_happy_0")
    second = _image(tmp_path / "synthetic", "s001_happy_1")
    other = _image(tmp_path / "synthetic", "s001_neutral_0")
    assert 0 < np.abs(first - second).mean() < np.abs(first - other).mean()


def test_identities_differ(generated):
    root, _, _ = generated
    faces = [_image(root / "synthetic", f"s{i:03d}_neutral_0") for i in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert np.abs(faces[i] - faces[j]).mean() > 8.0


def test_rerun_removes_stale_images(tmp_path):
    stale = tmp_path / "synthetic" / "images" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    synthetic.generate(tmp_path, styles=["sketch"], **SMALL)
    assert not stale.exists()
    assert len(list(stale.parent.iterdir())) == 5 * 7


@pytest.mark.parametrize(
    "bad",
    [
        {"image_size": 16},
        {"image_size": 40.0},
        {"train_subjects": 0},
        {"test_subjects": 0},
        {"ood_subjects": 0},
        {"images_per_expression": 0},
        {"seed": -1},
        {"styles": ("oil",)},
        {"styles": ("sketch", "sketch")},
    ],
)
def test_bad_arguments_raise_user_error(tmp_path, bad):
    with pytest.raises(UserError, match="synthetic data"):
        synthetic.generate(tmp_path, **{**SMALL, **bad})
    assert not (tmp_path / "synthetic").exists()


def test_contact_sheet(generated, tmp_path):
    root, _, _ = generated
    out = tmp_path / "sheet.png"
    synthetic.contact_sheet(root / "synthetic", out, max_subjects=2)
    full = tmp_path / "full.png"
    synthetic.contact_sheet(root / "synthetic", full)
    with Image.open(out) as small, Image.open(full) as large:
        assert small.width == large.width > 7 * 40
        assert large.height > small.height > 2 * 40
    with pytest.raises(UserError):
        synthetic.contact_sheet(root / "synthetic", out, max_subjects=0)
