"""What a user sees and touches (issue 20): one run at a time per project, safe and one-step
photo ingest, and honest feedback (one line per fact, data on stdout, messages on stderr).

Every test drives the console entry point (``python -m bench.cli`` in a subprocess, or
``bench.cli.main`` in this process where a network call has to be replaced)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_params


def bench_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start the real console entry point (exit codes and messages are the user's)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    environment |= {"FES_BENCH_OFFLINE": "1", **(env or {})}  # tests never reach the network
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=environment,
    )


def bench(*args: str, **kwargs) -> subprocess.CompletedProcess:
    process = bench_process(*args, **kwargs)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def cheap_project(root: Path) -> Path:
    """A tiny project (32 px, L1 only, the synthetic set alone): a run takes seconds."""
    params = tiny_params(root)
    params["profiles"]["smoke"]["metrics"] = ["l1"]
    params["eval_datasets"] = ["synthetic"]
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


RUN = ("run", "--models", "identity,mr", "--offline")


# -- 2. one run at a time per project -------------------------------------------------------------
def test_two_runs_at_once_end_cleanly_and_a_third_needs_no_repair(tmp_path: Path) -> None:
    params = cheap_project(tmp_path)
    first, second = (bench_process(*RUN, "--params", str(params)) for _ in range(2))
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    results = [
        (p.returncode, out, err) for p, (out, err) in zip((first, second), outputs, strict=True)
    ]
    for code, _, err in results:
        assert "Traceback" not in err, err
        assert code in (0, 2), err
    assert sorted(code for code, _, _ in results)[0] == 0
    for code, _, err in results:
        if code == 2:
            assert "pid" in err and "bench run" in err, err
    third = bench(*RUN, "--params", str(params))
    assert third.returncode == 0, third.stderr


def test_a_writer_caught_between_locking_and_naming_itself_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder has the flock but has not yet written its line (or has erased it and is about
    to let go): a second command looks again for a moment instead of answering "another bench
    command" without a pid (seen once when two `bench run` started together). In this process,
    so the second taker arrives inside the holder's unnamed half second."""
    from bench.core import lock
    from bench.core.errors import UserError

    monkeypatch.setattr(lock, "wait_seconds", 0.0)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, json, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(0.5);"
            "line = {'pid': os.getpid(), 'command': 'bench run', 'since': 0};"
            "os.pwrite(fd, (json.dumps(line) + '\\n').encode(), 0); time.sleep(600)",
            str(tmp_path / lock.LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"pid {holder.pid} \(`bench run`"):
            lock.acquire(tmp_path)
    finally:
        holder.kill()
        holder.wait()


