"""`bench perf train` and the entry point's OpenMP policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from bench.commands.perf_train import app


def test_perf_train_prints_every_model_and_the_protocol_estimate(params_file, tmp_path):
    params = yaml.safe_load(params_file.read_text())
    params["model_settings"]["stargan"] |= {"conv_dim": 8, "critic_dim": 8, "critic_layers": 3}
    params_file.write_text(yaml.safe_dump(params))
    out = tmp_path / "perf.json"
    result = CliRunner().invoke(
        app,
        ["train", "--models", "identity,stargan", "--steps", "2", "--device", "cpu"]
        + ["--set", "training.steps={stargan: 100, reggan: 50}"]
        + ["--params", str(params_file), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "protocol estimate on cpu" in result.output
    body = json.loads(out.read_text())
    (row,) = body["rows"]  # identity is not trainable: no row
    assert row["model"] == "stargan" and row["status"] == "ok"
    assert row["seconds_per_step"] > 0 and row["images_per_s"] > 0 and row["peak_mib"] > 0
    estimate = body["estimate"]
    assert estimate["seconds"]["training"] == 100 * row["seconds_per_step"]
    assert "reggan" in estimate["missing"] and "stargan" not in estimate["missing"]
    assert estimate["outputs_per_model"] > 0


def test_entry_point_makes_openmp_threads_passive_unless_set():
    script = (
        "import os, sys; from bench import cli; assert 'torch' not in sys.modules; "
        "sys.argv = ['bench', '--help']\n"
        "try: cli.main()\nexcept SystemExit: pass\n"
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip().splitlines()[-1] == "PASSIVE", run.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip().splitlines()[-1] == "ACTIVE", run.stderr
