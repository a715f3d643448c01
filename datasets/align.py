"""Face detection, 5-point eye landmarks and aligned square crops.

:class:`FaceAligner` finds the largest frontal face (dlib's HOG detector, no
weights needed), places dlib's 5 landmarks on it (model file from the weights
manager, asset ``dlib_landmarks_5``) and cuts an upright, eye-levelled square
crop with ``dlib.get_face_chip`` (which smooths before it shrinks, so large
photos do not alias). Detector and landmarker are constructor arguments, so
tests can swap in fakes; the dlib models are loaded once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from bench.core.errors import UserError

LANDMARK_ASSET = "dlib_landmarks_5"
DEFAULT_PADDING = 0.4
"""``get_face_chip`` padding: with 0.4 the crop holds the whole face, some hair and the chin."""
DEFAULT_MIN_FACE_PX = 40
DEFAULT_DETECT_MAX_SIDE = 1024
CONFIDENT_FRACTION = 0.5
"""Faces scoring below this fraction of the best detection's score are not candidates."""


class AlignError(UserError):
    """No usable face in an image; ``category`` names the reason for ingest reports."""

    category = "no usable face"


class FaceNotFound(AlignError):
    """The detector found no face."""

    category = "no face"


class FaceTooSmall(AlignError):
    """The image, or the largest face in it, is below the minimum face size."""

    category = "too small"


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in image pixels (x to the right, y down; ``right``/``bottom`` exclusive).

    ``score`` is the detector's confidence (dlib HOG: SVM margin, > 0 for a detection).
    """

    left: float
    top: float
    right: float
    bottom: float
    score: float = 1.0

    @property
    def width(self) -> float:
        """Width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> float:
        """Height in pixels."""
        return self.bottom - self.top

    def scaled(self, factor: float) -> FaceBox:
        """The same box in an image resized by ``factor``."""
        return FaceBox(
            self.left * factor,
            self.top * factor,
            self.right * factor,
            self.bottom * factor,
            self.score,
        )


class Detector(Protocol):
    """Finds faces: ``(rgb (H, W, 3) uint8, upsample 0 or 1) -> boxes``.

    ``describe()`` returns its provenance entry.
    """

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[FaceBox]: ...

    def describe(self) -> dict[str, Any]: ...


