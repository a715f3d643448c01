"""``bench run``: the whole benchmark for chosen models x datasets without DVC.

Each artefact is reused only while its fingerprint (see :mod:`bench.fingerprint`)
matches the current params; otherwise it is rebuilt, with one line saying why.
The report covers every record on disk that is current, so a partial run never
shrinks the comparison.
"""

from __future__ import annotations

from typing import Any

import torch

from bench import layout
from bench.adapt import adapt, adaptation_mismatch
from bench.classifier import classifier_mismatch, train_ecs_classifier
from bench.config import table_models
from bench.core.progress import console
from bench.data import check_dataset_names, data_mismatch, declared_datasets, prepare
from bench.evaluate import evaluate_datasets
from bench.report import report
from bench.report.scope import current_scope
from bench.train import checkpoint_mismatch, train
from bench.weights_lock import write_locks
from models.registry import MODELS


def _ensure_trained(
    params: dict[str, Any], model: str, retrain: bool, device: torch.device
) -> None:
    """Train ``model`` unless its checkpoint matches the params (always with ``retrain``)."""
    reason = "--retrain" if retrain else checkpoint_mismatch(params, model)
    if reason:
        console.print(f"{model}: training ({reason})")
        train(params, model, device, fresh=retrain)
    else:
        console.print(
            f"{model}: using {layout.checkpoint_path(params, model)} (fingerprint matches)"
        )


def _ensure_data(params: dict[str, Any], names: list[str]) -> None:
    """Prepare every spec whose datasets are missing or were made with other params."""
    producers = declared_datasets(params)
    stale: dict[str, str] = {}
    for name in names:
        reason = data_mismatch(params, name)
        if reason and name in producers:
            stale.setdefault(producers[name][0], f"{name}: {reason}")
    for spec, reason in sorted(stale.items()):
        console.print(f"preparing data {spec} ({reason})")
    if stale:
        prepare(params, sorted(stale))


def run(
    params: dict[str, Any],
    models: str | list[str] | None,
    datasets: str | list[str] | None,
    retrain: bool,
    device: torch.device,
    offline: bool = False,
) -> None:
    """Pull weights, prepare/train what is missing or stale, synthesize, evaluate and report."""
    chosen_models = MODELS.parse(models or table_models(params))
    chosen_datasets = check_dataset_names(params, datasets or params["eval_datasets"])
    write_locks(params, offline=offline)
    _ensure_data(params, [params["train_dataset"], *chosen_datasets])
    if "ecs" in params["metrics"]:
        reason = classifier_mismatch(params)
        if reason:
            console.print(f"ECS expression classifier: training ({reason})")
            train_ecs_classifier(params, device)
    for model in chosen_models:
        adapted = MODELS.load(model).adapts_per_dataset
        if adapted:
            base = ((params.get("model_settings") or {}).get(model) or {}).get("base", "stargan")
            _ensure_trained(params, base, retrain, device)
            for dataset in chosen_datasets:
                reason = "--retrain" if retrain else adaptation_mismatch(params, model, dataset)
                if reason:
                    console.print(f"{model} on {dataset}: adapting ({reason})")
                    adapt(params, model, dataset, device, fresh=retrain)
                else:
                    console.print(
                        f"{model} on {dataset}: using its checkpoint (fingerprint matches)"
                    )
        else:
            _ensure_trained(params, model, retrain, device)
        evaluate_datasets(params, model, chosen_datasets, device, synthesize_first=True)
    report(params, *current_scope(params, chosen_models, chosen_datasets))
