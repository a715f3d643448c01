"""Results travel through a DVC remote: a tiny project run by `dvc repro` and pushed to a
local-folder remote (`dvc remote add -d`, `dvc push`); a git clone of it pulls (`dvc pull`),
and `dvc repro` there runs none of the stages that make data, checkpoints, outputs, records
or tables (only the cheap always-run ones), `dvc status` names nothing else, and the tables
are byte-equal. S3 and SSH remotes are the same commands with another URL.

Slow (~4 min on 2 cores): run by .ci/run.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_pipeline_params

from bench.config import resolve
from bench.stages import dvc_yaml

ALWAYS_RUN = {"settings", "weights", "sources"}
"""The always_changed stages: cheap, idempotent, run by every `dvc repro`."""

ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    "PYTHONPATH": str(REPO),
    "FES_BENCH_OFFLINE": "1",
    "GIT_AUTHOR_NAME": "fes-bench test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "fes-bench test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run(root: Path, *command: str) -> str:
    done = subprocess.run(command, cwd=root, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def dvc(root: Path, *args: str) -> str:
    return run(root, sys.executable, "-m", "dvc", *args)


def changed_stages(root: Path) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:  # keys: "<path of dvc.yaml>:<stage>" seen from elsewhere
        return {key.rsplit(":", 1)[-1] for key in repo.status()} - ALWAYS_RUN


def tables(root: Path) -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in (root / "results" / "tables").glob("*.csv")}
    assert found, f"no tables under {root}"
    return found


@pytest.mark.slow
def test_a_pushed_benchmark_is_pulled_by_a_clone_that_rebuilds_nothing(tmp_path):
    root = tmp_path / "bench-project"
    root.mkdir()
    for package in ("bench", "models", "metrics", "datasets"):  # the stages' code deps
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / ".gitignore", root / ".gitignore")  # git carries none of the outputs
    raw = tiny_pipeline_params(root)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (root / "dvc.yaml").write_text(dvc_yaml(resolve(copy.deepcopy(raw))))
    run(root, "git", "init", "-q")
    dvc(root, "init", "-q")
    dvc(root, "repro")
    assert changed_stages(root) == set()
    remote = tmp_path / "remote"
    dvc(root, "remote", "add", "-d", "shared", str(remote))
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "a finished benchmark")
    pushed = dvc(root, "push")
    assert re.search(r"\d+ files? pushed", pushed), pushed

    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(root), str(clone))
    trained = "checkpoints/stargan/synthetic/model.pt"
    assert not (clone / trained).exists() and not list(clone.glob("results/tables/*.csv"))
    dvc(clone, "pull")
    repro = dvc(clone, "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", repro))
    assert ran <= ALWAYS_RUN, ran
    assert "didn't change, skipping" in repro
    assert changed_stages(clone) == set()
    assert tables(clone) == tables(root)
    assert (clone / trained).read_bytes() == (root / trained).read_bytes()
