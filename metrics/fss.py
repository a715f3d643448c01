"""FSS, Face Similarity Score: cosine similarity of the source's and the output's face embeddings.

Embeddings come from deepface's face-recognition models (``DeepFace.represent``)
on the aligned crops as they are (``detector_backend="skip"``: no detector
weights, deterministic), one call per batch. The backbone is a setting:
``Dlib`` (default; its file comes from the weights manager, so it works
offline), ``ArcFace`` (a URL asset of the weights manager:
``bench weights pull arcface_deepface``), or VGG-Face, Facenet512, ... when
deepface's own file for it is already in ``$DEEPFACE_HOME/.deepface/weights``
(never downloaded here).

The embeddings are computed where deepface computes them, not on ``--device``:
``Dlib`` runs in dlib's C++ code on the CPU (the PyPI wheel has no CUDA), the
Keras backbones on TensorFlow's own device choice. On a GPU machine FSS is
therefore the one CPU-bound metric.

From the same pair of embeddings, as US-GAN and SARGAN report them:

- **FVS** (face verification score): 1 when the backbone verifies the output
  as the source's person, i.e. the pair's distance is at most deepface's
  threshold for that backbone and distance (``verification_distance``,
  default cosine distance = 1 - FSS), else 0; its mean is the share verified.
- **ACD** (average content distance): the Euclidean distance between the two
  embeddings (MoCoGAN's definition), in the backbone's embedding units.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.errors import UserError
from bench.core.tensors import to_uint8
from metrics.base import Column, EvaluationContext, Metric, ScoringBatch
from metrics.deepface_weights import (
    MANAGED_BACKBONES,
    build_backbone,
    check_backbone,
    no_downloads,
    prepare_backbone,
)


def _bgr_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) in [-1, 1] -> list of (H, W, 3) uint8 BGR arrays (deepface's convention)."""
    rgb = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(image[:, :, ::-1]) for image in rgb]


DISTANCES = ("cosine", "euclidean", "euclidean_l2")
"""Pair distances with a threshold per backbone in deepface (``deepface.config.threshold``)."""


def pair_distance(sources: np.ndarray, outputs: np.ndarray, distance: str) -> np.ndarray:
    """Row-wise distance of (B, D) embeddings: ``cosine`` (1 - cosine similarity), ``euclidean``
    or ``euclidean_l2`` (Euclidean after scaling each row to unit length), as deepface's verify."""
    if distance == "cosine":
        return 1.0 - cosine_similarity(sources, outputs)
    if distance == "euclidean_l2":
        sources = sources / np.maximum(np.linalg.norm(sources, axis=1, keepdims=True), 1e-12)
        outputs = outputs / np.maximum(np.linalg.norm(outputs, axis=1, keepdims=True), 1e-12)
    return np.linalg.norm(sources - outputs, axis=1)


def cosine_similarity(sources: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity in [-1, 1] of (B, D) embeddings."""
    norms = np.linalg.norm(sources, axis=1) * np.linalg.norm(outputs, axis=1)
    return np.sum(sources * outputs, axis=1) / np.maximum(norms, 1e-12)


def identity_scores(
    sources: np.ndarray, outputs: np.ndarray, threshold: float, distance: str = "cosine"
) -> dict[str, np.ndarray]:
    """FSS, FVS (distance <= ``threshold``: 1.0, else 0.0) and ACD per (source, output) pair."""
    return {
        "FSS": cosine_similarity(sources, outputs),
        "FVS": (pair_distance(sources, outputs, distance) <= threshold).astype(np.float64),
        "ACD": np.linalg.norm(sources - outputs, axis=1),
    }


class FSS(Metric):
    """Per-image cosine similarity in [-1, 1] of face embeddings of source and output (higher is better),
    with the verification verdict (FVS) and the embedding distance (ACD) of the same pair.

    Args:
        backbone: deepface model name (``Dlib``, ``ArcFace``, ``VGG-Face``, ``Facenet512``, ...).
        normalization: deepface's input normalisation (``base``: none beyond [0, 1]).
        verification_distance: distance FVS thresholds (``cosine``, ``euclidean``,
            ``euclidean_l2``) at deepface's threshold for the backbone and that distance.
    """

    name: ClassVar[str] = "fss"
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "FSS",
            True,
            (-1.0, 1.0),
            "cosine similarity of face-recognition embeddings (deepface) of source and output",
        ),
        Column(
            "FVS",
            True,
            (0.0, 1.0),
            "share of outputs the same backbone verifies as the source's person (deepface threshold)",
        ),
        Column(
            "ACD",
            False,
            (0.0, math.inf),
            "Euclidean distance between the source's and the output's embeddings (backbone units)",
        ),
    )

    @classmethod
    def weights(cls, backbone: str = "Dlib", **settings: Any) -> tuple[str, ...]:
        asset = MANAGED_BACKBONES.get(backbone)
        return (asset,) if asset else ()

    def __init__(
        self,
        backbone: str = "Dlib",
        normalization: str = "base",
        verification_distance: str = "cosine",
    ) -> None:
        from deepface.modules.verification import find_threshold

        if verification_distance not in DISTANCES:
            raise UserError(
                f"metric_settings.fss.verification_distance: {verification_distance!r} is not "
                f"one of {', '.join(DISTANCES)}"
            )
        self.backbone = check_backbone(backbone)
        self.normalization = normalization
        self.verification_distance = verification_distance
        try:
            self.threshold = float(find_threshold(backbone, verification_distance))
        except ValueError as error:
            raise UserError(f"metric_settings.fss.backbone {backbone!r}: {error}") from None
        self._checksums = prepare_backbone(backbone)
        build_backbone(backbone)  # fail now, not in the middle of an evaluation
        self._source_memo: dict[str, np.ndarray] = {}

    def begin(self, context: EvaluationContext) -> None:
        """Start an evaluation with an empty memo of source embeddings."""
        self._source_memo = {}

    def embed(self, images: torch.Tensor) -> np.ndarray:
        """(B, 3, H, W) in [-1, 1] -> (B, D) float64 embeddings, one deepface call."""
        from deepface import DeepFace

        arrays = _bgr_arrays(images)
        if not arrays:
            return np.zeros((0, 0))
        with no_downloads():
            result = DeepFace.represent(
                img_path=arrays,
                model_name=self.backbone,
                detector_backend="skip",
                enforce_detection=False,
                align=False,
                normalization=self.normalization,
            )
        per_image = [result] if len(arrays) == 1 else result
        return np.asarray([faces[0]["embedding"] for faces in per_image], dtype=np.float64)

    def _source_embeddings(self, sources: torch.Tensor) -> np.ndarray:
        """Embeddings of the sources; each distinct source image is embedded once per evaluation."""
        keys = [
            hashlib.sha256(image.numpy().tobytes()).hexdigest() for image in to_uint8(sources).cpu()
        ]
        todo = sorted({k for k in keys if k not in self._source_memo})
        if todo:
            first = {k: keys.index(k) for k in todo}
            embedded = self.embed(sources[[first[k] for k in todo]])
            self._source_memo.update(zip(todo, embedded, strict=True))
        return np.stack([self._source_memo[k] for k in keys])

    def score(self, batch: ScoringBatch) -> dict[str, np.ndarray]:
        sources = self._source_embeddings(batch.sources)
        outputs = self.embed(batch.outputs)
        return identity_scores(sources, outputs, self.threshold, self.verification_distance)

    def weight_checksums(self) -> dict[str, str]:
        return dict(self._checksums)
