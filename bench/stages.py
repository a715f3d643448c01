"""The stage table: each stage of the benchmark, what it reads, the settings that change its
result, and what it writes; ``dvc.yaml`` and ``bench run``'s fingerprints both derive from it.

:func:`stage_settings` computes, for every stage instance, the resolved settings its result
depends on (after profiles, defaults and ``--set``; e.g. ``train.<model>``: image size, seed,
training set, the model's settings, steps, batch size, sampling, precision switches). The
``settings`` stage (``bench stages settings``, always run first under DVC) writes them to
``<results>/settings.yaml``, and every DVC stage lists its own subtree of that file as
params; ``bench run`` records the same subtree in each artefact's fingerprint. So a setting
that changes a result (rates, loss weights, precision switches, seeds, data settings) reruns
the same stages under both engines, and one that does not (log and checkpoint cadence,
progress) reruns neither. ``dvc.yaml`` is generated from :data:`STAGES` by
:func:`dvc_yaml` (``bench stages dvc-yaml``); a test keeps the committed file equal to it.

With several ``seeds``, the train, adapt and evaluate stages of a model trained per seed
have one instance per run (:func:`runs`: ``train@<model>-seed1``, settings
``train.<model>.seed1``, folders with a seed level, :mod:`bench.layout`). With ``seed_data:
per_seed`` the data and ECS classifier stages have one instance per seed too
(``data@seed1``, settings ``data.seed1``, ``data/seed1/``) and every model one run per seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from bench import factory, layout
from bench.sampler import resolve_sampling

if TYPE_CHECKING:
    from bench.config import Config

SETTINGS_FILE = "settings.yaml"
"""Under ``paths.results``: the resolved settings of every stage (DVC's params file)."""


# -- the settings each stage's result depends on ---------------------------------------------
def data_settings(config: Config, spec_name: str) -> dict[str, Any]:
    """A dataset spec's prepared folders: kind and options, image size, seed, its generator's
    or the ingest's settings."""
    spec = config.datasets[spec_name]
    record: dict[str, Any] = {
        "spec": spec.model_dump(mode="json", exclude={"seed"}),
        "image_size": config.image_size,
        "seed": config.dataset_seed(spec_name),
    }
    if spec.kind == "synthetic":
        record["synthetic"] = config.synthetic.model_dump(mode="json")
    else:
        record["ingest"] = config.ingest.model_dump(mode="json")
    return record


def train_settings(config: Config, name: str) -> dict[str, Any]:
    """What a model learns from (trained, fitted or adapted): its settings, the data it is
    fitted on, and, for models the loop trains, steps, batch size, sampling and precision."""
    cls = factory.model_class(name)
    record: dict[str, Any] = {
        "model": name,
        "kind": cls.kind,
        "image_size": config.image_size,
        "seed": layout.training_seed(config, name),
        "train_dataset": config.train_dataset,
        "settings": config.settings_of(name),
    }
    if cls.kind in ("trained", "adapted"):
        training = config.training
        record |= {
            "steps": training.steps_for(name),
            "batch_size": training.batch_size_for(name),
            "sampling": resolve_sampling(training.sampling, cls.authors_sampling),
            "bf16": training.bf16,
            "cuda_fast": training.cuda_fast,
        }
    return record


def adapt_settings(config: Config, name: str, dataset: str) -> dict[str, Any]:
    """An adapted model on one dataset: its training settings, its bases and the target set."""
    return train_settings(config, name) | {
        "bases": factory.dependencies(config, name),
        "target_dataset": dataset,
    }


def classifier_settings(config: Config) -> dict[str, Any]:
    """The ECS classifier: its training settings, seed, image size and training set."""
    return {
        "image_size": config.image_size,
        "seed": config.data_seed,
        "train_dataset": config.train_dataset,
        "settings": config.ecs_classifier.model_dump(mode="json"),
    }


def evaluate_settings(config: Config, name: str) -> dict[str, Any]:
    """One model's outputs and scores over every evaluation set."""
    return {
        "model": name,
        "train_dataset": config.train_dataset,
        "eval_datasets": list(config.eval_datasets),
        "targets": list(config.targets),
        "seed": config.seed,
        "metrics": {m: config.metric_settings_of(m) for m in config.metrics},
        "evaluation": config.evaluation.model_dump(
            mode="json",
            exclude={"set_bootstrap_resamples"},  # the report's, not the records'
        ),
    }


def report_settings(config: Config) -> dict[str, Any]:
    """The tables, figures and report."""
    return {
        "models": config.table_models,
        "train_dataset": config.train_dataset,
        "eval_datasets": list(config.eval_datasets),
        "targets": list(config.targets),
        "metrics": list(config.metrics),
        "seed": config.seed,
        "seeds": list(config.seeds),
        # pooled (seed, image) units instead of seed-averaged images (absent by default)
        **({"seed_data": config.seed_data} if config.data_per_seed else {}),
        "evaluation": config.evaluation.model_dump(
            mode="json", include={"bootstrap_resamples", "set_bootstrap_resamples", "confidence"}
        ),
        "report": config.report.model_dump(mode="json"),
    }


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": x}`` -> ``{"a": {"b": x}}``: a plugin's dotted key (``pkg.module.Class``) is a
    nested path, so DVC's dotted ``train.${item.model}`` finds it."""
    result: dict[str, Any] = {}
    for key, value in flat.items():
        node = result
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result


def runs(config: Config, model: str) -> list[tuple[Config, str]]:
    """``model``'s runs: (the configuration of the run, its key in the settings file:
    ``<model>``, or ``<model>.seed<k>`` for a model trained per seed)."""
    per_seed = layout.runs_per_seed(config, model)
    return [
        (config.for_seed(seed), f"{model}.seed{seed}" if per_seed else model)
        for seed in layout.run_seeds(config, model)
    ]


def run_suffix(config: Config, model: str, run: Config) -> str:
    """What a run adds to its stage names: ``-seed<k>`` for a model trained per seed, else
    nothing (``train@<model>-seed1``; ``train@<model>`` for one run)."""
    return f"-seed{run.run_seed}" if layout.runs_per_seed(config, model) else ""


def data_runs(config: Config) -> list[tuple[Config, str]]:
    """The data's runs (the data and ECS classifier stages): (the configuration of the run,
    its key in the settings file): one, ``""``, or with ``seed_data: per_seed`` one per seed,
    ``seed<k>``."""
    if not config.data_per_seed:
        return [(config, "")]
    return [(config.for_seed(seed), f"seed{seed}") for seed in config.seeds]


def _per_data_run(config: Config, settings: Callable[[Config], Any]) -> Any:
    """``settings`` of the data's one run, or ``{"seed<k>": ...}`` over its runs."""
    if not config.data_per_seed:
        return settings(config)
    return {key: settings(run) for run, key in data_runs(config)}


def stage_settings(config: Config) -> dict[str, Any]:
    """The content of ``<results>/settings.yaml``: every stage instance's settings (a model
    trained per seed has one subtree per seed, ``train.<model>.seed<k>``; data made per seed
    ``data.seed<k>`` and ``ecs_classifier.seed<k>``)."""
    return {
        "data": _per_data_run(
            config, lambda run: {spec: data_settings(run, spec) for spec in run.datasets}
        ),
        "train": _nested(
            {key: train_settings(run, m) for m in config.models for run, key in runs(config, m)}
        ),
        "adapt": _nested(
            {
                key: {d: adapt_settings(run, m, d) for d in config.eval_datasets}
                for m in config.adapted_models
                for run, key in runs(config, m)
            }
        ),
        "ecs_classifier": _per_data_run(config, classifier_settings),
        "evaluate": _nested(
            {
                key: evaluate_settings(run, m)
                for m in config.table_models
                for run, key in runs(config, m)
            }
        ),
        "report": report_settings(config),
    }


def settings_text(config: Config) -> str:
    """:func:`stage_settings` as the YAML file DVC reads (sorted keys: byte-stable)."""
    header = "# written by `bench stages settings` (the DVC `settings` stage): do not edit\n"
    return header + yaml.safe_dump(stage_settings(config), sort_keys=True, width=4096)


# -- the table dvc.yaml is generated from ----------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One DVC stage (a matrix stage when ``matrix`` is set): command, inputs, settings, outputs.

    ``settings``: the path of its subtree in the settings file (``${item.*}`` templated);
    ``outs``: path -> DVC output options; ``matrix``: item name -> list in params.yaml.
    """

    name: str
    cmd: str
    doc: str
    matrix: dict[str, str] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    settings: str | None = None
    outs: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: dict[str, dict[str, Any]] = field(default_factory=dict)
    always_changed: bool = False
    needs_base: bool = False
    """Adapted models: the generator adds each base model's checkpoint folder to ``deps``."""
    per_seed: bool = False
    """One instance per run (:func:`runs`): with several seeds, the models trained per seed
    get one per seed (``train@<model>-seed<k>``), their folders a seed level."""
    per_data_seed: bool = False
    """One instance per data run (:func:`data_runs`): with ``seed_data: per_seed``, one per
    seed (``data@seed<k>``), writing under the seed's folder."""

    def foreach(self, config: Config) -> bool:
        """True when ``dvc.yaml`` writes this stage as a ``foreach`` over its runs."""
        if self.per_data_seed:
            return config.data_per_seed
        return self.per_seed and len(config.seeds) > 1


R, D, C = "${paths.results}", "${paths.data}", "${paths.checkpoints}"
RUN = "${item.run}"
"""A model's folder under a root (:func:`bench.layout.run_dir`): ``${item.model}`` under one
seed; with several, a ``foreach`` item's ``<model>`` or ``<model>/seed<k>``."""
KEY = "${item.key}"
"""A model's key in the settings file: ``${item.model}``, or ``<model>.seed<k>``."""
UNCACHED = {"cache": False}
"""Outputs of the always-run stages (cheap, remade by every ``dvc repro``); every other output
is cached, so ``dvc push`` shares a finished benchmark and ``dvc pull`` rebuilds nothing."""

STAGES: tuple[Stage, ...] = (
    Stage(
        "settings",
        "bench stages settings",
        "the resolved settings of every stage (profiles, defaults); every stage below reads "
        "its own part, so a setting reruns exactly the stages whose result it changes",
        deps=("params.yaml",),
        outs={f"{R}/{SETTINGS_FILE}": UNCACHED},
        always_changed=True,
    ),
    Stage(
        "weights",
        "bench weights lock",
        "pull and pin every pretrained file the configured datasets, models and metrics need",
        outs={f"{R}/weights/{g}.json": UNCACHED for g in ("datasets", "models", "metrics")},
        always_changed=True,
    ),
    Stage(
        "data",
        "bench data prepare",
        "every dataset declared under `datasets:`",
        deps=("datasets", f"{R}/weights/datasets.json"),
        settings="data",
        outs={D: {}},
        per_data_seed=True,
    ),
    Stage(
        "sources",
        "bench sources",
        "the code each model is made of (its import closure, plugins included), pinned",
        outs={f"{R}/sources": UNCACHED},
        always_changed=True,
    ),
    Stage(
        "train",
        "bench train --model ${item.model}",
        "one stage per model (and seed); persist: an interrupted run resumes from train_state.pt",
        matrix={"model": "models"},
        deps=(
            f"{D}/${{train_dataset}}",
            f"{R}/sources/${{item.model}}.json",
            "bench/train.py",
            "bench/trainer.py",
            "bench/sampler.py",
        ),
        settings=f"train.{KEY}",
        outs={f"{C}/{RUN}": {"persist": True}},
        per_seed=True,
    ),
    Stage(
        "adapt",
        "bench adapt --model ${item.model} --dataset ${item.dataset}",
        "models adapted per dataset on its unlabelled images, after the models they adapt",
        matrix={"model": "adapted_models", "dataset": "eval_datasets"},
        deps=(
            f"{D}/${{item.dataset}}",
            f"{D}/${{train_dataset}}",
            f"{R}/weights/models.json",
            f"{R}/sources/${{item.model}}.json",
            "bench/adapt.py",
            "bench/trainer.py",
            "bench/sampler.py",
        ),
        settings=f"adapt.{KEY}.${{item.dataset}}",
        outs={f"{C}/{RUN}/${{item.dataset}}": {"persist": True}},
        needs_base=True,
        per_seed=True,
    ),
    Stage(
        "ecs_classifier",
        "bench classifier train",
        "the ResNet-18 behind ECS, on the real training images",
        deps=(
            f"{D}/${{train_dataset}}",
            "metrics/expression_classifier.py",
            "bench/commands/classifier.py",
            "bench/classifier.py",
        ),
        settings="ecs_classifier",
        outs={f"{C}/ecs_classifier": {}},
        per_data_seed=True,
    ),
    *(
        Stage(
            name,
            "bench evaluate --model ${item.model} --synthesize",
            f"{what} on every eval dataset, one process: start-up and evaluators paid once",
            matrix={"model": models},
            deps=(
                f"{C}/{RUN}",
                f"{C}/ecs_classifier",
                D,
                f"{R}/weights/metrics.json",
                "metrics",
                "bench/synthesize.py",
                "bench/evaluate.py",
            ),
            settings=f"evaluate.{KEY}",
            outs={
                f"${{paths.outputs}}/{RUN}": {},
                f"{R}/records/{RUN}": {},
            },
            metrics={f"{R}/metrics/{RUN}": {}},
            per_seed=True,
        )
        for name, models, what in (
            ("evaluate", "models", "a model"),
            ("evaluate_adapted", "adapted_models", "an adapted model (its checkpoint per dataset)"),
        )
    ),
    Stage(
        "report",
        "bench report",
        "tables, figures and report.html from every current record",
        deps=(f"{R}/records", f"{R}/metrics", C, f"{D}/${{train_dataset}}", "bench/report"),
        settings="report",
        outs={f"{R}/tables": {}, f"{R}/pdf": {}, f"{R}/report.html": {}},
        plots={f"{R}/figures": {}},
    ),
)


def _entries(paths: dict[str, dict[str, Any]]) -> list[Any]:
    return [{path: dict(options)} if options else path for path, options in paths.items()]


def _lists(config: Config) -> dict[str, list[str]]:
    return {
        "models": config.models,
        "adapted_models": config.adapted_models,
        "eval_datasets": config.eval_datasets,
    }


def instances(config: Config, stage: Stage) -> dict[str, dict[str, Any]]:
    """A matrix stage's instances under DVC's naming: the part after ``@`` -> its item
    (``model``, ``dataset``, ...; with several seeds, per-seed stages' items also hold
    ``seed``, ``run`` and ``key``, and a run trained per seed is named ``...-seed<k>``)."""
    if stage.per_data_seed:  # a foreach over the data's runs, else not a matrix stage
        return {key: {"seed": run.run_seed} for run, key in data_runs(config) if key}
    combos: list[dict[str, str]] = [{}]
    for item, source in stage.matrix.items():
        combos = [c | {item: v} for c in combos for v in _lists(config)[source]]
    if not stage.foreach(config):
        return {"-".join(c.values()): c for c in combos}
    named: dict[str, dict[str, Any]] = {}
    for combo in combos:
        model = combo["model"]
        for run, key in runs(config, model):
            named["-".join(combo.values()) + run_suffix(config, model, run)] = combo | {
                "seed": run.run_seed,
                "run": layout.run_dir(run, model),
                "key": key,
            }
    return named


def settings_path(stage: Stage, item: dict[str, Any]) -> str | None:
    """The subtree of the settings file a stage instance depends on (``train.<model>`` or
    ``train.<model>.seed1``), from its item (:func:`instances`); None for a stage without."""
    if not stage.settings:
        return None
    if stage.per_data_seed and "seed" in item:
        return f"{stage.settings}.seed{item['seed']}"
    path = stage.settings.replace(KEY, str(item.get("key", item.get("model"))))
    for name, value in item.items():
        path = path.replace(f"${{item.{name}}}", str(value))
    return path


def _body(config: Config, stage: Stage, foreach: bool) -> dict[str, Any]:
    """The stage's definition (``foreach``: the ``do`` part of a stage over its runs)."""

    def fill(text: str) -> str:  # under one seed a run is its model: the matrix item names both
        if not foreach:
            text = text.replace(RUN, "${item.model}").replace(KEY, "${item.model}")
        return _seeded_data(text, foreach) if config.data_per_seed else text

    body: dict[str, Any] = {"cmd": stage.cmd + (" --seed ${item.seed}" if foreach else "")}
    if stage.always_changed:
        body["always_changed"] = True
    deps = [fill(dep) for dep in stage.deps]
    if stage.needs_base:
        bases = {b for m in config.adapted_models for b in factory.dependencies(config, m)}
        for base in sorted(bases):
            per_seed = foreach and layout.runs_per_seed(config, base)
            deps.append(f"{C}/{base}" + ("/seed${item.seed}" if per_seed else ""))
    if deps:
        body["deps"] = deps
    if stage.settings:
        settings = fill(stage.settings)
        if stage.per_data_seed and foreach:
            settings += ".seed${item.seed}"
        body["params"] = [{f"{R}/{SETTINGS_FILE}": [settings]}]
    for key, paths in (("outs", stage.outs), ("metrics", stage.metrics), ("plots", stage.plots)):
        if paths:
            body[key] = _entries({fill(path): options for path, options in paths.items()})
    return body


def _seeded_data(path: str, foreach: bool) -> str:
    """A path of the stage table with the data made per seed: the data and the ECS classifier
    of a stage's run are its seed's (``data/seed${item.seed}/...``); a stage with one instance
    (the report) depends on the whole data folder."""
    classifier = f"{C}/ecs_classifier"
    if foreach and (path == D or path.startswith(f"{D}/")):
        return f"{D}/seed${{item.seed}}" + path[len(D) :]
    if foreach and path == classifier:
        return f"{classifier}/seed${{item.seed}}"
    if path.startswith(f"{D}/"):
        return D
    return path


def dvc_yaml(config: Config) -> str:
    """The ``dvc.yaml`` of :data:`STAGES` (adapted models' bases from their declarations).

    Under one seed the matrices read the top-level lists of params.yaml (``${models}``); with
    several seeds each per-seed stage is a ``foreach`` over its runs, written out from the
    configuration (so ``bench stages dvc-yaml`` must run again when the lists change: the
    settings stage refuses a stale file)."""
    stages: dict[str, Any] = {}
    for stage in STAGES:
        foreach = stage.foreach(config)
        body = _body(config, stage, foreach)
        if foreach:
            stages[stage.name] = {"foreach": instances(config, stage), "do": body}
            continue
        if stage.matrix:
            matrix = {item: f"${{{source}}}" for item, source in stage.matrix.items()}
            body = {"matrix": matrix} | body
        stages[stage.name] = body
    header = (
        "# Generated from bench/stages.py by `bench stages dvc-yaml`: edit the stage table there.\n"
        "# The benchmark: settings -> weights, data, sources -> train (one stage per model),\n"
        "# adapt, the ECS classifier -> evaluate (one stage per model) -> report.\n"
        "# Run all: dvc repro    Fan out: dvc exp run --queue ... && dvc queue start -j N\n"
    )
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, width=4096)


def stage_names(config: Config) -> list[str]:
    """Every stage instance under DVC's naming (``train@<model>``, ``adapt@<model>-<dataset>``;
    with several seeds ``train@<model>-seed<k>`` for models trained per seed)."""
    names: list[str] = []
    for stage in STAGES:
        if not (stage.matrix or stage.foreach(config)):
            names.append(stage.name)
        else:
            names += [f"{stage.name}@{key}" for key in instances(config, stage)]
    return names
