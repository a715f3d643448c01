"""Provenance stamped on every result file: code version, params, data, weights, libraries.

Deliberately without timestamps or host names, so re-running with the same
seed on the same software gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from typing import Any, Protocol

LIBRARIES = (
    "fes-bench",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pandas",
    "pillow",
    "torchmetrics",
    "clean-fid",
    "open_clip_torch",
    "deepface",
    "dlib-bin",
    "matplotlib",
    "seaborn",
    "dvc",
)


@lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """Commit hash of the working tree and whether tracked code differs from it (dvc.lock ignored)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False)

    head = run("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": "unknown", "dirty": None}
    diff = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)dvc.lock")
    return {"commit": head.stdout.strip(), "dirty": bool(diff.stdout.strip())}


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change a number, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def params_digest(record: dict[str, Any]) -> str:
    """Short sha256 of the resolved params (canonical JSON)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


class Configuration(Protocol):
    """What provenance needs of the configuration (:class:`bench.config.Config`)."""

    profile: str

    def record(self) -> dict[str, Any]: ...


def collect(
    config: Configuration,
    weights: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The provenance record: git, profile, params (+ digest), weights sha256, input files sha256.

    ``params``: the resolved configuration (every setting, defaults included, and the
    ``--set`` overrides applied, under ``overrides``)."""
    params = config.record()
    return {
        "git": git_state(),
        "profile": config.profile,
        "params_sha256": params_digest(params),
        "params": params,
        "weights_sha256": dict(sorted((weights or {}).items())),
        "inputs_sha256": dict(sorted((inputs or {}).items())),
        "versions": library_versions(),
    }


def as_comment(record: dict[str, Any], prefix: str) -> str:
    """The record as compact JSON on comment lines (``# `` for CSV, ``% `` for LaTeX)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return f"{prefix}provenance: {text}\n"
