"""A tiny project run under both engines: its params and dvc.yaml with the code DVC's stages
depend on copied beside it, and a runner for `dvc` and `bench` commands in it (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from conftest import REPO

from bench.config import resolve
from bench.stages import dvc_yaml

DVC = (sys.executable, "-m", "dvc")
BENCH = (sys.executable, "-m", "bench.cli")


def project(root: Path, raw: dict[str, Any]) -> Path:
    """``root`` with bench, models, metrics and datasets copied in, ``raw`` as its params.yaml
    and the dvc.yaml generated from it."""
    for package in ("bench", "models", "metrics", "datasets"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (root / "dvc.yaml").write_text(dvc_yaml(resolve(raw)))
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``args`` in ``root`` (this interpreter's bin first on PATH, offline); asserts exit 0."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env["FES_BENCH_OFFLINE"] = "1"
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_both(tmp_path: Path, make: Callable[[Path], Path]) -> tuple[Path, Path]:
    """Two copies of the project ``make`` writes (under ``tmp_path/dvc`` and ``/bench``): the
    first run by ``dvc repro``, the second by ``bench run``; returns their roots."""
    dvc_root, bench_root = make(tmp_path / "dvc"), make(tmp_path / "bench")
    run(dvc_root, *DVC, "init", "--no-scm", "-q")
    run(dvc_root, *DVC, "repro")
    run(bench_root, *BENCH, "run")
    return dvc_root, bench_root


def stale_after(root: Path, edit: Callable[[dict[str, Any]], object]) -> tuple[set, set]:
    """After ``edit`` of ``root``'s params: the stages ``dvc status`` names (less the
    always-run ones) and those ``bench run --dry-run`` would run for their own reason."""
    path = root / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    run(root, *BENCH, "stages", "settings")
    status = json.loads(run(root, *DVC, "status", "--json").stdout)
    planned = run(root, *BENCH, "run", "--dry-run").stderr.splitlines()
    own = {line.split(":")[0] for line in planned if "would run (after " not in line}
    return set(status) - {"settings", "weights", "sources"}, own