def test_a_second_writer_names_the_holder_waits_if_asked_and_a_killed_holder_frees_it(
    tmp_path: Path,
) -> None:
    params = cheap_project(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; folder = sys.argv[1]; sys.argv = ['bench', 'run', '--models', 'mr'];"
            "from bench.core import lock; lock.acquire(folder); print('held', flush=True);"
            "time.sleep(600)",
            str(tmp_path / "results"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = bench("sources", "--params", str(params))
        assert busy.returncode == 2, busy.stderr
        assert f"pid {holder.pid}" in busy.stderr and "`bench run --models mr`" in busy.stderr
        assert (
            len(busy.stderr.strip().splitlines()) == 1
            and not (tmp_path / "results/sources").exists()
        )
        waited = bench("--wait", "1", "sources", "--params", str(params))
        assert waited.returncode == 2 and "waiting up to 1 s" in waited.stderr, waited.stderr
        assert "after waiting 1 s" in waited.stderr
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed holder: its lock is free at once
        holder.wait()
    after = bench("sources", "--params", str(params))
    assert after.returncode == 0, after.stderr
    assert (tmp_path / "results/sources/identity.json").is_file()


def test_prepared_data_is_all_or_nothing(params_file: Path, monkeypatch, capsys) -> None:
    from bench.cli import main
    from datasets.manifest import MANIFEST
    from datasets.synthetic import writer

    def bench_main(*args: str, code: int = 0) -> None:
        with monkeypatch.context() as patch, pytest.raises(SystemExit) as exited:
            patch.setattr(sys, "argv", ["bench", *args, "--params", str(params_file)])
            main()
        assert exited.value.code == code

    bench_main("data", "prepare")
    data = params_file.parent / "data" / "synthetic"
    before = {p.relative_to(data): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed half way
        return real(*args, **kwargs)

    real = writer._render_subject
    monkeypatch.setattr(writer, "_render_subject", crash)
    bench_main("data", "prepare", "--set", "seed=1", code=130)  # Ctrl-C: click's exit code
    after = {p.relative_to(data): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    assert after == before and (data / MANIFEST).is_file()
    assert not list(data.parent.glob(".*staging*"))


# -- 1. own photos in one step -----------------------------------------------------------------
def photo_folder(root: Path) -> Path:
    """One face photo (the astronaut), and a symlink to a photo outside the folder."""
    from PIL import Image
    from real_faces import astronaut

    photos = root / "photos"
    photos.mkdir()
    Image.fromarray(astronaut()).save(photos / "astronaut.png")
    Image.fromarray(astronaut()).save(root / "private.png")
    (photos / "elsewhere.png").symlink_to(root / "private.png")
    return photos


def real_weights_cache() -> Path:
    from bench.core.weights import cache

    path = cache.cache_root() / "dlib_landmarks_5"
    if not path.is_dir():
        pytest.skip(
            "dlib_landmarks_5 not in the weights cache (`bench weights pull dlib_landmarks_5`)"
        )
    return cache.cache_root()


def test_own_photos_on_a_fresh_machine_pull_the_aligner_first(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    import pandas as pd

    from bench.cli import main
    from bench.core.weights import manager

    filled = real_weights_cache()
    params = cheap_project(tmp_path)
    photos = photo_folder(tmp_path)
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "empty-cache"))
    pulled = []

    def pull(name, force=False, on_progress=None):  # the network, served from the filled cache
        pulled.append(name)
        shutil.copytree(filled / name, tmp_path / "empty-cache" / name)
        return manager.status([name])[0].path

    monkeypatch.setattr(manager, "pull", pull)
    monkeypatch.setattr(
        sys,
        "argv",
        ["bench", "data", "folder", str(photos), "--name", "mine", "--params", str(params)],
    )
    with pytest.raises(SystemExit) as exited:
        main()
    said = capsys.readouterr()
    assert exited.value.code == 0, said.err
    assert pulled == ["dlib_landmarks_5"]
    report = pd.read_csv(tmp_path / "data/mine/ingest_report.csv", keep_default_na=False)
    rows = {row.file: (row.status, row.reason.split(":")[0]) for row in report.itertuples()}
    assert rows == {"astronaut.png": ("ingested", ""), "elsewhere.png": ("skipped", "symlink")}
    declared = yaml.safe_load(params.read_text())
    assert declared["datasets"]["mine"]["kind"] == "folder" and "mine" in declared["eval_datasets"]


def test_a_failed_ingest_leaves_params_untouched_and_names_are_checked(tmp_path: Path) -> None:
    params = cheap_project(tmp_path)
    original = params.read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = bench("data", "folder", str(empty), "--name", "nothing", "--params", str(params))
    assert result.returncode == 2 and "holds no files" in result.stderr, result.stderr
    assert params.read_bytes() == original

    photos = photo_folder(tmp_path)
    blocked = yaml.safe_load(original)
    (tmp_path / "not-a-folder").write_text("a file where data/ should be")
    blocked["paths"]["data"] = str(tmp_path / "not-a-folder")
    params.write_text(yaml.safe_dump(blocked))
    blocked_text = params.read_bytes()
    result = bench("data", "folder", str(photos), "--name", "mine", "--params", str(params))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert "not-a-folder" in result.stderr and params.read_bytes() == blocked_text
    params.write_bytes(original)

    for name in ("synthetic_statue", "synthetic"):
        result = bench("data", "folder", str(photos), "--name", name, "--params", str(params))
        assert result.returncode == 2 and "choose another --name" in result.stderr, result.stderr
    for name in ("../../x", "a/b", ".hidden"):
        result = bench(
            "data", "folder", str(photos), "--name", name, "--no-declare", "--params", str(params)
        )
        assert result.returncode == 2 and "no path parts" in result.stderr, result.stderr
        result = bench("data", "contact-sheet", name, "--params", str(params))
        assert result.returncode == 2 and "no path parts" in result.stderr, result.stderr
    assert params.read_bytes() == original and not (tmp_path.parent / "x").exists()


def test_an_existing_name_needs_replace(tmp_path: Path) -> None:
    real_weights_cache()
    params = cheap_project(tmp_path)
    photos = photo_folder(tmp_path)
    first = bench("data", "folder", str(photos), "--name", "mine", "--params", str(params))
    assert first.returncode == 0, first.stderr
    declared = params.read_bytes()
    again = bench("data", "folder", str(photos), "--name", "mine", "--params", str(params))
    assert again.returncode == 2 and "--replace" in again.stderr, again.stderr
    assert params.read_bytes() == declared
    other = tmp_path / "other"
    shutil.copytree(photos, other, symlinks=True)
    replaced = bench(
        "data", "folder", str(other), "--name", "mine", "--replace", "--params", str(params)
    )
    assert replaced.returncode == 0, replaced.stderr
    assert yaml.safe_load(params.read_text())["datasets"]["mine"]["root"] == str(other.resolve())


# -- 3. feedback ---------------------------------------------------------------------------------
def test_a_rerun_says_one_line_and_runs_end_with_the_table_and_the_report(tmp_path: Path) -> None:
    params = cheap_project(tmp_path)
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["smoke"]["metrics"] = ["l1", "ecs"]
    raw["profiles"]["smoke"]["ecs_classifier"] = {"epochs": 2}
    params.write_text(yaml.safe_dump(raw))
    first = bench("run", "--models", "identity", "--offline", "--params", str(params))
    assert first.returncode == 0, first.stderr
    assert "ECS classifier on synthetic" in first.stderr and "2/2" in first.stderr  # its bar
    report = str(tmp_path / "results" / "report.html")
    for result in (first,):
        assert result.stdout.startswith("## synthetic\n") and "| identity " in result.stdout
        assert f"report: {report}" in result.stderr
    # the table keeps the models of params.yaml with records, and says once what it leaves out
    leaving = [line for line in first.stderr.splitlines() if "leaving out" in line]
    assert len(leaving) == 1 and "keeping models identity" in leaving[0], first.stderr
    assert "model mr, model reggan" in leaving[0]

    again = bench("run", "--models", "identity", "--offline", "--params", str(params))
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if line.strip()]
    assert [line for line in said if "stage" in line or "running" in line] == [
        "nothing to do: all 5 stages are current (`bench run --dry-run`)"
    ], said
    assert again.stdout == first.stdout and f"report: {report}" in again.stderr

    reported = bench("report", "--params", str(params))
    assert reported.returncode == 0, reported.stderr
    assert reported.stdout == first.stdout and f"report: {report}" in reported.stderr


def test_training_writes_its_loss_history(tmp_path: Path) -> None:
    import pandas as pd
    from conftest import generate_tiny_sets

    params = cheap_project(tmp_path)
    generate_tiny_sets(tmp_path)
    sets = ("--set", "training.steps.reggan=4", "--set", "training.log_every=2")
    sets += ("--set", "training.checkpoint_every=2", "--set", "training.batch_size=4")
    result = bench("train", "--model", "reggan", *sets, "--device", "cpu", "--params", str(params))
    assert result.returncode == 0, result.stderr
    history = pd.read_csv(tmp_path / "checkpoints/reggan/synthetic/history.csv")
    assert list(history["step"]) == [2, 4]
    assert {"s_per_step"} < set(history.columns) and any(c.startswith("lr_") for c in history)
    losses = [c for c in history.columns if c != "step" and not c.startswith(("lr_", "s_per"))]
    assert losses and history[losses].notna().all().all()


def test_unavailable_weights_are_one_line_each_and_not_retried_until_pulled(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from bench.cli import main
    from bench.core.errors import UserError
    from bench.core.weights import manager

    params = cheap_project(tmp_path)
    raw = yaml.safe_load(params.read_text())
    raw["profiles"]["smoke"]["metrics"] = ["qualiclip", "l1"]  # a URL-only evaluator
    params.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("FES_BENCH_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.delenv("FES_BENCH_OFFLINE", raising=False)
    tried = []

    def unreachable(name, force=False, on_progress=None):
        tried.append(name)
        raise UserError(f"{name}: every source failed:\n  https://example.org: timed out\n  ...")

    monkeypatch.setattr(manager, "pull", unreachable)

    def bench_main(*args: str) -> list[str]:
        with monkeypatch.context() as patch, pytest.raises(SystemExit):
            patch.setattr(sys, "argv", ["bench", *args])
            main()
        return [line for line in capsys.readouterr().err.splitlines() if "qualiclip" in line]

    lines = bench_main("weights", "lock", "--params", str(params))
    assert tried.count("qualiclip") == 1 and len(lines) == 1, lines
    assert "unavailable" in lines[0] and "bench weights pull qualiclip" in lines[0]
    first = len(tried)
    lines = bench_main("weights", "lock", "--params", str(params))
    assert len(tried) == first and len(lines) == 1, lines  # nothing tried again
    bench_main("weights", "pull", "qualiclip")
    assert tried[first:] == ["qualiclip"]  # asked for: tried


def test_listings_are_data_on_stdout_with_json_and_a_version(tmp_path: Path) -> None:
    import json

    from bench import __version__

    for command, key in (("models", "model"), ("metrics", "metric")):
        piped = bench(command)
        assert piped.returncode == 0 and piped.stderr == "", piped.stderr
        header, *rows = piped.stdout.splitlines()
        assert header.split("\t")[0] == key and len(rows) > 3
        assert all(len(row.split("\t")) == len(header.split("\t")) for row in rows)  # no wraps
        listed = json.loads(bench(command, "--json").stdout)
        assert {row[key] for row in listed} >= {"identity" if key == "model" else "l1"}
    weights = bench("weights", "list", "--json", env={"FES_BENCH_WEIGHTS": str(tmp_path)})
    assert weights.returncode == 0 and weights.stderr == ""
    assert {row["status"] for row in json.loads(weights.stdout)} == {"missing"}
    version = bench("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"fes-bench {__version__}"
