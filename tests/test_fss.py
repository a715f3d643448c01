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
    scores = fss.score(_batch(sources, outputs))
    values = scores["FSS"]
    identical, shift, bright, other, grace_self = values
    # verified as the same person except the other person (deepface's Dlib cosine threshold)
    np.testing.assert_array_equal(scores["FVS"], [1.0, 1.0, 1.0, 0.0, 1.0])
    assert scores["ACD"][0] == pytest.approx(0.0, abs=1e-6) and scores["ACD"][3] > scores["ACD"][1]
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
    with pytest.raises(MissingWeightsError, match=r"facenet512") as error:
        FSS(backbone="Facenet512")
    assert str(tmp_path) in str(error.value)


def test_arcface_comes_from_the_weights_manager_and_is_missing_with_its_reason(
    tmp_path, monkeypatch
):
    from metrics.fss import FSS

    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        FSS(backbone="ArcFace")
    text = str(error.value)
    assert "arcface_deepface" in text and "bench weights pull arcface_deepface" in text
    assert "github.com/serengil/deepface_models" in text


def test_fvs_and_acd_by_hand_on_two_pairs():
    """2-d embeddings: pair 1 at 0 degrees apart with lengths 1 and 2, pair 2 at 90 degrees."""
    from metrics.fss import identity_scores

    sources = np.array([[1.0, 0.0], [1.0, 0.0]])
    outputs = np.array([[2.0, 0.0], [0.0, 1.0]])
    cosine = identity_scores(sources, outputs, threshold=0.07)
    np.testing.assert_allclose(cosine["FSS"], [1.0, 0.0])
    np.testing.assert_allclose(cosine["FVS"], [1.0, 0.0])  # cosine distances 0 and 1
    np.testing.assert_allclose(cosine["ACD"], [1.0, np.sqrt(2.0)])
    # Euclidean distances 1 and sqrt(2): a threshold of 1.2 verifies only the first pair,
    # 1.5 both; after unit scaling (euclidean_l2) they are 0 and sqrt(2)
    euclid = identity_scores(sources, outputs, threshold=1.2, distance="euclidean")
    np.testing.assert_allclose(euclid["FVS"], [1.0, 0.0])
    both = identity_scores(sources, outputs, threshold=1.5, distance="euclidean")
    np.testing.assert_allclose(both["FVS"], [1.0, 1.0])
    # deepface verifies at the threshold itself (distance <= threshold)
    at = identity_scores(sources, outputs, threshold=1.0, distance="euclidean")
    np.testing.assert_allclose(at["FVS"], [1.0, 0.0])
    unit = identity_scores(sources, outputs, threshold=0.5, distance="euclidean_l2")
    np.testing.assert_allclose(unit["FVS"], [1.0, 0.0])


@needs_dlib
def test_fss_thresholds_dlib_at_deepface_value_and_rejects_bad_distance():
    from bench.core.errors import UserError
    from metrics.fss import FSS

    assert FSS(backbone="Dlib").threshold == pytest.approx(0.07)
    with pytest.raises(UserError, match="verification_distance"):
        FSS(verification_distance="manhattan")
