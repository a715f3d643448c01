"""Plugins: generators and metrics from other packages (entry points) or named ad hoc.

The example plugin (``examples/plugin/``) is "installed" the way pip leaves a
package: its folder on the path plus a ``*.dist-info`` folder with the entry
points of its own ``pyproject.toml``, in a temporary site folder. That needs no
build backend or network, so it works the same in CI's fresh venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, tiny_params

from bench.core.errors import UserError
from bench.core.registry import LazyRegistry
from models.base import Generator

PLUGIN = REPO / "examples" / "plugin"
BASE = "models.base:Generator"
GROUP = "fes_bench.models"


def write_dist_info(site: Path, name: str, entry_points: dict[str, dict[str, str]]) -> None:
    """A minimal installed-distribution record: METADATA and entry_points.txt."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def install_example(site: Path) -> None:
    """Install examples/plugin into ``site`` from its pyproject's declared entry points."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    write_dist_info(site, project["name"], project["entry-points"])


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary site folder on sys.path with the example plugin installed."""
    folder = tmp_path / "site"
    install_example(folder)
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(folder))
    return folder


def registry() -> LazyRegistry:
    return LazyRegistry("model", {"identity": "models.identity:IdentityGenerator"}, GROUP, BASE)


def test_entry_point_plugin_is_listed_with_its_package_and_loads(site):
    models = registry()
    assert models.names() == ["identity", "example"]
    assert models.origin("identity") == "built-in"
    assert models.origin("example") == "entry point of package fes-bench-example-plugin"
    cls = models.load("example")
    assert issubclass(cls, Generator) and cls.name == "example"


def test_ad_hoc_class_gets_a_dotted_key_and_its_name(site):
    models = registry()
    spec = "fes_bench_example.generator:MeanOffsetGenerator"
    key = models.check(spec)
    assert key == "fes_bench_example.generator.MeanOffsetGenerator"
    assert models.parse(f"identity,{spec},{key}") == ["identity", key]
    assert models.origin(key) == "ad hoc"
    cls = models.load(spec)
    assert cls.name == key and issubclass(cls, Generator)
    # a fresh process (another DVC stage) resolves the dotted key alone
    assert registry().load(key).name == key


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:Thing", "failed to import: ModuleNotFoundError"),
        ("models.identity:NoSuchClass", "failed to import: AttributeError"),
        ("models.base:TrainContext", "is not a subclass of models.base.Generator"),
    ],
)
def test_broken_entry_point_is_a_one_line_error_naming_it(tmp_path, monkeypatch, target, message):
    write_dist_info(tmp_path, "broken-plugin", {GROUP: {"broken": target}})
    monkeypatch.syspath_prepend(str(tmp_path))
    models = registry()
    assert "broken" in models.names()  # listing does not import it
    with pytest.raises(UserError) as error:
        models.load("broken")
    text = str(error.value)
    assert "model plugin 'broken'" in text and "package broken-plugin" in text
    assert message in text and "\n" not in text


