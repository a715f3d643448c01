"""Image reading, face alignment, subject splits, CFEE and folder ingest.

Face photos come from scikit-image's bundled sample data (the astronaut
portrait; coffee as a photo without a face), so nothing is downloaded. Tests
marked by ``real_aligner`` use dlib with the ``dlib_landmarks_5`` weights and
are skipped when those are not in the cache; the others use a fake detector
(template matching on the astronaut's face) and a fake landmarker.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata
from skimage.feature import match_template

from bench.core.errors import MissingWeightsError, UserError
from datasets.align import FaceAligner, FaceBox, FaceNotFound, FaceTooSmall
from datasets.cfee import (
    category_names_from_sheets,
    check_category_names,
    ingest_cfee,
    parse_name,
)
from datasets.folder import image_id_for, ingest_folder
from datasets.imageio import ImageReadError, read_image
from datasets.manifest import read_info, read_manifest
from datasets.png import load_png
from datasets.split import subject_split

ASTRONAUT = skdata.astronaut()
FACE_BOX = (179, 83, 267, 171)  # dlib's HOG box on the astronaut (left, top, right, bottom)
# dlib's 5 landmarks on the astronaut, relative to FACE_BOX's top-left corner
FACE_LANDMARKS = np.array([(76, 21), (58, 22), (16, 18), (33, 20), (45, 52)], dtype=float)


def face_photo(size: int = 160) -> np.ndarray:
    """A ``size`` x ``size`` crop of the astronaut centred on her face (face box 88 px)."""
    cx, cy = (FACE_BOX[0] + FACE_BOX[2]) // 2, (FACE_BOX[1] + FACE_BOX[3]) // 2
    top, left = cy - size // 2, cx - size // 2
    return np.ascontiguousarray(ASTRONAUT[top : top + size, left : left + size])


def no_face_photo(size: int = 160) -> np.ndarray:
    """A photo without a face (a cup of coffee)."""
    return np.ascontiguousarray(skdata.coffee()[:size, 200 : 200 + size])


class TemplateDetector:
    """Fake detector: a face is where the astronaut's face patch matches (NCC >= 0.8)."""

    def __init__(self) -> None:
        left, top, right, bottom = FACE_BOX
        self.template = ASTRONAUT[top:bottom, left:right].mean(axis=2)
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[FaceBox]:
        self.calls.append((rgb.shape, upsample))
        th, tw = self.template.shape
        if rgb.shape[0] < th or rgb.shape[1] < tw:
            return []
        scores = match_template(rgb.mean(axis=2), self.template)
        y, x = np.unravel_index(np.argmax(scores), scores.shape)
        return [FaceBox(x, y, x + tw, y + th)] if scores[y, x] >= 0.8 else []

    def describe(self) -> dict[str, str]:
        return {"name": "test template matcher"}


