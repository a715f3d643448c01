"""Several training seeds (issue 21, item 4): the `seeds` key, the seed level of the layout, one
stage per (model, seed) under DVC and `bench run`, seed-averaged tables and comparisons."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import two_engines
import yaml
from conftest import REPO, tiny_params
from fake_outputs import fake_project, write_l1

from bench import layout
from bench.config import load_config, resolve, updated
from bench.core.errors import UserError
from bench.stages import dvc_yaml, instances, settings_path, stage_names, stage_settings

RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def _raw(**changes) -> dict:
    raw = copy.deepcopy(RAW)
    raw.update(changes)
    return raw


def two_seeds(root: Path) -> dict:
    """The tiny test params with seeds [0, 1] and identity, mr, stargan (few steps)."""
    raw = tiny_params(root)
    raw |= {"seeds": [0, 1], "models": ["identity", "mr", "stargan"], "adapted_models": []}
    raw["eval_datasets"] = ["synthetic"]
    return raw


# -- the configuration -----------------------------------------------------------------------
def test_seeds_default_to_one_and_the_old_spelling_reads_as_a_list():
    without = {k: v for k, v in _raw().items() if k != "seeds"}
    assert resolve(copy.deepcopy(without)).seeds == [0]  # the schema's default
    old = without | {"seed": 3}
    assert (resolve(old).seeds, resolve(old).seed) == ([3], 3)
    config = resolve(_raw(seeds=[2, 5]))
    assert (config.seed, config.run_seed, config.for_seed(5).run_seed) == (2, 2, 5)
    assert config.for_seed(5).record()["run_seed"] == 5 and "run_seed" not in config.record()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": []}, r"params\.yaml: seeds: List should have at least 1 item"),
        ({"seeds": [0, 1, 0]}, r"params\.yaml: seeds: must list each seed once, got \[0, 1, 0\]"),
        ({"seeds": [0, -1]}, r"params\.yaml: seeds\[1\]: must be greater than or equal to 0"),
        ({"seed": 4}, r"params\.yaml: seed: `seed` and `seeds` are both set .* seeds: \[4\]"),
    ],
    ids=["empty", "repeated", "negative", "both spellings"],
)
def test_bad_seeds_are_one_line_naming_the_key(change, message):
    with pytest.raises(UserError, match=message) as error:
        resolve(_raw(**change), source="params.yaml")
    assert "\n" not in str(error.value)


def test_a_profile_may_not_set_seeds_and_set_seed_overrides_the_file():
    raw = _raw()
    raw["profiles"]["smoke"]["seeds"] = [0, 1]
    with pytest.raises(UserError, match=r"profiles\.smoke\.seeds: set it at the top level"):
        resolve(raw)
    assert resolve(_raw(seeds=[0, 1]), overrides=["seed=7"]).seeds == [7]
    with pytest.raises(UserError, match=r"--set seed: must be a valid integer"):
        resolve(_raw(), overrides=["seed=x"])
    with pytest.raises(UserError, match="seed 9 is not one of seeds"):
        resolve(_raw()).for_seed(9)


# -- the layout ------------------------------------------------------------------------------
def test_one_seed_keeps_the_folders_and_several_add_a_seed_level(tmp_path):
    one = resolve(tiny_params(tmp_path))
    assert (
        layout.checkpoint_path(one, "stargan")
        == tmp_path / "checkpoints/stargan/synthetic/model.pt"
    )
    assert layout.outputs_dir(one, "stargan", "x") == tmp_path / "outputs/stargan/x"
    config = resolve(two_seeds(tmp_path) | {"adapted_models": ["dai2i"]})
    second = config.for_seed(1)
    assert layout.checkpoint_path(second, "stargan") == (
        tmp_path / "checkpoints/stargan/seed1/synthetic/model.pt"
    )
    assert (
        layout.checkpoint_path(config, "dai2i", "x").parent
        == tmp_path / "checkpoints/dai2i/seed0/x"
    )
    assert layout.outputs_dir(second, "stargan", "x") == tmp_path / "outputs/stargan/seed1/x"
    assert layout.records_path(second, "stargan", "x") == (
        tmp_path / "results/records/stargan/seed1/x.parquet"
    )
    assert (
        layout.metrics_path(second, "stargan", "x")
        == tmp_path / "results/metrics/stargan/seed1/x.json"
    )
    for once in ("identity", "mr", "scored_row"):  # reference, fitted, a `bench score` row
        assert layout.outputs_dir(second, once, "x") == tmp_path / f"outputs/{once}/x"
        assert layout.run_seeds(config, once) == [0] and layout.training_seed(second, once) == 0
    assert layout.run_seeds(config, "stargan") == [0, 1]
    assert layout.training_seed(second, "stargan") == 1


# -- the stage table -------------------------------------------------------------------------
def test_two_seeds_give_one_stage_per_run_with_its_own_settings(tmp_path):
    config = resolve(two_seeds(tmp_path) | {"adapted_models": ["dai2i"]})
    names = stage_names(config)
    trained = [n for n in names if n.startswith(("train@", "adapt@", "evaluate"))]
    assert trained == [
        "train@identity",
        "train@mr",
        "train@stargan-seed0",
        "train@stargan-seed1",
        "adapt@dai2i-synthetic-seed0",
        "adapt@dai2i-synthetic-seed1",
        "evaluate@identity",
        "evaluate@mr",
        "evaluate@stargan-seed0",
        "evaluate@stargan-seed1",
        "evaluate_adapted@dai2i-seed0",
        "evaluate_adapted@dai2i-seed1",
    ]
    settings = stage_settings(config)
    assert settings["train"]["stargan"]["seed1"]["seed"] == 1
    assert settings["train"]["stargan"]["seed0"]["seed"] == 0
    assert settings["train"]["mr"]["seed"] == 0 and "seed1" not in settings["train"]["mr"]
    assert settings["adapt"]["dai2i"]["seed1"]["synthetic"]["seed"] == 1
    # every instance's params path is in the settings file; DVC lists the same stages
    stages = yaml.safe_load(dvc_yaml(config))["stages"]
    from bench.stages import STAGES

    for stage in STAGES:
        for item in instances(config, stage).values() if stage.matrix else []:
            path = settings_path(stage, item)
            node = settings
            for part in path.split("."):
                node = node[part]
            assert isinstance(node, dict) and node, path
    assert stages["train"]["do"]["cmd"] == "bench train --model ${item.model} --seed ${item.seed}"
    assert "${paths.checkpoints}/stargan/seed${item.seed}" in stages["adapt"]["do"]["deps"]
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(two_seeds(tmp_path) | {"adapted_models": ["dai2i"]})
    )
    (tmp_path / "dvc.yaml").write_text(dvc_yaml(config))
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run(
        [*dvc, "stage", "list", "--name-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert listed.stdout.split() == names, listed.stderr


def test_the_dvc_yaml_of_one_seed_is_the_committed_one_and_two_seeds_make_it_stale():
    one = load_config(REPO / "params.yaml")
    assert dvc_yaml(one) == (REPO / "dvc.yaml").read_text()
    assert dvc_yaml(one.model_copy(update={"seeds": [0, 1]})) != dvc_yaml(one)


def test_bench_run_plans_the_same_stages_as_dvc(tmp_path):
    from bench.run import dry_run

    config = resolve(two_seeds(tmp_path) | {"adapted_models": ["dai2i"]})
    planned = set(dry_run(config))
    expected = set(stage_names(config)) - {"settings", "weights", "sources", "ecs_classifier"}
    assert planned == expected


def test_seed_option_is_checked(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(two_seeds(tmp_path)))
    for args, message in (
        (["train", "--model", "stargan", "--seed", "7"], "seed 7 is not one of seeds [0, 1]"),
        (["train", "--model", "identity", "--seed", "1"], "--seed 1: identity has one run"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "bench.cli", *args, "--params", str(path)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# -- the report: seed-averaged scores and the spread ------------------------------------------
def test_tables_and_pairs_use_seed_averaged_scores_with_the_across_seed_sd(tmp_path):
    from bench.report import report

    config = load_config(fake_project(tmp_path, ["identity", "stargan"], seeds=(0, 1)))
    config = updated(config, {"metrics": ["l1"]})
    rng = np.random.default_rng(0)  # dyadic values: every sum and mean below is exact
    base = 0.25 + rng.integers(0, 16, 6) / 256
    noise = rng.integers(0, 8, 6) / 1024
    write_l1(config, "identity", base)
    write_l1(config.for_seed(0), "stargan", base + 0.125 + noise)  # the seeds straddle identity
    write_l1(config.for_seed(1), "stargan", base - 0.125 - noise)
    report(config, ["identity", "stargan"], ["synthetic"])
    tables = tmp_path / "results" / "tables"
    pair = pd.read_csv(tables / "pairwise.csv").iloc[0]
    # image by image the mean of the two seeds is identity's score: no difference at all
    assert (pair["n"], pair["diff"], pair["p"]) == (6, 0.0, 1.0)
    assert pair["ci_low"] == pair["ci_high"] == 0.0
    summary = pd.read_csv(tables / "comparison.csv").set_index("model")
    sd = (0.25 + 2 * noise.mean()) / math.sqrt(2)  # |m0 - m1| / sqrt(2) for two seeds
    assert summary.loc["stargan", "mean"] == pytest.approx(base.mean(), abs=1e-6)
    assert summary.loc["stargan", "seed_sd"] == pytest.approx(sd, rel=1e-5)
    assert summary.loc["stargan", "seeds"] == 2 and summary.loc["identity", "seeds"] == 1
    assert math.isnan(summary.loc["identity", "seed_sd"])
    markdown = (tables / "comparison.md").read_text()
    assert f"(sd {sd:.3f})" in markdown and "sd: standard deviation across the 2" in markdown


def test_one_seed_tables_have_no_spread_columns(tmp_path):
    from bench.report import report

    config = load_config(fake_project(tmp_path, ["identity", "stargan"]))
    config = updated(config, {"metrics": ["l1"]})
    for model in ("identity", "stargan"):
        write_l1(config, model, np.linspace(0.1, 0.3, 6))
    report(config, ["identity", "stargan"], ["synthetic"])
    tables = tmp_path / "results" / "tables"
    assert "seed_sd" not in pd.read_csv(tables / "comparison.csv")
    assert "(sd " not in (tables / "comparison.md").read_text()


# -- end to end under both engines ------------------------------------------------------------
def _project(root: Path) -> Path:
    """A tiny two-seed project (identity, mr, stargan with 2 steps; L1 and SSIM) with the code
    DVC's stages depend on copied beside it."""
    raw = two_seeds(root)
    raw["paths"] = {k: k for k in ("data", "checkpoints", "outputs", "results")}
    raw["metrics"] = ["l1", "ssim"]
    del raw["profiles"]["smoke"]["metrics"]
    raw["training"]["checkpoint_every"] = 0
    raw["profiles"]["smoke"]["training"] = {"steps": {"stargan": 2}}
    raw["profiles"]["smoke"]["model_settings"] = {
        "stargan": {"conv_dim": 4, "res_blocks": 1, "critic_dim": 4, "critic_layers": 4}
    }
    return two_engines.project(root, raw)


