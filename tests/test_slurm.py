"""`bench run --launcher slurm` on a real one-node Slurm cluster (`.ci/slurm-up`: Debian's
slurmctld, slurmd and munge on this machine), not a mock: the tables equal the in-process
run's byte for byte, other writing commands are kept out while the jobs run, a failed job's
dependents are cancelled and named, and a preempted training job is requeued and ends with
the weights of an uninterrupted run.

Slow (~6 min on 2 cores): run by .ci/run with FES_BENCH_REQUIRE_SLURM=1, which turns the
skip (not root, no apt-get) into a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, tiny_pipeline_params

pytestmark = pytest.mark.slow

ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "OMP_NUM_THREADS": "1",  # the jobs inherit it: the same float results as the in-process run
    "FES_BENCH_OFFLINE": "1",
    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
}


@pytest.fixture(scope="session")
def slurm() -> str:
    """A running one-node cluster (started by .ci/slurm-up when needed); its partition."""
    started = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm-up")], capture_output=True, text=True, timeout=900
    )
    if started.returncode:
        reason = f".ci/slurm-up exited {started.returncode}: {started.stderr.strip()[-400:]}"
        if started.returncode in (2, 3) and os.environ.get("FES_BENCH_REQUIRE_SLURM") != "1":
            pytest.skip(reason)  # not root / no apt-get / a real cluster's slurm.conf
        pytest.fail(reason)
    return started.stdout.strip()


def bench(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The command's exit code; its stdout (data) and stderr (messages) in ``stdout``."""
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        cwd=root,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def project(root: Path, **changes) -> Path:
    """The tiny pipeline project (identity, mr, stargan, dai2i; ECS and L1) in ``root``, one
    core per job."""
    root.mkdir(parents=True, exist_ok=True)
    raw = tiny_pipeline_params(root)
    raw["launcher"]["cpus_per_job"] = 1
    raw["launcher"]["time"] = 30
    for key, value in changes.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def tables(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "results" / "tables").glob("*.csv"))}


@pytest.fixture(scope="module")
def launched(slurm, tmp_path_factory) -> Iterator[Path]:
    """The tiny project run by `bench run --launcher slurm` (submitted, then followed with
    `bench jobs --wait`), a writing command tried while its jobs were in flight."""
    root = project(tmp_path_factory.mktemp("slurm"))
    start = time.monotonic()
    submitted = bench(root, "run", "--launcher", "slurm")
    try:
        assert submitted.returncode == 0, submitted.stdout
        assert re.search(
            r"submitted adapt@dai2i-synthetic: job \d+ after data, train@stargan", submitted.stdout
        ), submitted.stdout
        refused = bench(root, "train", "--model", "mr")
        assert refused.returncode == 2, refused.stdout
        assert "in flight" in refused.stdout and "bench jobs --wait" in refused.stdout
        followed = bench(root, "jobs", "--wait")
        seconds = time.monotonic() - start
        assert followed.returncode == 0, followed.stdout
        assert re.search(r"jobs: all 12 completed", followed.stdout), followed.stdout
        print(f"\nslurm launch: submission to tables {seconds:.0f} s")
        yield root
    finally:
        bench(root, "jobs", "--cancel")  # none left behind for the next test


def test_slurm_jobs_write_the_tables_of_the_in_process_run(launched, tmp_path):
    inline = project(tmp_path / "inline")
    done = bench(inline, "run")
    assert done.returncode == 0, done.stdout
    expected = tables(inline)
    assert "comparison.csv" in expected, sorted(expected)
    assert tables(launched) == expected
    # every stage ran as its own job, each with its log
    logs = sorted(p.parent.name for p in (launched / "logs").glob("*/*_0_log.out"))
    assert logs == sorted(
        [
            "data", "ecs_classifier", "train@identity", "train@mr", "train@stargan",
            "adapt@dai2i-synthetic", "adapt@dai2i-synthetic_statue", "evaluate@identity",
            "evaluate@mr", "evaluate@stargan", "evaluate_adapted@dai2i", "report",
        ]
    )  # fmt: skip
    again = bench(launched, "run", "--launcher", "slurm")
    assert "nothing to do" in again.stdout, again.stdout


