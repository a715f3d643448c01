"""The generator interface, the registry and checkpoints."""

from __future__ import annotations

import pytest
import torch

from bench.core.errors import UserError
from models.base import load_generator, read_checkpoint
from models.registry import MODELS


def test_registry_lists_and_suggests():
    assert "identity" in MODELS.names()
    with pytest.raises(UserError, match=r"did you mean 'identity'.*valid models: identity"):
        MODELS.check("identiti")
    with pytest.raises(UserError, match="valid models"):
        MODELS.parse("nope")
    assert MODELS.parse("identity, identity") == ["identity"]


def test_identity_translate_keeps_shape_range_and_is_deterministic():
    model = MODELS.load("identity")(image_size=16)
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    labels = torch.tensor([1, 2, 3])
    out = model.translate(images, labels)
    assert out.shape == images.shape and torch.equal(out, images)
    assert out.data_ptr() != images.data_ptr()
    with pytest.raises(ValueError):
        model.translate(images, torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        model.translate(images, torch.tensor([1, 2, 9]))


def test_checkpoint_roundtrip_and_bad_files(tmp_path):
    model = MODELS.load("identity")(image_size=16)
    path = tmp_path / "model.pt"
    model.save(path, metadata={"note": "x"})
    assert read_checkpoint(path)["metadata"] == {"note": "x"}
    assert load_generator(path, expected_model="identity").image_size == 16
    with pytest.raises(UserError, match="holds model 'identity'"):
        load_generator(path, expected_model="reggan")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:50])
    with pytest.raises(UserError, match="unreadable"):
        load_generator(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(UserError, match="not a fes-bench checkpoint"):
        load_generator(foreign)
    with pytest.raises(UserError, match="does not exist"):
        load_generator(tmp_path / "absent.pt")
