"""One declaration of what each result depends on: ``dvc.yaml`` is generated from the stage
table, and for every leaf setting of params.yaml, changing it makes ``dvc status`` and
``bench run --dry-run`` name the same stages (after a real ``dvc repro`` of a tiny project)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, tiny_pipeline_params

from bench.config import load_config, resolve
from bench.core.errors import UserError
from bench.stages import SETTINGS_FILE, dvc_yaml, settings_text, stage_names

ALWAYS_RUN = {"settings", "weights", "sources"}
"""DVC stages marked always_changed (cheap, idempotent): not part of the comparison."""
NO_VALID_CHANGE = {
    "datasets.synthetic.kind",  # the synthetic spec can be of no other kind
    "train_dataset",  # the tiny project declares one dataset
    "model_settings.dai2i.base",  # the only trained translator of the tiny project is stargan
    "profiles.smoke.model_settings.dai2i.base",  # the same, as the profile sets it
    "model_settings.identity",  # declares no settings: any key is refused
    "metric_settings.ecs",  # declares no settings
    "metric_settings.qualiclip",  # declares no settings
}
"""Leaves for which no other value gives a valid configuration of the tiny project."""


def test_committed_dvc_yaml_is_the_generated_one():
    config = load_config(REPO / "params.yaml")
    assert (REPO / "dvc.yaml").read_text() == dvc_yaml(config), (
        "dvc.yaml differs from the stage table: run `bench stages dvc-yaml`"
    )
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "stage", "list", "--name-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == stage_names(config)


def test_no_model_is_named_in_the_stage_table():
    source = (REPO / "bench" / "stages.py").read_text()
    for model in ("stargan", "dai2i", "reggan", "identity", "ganimation"):
        assert model not in source, model


def _write(root: Path, raw: dict[str, Any]) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny project run end to end by `dvc repro` (the code deps copied beside it)."""
    root = tmp_path_factory.mktemp("agreement")
    for package in ("bench", "models", "metrics", "datasets"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    raw = tiny_pipeline_params(root)
    _write(root, raw)
    (root / "dvc.yaml").write_text(dvc_yaml(resolve(copy.deepcopy(raw))))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env["FES_BENCH_OFFLINE"] = "1"
    run = lambda *a: subprocess.run(a, cwd=root, capture_output=True, text=True, env=env)  # noqa: E731
    assert run(sys.executable, "-m", "dvc", "init", "--no-scm", "-q").returncode == 0
    done = run(sys.executable, "-m", "dvc", "repro")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


def _leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    return [path]


def _get(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        raw = raw[key]
    return raw


def _candidates(value: Any) -> list[Any]:
    """Other values to try for a leaf, most innocuous first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value * 2]
    if isinstance(value, float):
        return [value * 0.5 if value else 0.5, value + 1]
    if isinstance(value, str):
        from bench.config.schema import SAMPLINGS, STYLES
        from bench.core.vocabulary import EXPRESSIONS

        known = [*SAMPLINGS, *STYLES, *EXPRESSIONS, "auto", "cpu", "paper", "smoke", "per_seed"]
        return [value + "x", *[k for k in known if k != value]]
    if isinstance(value, list):
        shifted = [[v + 1 for v in value]] if all(type(v) is int for v in value) else []
        return [value[:-1], value[1:], [*value, value[-1]], *shifted] if value else []
    if value is None:  # an optional number, name or list of column names
        return [5, "5", ["L1"], ["ECS"]]
    if isinstance(value, dict):  # an empty mapping: a setting per model (training.steps)
        return [{"x": 1}, *({model: 3} for model in ("stargan", "mr", "reggan"))]
    return []


def _changed(raw: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """``raw`` with the leaf at ``path`` changed to the first value that validates."""
    for candidate in _candidates(_get(raw, path)):
        new = copy.deepcopy(raw)
        _get(new, path[:-1])[path[-1]] = candidate
        try:
            resolve(copy.deepcopy(new))
        except UserError:
            continue
        return new
    return None


def _dvc_status(repo: Any) -> set[str]:
    repo._reset()  # forget the parsed dvc.yaml, params and index: read everything again
    return set(repo.status()) - ALWAYS_RUN


def _dry_run(root: Path) -> tuple[set[str], str]:
    """The stages `bench run --dry-run` names, and the settings file (the settings stage)."""
    from bench.run import dry_run

    config = load_config(root / "params.yaml")
    text = settings_text(config)
    (config.root("results") / SETTINGS_FILE).parent.mkdir(parents=True, exist_ok=True)
    (config.root("results") / SETTINGS_FILE).write_text(text)
    planned = dry_run(config)  # DVC's status names the stages changed themselves, not after others
    return {stage for stage, why in planned.items() if not why.startswith("after ")}, text


def _all_runs(root: Path) -> set[str]:
    from bench.run import dry_run

    return set(dry_run(load_config(root / "params.yaml"))) - ALWAYS_RUN


def test_dvc_reads_params_only_through_the_settings_file_and_the_top_level_lists():
    """Why a leaf that leaves settings.yaml as it was cannot change `dvc status`: every
    `params:` entry of dvc.yaml is in the settings file, and its templates read only keys a
    profile may not set (checked by the configuration)."""
    import re

    from bench.config.load import TOP_LEVEL_ONLY

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for entry in stage.get("params", []):
            assert isinstance(entry, dict) and list(entry) == [
                f"${{paths.results}}/{SETTINGS_FILE}"
            ], name
    used = {m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", (REPO / "dvc.yaml").read_text())}
    assert used - {"item"} <= set(TOP_LEVEL_ONLY), used


@pytest.mark.slow  # ~3 min on 2 cores (a real `dvc repro`, then ~200 leaves): run by .ci/run
def test_every_leaf_setting_reruns_the_same_stages_under_dvc_and_bench_run(project, monkeypatch):
    """Each leaf of params.yaml changed alone: the stages `dvc status` names (after the settings
    stage) equal those `bench run --dry-run` names. A leaf whose change leaves settings.yaml
    and the top-level lists as they were is checked under DVC for a sample only (the test
    above shows DVC cannot see it), and under bench for every one."""
    from dvc.repo import Repo

    from bench.config.load import TOP_LEVEL_ONLY

    monkeypatch.chdir(project)
    monkeypatch.setenv("FES_BENCH_OFFLINE", "1")
    base = yaml.safe_load((project / "params.yaml").read_text())
    repo = Repo(str(project))
    nothing, baseline = _dry_run(project)
    assert nothing == set() and _dvc_status(repo) == set(), "baseline not current"
    leaves = _leaves(base)
    assert len(leaves) > 150
    skipped, disagree, moved, unseen = [], [], 0, 0
    try:
        for path in leaves:
            new = _changed(base, path)
            if new is None:
                skipped.append(".".join(path))
                continue
            _write(project, new)
            bench, text = _dry_run(project)
            invisible = text == baseline and all(new.get(k) == base.get(k) for k in TOP_LEVEL_ONLY)
            if invisible and unseen % 10:
                unseen += 1
                dvc: set[str] = set()
            else:
                unseen += invisible
                dvc = _dvc_status(repo)
            moved += bool(bench)
            if path == ("paths", "results"):
                # DVC's params file itself moves: DVC names every stage with params as changed,
                # bench reruns some of them after the data; the same stages run either way
                bench = _all_runs(project) if dvc <= _all_runs(project) else bench
            if bench != dvc:
                disagree.append(f"{'.'.join(path)}: bench {sorted(bench)} dvc {sorted(dvc)}")
    finally:
        _write(project, base)
        _dry_run(project)
        repo.close()
    assert not disagree, "\n".join(disagree)
    assert set(skipped) <= NO_VALID_CHANGE, skipped
    assert moved > 40 and unseen > 20  # not vacuous: many settings change results, many do not
