"""The paper's protocol rehearsed on the CPU: ``profile: paper`` (128 px, the published
architectures and batch sizes) with a handful of steps, CFEE's layout as the training set,
``dvc repro`` from the first stage to the tables, driven only through the command line and
files (README: "Rehearsing the paper's protocol").

The CFEE tree is drawn by ``tests/cfee_tree.py`` (synthetic faces as JPEG photographs under
CFEE's folder and file names), so the real ingest runs: dlib detection, landmarks, eye
alignment. Weights come from the local cache only (``FES_BENCH_OFFLINE=1``); a URL-only file
that is absent must give a "missing" cell, not a failure.

``FES_BENCH_REHEARSAL_DIR=path`` keeps the project there (for a look at the tables).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cfee_tree import write_cfee_tree
from conftest import REPO

SUBJECTS = 10
STEPS = {"reggan": 3, "stargan": 5, "usgan": 5, "sargan": 5, "ganimation": 5, "dai2i": 2}
"""A handful of steps per model; the GANs' 5 make one generator update (n_critic 5)."""
CODE = ("bench", "models", "metrics", "datasets")
"""The repository folders dvc.yaml names as dependencies, copied into the project."""
ALWAYS_CHANGED = {"settings", "weights", "sources"}


def rehearsal_params(cfee_root: Path) -> dict:
    """The repository's params.yaml at ``profile: paper`` with every schedule cut to a handful
    of steps and CFEE's tree as the training set (keys of params.yaml only)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["profile"] = "paper"
    params["device"] = "cpu"
    params["train_dataset"] = "cfee"
    params["eval_datasets"] = ["cfee", "synthetic_statue"]
    params["datasets"] = {
        "synthetic": {"kind": "synthetic"},
        "cfee": {"kind": "cfee", "root": str(cfee_root), "test_fraction": 0.3},
    }
    params["synthetic"]["styles"] = ["statue"]
    paper = params["profiles"]["paper"]
    # the synthetic set only provides the OOD style here: 4 unseen subjects x 7 expressions
    paper["synthetic"] = {
        "train_subjects": 1,
        "test_subjects": 1,
        "ood_subjects": 4,
        "images_per_expression": 1,
    }
    paper["training"]["steps"] = dict(STEPS)
    # DAI2I at its authors' batch 24 peaks at ~21 GB RSS on the CPU (README): 4 here
    params["training"]["batch_sizes"]["dai2i"] = 4
    params["ecs_classifier"]["epochs"] = 1
    params["evaluation"]["bootstrap_resamples"] = 50
    params["metric_settings"]["fid"]["kid_subsets"] = 10
    params["metric_settings"]["fid"]["kid_subset_size"] = 20
    return params


def make_project(root: Path) -> Path:
    """A DVC project at ``root/project``: dvc.yaml, the code folders it depends on, the
    rehearsal's params.yaml; the CFEE tree beside it (outside the project, as a real copy)."""
    cfee = write_cfee_tree(root, subjects=SUBJECTS)
    project = root / "project"
    project.mkdir()
    shutil.copy2(REPO / "dvc.yaml", project / "dvc.yaml")
    for folder in CODE:
        shutil.copytree(
            REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (project / "params.yaml").write_text(yaml.safe_dump(rehearsal_params(cfee), sort_keys=False))
    return project


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FES_BENCH_OFFLINE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run(args: list[str], project: Path, log: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=project, env=environment(), capture_output=True, text=True)
    (project.parent / log).write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{(result.stdout + result.stderr)[-6000:]}"
    )
    return result


def dvc(*args: str, project: Path, log: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], project, log)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    keep = os.environ.get("FES_BENCH_REHEARSAL_DIR")
    if not keep:
        return tmp_path
    keep_path = Path(keep)
    if keep_path.exists():
        shutil.rmtree(keep_path)
    keep_path.mkdir(parents=True)
    return keep_path


