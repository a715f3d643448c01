"""Shared fixtures: a tiny params file and a prepared tiny synthetic dataset in a temp folder."""

from __future__ import annotations

from pathlib import Path

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


def generate_tiny_sets(root: Path, train_subjects: int = 4) -> None:
    """A tiny synthetic set (32 px, ``train_subjects`` train / 3 test subjects) and its statue style under
    ``root / "data"``: what :func:`tiny_params` with ``eval_datasets`` of both expects."""
    from datasets.synthetic import generate

    generate(
        root / "data",
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
