"""The typed configuration: profiles, top-level-only keys, model dependencies, overrides."""

from __future__ import annotations

import copy
import sys

import pytest
import yaml
from conftest import REPO

from bench.config import load_config, resolve, updated
from bench.core.errors import UserError

RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def _raw() -> dict:
    return copy.deepcopy(RAW)


def test_the_repository_params_resolve_under_both_profiles():
    smoke, paper = resolve(_raw()), resolve(_raw(), profile="paper")
    assert (smoke.image_size, paper.image_size) == (64, 128)
    assert smoke.training.steps_for("stargan") == 1000
    assert paper.training.steps_for("stargan") == 200000
    assert smoke.training.batch_size_for("usgan") == 8 and smoke.training.batch_size_for("mr") == 16


@pytest.mark.parametrize("key", ["models", "eval_datasets", "paths"])
def test_a_profile_may_not_set_what_dvc_yaml_lays_out_its_stages_from(key):
    raw = _raw()
    raw["profiles"]["smoke"][key] = raw[key]
    with pytest.raises(UserError, match=rf"profiles\.smoke\.{key}: set it at the top level"):
        resolve(raw)


def test_an_adapted_model_needs_the_models_it_builds_on_in_the_table():
    raw = _raw()
    raw["models"] = ["identity", "mr"]
    with pytest.raises(UserError, match=r"adapted_models\[0\]: dai2i adapts the trained stargan"):
        resolve(raw)


def test_overrides_are_checked_like_the_file_and_recorded():
    config = load_config(REPO / "params.yaml", overrides=["training.steps.reggan=50", "seeds=[3]"])
    assert config.training.steps_for("reggan") == 50 and config.seed == 3
    assert config.record()["overrides"] == ["training.steps.reggan=50", "seeds=[3]"]
    with pytest.raises(UserError, match=r"--set training\.steps\.reggan: must be greater"):
        load_config(REPO / "params.yaml", overrides=["training.steps.reggan=0"])
    with pytest.raises(UserError, match="expected key.path=value"):
        load_config(REPO / "params.yaml", overrides=["seed"])


def test_updated_validates_and_the_config_is_frozen():
    config = resolve(_raw())
    assert updated(config, {"image_size": 48}).image_size == 48 and config.image_size == 64
    with pytest.raises(UserError, match="image_size: must be greater than or equal to 32"):
        updated(config, {"image_size": 16})
    with pytest.raises(Exception, match="frozen"):
        config.seed = 1  # type: ignore[misc]


def test_ad_hoc_model_names_become_their_registry_keys():
    raw = _raw()
    raw["models"] = ["identity", "models.identity:IdentityGenerator"]
    raw["adapted_models"] = []
    assert resolve(raw).models == ["identity", "models.identity.IdentityGenerator"]


def test_the_schema_knows_the_synthetic_styles():
    from bench.config.schema import STYLES
    from datasets.synthetic import STYLES as GENERATED

    assert tuple(STYLES) == tuple(GENERATED)


def _bench(monkeypatch, *args: str) -> int:
    from bench.cli import main

    monkeypatch.setattr(sys, "argv", ["bench", *args])
    try:
        main()
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_the_settings_stage_refuses_a_stale_dvc_yaml(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    assert _bench(monkeypatch, "stages", "settings") == 0
    assert (tmp_path / "results" / "settings.yaml").is_file()
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text() + "\n# edited\n")
    capsys.readouterr()
    assert _bench(monkeypatch, "stages", "settings") == 2
    assert "bench stages dvc-yaml" in capsys.readouterr().err
