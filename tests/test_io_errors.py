"""Bad input and a disk that refuses a write end in one line, never a traceback (issue 20, 5).

Bad input is exit code 2 (a plugin whose constructor raises, outputs deleted while they are
scored, a malformed study file, a dataset name with path parts); a full disk or a read-only
folder is exit code 1 with one line naming the path. Nothing is lost: no half-written file
under a final name, no temporary file left behind, earlier results intact.

Every case runs the console entry point: ``python -m bench.cli`` in a subprocess where a
plugin must be imported, ``bench.cli.main`` in this process otherwise. The disk cases use
real ones: a read-only bind mount (as root; ``chmod a-w`` otherwise, which root ignores) and a
small tmpfs filled up (root only, else skipped).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, tiny_params
from test_study import hand_key
from test_ux import bench

from bench.config import load_config
from bench.evaluate import evaluate
from bench.synthesize import synthesize
from bench.train import train
from datasets.synthetic import generate

CPU = torch.device("cpu")
FOLDERS = ("data", "checkpoints", "outputs", "results")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny project (L1 only, the synthetic set): data prepared, identity trained,
    synthesized and evaluated. Tests work on copies (:func:`copy_project`)."""
    root = tmp_path_factory.mktemp("io")
    params = tiny_params(root)
    params["profiles"]["smoke"]["metrics"] = ["l1"]
    params["eval_datasets"] = ["synthetic"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    config = load_config(root / "params.yaml")
    generate(root / "data", image_size=32, train_subjects=4, test_subjects=3, ood_subjects=2)
    train(config, "identity", CPU)
    synthesize(config, "identity", "synthetic", CPU)
    evaluate(config, "identity", "synthetic", CPU)
    return root


def copy_project(project: Path, root: Path, **elsewhere: Path) -> Path:
    """Copy ``project``'s folders into ``root`` (or a folder to ``elsewhere[name]``, e.g. a
    small disk); return the copy's params.yaml."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    for name in FOLDERS:
        target = elsewhere.get(name, root / name)
        shutil.copytree(project / name, target, dirs_exist_ok=True)
        params["paths"][name] = str(target)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under ``folders`` (path -> bytes), temporary ones included; the project lock
    (its holder line changes with every command) left out."""
    return {
        str(p): p.read_bytes()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".bench.lock"
    }


def bench_here(capsys, *args: str) -> tuple[int, list[str]]:
    """``bench ARGS`` through ``bench.cli.main`` in this process: its exit code and its
    non-blank output lines. An exception that escapes ``main()`` (a traceback) fails the test."""
    from bench.cli import main

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exited:
        patch.setattr(sys, "argv", ["bench", *args])
        main()
    captured = capsys.readouterr()
    return exited.value.code, [
        ln for ln in (captured.err + captured.out).splitlines() if ln.strip()
    ]


def error_line(code: int, lines: list[str], expected_code: int) -> str:
    """The one ``error:`` line, which must end the output (progress lines may precede it)."""
    errors = [line for line in lines if line.startswith("error:")]
    assert code == expected_code and len(errors) == 1 and lines[-1] == errors[0], (code, lines)
    assert not any("Traceback" in line for line in lines), lines
    return errors[0]


def process_error(result: subprocess.CompletedProcess, expected_code: int) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return error_line(result.returncode, lines, expected_code)


# -- plugins -----------------------------------------------------------------------------------
PLUGIN = '''
"""Test-only plugins that fail, or make files vanish, as a user's code might."""

import os
import shutil

from metrics.base import Column, Metric
from models.identity import IdentityGenerator


class Broken(IdentityGenerator):
    """A generator whose constructor raises."""

    def __init__(self, image_size, **settings):
        raise ValueError("strength must be positive")


class BadMetric(Metric):
    """A metric whose constructor raises."""

    columns = (Column("bad", True, (0.0, 1.0), "never computed"),)

    def __init__(self):
        raise RuntimeError("cannot open the backbone")

    def score(self, batch):
        return {}


class Vanish(Metric):
    """Deletes the folder $VANISH while the first batch is scored (another process's rm -rf)."""

    columns = (Column("vanish", True, (0.0, 1.0), "always 0"),)

    def score(self, batch):
        shutil.rmtree(os.environ["VANISH"], ignore_errors=True)
        return {"vanish": [0.0] * len(batch.outputs)}
'''


def plugin_site(root: Path) -> dict[str, str]:
    """A folder with the package ``badpkg`` (:data:`PLUGIN` as ``badpkg.mod``); the environment
    that puts it on the path."""
    package = root / "site" / "badpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(textwrap.dedent(PLUGIN))
    return {"PYTHONPATH": os.pathsep.join([str(root / "site"), str(REPO)])}


def test_a_plugin_whose_constructor_raises_is_one_line_naming_it(project, tmp_path):
    params = copy_project(project, tmp_path)
    env = plugin_site(tmp_path)
    result = bench("train", "--model", "badpkg.mod:Broken", "--params", str(params), env=env)
    assert process_error(result, 2) == (
        "error: model plugin 'badpkg.mod.Broken' (ad hoc, badpkg.mod:Broken) failed to build: "
        "ValueError: strength must be positive"
    )
    assert not (tmp_path / "checkpoints" / "badpkg.mod.Broken").exists()
    metrics = 'metrics=[l1, "badpkg.mod:BadMetric"]'
    args = ("evaluate", "--model", "identity", "--set", metrics, "--params", str(params))
    assert process_error(bench(*args, env=env), 2) == (
        "error: metric plugin 'badpkg.mod.BadMetric' (ad hoc, badpkg.mod:BadMetric) failed to "
        "build: RuntimeError: cannot open the backbone"
    )


# -- files that vanish -------------------------------------------------------------------------
def test_outputs_deleted_during_evaluate_are_one_line_and_the_records_stay(project, tmp_path):
    params = copy_project(project, tmp_path)
    outputs = tmp_path / "outputs" / "identity" / "synthetic"
    before = snapshot(tmp_path / "results")
    env = {**plugin_site(tmp_path), "VANISH": str(outputs)}
    metrics = 'metrics=[l1, "badpkg.mod:Vanish"]'
    args = ("evaluate", "--model", "identity", "--set", metrics, "--params", str(params))
    line = process_error(bench(*args, env=env), 2)
    assert line.startswith(f"error: {outputs}/") and ".png disappeared while identity was " in line
    assert "nothing was written" in line and "bench synthesize --model identity" in line
    assert snapshot(tmp_path / "results") == before  # the earlier records and JSON, no temp file


# -- a read-only folder ------------------------------------------------------------------------
@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """``folder`` read-only for the block; yields the reason a write gets. As root a read-only
    bind mount (permission bits do not stop root); otherwise ``chmod a-w`` on every folder."""
    if os.geteuid() != 0:
        folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
        for path in folders:
            path.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            for path in folders:
                path.chmod(0o755)
        return
    for command in (["--bind"], ["-o", "remount,bind,ro"]):
        done = subprocess.run(["mount", *command, str(folder), str(folder)], capture_output=True)
        if done.returncode:
            if command != ["--bind"]:
                subprocess.run(["umount", "--lazy", str(folder)], check=True)
            pytest.skip(f"root, but mount is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield "Read-only file system"
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


IDENTITY_ON_SYNTHETIC = ("--model", "identity", "--dataset", "synthetic")
READ_ONLY = [
    ("results", ("sources",), "results/.bench.lock"),
    ("results/records", ("evaluate", *IDENTITY_ON_SYNTHETIC), "results/records/identity"),
    ("outputs", ("synthesize", *IDENTITY_ON_SYNTHETIC), "outputs/identity/synthetic"),
    ("checkpoints", ("train", "--model", "identity"), "checkpoints/identity/synthetic/model.pt"),
    ("data", ("data", "prepare", "synthetic"), "data/synthetic"),
]


@pytest.mark.parametrize(
    ("folder", "args", "named"), READ_ONLY, ids=[case[0] for case in READ_ONLY]
)
def test_a_read_only_folder_is_one_line_naming_it(project, tmp_path, capsys, folder, args, named):
    params = copy_project(project, tmp_path)
    before = snapshot(*(tmp_path / name for name in FOLDERS))
    with read_only(tmp_path / folder) as reason:
        code, lines = bench_here(capsys, *args, "--params", str(params))
    line = error_line(code, lines, 1)
    assert line.startswith(f"error: cannot write {tmp_path / named}") or line.startswith(
        f"error: {tmp_path / named}"
    ), line
    assert reason in line, line
    assert snapshot(*(tmp_path / name for name in FOLDERS)) == before  # records and JSON kept


# -- a full disk -------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``2m``) mounted on ``folder`` for the block (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is a small tmpfs, and mounting one needs root")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"root, but mount is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:  # lazy: detached even while a failing command still holds a file open in it
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` with a file until ``leave`` bytes are free."""
    stats = os.statvfs(disk)
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))


FULL = "No space left on device; free some space and run the command again"


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(project, tmp_path, capsys):
    """torch.save on a full disk says ``RuntimeError: ... unexpected pos``: the ENOSPC behind
    it becomes one line naming the checkpoint, which keeps its previous bytes."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        params = copy_project(project, tmp_path, checkpoints=disk)
        code, lines = bench_here(capsys, "train", "--model", "mr", "--params", str(params))
        assert code == 0, lines
        fill(disk, leave=64 * 1024)  # mr's checkpoint is about 0.9 MB at 32 px
        before = snapshot(disk)
        result = bench("train", "--model", "mr", "--fresh", "--params", str(params))
        target = disk / "mr" / "synthetic" / "model.pt"
        assert process_error(result, 1) == f"error: cannot write {target}: {FULL}"
        assert snapshot(disk) == before  # the previous checkpoint, no temporary file


def test_a_full_disk_while_synthesizing_keeps_the_previous_outputs(project, tmp_path, capsys):
    with small_disk(tmp_path / "disk", "1m") as disk:
        params = copy_project(project, tmp_path, outputs=disk)
        fill(disk, leave=8 * 1024)  # 18 outputs of about 2.5 kB each do not fit
        before = snapshot(disk)
        code, lines = bench_here(
            capsys, "synthesize", *IDENTITY_ON_SYNTHETIC, "--params", str(params)
        )
        target = disk / "identity" / "synthetic"
        assert error_line(code, lines, 1) == f"error: cannot write {target}: {FULL}"
        assert snapshot(disk) == before  # the previous outputs, no staging folder


def test_a_full_results_disk_names_the_project_lock(project, tmp_path, capsys):
    """The lock's holder line is the first thing a command writes: on a full disk the error
    knows no path, the line names the lock file."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        params = copy_project(project, tmp_path, results=disk)
        fill(disk, leave=0)
        code, lines = bench_here(capsys, "sources", "--params", str(params))
        lock = (disk / ".bench.lock").resolve()
        assert error_line(code, lines, 1) == f"error: cannot write {lock}: {FULL}"


# -- the human study's answer files ------------------------------------------------------------
def study_files(root: Path) -> tuple[Path, Path]:
    """The hand-made key of tests/test_study.py and one good participant's answers."""
    key = root / "key.json"
    key.write_text(json.dumps(hand_key()))
    picks = {"t1": "ia", "t2": None, "t3": None, "t4": "is"}
    answers = [
        {"trial_id": t, "choice": "same" if c is None else "left", "chosen": c}
        for t, c in picks.items()
    ]
    good = root / "good.json"
    good.write_text(json.dumps({"kit_id": "k1", "participant_id": "good", "answers": answers}))
    return key, good


def analyze(capsys, root: Path, *answer_files: Path, key: Path | None = None):
    args = ["study", "analyze", *map(str, answer_files), "--out", str(root / "out")]
    return bench_here(capsys, *args, "--key", str(key or root / "key.json"))


DEEP = 200_000


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"answers": [{"trial_id": ["t1"], "choice": "left", "chosen": "ia"}]},
            "answer 1 has trial_id ['t1']: not a string",
        ),
        (
            {"answers": [{"trial_id": "t1", "choice": {"left": 1}, "chosen": "ia"}]},
            "answer 1 has choice {'left': 1}: not a string",
        ),
        ('{"kit_id": "k1", "answers": ' + "[" * DEEP + "]" * DEEP + "}", "malformed JSON"),
    ],
    ids=["nested trial id", "nested choice", f"{DEEP}-deep"],
)
def test_a_malformed_answer_file_is_one_line_naming_it(capsys, tmp_path, content, expected):
    _, good = study_files(tmp_path)
    bad = tmp_path / "bad.json"
    if isinstance(content, str):
        bad.write_text(content)
    else:
        bad.write_text(json.dumps({"kit_id": "k1", "participant_id": "p", **content}))
    line = error_line(*analyze(capsys, tmp_path, good, bad), 2)
    assert line.startswith(f"error: {bad}: {expected}"), line
    assert not (tmp_path / "out").exists()


def test_a_deep_key_file_is_one_line_naming_it(capsys, tmp_path):
    _, good = study_files(tmp_path)
    key = tmp_path / "deep-key.json"
    key.write_text("[" * DEEP + "]" * DEEP)
    line = error_line(*analyze(capsys, tmp_path, good, key=key), 2)
    assert line == f"error: {key}: malformed JSON (nested too deeply to read)"


def test_an_answer_file_without_answers_is_named_and_counted_as_excluded(capsys, tmp_path):
    """A participant who opened the page and sent nothing: the analysis of the others goes on
    (one empty file must not block a study), and the file is named and counted as excluded,
    as a paper reports its exclusions."""
    _, good = study_files(tmp_path)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"kit_id": "k1", "participant_id": "quit", "answers": []}))
    code, lines = analyze(capsys, tmp_path, good, empty)
    assert code == 0, lines
    assert lines[0] == (
        f"warning: {empty}: no answers; participant 'quit' is excluded (listed in preferences.md)"
    )
    assert lines[1].startswith(
        "2 participants, 0 dropped for failed attention checks (0 answers), 1 excluded (no answers)"
    )
    summary = (tmp_path / "out" / "preferences.md").read_text()
    assert "2 answer files, 2 participants; " in summary
    assert "1 excluded for sending no answers: quit." in summary


# -- dataset names ----------------------------------------------------------------------------
def test_a_dataset_name_with_path_parts_is_refused_before_anything_is_written(capsys, tmp_path):
    """``datasets: {../../x: ...}`` in params.yaml would make `bench data prepare` write outside
    data/; the name is refused at load (the folder-ingest and symlink cases are in test_ux)."""
    params = tiny_params(tmp_path)
    params["datasets"]["../../x"] = {"kind": "synthetic"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    for args in (("data", "prepare"), ("data", "prepare", "../../x")):
        line = error_line(*bench_here(capsys, *args, "--params", str(path)), 2)
        assert line.startswith(f"error: {path}: datasets.../../x: "), line
    assert not (tmp_path.parent / "x").exists() and not (tmp_path / "data").exists()
