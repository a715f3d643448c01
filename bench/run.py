"""``bench run``: the whole benchmark for chosen models x datasets without DVC.

Each artefact is reused only while its fingerprint (:mod:`bench.fingerprint`: the stage
table's settings for it, :mod:`bench.stages`, and its inputs' hashes) matches the current
configuration; otherwise it is rebuilt, with one line saying why. ``--dry-run`` prints that
plan (one line per stage, under DVC's stage names) and runs nothing. The report covers every
record on disk that is current, so a partial run never shrinks the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bench import factory, stages
from bench.adapt import adapt, adaptation_mismatch
from bench.classifier import classifier_mismatch, train_ecs_classifier
from bench.core.errors import UserError
from bench.core.progress import console, progress_bar
from bench.data import check_dataset_names, data_mismatch, prepare
from bench.evaluate import evaluate_datasets
from bench.fingerprint import evaluation_mismatch, report_mismatch, reported_pairs
from bench.report import report
from bench.report.scope import current_scope, scope
from bench.sources import write_sources
from bench.train import checkpoint_mismatch, train
from bench.weights_lock import write_locks
from models.registry import MODELS

if TYPE_CHECKING:
    from bench.config import Config


@dataclass
class Step:
    """One stage instance of the plan: its DVC name, a check saying why it must run (None:
    current), the upstream steps whose rebuilding makes it run too, and what runs it."""

    stage: str
    check: Callable[[], str | None]
    after: tuple[str, ...] = ()
    action: Callable[[], object] | None = None
    _reason: tuple[str | None] | None = None

    @property
    def reason(self) -> str | None:
        """Why it must run by itself (checked once, on first use)."""
        if self._reason is None:
            self._reason = (self.check(),)
        return self._reason[0]

    def runs(self, plan: dict[str, Step]) -> str | None:
        """Why it runs (its own reason, or the first upstream step that runs); None: reused."""
        if self.reason:
            return self.reason
        for upstream in self.after:
            if upstream in plan and plan[upstream].runs(plan):
                return f"after {upstream}"
        return None


def _train_classifier(config: Config, device: torch.device) -> object:
    """The ECS classifier, with a progress bar over its epochs (minutes on a CPU)."""
    epochs = config.ecs_classifier.epochs
    with progress_bar(f"ECS classifier on {config.train_dataset}", epochs) as advance:
        return train_ecs_classifier(config, device, progress=advance)


def data_stage(config: Config, name: str = "data") -> str:
    """The data (or ``ecs_classifier``) stage instance a run reads: ``data``, or with the data
    made per seed ``data@seed<k>`` of the run's seed."""
    return f"{name}@seed{config.run_seed}" if config.data_per_seed else name


def _data_steps(config: Config, names: list[str], device: torch.device) -> list[Step]:
    """The data step of each data run (:func:`bench.stages.data_runs`), and the ECS
    classifier's after it when ECS is a metric."""
    steps: list[Step] = []
    for run, _ in stages.data_runs(config):

        def stale_specs(run: Config = run) -> dict[str, str]:
            stale: dict[str, str] = {}
            for name in names:
                if reason := data_mismatch(run, name):
                    stale.setdefault(run.declared_datasets()[name][0], f"{name}: {reason}")
            return stale

        steps.append(
            Step(
                data_stage(run),
                lambda stale_specs=stale_specs: "; ".join(stale_specs().values()) or None,
                action=lambda run=run, stale_specs=stale_specs: prepare(run, sorted(stale_specs())),
            )
        )
    if "ecs" in config.metrics:
        steps += [
            Step(
                data_stage(run, "ecs_classifier"),
                lambda run=run: classifier_mismatch(run),
                (data_stage(run),),
                lambda run=run: _train_classifier(run, device),
            )
            for run, _ in stages.data_runs(config)
        ]
    return steps


def _model_steps(
    config: Config, model: str, datasets: list[str], retrain: bool, device: torch.device
) -> list[Step]:
    """The train or adapt steps of ``model``'s run ``config`` (:func:`bench.stages.runs`)."""
    suffix = stages.run_suffix(config, model, config)
    if factory.kind_of(model) != "adapted":
        return [
            Step(
                f"train@{model}{suffix}",
                lambda: "--retrain" if retrain else checkpoint_mismatch(config, model),
                (data_stage(config),),
                lambda: train(config, model, device, fresh=retrain),
            )
        ]
    bases = tuple(
        f"train@{b}{stages.run_suffix(config, b, config)}"
        for b in factory.dependencies(config, model)
    )
    return [
        Step(
            f"adapt@{model}-{dataset}{suffix}",
            lambda dataset=dataset: (
                "--retrain" if retrain else adaptation_mismatch(config, model, dataset)
            ),
            (data_stage(config), *bases),
            lambda dataset=dataset: adapt(config, model, dataset, device, fresh=retrain),
        )
        for dataset in datasets
    ]