def test_a_failed_job_cancels_its_dependents_and_is_named_with_its_log(launched):
    state = launched / "checkpoints" / "stargan" / "synthetic"
    (state / "model.pt").unlink()
    (state / "train_state.pt").write_bytes(b"not a training state")
    done = bench(launched, "run", "--launcher", "slurm", "--wait")
    assert done.returncode == 1, done.stdout
    out = " ".join(done.stdout.split())
    failed = re.search(r"job train@stargan \((\d+)\) FAILED: (.*?); log: (\S+)", out)
    assert failed, out
    assert "is unreadable" in failed.group(2)
    log = Path(failed.group(3))
    assert log == launched / "logs" / "train@stargan" / f"{failed.group(1)}_0_log.out"
    assert "is unreadable" in log.read_text()
    cancelled = re.search(r"cancelled, not run: (.*?) jobs:", out)
    assert cancelled, out
    never_ran = dict(re.findall(r"(\S+) \((\d+)\)", cancelled.group(1)))
    assert set(never_ran) == {
        "adapt@dai2i-synthetic", "adapt@dai2i-synthetic_statue", "evaluate@stargan",
        "evaluate_adapted@dai2i", "report",
    }  # fmt: skip
    for stage, job in never_ran.items():  # Slurm cancelled them before they started
        assert not (launched / "logs" / stage / f"{job}_0_log.out").exists(), stage
    assert "jobs: 0 of 6 completed, 1 failed, 5 cancelled" in out
    assert bench(launched, "jobs").returncode == 1


def _scontrol(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout


def test_a_preempted_training_job_requeues_and_ends_as_an_uninterrupted_run(slurm, tmp_path):
    from bench.config import load_config
    from bench.launch.job import StageJob
    from bench.launch.schedulers import JobEntry, Slurm, is_active

    steps = {"training.checkpoint_every": 10, "profiles.smoke.training.steps.stargan": 200}
    straight = project(tmp_path / "straight", **steps)
    cli = f"{sys.executable} -m bench.cli"
    reference = subprocess.Popen(  # meanwhile, uninterrupted, in one process
        ["bash", "-c", f"{cli} data prepare && {cli} train --model stargan"],
        cwd=straight,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    root = project(tmp_path / "preempted", **steps)
    prepared = bench(root, "data", "prepare")
    assert prepared.returncode == 0, prepared.stdout
    cwd = Path.cwd()
    os.chdir(root)
    try:
        config = load_config(root / "params.yaml")
        entry = JobEntry("train@stargan", [], 0, str(root / "logs" / "train@stargan"))
        job = StageJob("train@stargan", config, ("stargan",), ("synthetic",), False, "cpu", 1)
        scheduler = Slurm(config)
        scheduler.start([entry], {entry.stage: job}, {})
    finally:
        os.chdir(cwd)
    state = root / "checkpoints" / "stargan" / "synthetic" / "train_state.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # mid-run: a state saved, far from the end
        if state.is_file() and torch.load(state, weights_only=True)["step"] >= 30:
            break
        time.sleep(0.5)
    saved = torch.load(state, weights_only=True)["step"]
    assert 30 <= saved < 200, saved
    assert scheduler.states([entry], True)["train@stargan"] == "RUNNING"
    subprocess.run(["scancel", "--signal=USR2", entry.job_id], check=True)  # submitit's signal
    while "Restarts=1" not in _scontrol(entry.job_id):
        now = scheduler.states([entry], True)["train@stargan"]
        assert is_active(now) and time.monotonic() < deadline, f"{now}: {entry.log.read_text()}"
        time.sleep(0.5)
    while (now := scheduler.states([entry], True)["train@stargan"]) != "COMPLETED":
        shown = _scontrol(entry.job_id)
        assert is_active(now), f"{now}: {entry.log.read_text()}"  # not requeued, or failed
        assert time.monotonic() < deadline, shown + entry.log.read_text()
        if "Reason=BeginTime" in shown:  # Slurm holds a requeued job two minutes: skip that
            subprocess.run(["scontrol", "update", f"jobid={entry.job_id}", "StartTime=now"])
        time.sleep(1)
    log = entry.log.read_text()
    assert "this job is preempted" in log and "Requeued job" in log, log
    resumed = re.search(r"stargan: resuming from step (\d+)", log)
    assert resumed and 30 <= int(resumed.group(1)) < 200, log
    assert reference.wait(timeout=600) == 0, reference.stdout.read()
    a = torch.load(straight / "checkpoints/stargan/synthetic/model.pt", weights_only=False)
    b = torch.load(root / "checkpoints/stargan/synthetic/model.pt", weights_only=False)
    a, b = a["state_dict"], b["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
