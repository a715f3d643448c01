"""FSS through deepface (Dlib backbone) on real face photos; deepface never downloads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from real_faces import astronaut, grace_hopper

from bench.core.errors import MissingWeightsError
from bench.core.weights import status
from metrics.base import ScoringBatch

needs_dlib = pytest.mark.skipif(
    any(r.status != "ok" for r in status(["dlib_face_recognition", "dlib_landmarks_5"])),
    reason="dlib weights are not cached (run `bench weights pull`)",
)


def _model_range(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def aligned_faces() -> tuple[torch.Tensor, torch.Tensor]:
    """The astronaut and Grace Hopper, aligned by the ingest aligner (128 px), in [-1, 1]."""
    from datasets.align import FaceAligner

    aligner = FaceAligner(128)
    return (
        _model_range(aligner.align(astronaut()).image),
        _model_range(aligner.align(grace_hopper()).image),
    )


def _batch(sources: torch.Tensor, outputs: torch.Tensor) -> ScoringBatch:
    count = outputs.shape[0]
    return ScoringBatch(
        sources=sources,
        outputs=outputs,
        target_expressions=torch.ones(count, dtype=torch.int64),
        references=outputs,
        has_reference=torch.ones(count, dtype=torch.bool),
    )


@needs_dlib
def test_same_person_near_one_different_person_clearly_lower(aligned_faces):
    from metrics.fss import FSS

    fss = FSS(backbone="Dlib")
    eileen, grace = aligned_faces
    shifted = torch.roll(eileen, shifts=2, dims=3)
    brighter = (eileen * 0.9 + 0.05).clamp(-1, 1)
    sources = torch.cat([eileen, eileen, eileen, eileen, grace])
    outputs = torch.cat([eileen, shifted, brighter, grace, grace])
    values = fss.score(_batch(sources, outputs))["FSS"]
    identical, shift, bright, other, grace_self = values
    assert identical == pytest.approx(1.0, abs=1e-6) and grace_self == pytest.approx(1.0, abs=1e-6)
    assert shift > 0.97 and bright > 0.97
    assert other < 0.95 and other < min(shift, bright) - 0.05
    # batched == one at a time (one deepface call per batch, same numbers)
    single = [fss.score(_batch(sources[i : i + 1], outputs[i : i + 1]))["FSS"][0] for i in range(5)]
    np.testing.assert_allclose(values, single, atol=1e-9)
    assert fss.weight_checksums()["dlib_face_recognition"].startswith("55533b28")


def test_unmanaged_backbone_without_its_file_is_missing_weights_not_a_download(
    tmp_path, monkeypatch
):
    from metrics.fss import FSS

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("deepface tried to download")

    monkeypatch.setattr("deepface.commons.weight_utils.gdown.download", no_network, raising=False)
    with pytest.raises(MissingWeightsError, match=r"ArcFace|arcface") as error:
        FSS(backbone="ArcFace")
    assert str(tmp_path) in str(error.value)
