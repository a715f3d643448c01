"""QualiCLIP: a checkpoint with the official structure (random weights) loads and scores;
the pool ignores the positional embedding; batch composition and image size do not matter;
a missing checkpoint is a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.core.errors import MissingWeightsError, UserError


def official_checkpoint(path: Path, seed: int = 0) -> Path:
    """A qualiclip.pth shaped like the official one: the whole CLIP RN50 under ``clip_model.``
    (OpenAI key names, as open_clip's CLIP uses) + 14 normalised prompt features."""
    import open_clip

    torch.manual_seed(seed)
    clip = open_clip.create_model("RN50", pretrained=None)
    state = {f"clip_model.{k}": v for k, v in clip.state_dict().items()}
    state["prompts_features"] = F.normalize(torch.randn(14, 1024), dim=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory) -> Path:
    """A weights cache holding a random-weight qualiclip.pth in the official layout."""
    root = tmp_path_factory.mktemp("weights")
    official_checkpoint(root / "qualiclip" / "qualiclip.pth")
    return root


@pytest.fixture(scope="module")
def qualiclip(weights_root):
    """The metric loaded once from that cache."""
    from metrics.qualiclip import QualiCLIP

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FES_BENCH_WEIGHTS", str(weights_root))
        return QualiCLIP(batch_size=4)


def test_official_structure_loads_and_scores_by_the_protocol(qualiclip):
    """Score = mean over the 7 (positive, negative) pairs, stored interleaved, of the
    softmax of 100 * cosine on the positive one; recomputed here from the image features."""
    from metrics.qualiclip import CLIP_MEAN, CLIP_STD

    images = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    scores = qualiclip.quality(images)
    assert scores.shape == (5,) and scores.dtype == np.float64
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        features = qualiclip.model.encode(((images + 1) / 2 - mean) / std).double()
    prompts = qualiclip.model.prompts.double()
    positive, negative = features @ prompts[0::2].T, features @ prompts[1::2].T
    expected = torch.sigmoid(100.0 * (positive - negative)).mean(dim=1).numpy()
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
    assert set(qualiclip.weight_checksums()) == {"qualiclip"}


def test_equal_prompts_in_each_pair_score_one_half(tmp_path, monkeypatch):
    """A checkpoint whose negative prompts equal their positive ones scores exactly 0.5."""
    from metrics.qualiclip import QualiCLIP

    path = official_checkpoint(tmp_path / "qualiclip" / "qualiclip.pth")
    state = torch.load(path, weights_only=True)
    positive = state["prompts_features"][0::2]
    state["prompts_features"] = positive.repeat_interleave(2, dim=0)
    torch.save(state, path)
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path))
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    np.testing.assert_array_equal(QualiCLIP().quality(images), [0.5, 0.5, 0.5])


def test_score_does_not_depend_on_batch_composition(qualiclip):
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(6, 3, 48, 48, generator=generator) * 2 - 1
    together = qualiclip.quality(images)
    alone = np.concatenate([qualiclip.quality(images[i : i + 1]) for i in range(6)])
    shuffled = qualiclip.quality(images[[5, 3, 1, 0, 2, 4]])[[3, 2, 4, 1, 5, 0]]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, shuffled, atol=1e-5)


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (100, 72), (224, 224)])
def test_any_image_size_works(qualiclip, size):
    images = torch.zeros(2, 3, *size)
    assert qualiclip.quality(images).shape == (2,)


def test_too_small_image_is_a_clear_error(qualiclip):
    with pytest.raises(ValueError, match="at least 32 px"):
        qualiclip.quality(torch.zeros(1, 3, 16, 40))


def test_pool_ignores_the_positional_embedding(qualiclip):
    """Protocol: no positional embedding; otherwise equal to CLIP's attention pool."""
    visual = qualiclip.model.visual
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    before = qualiclip.model.encode(images)
    with torch.no_grad():
        saved = visual.attnpool.positional_embedding.clone()
        visual.attnpool.positional_embedding.normal_()
        changed = qualiclip.model.encode(images)
        visual.attnpool.positional_embedding.zero_()  # open_clip's pool with a zero embedding
        stock = F.normalize(visual(images), dim=-1)
        visual.attnpool.positional_embedding.copy_(saved)
    torch.testing.assert_close(before, changed)
    torch.testing.assert_close(before, stock, atol=1e-5, rtol=1e-4)


def test_missing_checkpoint_is_a_clear_message(tmp_path, monkeypatch):
    from metrics.qualiclip import QualiCLIP

    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        QualiCLIP()
    message = str(error.value)
    assert "qualiclip" in message and "bench weights pull qualiclip" in message
    assert "github.com/miccunifi/QualiCLIP" in message


def test_not_a_qualiclip_file_is_rejected(tmp_path):
    from metrics.qualiclip import load_qualiclip

    torch.save({"clip_model.visual.conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(UserError, match="prompts_features"):
        load_qualiclip(tmp_path / "bad.pth")