class BoxLandmarker:
    """Fake landmarker: the astronaut's landmark layout, scaled into the given box."""

    def __call__(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        scale = box.width / (FACE_BOX[2] - FACE_BOX[0])
        return FACE_LANDMARKS * scale + np.array([box.left, box.top])

    def describe(self) -> dict[str, str]:
        return {"name": "test box landmarker"}


class FixedDetector:
    """Fake detector returning given boxes, optionally only when upsampled."""

    def __init__(self, boxes: list[FaceBox], only_upsampled: bool = False) -> None:
        self.boxes = boxes
        self.only_upsampled = only_upsampled
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[FaceBox]:
        self.calls.append((rgb.shape, upsample))
        return [] if self.only_upsampled and upsample == 0 else list(self.boxes)

    def describe(self) -> dict[str, str]:
        return {"name": "fixed boxes"}


def fake_aligner(image_size: int = 64, min_face_px: int = 40) -> FaceAligner:
    return FaceAligner(
        image_size,
        min_face_px=min_face_px,
        detector=TemplateDetector(),
        landmarker=BoxLandmarker(),
    )


def real_aligner(image_size: int = 128, min_face_px: int = 40) -> FaceAligner:
    """dlib's aligner; skips the test when the landmark weights are not in the cache."""
    try:
        return FaceAligner(image_size, min_face_px=min_face_px)
    except MissingWeightsError as error:
        pytest.skip(
            "dlib_landmarks_5 weights not in the cache (`bench weights pull dlib_landmarks_5`): "
            + str(error).splitlines()[0]
        )


def save(pixels: np.ndarray | Image.Image, path: Path, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    image.save(path, **options)
    return path


def truncated_jpeg(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(face_photo()).save(buffer, format="JPEG", quality=95)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def eye_centres(chip: np.ndarray, aligner: FaceAligner) -> tuple[np.ndarray, np.ndarray]:
    """Eye centres (x, y) found again on an aligned crop: (image-left eye, image-right eye)."""
    boxes = aligner.detector(chip, 1)
    assert boxes, "no face found again in the aligned crop"
    points = aligner.landmarker(chip, max(boxes, key=lambda b: b.width))
    return points[2:4].mean(axis=0), points[0:2].mean(axis=0)


# ---------------------------------------------------------------- imageio


def test_read_rgb_jpeg_and_webp(tmp_path: Path) -> None:
    photo = face_photo()
    for name in ("face.jpg", "face.webp"):
        pixels = read_image(save(photo, tmp_path / name, quality=95))
        assert pixels.shape == photo.shape and pixels.dtype == np.uint8
        assert np.abs(pixels.astype(int) - photo).mean() < 4


def test_read_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 128, 129, 257 * 100, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    pixels = read_image(save(image, tmp_path / "gray16.png"))
    assert pixels.shape == (1, 5, 3)
    assert pixels[0, :, 0].tolist() == [0, 0, 1, 100, 255]
    assert (pixels[..., 0] == pixels[..., 2]).all()


def test_read_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, :, 0] = 200  # red channel
    rgba[0, :, 3] = [0, 255, 128]  # transparent, opaque, half
    pixels = read_image(save(rgba, tmp_path / "rgba.png"))
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[0, 1].tolist() == [200, 0, 0]
    assert abs(int(pixels[0, 2, 1]) - 127) <= 1 and abs(int(pixels[0, 2, 0]) - 227) <= 1
    gray_alpha = Image.fromarray(rgba[..., [0, 3]], mode="LA")
    assert read_image(save(gray_alpha, tmp_path / "la.png"))[0, 0].tolist() == [255, 255, 255]


def test_read_palette_cmyk_and_gray(tmp_path: Path) -> None:
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    assert read_image(save(red.convert("P"), tmp_path / "p.gif"))[0, 0].tolist() == [255, 0, 0]
    cmyk = read_image(save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "c.jpg"))
    assert np.abs(cmyk[4, 4].astype(int) - [255, 0, 0]).max() < 8
    gray = read_image(save(Image.new("L", (8, 8), 77), tmp_path / "g.png"))
    assert gray[0, 0].tolist() == [77, 77, 77]


def test_read_applies_exif_orientation(tmp_path: Path) -> None:
    upright = np.zeros((40, 20, 3), dtype=np.uint8)
    upright[:20] = (255, 0, 0)  # top half red
    upright[20:] = (0, 0, 255)  # bottom half blue
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # red to the left
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    pixels = read_image(save(stored, tmp_path / "rotated.jpg", exif=exif, quality=95))
    assert pixels.shape == (40, 20, 3)
    assert pixels[5, 10, 0] > 200 and pixels[35, 10, 2] > 200


def test_read_failures_name_file_and_reason(tmp_path: Path) -> None:
    text = tmp_path / "fake.png"
    text.write_text("not an image at all")
    cases = {
        truncated_jpeg(tmp_path / "cut.jpg"): "truncated",
        text: "unreadable",
        tmp_path / "missing.jpg": "unreadable",
        tmp_path: "unreadable",
    }
    for path, kind in cases.items():
        with pytest.raises(ImageReadError) as caught:
            read_image(path)
        assert caught.value.kind == kind
        assert str(path) in str(caught.value)
    assert isinstance(caught.value, UserError)


# ---------------------------------------------------------------- align (logic, fakes)


def test_aligner_picks_largest_face_and_crops_to_size() -> None:
    boxes = [FaceBox(10, 10, 60, 60), FaceBox(100, 100, 200, 200), FaceBox(0, 0, 45, 45)]
    aligner = FaceAligner(32, detector=FixedDetector(boxes), landmarker=BoxLandmarker())
    result = aligner.align(np.zeros((300, 300, 3), dtype=np.uint8))
    assert result.box == boxes[1] and result.faces_found == 3
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8


def test_aligner_prefers_confident_faces_over_larger_weak_ones() -> None:
    boxes = [FaceBox(10, 10, 90, 90, score=1.3), FaceBox(100, 100, 250, 250, score=0.1)]
    aligner = FaceAligner(32, detector=FixedDetector(boxes), landmarker=BoxLandmarker())
    assert aligner.align(np.zeros((300, 300, 3), dtype=np.uint8)).box == boxes[0]


def test_aligner_rejects_small_images_and_faces() -> None:
    detector = FixedDetector([FaceBox(0, 0, 30, 30)])
    aligner = FaceAligner(32, min_face_px=40, detector=detector, landmarker=BoxLandmarker())
    with pytest.raises(FaceTooSmall, match="16x16"):
        aligner.align(np.zeros((16, 16, 3), dtype=np.uint8))
    assert detector.calls == []  # rejected before detection
    with pytest.raises(FaceTooSmall, match="30x30"):
        aligner.align(np.zeros((100, 100, 3), dtype=np.uint8))
    empty = FaceAligner(32, detector=FixedDetector([]), landmarker=BoxLandmarker())
    with pytest.raises(FaceNotFound):
        empty.align(np.zeros((100, 100, 3), dtype=np.uint8))


def test_aligner_upsamples_once_and_detects_on_a_shrunk_copy() -> None:
    detector = FixedDetector([FaceBox(100, 100, 200, 200)], only_upsampled=True)
    aligner = FaceAligner(32, detect_max_side=500, detector=detector, landmarker=BoxLandmarker())
    result = aligner.align(np.zeros((1000, 800, 3), dtype=np.uint8))
    assert [upsample for _, upsample in detector.calls] == [0, 1]
    assert detector.calls[0][0] == (500, 400, 3)
    assert result.box == FaceBox(200, 200, 400, 400)  # mapped back to source pixels


# ---------------------------------------------------------------- align (real dlib)


@pytest.mark.parametrize("angle", [-15, 0, 15])
def test_real_aligner_levels_eyes_and_centres_face(angle: float) -> None:
    aligner = real_aligner(128)
    tilted = Image.fromarray(ASTRONAUT).rotate(
        angle, Image.Resampling.BICUBIC, fillcolor=(128,) * 3
    )
    result = aligner.align(np.asarray(tilted))
    assert result.image.shape == (128, 128, 3)
    left_eye, right_eye = eye_centres(result.image, aligner)
    assert abs(left_eye[1] - right_eye[1]) <= 2.5  # eyes level, in px of 128
    assert abs((left_eye[0] + right_eye[0]) / 2 - 64) <= 3  # face centred horizontally
    assert 25 <= right_eye[0] - left_eye[0] <= 50  # whole face with margin, not a close-up


# ---------------------------------------------------------------- split


def test_subject_split_is_seeded_order_free_and_two_sided() -> None:
    subjects = [f"{i:03d}" for i in range(1, 21)]
    split = subject_split(subjects, 0.2, seed=0)
    assert split == subject_split(list(reversed(subjects)) + subjects[:3], 0.2, seed=0)
    assert sorted(split.values()).count("test") == 4
    assert any(subject_split(subjects, 0.2, seed=s) != split for s in range(1, 4))
    assert set(subject_split(["a", "b"], 0.01, 0).values()) == {"train", "test"}
    assert set(subject_split(["a", "b"], 0.99, 0).values()) == {"train", "test"}
    assert subject_split(["a"], 0.5, 0) == {"a": "train"}
    with pytest.raises(UserError, match="test_fraction"):
        subject_split(subjects, 1.0, 0)


# ---------------------------------------------------------------- CFEE


def test_parse_cfee_names() -> None:
    assert parse_name("05_017_0001.jpg").image_id == "017_05_0001"
    assert parse_name("01_230_0012.JPG").category == 1
    assert parse_name("05_017_0001_detectface.jpg") is None
    assert parse_name("IMG_1234.jpg") is None


def test_category_table_parsing_and_check() -> None:
    rows = [["Category", "Name"]] + [
        [i, name]
        for i, name in enumerate(
            ["Neutral", "Happy", "Sad", "Fearful", "Angry", "Surprised", "Disgusted"], start=1
        )
    ]
    rows.append([8.0, "Happily surprised"])
    names = category_names_from_sheets(
        {"subject 1": pd.DataFrame([["x"]]), "summary": pd.DataFrame(rows)}
    )
    assert names[1] == "Neutral" and names[8] == "Happily surprised" and len(names) == 8
    assert check_category_names(names) == []
    names[3] = "Angry"
    assert check_category_names(names) == ["id 03 is 'Angry' in the table, 'sad' here"]


def build_cfee_tree(root: Path) -> dict[str, str]:
    """A CFEE-layout tree of 6 subjects; returns {relative file: expected reason category}."""
    face, no_face = face_photo(), no_face_photo()
    expected: dict[str, str] = {}
    for subject in range(1, 7):
        for category in range(1, 8):
            group = "01-04/Images1" if subject <= 3 else "05-08/Images2"
            rel = f"CFEE_Database_230/{group}/{category:02d}_{subject:03d}_0001.jpg"
            save(face, root / rel, quality=92)
            expected[rel] = "ingested"
    extras = {
        "CFEE_Database_230/01-04/Images1/02_001_0002.jpg": (face, "ingested"),  # extra shot
        "CFEE_Database_230/01-04/Images1/09_001_0001.jpg": (face, "compound category"),
        "CFEE_Database_230/01-04/Images1/23_001_0001.jpg": (face, "unknown category"),
        "CFEE_Database_230/01-04/Images1/IMG_1234.jpg": (face, "unrecognised name"),
        "CFEE_Database_230/05-08/Images2/03_004_0002.jpg": (no_face, "no face"),
        "CFEE_Database_230/09-12/Images3/01_001_0001.jpg": (face, "duplicate"),
    }
    for rel, (pixels, reason) in extras.items():
        save(pixels, root / rel, quality=92)
        expected[rel] = reason
    truncated_jpeg(root / "CFEE_Database_230/05-08/Images2/04_005_0002.jpg")
    expected["CFEE_Database_230/05-08/Images2/04_005_0002.jpg"] = "truncated"
    (root / "CFEE_Database_230/readme.txt").write_text("CFEE")
    expected["CFEE_Database_230/readme.txt"] = "unrecognised name"
    (root / "CFEE_Database_230/AU_annotation_all_subjects.xls").write_bytes(b"\xd0\xcf not xls")
    expected["CFEE_Database_230/AU_annotation_all_subjects.xls"] = "annotation table"
    return expected


def test_ingest_cfee_layout_mapping_split_and_report(tmp_path: Path) -> None:
    expected = build_cfee_tree(tmp_path / "src")
    out = tmp_path / "data" / "cfee"
    ticks: list[int] = []
    summary = ingest_cfee(
        tmp_path / "src",
        out,
        image_size=64,
        seed=3,
        aligner=fake_aligner(64),
        progress=ticks.append,
    )

    report = pd.read_csv(summary.report_path, keep_default_na=False)
    assert summary.report_path == out / "ingest_report.csv"
    assert sorted(report["file"]) == sorted(expected)  # one row per file, nothing silent
    assert len(ticks) == len(expected)
    outcome = {
        row.file: "ingested" if row.status == "ingested" else row.reason.split(":")[0]
        for row in report.itertuples()
    }
    assert outcome == expected
    compound = report.loc[report["file"].str.endswith("09_001_0001.jpg"), "reason"].item()
    assert compound.startswith("compound category: 09") and "7-class vocabulary" in compound
    table = report.loc[report["file"].str.endswith(".xls"), "reason"].item()
    assert "not checked" in table and any("not checked" in note for note in summary.notes)

    n_ingested = list(expected.values()).count("ingested")
    assert (summary.ingested, summary.skipped) == (n_ingested, len(expected) - n_ingested)
    assert summary.reasons["compound category"] == 1 and "ingested" not in summary.reasons

    manifest = read_manifest(out).set_index("image_id")
    assert len(manifest) == n_ingested
    assert manifest.loc["001_02_0002", "expression"] == "happy"  # the extra shot is kept
    expressions = manifest[manifest["subject"] == "002"].sort_index()["expression"]
    assert tuple(expressions) == (
        "neutral", "happy", "sad", "fearful", "angry", "surprised", "disgusted"
    )  # fmt: skip
    subjects_by_split = manifest.groupby("split")["subject"].nunique()
    assert subjects_by_split.to_dict() == {"test": 1, "train": 5}
    assert load_png(out / manifest["file"].iloc[0]).shape == (64, 64, 3)
    info = read_info(out)
    assert (info.kind, info.ood, info.image_size) == ("cfee", False, 64)
    assert info.provenance["seed"] == 3 and info.provenance["aligner"]["image_size"] == 64

    # re-running gives the same bytes and clears images a previous run left behind
    manifest_bytes = (out / "manifest.csv").read_bytes()
    (out / "images" / "stale.png").write_bytes(b"old")
    ingest_cfee(tmp_path / "src", out, image_size=64, seed=3, aligner=fake_aligner(64))
    assert (out / "manifest.csv").read_bytes() == manifest_bytes
    assert not (out / "images" / "stale.png").exists()


def test_ingest_cfee_errors_name_the_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="EE_SSS_NNNN"):
        ingest_cfee(tmp_path / "nowhere", tmp_path / "out", aligner=fake_aligner(128))
    (tmp_path / "empty" / "Images1").mkdir(parents=True)
    (tmp_path / "empty" / "Images1" / "photo.jpg").write_bytes(b"")
    with pytest.raises(UserError, match=r"no CFEE images found under .*empty"):
        ingest_cfee(tmp_path / "empty", tmp_path / "out", aligner=fake_aligner(128))


