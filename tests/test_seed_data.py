"""`seed_data: per_seed` (issue 21, item 4): with several seeds, the data, its splits and the ECS
classifier are made once per seed too, every model runs once per seed, and the report pairs
two models only on the same image of the same seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import two_engines
import yaml
from conftest import tiny_params
from fake_outputs import fake_project, write_l1

from bench import layout
from bench.config import load_config, resolve, updated
from bench.stages import STAGES, dvc_yaml, instances, settings_path, stage_names, stage_settings


def per_seed(root: Path, seed_data: str = "per_seed") -> dict:
    """The tiny test params with seeds [0, 1], ``seed_data`` and identity, mr, stargan."""
    raw = tiny_params(root)
    raw |= {"seeds": [0, 1], "seed_data": seed_data, "adapted_models": ["dai2i"]}
    raw |= {"models": ["identity", "mr", "stargan"], "eval_datasets": ["synthetic"]}
    return raw


def test_data_and_classifier_get_a_seed_level_and_every_model_runs_per_seed(tmp_path):
    config = resolve(per_seed(tmp_path))
    second = config.for_seed(1)
    assert (config.data_per_seed, config.data_seed, second.data_seed) == (True, 0, 1)
    assert layout.dataset_dir(second, "synthetic") == tmp_path / "data/seed1/synthetic"
    assert layout.dataset_dir(config, "synthetic") == tmp_path / "data/seed0/synthetic"
    assert layout.classifier_path(second) == (
        tmp_path / "checkpoints/ecs_classifier/seed1/synthetic/resnet18.pt"
    )
    for model in ("identity", "mr", "stargan", "dai2i"):  # reference and fitted ones too
        assert layout.run_seeds(config, model) == [0, 1], model
        assert layout.outputs_dir(second, model, "x") == tmp_path / f"outputs/{model}/seed1/x"
    assert layout.run_seeds(config, "scored_row") == [0]  # a `bench score` row: none
    assert second.dataset_seed("synthetic") == 1
    # `first` (the default) keeps one data folder made with the first seed
    first = resolve(per_seed(tmp_path, "first")).for_seed(1)
    assert (first.data_per_seed, first.data_seed) == (False, 0)
    assert layout.dataset_dir(first, "synthetic") == tmp_path / "data/synthetic"
    assert layout.run_seeds(first, "identity") == [0]
    # with one seed per_seed changes nothing
    one = resolve(per_seed(tmp_path) | {"seeds": [3]})
    assert not one.data_per_seed and layout.dataset_dir(one, "x") == tmp_path / "data/x"


def test_seed_data_is_checked_and_top_level_only(tmp_path):
    from bench.config.load import resolve as load_resolve
    from bench.core.errors import UserError

    with pytest.raises(UserError, match=r"seed_data: .*'first' or 'per_seed'"):
        load_resolve(per_seed(tmp_path, "each"))
    raw = per_seed(tmp_path)
    raw["profiles"]["smoke"]["seed_data"] = "first"
    with pytest.raises(UserError, match="seed_data"):
        load_resolve(raw)


def test_the_data_and_classifier_stages_have_one_instance_per_seed(tmp_path):
    config = resolve(per_seed(tmp_path))
    names = stage_names(config)
    assert names[:5] == ["settings", "weights", "data@seed0", "data@seed1", "sources"]
    assert "ecs_classifier@seed0" in names and "ecs_classifier@seed1" in names
    assert "train@identity-seed1" in names and "evaluate@mr-seed1" in names
    assert "adapt@dai2i-synthetic-seed1" in names
    settings = stage_settings(config)
    assert settings["data"]["seed1"]["synthetic"]["seed"] == 1
    assert settings["ecs_classifier"]["seed1"]["seed"] == 1
    assert settings["train"]["identity"]["seed1"]["seed"] == 1
    for stage in (s for s in STAGES if s.settings):
        for item in instances(config, stage).values():
            node = settings
            for part in settings_path(stage, item).split("."):
                node = node[part]
            assert isinstance(node, dict) and node, (stage.name, item)
    stages = yaml.safe_load(dvc_yaml(config))["stages"]
    assert stages["data"]["do"]["cmd"] == "bench data prepare --seed ${item.seed}"
    assert stages["data"]["do"]["outs"] == ["${paths.data}/seed${item.seed}"]
    assert "${paths.data}/seed${item.seed}/${train_dataset}" in stages["train"]["do"]["deps"]
    assert (
        "${paths.checkpoints}/ecs_classifier/seed${item.seed}" in (stages["evaluate"]["do"]["deps"])
    )
    assert "${paths.data}" in stages["report"]["deps"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(per_seed(tmp_path)))
    (tmp_path / "dvc.yaml").write_text(dvc_yaml(config))
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run(
        [*dvc, "stage", "list", "--name-only"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.stdout.split() == names, listed.stderr


def test_bench_run_plans_the_same_stages_as_dvc(tmp_path):
    from bench.run import dry_run, plan

    config = updated(resolve(per_seed(tmp_path)), {"metrics": ["l1", "ecs"]})
    planned = dry_run(config)
    assert set(planned) == set(stage_names(config)) - {"settings", "weights", "sources"}
    steps = plan(config, config.table_models, ["synthetic"], False, "cpu")
    assert steps["train@identity-seed1"].after == ("data@seed1",)
    assert steps["evaluate@mr-seed1"].after[:2] == ("data@seed1", "ecs_classifier@seed1")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True
    )


def test_data_prepare_seed_writes_that_seeds_own_data(tmp_path):
    path = tmp_path / "params.yaml"
    raw = per_seed(tmp_path) | {"eval_datasets": ["synthetic"]}
    raw["synthetic"] = raw.get("synthetic", {}) | {"styles": []}
    path.write_text(yaml.safe_dump(raw))
    for seed in (0, 1):
        done = _cli("data", "prepare", "--seed", str(seed), "--params", str(path))
        assert done.returncode == 0, done.stderr
    seeds = [pd.read_csv(tmp_path / f"data/seed{k}/synthetic/manifest.csv") for k in (0, 1)]
    assert list(seeds[0]["image_id"]) == list(seeds[1]["image_id"])  # the same naming...
    assert list(seeds[0]["sha256"]) != list(seeds[1]["sha256"])  # ...of other faces
    assert not (tmp_path / "data/synthetic").exists()
    # under `first` only the first seed's data exists: another seed is one line, exit 2
    path.write_text(yaml.safe_dump(per_seed(tmp_path, "first")))
    for command in (["data", "prepare"], ["classifier", "train"]):
        done = _cli(*command, "--seed", "1", "--params", str(path))
        assert done.returncode == 2, done.stderr
        assert "--seed 1: the data and the ECS classifier are made once" in done.stderr
        assert "Traceback" not in done.stderr


def test_bench_score_refuses_a_folder_when_each_seed_has_its_own_data(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(per_seed(tmp_path)))
    (tmp_path / "outs" / "happy").mkdir(parents=True)
    done = _cli(
        "score",
        str(tmp_path / "outs"),
        "--dataset",
        "synthetic",
        "--name",
        "x",
        "--params",
        str(path),
    )
    assert done.returncode == 2 and "seed_data: per_seed" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_pairs_match_the_same_image_of_the_same_seed(tmp_path):
    from bench.report import report

    path = fake_project(tmp_path, ["identity", "stargan"], seeds=(0, 1), seed_data="per_seed")
    config = updated(load_config(path), {"metrics": ["l1"]})
    first, second = config.for_seed(0), config.for_seed(1)
    assert (tmp_path / "data/seed1/synthetic/manifest.csv").is_file()
    rng = np.random.default_rng(0)  # dyadic values: every sum and mean below is exact
    base = [0.25 + rng.integers(0, 16, 6) / 256 for _ in range(2)]
    write_l1(first, "identity", base[0])
    write_l1(second, "identity", base[1])
    write_l1(first, "stargan", base[0] + 0.125)  # seed 0: stargan 0.125 worse on every image
    write_l1(second, "stargan", base[1] - 0.0625)  # seed 1: 0.0625 better on every image
    report(config, ["identity", "stargan"], ["synthetic"])
    tables = tmp_path / "results" / "tables"
    pair = pd.read_csv(tables / "pairwise.csv").iloc[0]
    # 12 units, (seed, image): six differences of +0.125 and six of -0.0625, so the mean
    # difference is 0.03125 and no resample of units can make it 0.125 or -0.0625
    assert (pair["model_a"], pair["model_b"], pair["n"]) == ("identity", "stargan", 12)
    assert pair["diff"] == pytest.approx(-0.03125, abs=1e-12) or pair["diff"] == pytest.approx(
        0.03125, abs=1e-12
    )
    assert -0.125 < pair["ci_low"] < pair["ci_high"] < 0.125
    summary = pd.read_csv(tables / "comparison.csv").set_index("model")
    means = [b.mean() for b in base]
    assert summary.loc["identity", "mean"] == pytest.approx(np.mean(means), abs=1e-6)
    assert summary.loc["identity", "seeds"] == 2  # a reference model runs per seed too
    sd = abs(means[0] - means[1]) / np.sqrt(2)
    assert summary.loc["identity", "seed_sd"] == pytest.approx(sd, rel=1e-5)
    markdown = (tables / "comparison.md").read_text()
    assert "each with its own data, splits, ECS classifier and training" in markdown


# -- end to end under both engines ------------------------------------------------------------
def _project(root: Path) -> Path:
    """A tiny per-seed-data project (every stage kind: identity, mr, stargan, dai2i, the ECS
    classifier; 2 steps) with the code DVC's stages depend on copied beside it."""
    from conftest import tiny_pipeline_params

    raw = tiny_pipeline_params(root) | {"seeds": [0, 1], "seed_data": "per_seed"}
    raw["eval_datasets"] = ["synthetic"]
    return two_engines.project(root, raw)