def plan(
    config: Config,
    models: list[str],
    datasets: list[str],
    retrain: bool,
    device: torch.device,
) -> dict[str, Step]:
    """Every stage instance ``bench run`` would consider, in order, with why each runs."""
    names = list(dict.fromkeys([config.train_dataset, *datasets]))
    steps = _data_steps(config, names, device)
    for model in factory.ordered(config, models):
        for run, _ in stages.runs(config, model):  # one per seed for models trained per seed
            steps += _model_steps(run, model, datasets, retrain, device)
    for model, (run, _) in ((m, r) for m in models for r in stages.runs(config, m)):
        adapted = factory.kind_of(model) == "adapted"
        suffix = stages.run_suffix(config, model, run)
        made_by = (
            [f"adapt@{model}-{d}{suffix}" for d in datasets]
            if adapted
            else [f"train@{model}{suffix}"]
        )

        def stale_evaluations(model: str = model, run: Config = run) -> str | None:
            reasons = [
                f"{d}: {why}" for d in datasets if (why := evaluation_mismatch(run, model, d))
            ]
            return "; ".join(reasons) or None

        steps.append(
            Step(
                f"{'evaluate_adapted' if adapted else 'evaluate'}@{model}{suffix}",
                stale_evaluations,
                (data_stage(run), data_stage(run, "ecs_classifier"), *made_by),
                lambda model=model, run=run: evaluate_datasets(
                    run, model, datasets, device, synthesize_first=True
                ),
            )
        )
    evaluations = [step for step in steps if step.stage.startswith("evaluate")]

    def stale_report() -> str | None:
        reason = report_mismatch(config)
        plan = {step.stage: step for step in steps}
        if reason or any(step.runs(plan) for step in evaluations):
            return reason  # an evaluation that runs makes the report run after it
        return scope_change(config, models, datasets)

    steps.append(
        Step(
            "report",
            stale_report,
            tuple(step.stage for step in evaluations),
            lambda: report(config, *current_scope(config, models, datasets)),
        )
    )
    return {step.stage: step for step in steps}


def scope_change(config: Config, models: list[str], datasets: list[str]) -> str | None:
    """Why the report must be written again though nothing it shows changed: the current
    records now cover other models or datasets (e.g. one evaluated since by `bench evaluate`
    or `bench score`); None when they cover what it shows."""
    try:
        kept_models, kept_datasets, _ = scope(config, models, datasets)
    except UserError:
        return None  # nothing to report: the report stage says so when it runs
    shown = reported_pairs(config) or []
    new = [m for m in kept_models if m not in {m for m, _ in shown}]
    new += [d for d in kept_datasets if d not in {d for _, d in shown}]
    gone = [m for m in dict.fromkeys(m for m, _ in shown) if m not in kept_models]
    gone += [d for d in dict.fromkeys(d for _, d in shown) if d not in kept_datasets]
    if not new and not gone:
        return None
    return "; ".join(
        [
            *([f"not shown yet: {', '.join(new)}"] if new else []),
            *([f"no longer current: {', '.join(gone)}"] if gone else []),
        ]
    )


def dry_run(
    config: Config,
    models: str | list[str] | None = None,
    datasets: str | list[str] | None = None,
    retrain: bool = False,
) -> dict[str, str]:
    """Stage -> why it would run, for the stages that would (nothing is run or written): its
    own reason (a changed setting, a missing artefact), or ``after <stage>`` when only an
    upstream stage's rebuilding makes it run."""
    chosen_models = MODELS.parse(models or config.table_models)
    chosen_datasets = check_dataset_names(config, datasets or config.eval_datasets)
    steps = plan(config, chosen_models, chosen_datasets, retrain, torch.device("cpu"))
    return {name: why for name, step in steps.items() if (why := step.runs(steps))}


def run(
    config: Config,
    models: str | list[str] | None,
    datasets: str | list[str] | None,
    retrain: bool,
    device: torch.device,
    offline: bool = False,
) -> None:
    """Pull weights, then prepare, train, adapt, synthesize and evaluate what is missing or
    stale (each stage once its inputs are current), and report."""
    chosen_models = MODELS.parse(models or config.table_models)
    chosen_datasets = check_dataset_names(config, datasets or config.eval_datasets)
    write_locks(config, offline=offline)
    write_sources(config)  # the code each model is made of: a changed model retrains
    # each check runs just before its step: an upstream rebuild changes what is current
    steps = plan(config, chosen_models, chosen_datasets, retrain, device)
    reused: list[str] = []
    for name, step in steps.items():
        if step.reason:
            if reused:  # what was current before this step, in one line
                console.print(f"current, reused: {', '.join(reused)}", soft_wrap=True)
                reused = []
            console.print(f"{name}: running ({step.reason})", highlight=False, soft_wrap=True)
            assert step.action is not None
            step.action()
        else:
            reused.append(name)
    if len(reused) == len(steps):
        console.print(f"nothing to do: all {len(steps)} stages are current (`bench run --dry-run`)")
    elif reused:
        console.print(f"current, reused: {', '.join(reused)}", soft_wrap=True)