def test_ingest_cfee_with_real_aligner(tmp_path: Path) -> None:
    aligner = real_aligner(128)
    root = tmp_path / "CFEE_Database_230"
    base = Image.fromarray(ASTRONAUT)
    for subject, (angle, flip) in enumerate([(-8, False), (0, True), (8, False)], start=1):
        photo = base.rotate(angle, Image.Resampling.BICUBIC, fillcolor=(90, 90, 90))
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else photo
        for category in (1, 2):
            save(photo, root / f"01-04/Images1/{category:02d}_{subject:03d}_0001.jpg", quality=90)
    save(skdata.coffee(), root / "01-04/Images1/03_001_0001.jpg", quality=90)

    summary = ingest_cfee(root, tmp_path / "out", image_size=128, seed=0, aligner=aligner)
    assert (summary.ingested, summary.reasons) == (6, {"no face": 1})
    manifest = read_manifest(tmp_path / "out")
    assert set(manifest["split"]) == {"train", "test"}
    for file in manifest["file"]:
        left_eye, right_eye = eye_centres(load_png(tmp_path / "out" / file), aligner)
        assert abs(left_eye[1] - right_eye[1]) <= 2.5
    sha = read_info(tmp_path / "out").provenance["aligner"]["landmarker"]["sha256"]
    assert sha == "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"


