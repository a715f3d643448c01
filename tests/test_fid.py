"""FID / KID: agreement with clean-fid, batch-size independence, the content-keyed feature cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from real_faces import face_set

from bench.core.weights import status
from metrics.feature_cache import FeatureCache
from metrics.frechet import frechet_distance, kernel_distance


def _write_folder(folder: Path, faces: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, face in enumerate(faces):
        path = folder / f"face_{index:03d}.png"
        Image.fromarray(face).save(path)
        paths.append(path)
    return paths


def _gaussian_sets(seed: int, n_a: int, n_b: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    a = rng.normal(size=(n_a, dim)) @ mixing
    b = (rng.normal(size=(n_b, dim)) * 1.2 + 0.3) @ mixing
    return a, b


@pytest.mark.parametrize(("n_a", "n_b", "dim"), [(30, 45, 64), (300, 200, 48), (20, 20, 128)])
def test_frechet_distance_matches_clean_fid(n_a, n_b, dim):
    from cleanfid.fid import frechet_distance as clean_fid_frechet

    a, b = _gaussian_sets(0, n_a, n_b, dim)
    expected = clean_fid_frechet(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7, abs=1e-5)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert np.isnan(frechet_distance(a[:1], b))


def test_kid_matches_clean_fid_estimator_and_is_seeded():
    from cleanfid.fid import kernel_distance as clean_fid_kid

    a, b = _gaussian_sets(1, 40, 50, 32)
    np.random.seed(5)  # clean-fid samples its subsets from numpy's global generator
    reference = clean_fid_kid(a, b, num_subsets=50, max_subset_size=40)
    ours = kernel_distance(a, b, subsets=50, subset_size=40, seed=5)
    # with m = n_a every subset of `a` is the whole set: both differ only in the draws of b
    assert ours == pytest.approx(reference, rel=0.2)
    assert ours == kernel_distance(a, b, subsets=50, subset_size=40, seed=5)
    assert kernel_distance(a, b, subsets=50, seed=6) != ours
    assert np.isnan(kernel_distance(a[:1], b))


class CountingExtractor:
    """Fake feature extractor for cache tests: mean colour per image; counts its calls."""

    sha256 = "0" * 64

    def __init__(self) -> None:
        self.calls = 0

    def of_files(self, paths: list[Path]) -> np.ndarray:
        self.calls += 1
        return np.stack(
            [np.asarray(Image.open(p), dtype=np.float64).mean(axis=(0, 1)) for p in paths]
        )


def _cached_features(cache: FeatureCache, extractor: CountingExtractor, paths: list[Path]):
    from bench.core.hashing import sha256_file

    hashes = [sha256_file(p) for p in paths]
    return cache.features(hashes, lambda: extractor.of_files(paths))


def test_feature_cache_is_keyed_by_content_not_by_folder(tmp_path):
    faces = [np.full((8, 8, 3), value, dtype=np.uint8) for value in (10, 80, 160, 240)]
    paths = _write_folder(tmp_path / "set", faces)
    cache = FeatureCache("extractor-sha", "resize", tmp_path / "cache")
    extractor = CountingExtractor()
    first = _cached_features(cache, extractor, paths)
    assert extractor.calls == 1 and (cache.misses, cache.hits) == (1, 0)
    # a renamed folder (same bytes) hits the cache, rows follow the new order
    renamed = tmp_path / "renamed"
    shutil.move(tmp_path / "set", renamed)
    moved = sorted(renamed.iterdir(), reverse=True)
    again = _cached_features(cache, extractor, moved)
    assert extractor.calls == 1 and cache.hits == 1
    np.testing.assert_array_equal(again, first[::-1])
    # one changed pixel invalidates it
    pixels = np.asarray(Image.open(moved[0])).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(moved[0])
    _cached_features(cache, extractor, moved)
    assert extractor.calls == 2
    # another extractor or resize is another entry; no temporary files are left behind
    other = FeatureCache("other-sha", "resize", tmp_path / "cache")
    _cached_features(other, extractor, moved)
    assert extractor.calls == 3
    entries = list((tmp_path / "cache").rglob("*"))
    assert all(not p.name.startswith(".") for p in entries)
    assert len([p for p in entries if p.suffix == ".npz"]) == 3


def test_feature_cache_stores_float32_rows_returns_float64(tmp_path):
    cache = FeatureCache("sha", "resize", tmp_path)
    rows = cache.features(["h1", "h2"], lambda: np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert rows.dtype == np.float64
    again = cache.features(["h2", "h1"], lambda: pytest.fail("recomputed"))
    np.testing.assert_array_equal(again, [[3.0, 4.0], [1.0, 2.0]])


def test_feature_cache_key_covers_device_tf32_and_torch_version(monkeypatch):
    """Features computed on another device, with TF32 or by another torch are other entries."""
    hashes = ["h1", "h2"]
    cache = FeatureCache("sha", "resize", device="cpu")
    base = cache.key(hashes)
    assert FeatureCache("sha", "resize", device=torch.device("cpu")).key(hashes) == base
    cache.device = torch.device("meta")  # any other device type
    assert cache.key(hashes) != base
    cache.device = torch.device("cpu")
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = not matmul
        tf32_matmul = cache.key(hashes)
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = not cudnn
        tf32_cudnn = cache.key(hashes)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    other_torch = cache.key(hashes)
    monkeypatch.undo()
    assert len({base, tf32_matmul, tf32_cudnn, other_torch}) == 4
    assert cache.key(hashes) == base


def test_fid_moves_its_cache_key_with_the_device(monkeypatch):
    from metrics.fid import FID

    class NoNetwork:
        sha256 = "0" * 64

        def __init__(self, *args, **kwargs) -> None:
            pass

        def to(self, device: torch.device) -> NoNetwork:
            return self

    monkeypatch.setattr("metrics.fid.InceptionFeatures", NoNetwork)
    fid = FID()
    assert fid.cache.device == torch.device("cpu")
    fid.to(torch.device("meta"))
    assert fid.cache.device == torch.device("meta")


needs_inception = pytest.mark.skipif(
    status(["inception_fid"])[0].status != "ok",
    reason="inception_fid is not cached (run `bench weights pull inception_fid`)",
)


@pytest.fixture(scope="module")
def real_face_folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of real faces (astronaut / Grace Hopper variants plus LFW crops), 64 px."""
    root = tmp_path_factory.mktemp("faces")
    _write_folder(root / "a", face_set("a", 8, seed=1))
    _write_folder(root / "b", face_set("b", 8, seed=2))
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def inception():
    from metrics.inception import InceptionFeatures

    return InceptionFeatures("inception_fid", batch_size=64)