@pytest.mark.slow  # ~8 min on 2 busy cores: `dvc repro` and `bench run` of the same project
def test_two_seeds_run_under_dvc_repro_and_bench_run_alike(tmp_path):
    from two_engines import BENCH, run, run_both, stale_after

    dvc_root, bench_root = run_both(tmp_path, _project)
    for root in (dvc_root, bench_root):
        assert (root / "checkpoints/stargan/seed1/synthetic/model.pt").is_file()
        assert (root / "checkpoints/identity/synthetic/model.pt").is_file()
        assert not (root / "checkpoints/identity/seed1").exists()  # a reference model runs once
    tables = [
        pd.read_csv(root / "results/tables/comparison.csv") for root in (dvc_root, bench_root)
    ]
    pd.testing.assert_frame_equal(*tables)  # the same numbers from either engine
    stargan = tables[0][tables[0]["model"] == "stargan"]
    assert (stargan["seeds"] == 2).all() and stargan["seed_sd"].notna().all()
    markdown = (dvc_root / "results/tables/comparison.md").read_text()
    assert "(sd " in next(line for line in markdown.splitlines() if line.startswith("| stargan"))
    # current under both; one changed setting reruns the same stages under both
    assert "nothing would run" in run(dvc_root, *BENCH, "run", "--dry-run").stderr

    def more_steps(raw: dict) -> None:
        raw["profiles"]["smoke"]["training"]["steps"]["stargan"] = 3

    changed, own = stale_after(dvc_root, more_steps)
    assert changed == own == {"train@stargan-seed0", "train@stargan-seed1"}