def check_rehearsal(project: Path) -> None:
    """What a finished rehearsal must show (also run on a kept project, see the module doc)."""
    # every stage ran and recorded its outputs; a second look finds nothing to redo
    names = dvc("stage", "list", "--name-only", project=project, log="dvc-stages.log")
    stages = set(names.stdout.split())
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert stages and stages <= set(lock), sorted(stages - set(lock))
    assert {s.split("@")[0] for s in stages} >= {
        "weights", "data", "sources", "train", "adapt", "ecs_classifier", "evaluate",
        "evaluate_adapted", "report",
    }  # fmt: skip
    status = dvc("status", "--json", project=project, log="dvc-status.log")
    stale = {k: v for k, v in json.loads(status.stdout or "{}").items() if k not in ALWAYS_CHANGED}
    assert not stale, stale

    # the CFEE tree went through the real ingest: every basic face found and aligned
    report = pd.read_csv(project / "data" / "cfee" / "ingest_report.csv")
    assert len(report) == SUBJECTS * 8
    ingested = report[report["status"] == "ingested"]
    assert len(ingested) == SUBJECTS * 7, report[report["status"] != "ingested"].to_string()
    skipped = report[report["status"] != "ingested"]
    assert skipped["reason"].str.startswith("compound category:").all(), skipped.to_string()
    manifest = pd.read_csv(project / "data" / "cfee" / "manifest.csv")
    assert set(manifest["split"]) == {"train", "test"}

    # every cell of the comparison table is a number or an explained "missing" (n = 0, no
    # value, and a footnote with the reason in comparison.md)
    table = pd.read_csv(project / "results" / "tables" / "comparison.csv")
    markdown = (project / "results" / "tables" / "comparison.md").read_text()
    assert set(table["model"]) == {"identity", "mr", *STEPS}, table["model"].tolist()
    assert set(table["dataset"]) == {"cfee", "synthetic_statue"}
    assert len(table.groupby(["model", "dataset"])) == len(STEPS) * 2 + 4
    for row in table.itertuples():
        if pd.isna(row.mean):
            assert row.n == 0 and f"{row.metric} missing:" in markdown, row
        else:
            assert math.isfinite(row.mean), row

    # nothing stray: every file the run added is a DVC output or DVC's own
    outs = ("data/", "checkpoints/", "outputs/", "results/", ".dvc/", "dvc.lock", ".dvcignore")
    given = {"dvc.yaml", "params.yaml"} | {
        str(p.relative_to(project)) for folder in CODE for p in (project / folder).rglob("*")
    }
    stray = sorted(p for p in files_under(project) - given if not p.startswith(outs))
    assert not stray, stray


@pytest.mark.slow
def test_paper_protocol_rehearsed_on_a_cfee_tree(root):
    pytest.importorskip("dlib")
    project = make_project(root)
    dvc("init", "--no-scm", project=project, log="dvc-init.log")
    dvc("repro", project=project, log="dvc-repro.log")
    check_rehearsal(project)


def test_cfee_ingest_applies_ingest_min_face_px(tmp_path):
    """`ingest.min_face_px` reaches the CFEE ingest (it is in the data fingerprint; the CFEE
    path used to ignore it): faces below it are skipped as "too small", through the CLI."""
    pytest.importorskip("dlib")
    from bench.core.weights import status

    if status(["dlib_landmarks_5"])[0].status != "ok":
        pytest.skip("dlib_landmarks_5 is not cached (run `bench weights pull`)")
    from conftest import tiny_params

    cfee = write_cfee_tree(tmp_path, subjects=1, compound=False)
    params = tiny_params(tmp_path)
    params["datasets"] = {"cfee": {"kind": "cfee", "root": str(cfee)}}
    params["train_dataset"] = "cfee"
    params["eval_datasets"] = ["cfee"]
    params["ingest"]["min_face_px"] = 100  # the tree's faces are about 90 px (detector box)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    command = [sys.executable, "-m", "bench.cli", "data", "prepare", "--params", str(path)]
    result = subprocess.run(command, env=environment(), capture_output=True, text=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no face could be ingested" in result.stderr
    assert not (tmp_path / "data" / "cfee").exists()  # all or nothing: the report is kept beside
    report = pd.read_csv(tmp_path / "data" / "cfee.ingest_report.csv")
    assert report["reason"].str.startswith("too small:").all(), report.to_string()
    params["ingest"]["min_face_px"] = 40
    path.write_text(yaml.safe_dump(params))
    result = subprocess.run(command, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        pd.read_csv(tmp_path / "data" / "cfee" / "ingest_report.csv")["status"] == "ingested"
    ).all()