@pytest.mark.slow  # ~6 min on 2 busy cores: `dvc repro` and `bench run` of the same project
def test_data_per_seed_runs_under_dvc_repro_and_bench_run_alike(tmp_path):
    from two_engines import BENCH, run, run_both, stale_after

    dvc_root, bench_root = run_both(tmp_path, _project)
    for root in (dvc_root, bench_root):
        for seed in (0, 1):
            assert (root / f"data/seed{seed}/synthetic/manifest.csv").is_file()
            classifier = f"checkpoints/ecs_classifier/seed{seed}/synthetic/resnet18.pt"
            assert (root / classifier).is_file()
            for model in ("identity", "mr", "stargan", "dai2i"):
                assert (root / f"results/records/{model}/seed{seed}/synthetic.parquet").is_file()
        assert not (root / "data/synthetic").exists()
    faces = [pd.read_csv(dvc_root / f"data/seed{k}/synthetic/manifest.csv") for k in (0, 1)]
    assert list(faces[0]["sha256"]) != list(faces[1]["sha256"])  # each seed its own faces
    tables = [
        pd.read_csv(root / "results/tables/comparison.csv") for root in (dvc_root, bench_root)
    ]
    pd.testing.assert_frame_equal(*tables)  # the same numbers from either engine
    assert (tables[0]["seeds"] == 2).all() and tables[0]["seed_sd"].notna().all()
    pairs = pd.read_csv(dvc_root / "results/tables/pairwise.csv")
    outputs = len(pd.read_parquet(dvc_root / "results/records/mr/seed0/synthetic.parquet"))
    assert (pairs[pairs["metric"] == "L1"]["n"] == 2 * outputs).all()  # (seed, image) units
    # current under both; one changed setting reruns the same stages under both
    assert "nothing would run" in run(dvc_root, *BENCH, "run", "--dry-run").stderr

    def more_epochs(raw: dict) -> None:
        raw["ecs_classifier"]["epochs"] = 2

    changed, own = stale_after(dvc_root, more_epochs)
    assert changed == own == {"ecs_classifier@seed0", "ecs_classifier@seed1"}