# ---------------------------------------------------------------- folder (OOD)


def build_photo_folder(src: Path) -> dict[str, str]:
    """A folder of awkward files; returns {relative file: expected outcome or reason category}."""
    face = face_photo(220)
    truncated_jpeg(src / "broken/truncated.jpg")
    (src / "text.png").write_text("this is not a PNG")
    save(Image.fromarray(face).convert("CMYK"), src / "cmyk.jpg", quality=95)
    save(face[:16, :16], src / "tiny.png")
    save(no_face_photo(300), src / "coffee.jpg", quality=90)
    gray16 = (np.asarray(Image.fromarray(face).convert("L")).astype(np.uint16) * 257).astype(
        np.uint16
    )
    save(Image.fromarray(gray16), src / "portraits/gray16.png")
    rgba = np.zeros((260, 260, 4), dtype=np.uint8)
    rgba[20:240, 20:240, :3], rgba[20:240, 20:240, 3] = face, 255
    save(rgba, src / "portraits/rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.fromarray(face).transpose(Image.Transpose.ROTATE_90)
    save(stored, src / "portraits/rotated.jpg", exif=exif, quality=95)
    save(face, src / "portraits/face.webp", quality=95)
    save(face, src / "portraits/face.bmp")
    return {
        "broken/truncated.jpg": "truncated",
        "text.png": "unreadable",
        "cmyk.jpg": "ingested",
        "tiny.png": "too small",
        "coffee.jpg": "no face",
        "portraits/gray16.png": "ingested",
        "portraits/rgba.png": "ingested",
        "portraits/rotated.jpg": "ingested",
        "portraits/face.webp": "ingested",
        "portraits/face.bmp": "ingested",
    }


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_ingest_folder_reports_every_file(tmp_path: Path, kind: str) -> None:
    aligner = fake_aligner(64) if kind == "fake" else real_aligner(64)
    expected = build_photo_folder(tmp_path / "photos")
    out = tmp_path / "data" / "celebs"
    summary = ingest_folder(tmp_path / "photos", out, name="celebs", image_size=64, aligner=aligner)

    report = pd.read_csv(summary.report_path, keep_default_na=False)
    outcome = {
        row.file: "ingested" if row.status == "ingested" else row.reason.split(":")[0]
        for row in report.itertuples()
    }
    assert outcome == expected
    assert summary.ingested == 6 and summary.skipped == 4
    assert summary.reasons == {"no face": 1, "too small": 1, "truncated": 1, "unreadable": 1}
    manifest = read_manifest(out)
    assert set(manifest["expression"]) == {"neutral"} and set(manifest["split"]) == {"test"}
    assert manifest["subject"].is_unique
    assert set(manifest["image_id"]) == {
        "cmyk", "portraits__gray16", "portraits__rgba", "portraits__rotated",
        "portraits__face", "portraits__face-2",
    }  # fmt: skip
    info = read_info(out)
    assert (info.name, info.kind, info.ood) == ("celebs", "folder", True)


def test_ingest_folder_without_faces_still_writes_report(tmp_path: Path) -> None:
    save(no_face_photo(), tmp_path / "photos/coffee.png")
    (tmp_path / "photos/notes.txt").write_text("hi")
    with pytest.raises(UserError, match="ingest_report.csv"):
        ingest_folder(tmp_path / "photos", tmp_path / "out", name="x", aligner=fake_aligner(128))
    report = pd.read_csv(tmp_path / "out" / "ingest_report.csv")
    assert sorted(report["file"]) == ["coffee.png", "notes.txt"]
    assert set(report["status"]) == {"skipped"}


def test_folder_image_ids_are_safe_and_unique() -> None:
    taken: set[str] = set()
    ids = [image_id_for(p, taken) for p in ["a b/cé.jpg", "a b/cé.png", ".hidden", "x.tar.gz"]]
    assert ids == ["a_b__c_", "a_b__c_-2", "hidden", "x.tar"]
