"""The ``sources`` step: each model's code pinned by sha256, the DVC train and adapt stages
depending on it (so a plugin model trains under ``dvc repro`` and an edit retrains exactly
the models made of the edited file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_params

from bench import cli
from bench.config import load_config
from bench.sources import import_closure, model_sources, sources_path

PLUGIN = """
from models.identity import IdentityGenerator

from .helpers import STRENGTH


class Plugged(IdentityGenerator):
    strength = STRENGTH
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> Path:
    """A package ``srcplug`` (not in this repository) with a model and a helper module."""
    package = tmp_path / "site" / "srcplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(PLUGIN)
    (package / "helpers.py").write_text("STRENGTH = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package


def test_a_models_closure_is_its_code_and_the_blocks_it_imports_only():
    modules = import_closure("models.stargan")
    assert {"models", "models.stargan", "models.base", "models.trainable"} <= set(modules)
    assert all(name.split(".")[0] in ("models", "bench") for name in modules), modules
    assert "models.reggan" not in modules and "models.dai2i" not in modules
    assert modules["models.stargan"] == REPO / "models" / "stargan.py"
    # function-level imports count too (DAI2I loads its perceptual network lazily); its base
    # translator is another model (its checkpoint is a dependency of the adapt stages)
    assert {"models.adain", "models.perceptual"} <= set(import_closure("models.dai2i"))


def test_a_plugin_file_edit_changes_only_the_plugin_models_sources(plugin):
    before = model_sources("srcplug.model:Plugged")
    identity = model_sources("identity")
    assert before["origin"] == "ad hoc" and before["class"] == "srcplug.model:Plugged"
    assert {"srcplug", "srcplug.model", "srcplug.helpers", "models.identity"} <= set(
        before["modules"]
    )
    (plugin / "helpers.py").write_text("STRENGTH = 2\n")
    after = model_sources("srcplug.model:Plugged")
    changed = {m for m in after["modules"] if after["modules"][m] != before["modules"][m]}
    assert changed == {"srcplug.helpers"}
    assert model_sources("identity") == identity


def test_the_command_writes_one_file_per_model(plugin, tmp_path):
    params = tiny_params(tmp_path)
    params["models"] = ["identity", "srcplug.model:Plugged"]
    params["adapted_models"] = []
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    cli.app(["sources", "--params", str(path)], standalone_mode=False)
    for name in ("identity", "srcplug.model.Plugged"):
        written = json.loads(sources_path(load_config(path), name).read_text())
        assert written == model_sources(name)


def test_train_and_adapt_stages_depend_on_their_models_sources_not_on_repository_files():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["sources"]["always_changed"]
    for name in ("train", "adapt"):
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stages[name]["deps"]]
        assert "${paths.results}/sources/${item.model}.json" in deps, name
        assert not [d for d in deps if d.startswith("models")], (name, deps)
