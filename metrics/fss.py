"""FSS, Face Similarity Score: cosine similarity of the source's and the output's face embeddings.

Embeddings come from deepface's face-recognition models (``DeepFace.represent``)
on the aligned crops as they are (``detector_backend="skip"``: no detector
weights, deterministic), one call per batch. The backbone is a setting:
``Dlib`` (default; its file comes from the weights manager, so it works
offline), or ArcFace, VGG-Face, Facenet512, ... when deepface's own file for it
is already in ``$DEEPFACE_HOME/.deepface/weights`` (never downloaded here).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
import torch

from bench.core.tensors import to_uint8
from metrics.base import Column, EvaluationContext, Metric, ScoringBatch
from metrics.deepface_weights import (
    build_backbone,
    check_backbone,
    no_downloads,
    prepare_backbone,
)


def _bgr_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) in [-1, 1] -> list of (H, W, 3) uint8 BGR arrays (deepface's convention)."""
    rgb = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(image[:, :, ::-1]) for image in rgb]


class FSS(Metric):
    """Per-image cosine similarity in [-1, 1] of face embeddings of source and output (higher is better).

    Args:
        backbone: deepface model name (``Dlib``, ``ArcFace``, ``VGG-Face``, ``Facenet512``, ...).
        normalization: deepface's input normalisation (``base``: none beyond [0, 1]).
    """

    name: ClassVar[str] = "fss"
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "FSS",
            True,
            (-1.0, 1.0),
            "cosine similarity of face-recognition embeddings (deepface) of source and output",
        ),
    )

    def __init__(self, backbone: str = "Dlib", normalization: str = "base") -> None:
        self.backbone = check_backbone(backbone)
        self.normalization = normalization
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
        norms = np.linalg.norm(sources, axis=1) * np.linalg.norm(outputs, axis=1)
        cosine = np.sum(sources * outputs, axis=1) / np.maximum(norms, 1e-12)
        return {"FSS": cosine}

    def weight_checksums(self) -> dict[str, str]:
        return dict(self._checksums)