def test_entry_point_repeating_a_name_is_an_error(tmp_path, monkeypatch):
    write_dist_info(tmp_path, "greedy-plugin", {GROUP: {"identity": "x.y:Z"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match=r"plugin 'identity' .*greedy-plugin.* repeats the name"):
        registry().names()


def test_broken_ad_hoc_class_and_unknown_dotted_name(tmp_path, monkeypatch):
    (tmp_path / "bad_plugin.py").write_text("import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    models = registry()
    with pytest.raises(UserError, match=r"plugin 'bad_plugin.Gen' \(ad hoc.*ModuleNotFoundError"):
        models.check("bad_plugin:Gen")
    with pytest.raises(UserError, match=r"not a subclass"):
        models.load("models.base:TrainContext")
    with pytest.raises(UserError, match=r"unknown model 'identty\.x'"):
        models.check("identty.x")
    with pytest.raises(UserError, match=r"unknown model 'identty' \(did you mean 'identity'"):
        models.check("identty")


AD_HOC_MODULE = '''
"""An ad hoc generator for the tests: the input mirrored left to right."""

from metrics.base import Column, Metric
from models.identity import IdentityGenerator


class Class(IdentityGenerator):
    """Mirrors the face left to right (a test-only ad hoc generator)."""

    def translate(self, images, target_expressions):
        self.check_inputs(images, target_expressions)
        return images.flip(-1)


class Brightness(Metric):
    """Mean pixel value of each output (a test-only ad hoc metric)."""

    columns = (Column("brightness", True, (-1.0, 1.0), "mean pixel value in [-1, 1]"),)

    def score(self, batch):
        return {"brightness": batch.outputs.mean(dim=(1, 2, 3)).double().cpu().numpy()}
'''


def test_bench_run_trains_scores_and_reports_plugins(tmp_path):
    """`bench run --models identity,example,tests_pkg.module:Class` (and an ad hoc metric) with
    no change to the repository."""
    site = tmp_path / "site"
    install_example(site)
    (site / "tests_pkg").mkdir()
    (site / "tests_pkg" / "__init__.py").write_text("")
    (site / "tests_pkg" / "module.py").write_text(textwrap.dedent(AD_HOC_MODULE))
    params = tiny_params(tmp_path)
    params["eval_datasets"] = ["synthetic"]
    params["profiles"]["smoke"]["metrics"] = ["l1", "ssim"]
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    path = os.pathsep.join([str(site), str(PLUGIN), str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "250"}

    def bench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, env=env
        )

    listing = bench("models")
    assert listing.returncode == 0, listing.stderr
    assert "entry point of package fes-bench-example-plugin" in listing.stdout + listing.stderr
    result = bench(
        "run",
        "--models",
        "identity,example,tests_pkg.module:Class",
        "--metrics",
        "l1,tests_pkg.module:Brightness",
        "--params",
        str(params_file),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ad_hoc = "tests_pkg.module.Class"
    summary = pd.read_csv(tmp_path / "results" / "tables" / "comparison.csv", comment="#")
    assert set(summary["model"]) == {"identity", "example", ad_hoc}
    l1 = summary[summary.metric == "L1"].set_index("model")["mean"]
    assert l1["example"] < l1["identity"]  # the mean expression change moves toward the target
    assert l1[ad_hoc] != l1["identity"]
    brightness = summary[summary.metric == "brightness"].set_index("model")["mean"]
    assert brightness["identity"] == pytest.approx(brightness[ad_hoc])  # a mirror keeps the mean
    markdown = (tmp_path / "results" / "tables" / "comparison.md").read_text()
    assert "| example " in markdown and f"| {ad_hoc} " in markdown
    assert (tmp_path / "checkpoints" / ad_hoc / "synthetic" / "model.pt").is_file()
    broken = bench("run", "--models", "tests_pkg.module:Missing", "--params", str(params_file))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "model plugin 'tests_pkg.module.Missing'" in broken.stdout + broken.stderr


@pytest.mark.parametrize(
    ("plugin", "settings", "expected"),
    [
        (  # declared by the constructor's keywords (examples/plugin)
            "example",
            {"strenght": 0.5},
            "model_settings.example.strenght: unknown setting; "
            "did you mean model_settings.example.strength?",
        ),
        (  # declared by a Settings dataclass (tests/toy_model.py)
            "toy",
            {"widht": 8},
            "model_settings.toy.widht: unknown setting; did you mean model_settings.toy.width?",
        ),
        ("toy", {"width": "four"}, "model_settings.toy.width: must be a valid integer"),
    ],
    ids=["constructor typo", "Settings typo", "Settings type"],
)
def test_plugin_settings_are_checked_like_the_built_ins(tmp_path, plugin, settings, expected):
    """A plugin's ``model_settings`` mistake is one line naming the key (and the intended one),
    exit 2, before any work; the plugin declares its settings as a built-in does."""
    site = tmp_path / "site"
    install_example(site)
    write_dist_info(site, "toy-plugin", {GROUP: {"toy": "toy_model:ToyGenerator"}})
    params = tiny_params(tmp_path)
    params["model_settings"][plugin] = settings
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    tests = Path(__file__).resolve().parent
    path = os.pathsep.join([str(site), str(PLUGIN), str(tests), str(REPO)])
    result = subprocess.run(
        [sys.executable, "-m", "bench.cli", "sources", "--params", str(params_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {params_file}: {expected}"), line
    assert not (tmp_path / "results").exists()
