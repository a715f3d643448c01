"""Shared fixtures: a tiny params file and a prepared tiny synthetic dataset in a temp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_params(root: Path) -> dict:
    """The repository's params.yaml shrunk for tests (32 px, few subjects), paths under ``root``."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["profiles"]["smoke"] = {
        "image_size": 32,
        "synthetic": {
            "train_subjects": 4,
            "test_subjects": 3,
            "ood_subjects": 2,
            "images_per_expression": 1,
            "styles": ["statue", "sketch"],
        },
        "evaluation": {"batch_size": 8, "bootstrap_resamples": 200},
        "report": {"figure_sources": 2},
        # the cheap metrics (one set-level, one URL-only); FID, FSS and the trained ECS
        # classifier have their own tests (tests/test_fid.py, test_fss.py, test_ecs.py)
        "metrics": ["ecs_fer", "qualiclip", "l1", "ssim"],
    }
    params["eval_datasets"] = ["synthetic", "synthetic_statue"]
    params["paths"] = {k: str(root / k) for k in ("data", "checkpoints", "outputs", "results")}
    return params


TINY_STARGAN = {"conv_dim": 4, "res_blocks": 1, "critic_dim": 4, "critic_layers": 4}
TINY_DAI2I = {
    "base": "stargan",
    "conv_dim": 4,
    "res_blocks": 1,
    "style_dim": 8,
    "style_encoder_dim": 2,
    "style_encoder_layers": 2,
    "critic_dim": 4,
    "critic_layers": 3,
    "critic_scales": 2,
}


def tiny_pipeline_params(root: Path) -> dict[str, Any]:
    """:func:`tiny_params` for whole-pipeline runs: every stage kind (a reference, a fitted and
    a trained model, DAI2I adapted per dataset, the ECS classifier) at a few steps, relative
    paths (the project is the working folder)."""
    raw = tiny_params(root)
    raw["paths"] = {k: k for k in ("data", "checkpoints", "outputs", "results")}
    raw["models"] = ["identity", "mr", "stargan"]
    raw["adapted_models"] = ["dai2i"]
    raw["metrics"] = ["ecs", "l1"]
    del raw["profiles"]["smoke"]["metrics"]
    raw["ecs_classifier"]["epochs"] = 1
    raw["training"]["checkpoint_every"] = 0
    raw["profiles"]["smoke"]["training"] = {
        "steps": {"stargan": 2, "dai2i": 2},
        "batch_sizes": {"dai2i": 4},
    }
    raw["profiles"]["smoke"]["model_settings"] = {"stargan": TINY_STARGAN, "dai2i": TINY_DAI2I}
    return raw


def generate_tiny_sets(
    root: Path, train_subjects: int = 4, seed: int = 0, into: Path | None = None
) -> None:
    """A tiny synthetic set (32 px, ``train_subjects`` train / 3 test subjects) and its statue style under
    ``root / "data"`` (or ``into``): what :func:`tiny_params` with ``eval_datasets`` of both expects."""
    from datasets.synthetic import generate

    generate(
        into or root / "data",
        seed=seed,
        image_size=32,
        train_subjects=train_subjects,
        test_subjects=3,
        ood_subjects=2,
        styles=["statue"],
    )


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    """A params.yaml for a tiny end-to-end run, everything written under ``tmp_path``."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(tmp_path)))
    return path