class Landmarker(Protocol):
    """Places 5 landmarks in a face box: ``(rgb, box) -> (5, 2)`` float x, y pixels.

    Point order is dlib's 5-point model: outer and inner corner of the eye on
    the image's right, outer and inner corner of the eye on the image's left,
    base of the nose.
    """

    def __call__(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AlignResult:
    """An aligned face: ``image`` (S, S, 3) uint8 RGB; ``box``, ``landmarks`` in source pixels."""

    image: np.ndarray
    box: FaceBox
    landmarks: np.ndarray
    faces_found: int


def _dlib_rect(box: FaceBox) -> Any:
    """``box`` as a ``dlib.rectangle`` (integer pixels, inclusive corners)."""
    import dlib

    return dlib.rectangle(
        round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
    )


@functools.cache
def _hog_detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def _shape_predictor(path: str) -> Any:
    import dlib

    return dlib.shape_predictor(path)


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (built in, no weight file)."""

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[FaceBox]:
        rects, scores, _ = _hog_detector().run(rgb, upsample, 0.0)
        return [
            FaceBox(r.left(), r.top(), r.right() + 1, r.bottom() + 1, score)
            for r, score in zip(rects, scores, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """Provenance entry."""
        return {"name": "dlib HOG frontal face detector"}


class DlibLandmarker:
    """dlib's 5-point shape predictor; the model file comes from the weights manager.

    Constructing it raises :class:`~bench.core.errors.MissingWeightsError` if the file
    is not in the cache (fail before any work); the model loads on first use.
    """

    def __init__(self) -> None:
        from bench.core.weights import require

        self.model_path: Path = require(LANDMARK_ASSET)

    def __call__(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray:
        shape = _shape_predictor(str(self.model_path))(rgb, _dlib_rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """Provenance entry: the asset name and the sha256 of the model file in use."""
        from bench.core.weights import checksums

        return {
            "name": "dlib 5-point shape predictor",
            "asset": LANDMARK_ASSET,
            "sha256": checksums([LANDMARK_ASSET])[LANDMARK_ASSET],
        }


class FaceAligner:
    """Detect the largest face, place its eye landmarks, return an aligned square crop.

    The largest face is chosen among confident detections (score at least
    :data:`CONFIDENT_FRACTION` of the best one's), so a weak false detection on
    clothing or background cannot outrank a clear face.

    Args:
        image_size: side of the output crop in pixels.
        padding: ``dlib.get_face_chip`` padding around the landmark-defined face
            region, as a fraction of it per side (0.4: whole face, some hair, chin).
        min_face_px: smallest accepted face box side in source pixels; images whose
            shorter side is below it are rejected without running the detector.
        detect_max_side: photos are shrunk so their longer side is at most this
            many pixels for detection only (speed); landmarks and crop use full
            resolution. Faces shrink with them: the HOG detector needs about 80 px
            at upsample 0 and 40 px at upsample 1, which is tried when 0 finds none.
        detector, landmarker: replacements for dlib's (tests); default dlib's.
    """

    def __init__(
        self,
        image_size: int = 128,
        *,
        padding: float = DEFAULT_PADDING,
        min_face_px: int = DEFAULT_MIN_FACE_PX,
        detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
        detector: Detector | None = None,
        landmarker: Landmarker | None = None,
    ) -> None:
        if image_size < 8 or min_face_px < 1 or detect_max_side < 64 or padding < 0:
            raise UserError(
                f"invalid aligner settings: image_size={image_size} (>= 8), "
                f"min_face_px={min_face_px} (>= 1), detect_max_side={detect_max_side} (>= 64), "
                f"padding={padding} (>= 0)"
            )
        self.image_size = image_size
        self.padding = padding
        self.min_face_px = min_face_px
        self.detect_max_side = detect_max_side
        self.detector: Detector = detector or HogDetector()
        self.landmarker: Landmarker = landmarker or DlibLandmarker()

    def settings(self) -> dict[str, Any]:
        """Everything that determines the crops, for a dataset's provenance."""
        import dlib

        return {
            "image_size": self.image_size,
            "padding": self.padding,
            "min_face_px": self.min_face_px,
            "detect_max_side": self.detect_max_side,
            "confident_fraction": CONFIDENT_FRACTION,
            "detector": self.detector.describe(),
            "landmarker": self.landmarker.describe(),
            "crop": "dlib.get_face_chip",
            "dlib_version": dlib.__version__,
        }

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """All face boxes in source pixels (upsample 0, then 1 if none was found)."""
        height, width = rgb.shape[:2]
        factor = min(1.0, self.detect_max_side / max(height, width))
        small = rgb
        if factor < 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
        for upsample in (0, 1):
            boxes = self.detector(small, upsample)
            if boxes:
                return [box.scaled(1.0 / factor) for box in boxes]
        return []

    def align(self, rgb: np.ndarray) -> AlignResult:
        """Align the largest face of an (H, W, 3) uint8 RGB image.

        Raises :class:`FaceTooSmall` when the image or its largest face is below
        ``min_face_px``, :class:`FaceNotFound` when no face is detected.
        """
        import dlib

        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        rgb = np.ascontiguousarray(rgb)
        height, width = rgb.shape[:2]
        if min(height, width) < self.min_face_px:
            raise FaceTooSmall(
                f"image is {width}x{height} px, smaller than min_face_px={self.min_face_px}"
            )
        boxes = self.detect(rgb)
        if not boxes:
            raise FaceNotFound("no face detected (frontal detector, also upsampled once)")
        best_score = max(b.score for b in boxes)
        confident = [b for b in boxes if b.score >= CONFIDENT_FRACTION * best_score]
        box = max(confident, key=lambda b: b.width * b.height)
        if min(box.width, box.height) < self.min_face_px:
            raise FaceTooSmall(
                f"largest face is {box.width:.0f}x{box.height:.0f} px, "
                f"below min_face_px={self.min_face_px}"
            )
        landmarks = np.asarray(self.landmarker(rgb, box), dtype=np.float64)
        points = [dlib.point(round(x), round(y)) for x, y in landmarks]
        shape = dlib.full_object_detection(_dlib_rect(box), points)
        chip = dlib.get_face_chip(rgb, shape, size=self.image_size, padding=self.padding)
        return AlignResult(
            image=np.ascontiguousarray(chip, dtype=np.uint8),
            box=box,
            landmarks=landmarks,
            faces_found=len(boxes),
        )