@needs_inception
def test_features_and_fid_match_clean_fid_pipeline_and_batch_size(real_face_folders, inception):
    """Our features equal clean-fid's own loader + resize with the same network; batch 1 == 64."""
    from cleanfid.fid import get_folder_features

    folder_a, folder_b = real_face_folders
    files_a, files_b = sorted(folder_a.iterdir()), sorted(folder_b.iterdir())
    ours_a, ours_b = inception.of_files(files_a), inception.of_files(files_b)
    clean_a = get_folder_features(
        str(folder_a),
        model=inception.clean_fid_extractor(),
        num_workers=0,
        batch_size=64,
        device=torch.device("cpu"),
        mode="clean",
        verbose=False,
    )
    np.testing.assert_allclose(ours_a, clean_a, atol=1e-4)
    # the scoring path (decoded uint8 tensors) gives the same features as the files
    from datasets.tensors import decode_images

    np.testing.assert_allclose(inception(decode_images(files_a[:4])), ours_a[:4], atol=1e-5)
    # batch size 1 vs 64
    inception.batch_size = 1
    try:
        single_a, single_b = inception.of_files(files_a), inception.of_files(files_b)
    finally:
        inception.batch_size = 64
    fid_64 = frechet_distance(ours_a, ours_b)
    fid_1 = frechet_distance(single_a, single_b)
    assert fid_64 > 1.0
    assert abs(fid_64 - fid_1) < 1e-4


@needs_inception
@pytest.mark.slow
def test_fid_equals_clean_fid_compute_fid(tmp_path, inception):
    """The full clean-fid call (its loader, resize, statistics and sqrtm) on two folders."""
    from cleanfid.fid import compute_fid

    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    files_a = _write_folder(folder_a, face_set("a", 24, seed=3))
    files_b = _write_folder(folder_b, face_set("b", 24, seed=4))
    expected = compute_fid(
        str(folder_a),
        str(folder_b),
        mode="clean",
        custom_feat_extractor=inception.clean_fid_extractor(),
        num_workers=0,
        batch_size=16,
        device=torch.device("cpu"),
        verbose=False,
    )
    ours = frechet_distance(inception.of_files(files_a), inception.of_files(files_b))
    assert abs(ours - expected) < 1e-3, (ours, expected)
