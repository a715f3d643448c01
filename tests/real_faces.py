"""Real face photos that ship inside installed packages, for tests that need real faces offline.

- scikit-image ``astronaut`` (Eileen Collins, NASA, public domain) and ``lfw_subset``
  (100 Labeled Faces in the Wild crops, 25x25 grayscale);
- matplotlib's ``grace_hopper.jpg`` sample (public domain): a different person.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ASTRONAUT_FACE = (55, 187, 154, 286)
"""(top, bottom, left, right) of a square box around the astronaut's face, pixels."""
HOPPER_FACE = (110, 354, 151, 395)
"""The same for Grace Hopper's face in matplotlib's sample photo."""


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, (512, 512, 3) uint8 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    """matplotlib's Grace Hopper photo, (600, 512, 3) uint8 RGB."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image[top:bottom, left:right]`` as a contiguous copy."""
    top, bottom, left, right = box
    return np.ascontiguousarray(image[top:bottom, left:right])


def resize_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize (torch, antialiased when shrinking) of (H, W) or (H, W, C) uint8 -> uint8."""
    planes = image[..., None] if image.ndim == 2 else image
    tensor = torch.from_numpy(planes).permute(2, 0, 1)[None].double()
    shrink = min(planes.shape[:2]) > size
    out = F.interpolate(
        tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )
    out = out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return out[..., 0] if image.ndim == 2 else out


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 gray with ITU-R 601 weights."""
    gray = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(gray), 0, 255).astype(np.uint8)


def lfw_faces(count: int = 100) -> np.ndarray:
    """The first ``count`` (<= 100) LFW face crops of scikit-image, (N, 25, 25) uint8 gray."""
    from skimage import data

    faces = data.lfw_subset()[:count]
    return np.clip(np.round(faces * 255.0), 0, 255).astype(np.uint8)


def fer_check_faces() -> np.ndarray:
    """102 real faces as (N, 64, 64) uint8 gray: 100 LFW crops, the astronaut, Grace Hopper."""
    faces = [resize_uint8(face, 64) for face in lfw_faces()]
    for photo, box in ((astronaut(), ASTRONAUT_FACE), (grace_hopper(), HOPPER_FACE)):
        faces.append(resize_uint8(to_gray(crop(photo, box)), 64))
    return np.stack(faces)


def augmented(rgb: np.ndarray, count: int, size: int, seed: int) -> list[np.ndarray]:
    """``count`` random variants of an RGB face crop at ``size`` px: crop, flip, brightness."""
    rng = np.random.default_rng(seed)
    height, width = rgb.shape[:2]
    variants = []
    for _ in range(count):
        side = int(min(height, width) * rng.uniform(0.8, 1.0))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        face = rgb[top : top + side, left : left + side]
        if rng.random() < 0.5:
            face = face[:, ::-1]
        face = resize_uint8(np.ascontiguousarray(face), size).astype(np.float64)
        face = np.clip(face * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255)
        variants.append(face.round().astype(np.uint8))
    return variants


def face_set(kind: str, count: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Real RGB faces for two-folder tests: ``"a"`` (astronaut variants + LFW faces 0..)
    or ``"b"`` (Grace Hopper variants + LFW faces 50..); half photos, half LFW."""
    photo, box, first = (
        (astronaut(), ASTRONAUT_FACE, 0) if kind == "a" else (grace_hopper(), HOPPER_FACE, 50)
    )
    variants = augmented(crop(photo, box), count - count // 2, size, seed)
    lfw = [np.repeat(resize_uint8(face, size)[..., None], 3, axis=2) for face in lfw_faces()]
    return variants + lfw[first : first + count // 2]
