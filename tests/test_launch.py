"""``bench run --launcher``'s parts that need no cluster: the job graph follows the stage
table's dependencies, the launcher settings are checked, a launch in flight keeps writing
commands out, a requeued job never retrains from scratch, and the local executor gives each
job its own GPU. (The cluster itself: tests/test_slurm.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_pipeline_params

from bench.config import load_config, updated
from bench.core.errors import UserError
from bench.launch.graph import job_graph
from bench.launch.job import StageJob
from bench.launch.record import Launch, in_flight, load
from bench.launch.schedulers import JobEntry, Local


@pytest.fixture
def config(tmp_path, monkeypatch):
    """The tiny pipeline project in ``tmp_path`` (nothing made yet), as the working folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_pipeline_params(tmp_path)))
    return load_config(tmp_path / "params.yaml")


def test_the_job_graph_is_the_stage_tables_dependencies(config):
    specs = {
        s.stage: s for s in job_graph(config, config.table_models, ["synthetic"], False, "cpu")
    }
    assert list(specs) == [
        "data", "ecs_classifier", "train@identity", "train@mr", "train@stargan",
        "adapt@dai2i-synthetic", "evaluate@identity", "evaluate@mr", "evaluate@stargan",
        "evaluate_adapted@dai2i", "report",
    ]  # fmt: skip
    assert specs["data"].after == ()
    assert specs["train@mr"].after == ("data",)
    assert specs["adapt@dai2i-synthetic"].after == ("data", "train@stargan")
    assert specs["evaluate@stargan"].after == ("data", "ecs_classifier", "train@stargan")
    assert specs["evaluate_adapted@dai2i"].after == (
        "data",
        "ecs_classifier",
        "adapt@dai2i-synthetic",
    )
    assert set(specs["report"].after) == {s for s in specs if s.startswith("evaluate")}
    assert {s.gpus for s in specs.values()} == {0}  # on the CPU
    on_gpus = job_graph(
        updated(config, {"launcher.gpus_per_job": 1}), ["mr"], ["synthetic"], False, "cpu"
    )
    assert {s.stage: s.gpus for s in on_gpus} == {
        "data": 0, "ecs_classifier": 1, "train@mr": 1, "evaluate@mr": 1, "report": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"launcher.extra": {"dependency": "afterok:1"}}, "dependency is set by the launcher"),
        ({"launcher.extra": {"--qos": "high"}}, "sbatch long option without its dashes"),
        ({"launcher.mem": "16 GB"}, "a size like 16G"),
        ({"launcher.time": 0}, "launcher.time"),
        ({"launcher.gpus_per_job": -1}, "launcher.gpus_per_job"),
    ],
)
def test_launcher_settings_are_checked(config, change, message):
    with pytest.raises(UserError, match=message):
        updated(config, change)


def _record(config, pid: int, job_id: str | None = None) -> Launch:
    entry = JobEntry("train@mr", [], 0, str(Path("logs/train@mr").resolve()), job_id)
    launch = Launch("local", "bench run --launcher local", time.time(), pid, [entry])
    launch.save(config)
    return launch


def test_writing_commands_wait_for_the_jobs_of_a_launch(config):
    from bench.cli import app

    _record(config, os.getpid())  # launched by a live process, the job not started yet
    assert "1 job(s) of `bench run --launcher local`" in in_flight(config)
    from typer.testing import CliRunner

    refused = CliRunner().invoke(app, ["sources"])
    assert isinstance(refused.exception, UserError)
    assert "in flight: train@mr PENDING" in str(refused.exception)
    listed = CliRunner().invoke(app, ["jobs", "--json"])  # reading is allowed
    assert '"state": "PENDING"' in listed.stdout

    _record(config, 2**22 + 7)  # the launching process is gone: its jobs never start
    assert in_flight(config) is None
    assert load(config).finished  # remembered: the scheduler is not asked again
    assert CliRunner().invoke(app, ["sources"]).exit_code == 0


def test_a_requeued_job_resumes_instead_of_retraining(config):
    job = StageJob("train@mr", config, ("mr",), ("synthetic",), True, "cpu", 1)
    again = job.checkpoint()
    assert again.function == StageJob("train@mr", config, ("mr",), ("synthetic",), False, "cpu", 1)


def test_local_jobs_each_see_their_own_gpu(config, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    local = Local(config, gpus=1)
    assert local.slots == 3
    entries = [JobEntry(f"job{i}", [], 1, str(tmp_path / "logs" / f"job{i}")) for i in range(4)]
    entries.append(JobEntry("after", ["job0"], 1, str(tmp_path / "logs" / "after")))
    jobs = {e.stage: lambda: os.environ["CUDA_VISIBLE_DEVICES"] for e in entries}  # by value
    states: dict[str, str] = {}
    local.start(entries, jobs, states)
    assert [e.devices for e in entries] == [[0], [1], [2], [], []]  # 3 GPUs: 3 at once
    states = wait_over(local, entries)
    assert [states[f"job{i}"] for i in range(3)] == ["COMPLETED"] * 3
    assert [e.result()[1] for e in entries[:3]] == ["0", "1", "2"]
    local.start(entries, jobs, states)  # a GPU is free again, job0 (before "after") completed
    assert entries[3].devices and entries[4].devices and entries[3].devices != entries[4].devices
    assert wait_over(local, entries)["after"] == "COMPLETED"


def wait_over(local: Local, entries: list[JobEntry]) -> dict[str, str]:
    """The states once no started job runs."""
    deadline = time.monotonic() + 120
    while any(e.job_id and local.states(entries, True)[e.stage] == "RUNNING" for e in entries):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return local.states(entries, True)
