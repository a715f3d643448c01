"""``bench run``: the whole benchmark for chosen models x datasets without DVC."""

from __future__ import annotations

from typing import Any

import torch

from bench import layout
from bench.adapt import adapt
from bench.classifier import train_ecs_classifier
from bench.config import table_models
from bench.core.progress import console
from bench.data import check_dataset_names, declared_datasets, prepare
from bench.evaluate import evaluate
from bench.report import report
from bench.synthesize import synthesize
from bench.train import train
from datasets.manifest import MANIFEST
from models.registry import MODELS


def _ensure_trained(
    params: dict[str, Any], model: str, retrain: bool, device: torch.device
) -> None:
    """Train ``model`` unless its checkpoint exists (always with ``retrain``)."""
    if retrain or not layout.checkpoint_path(params, model).is_file():
        train(params, model, device, fresh=retrain)
    else:
        console.print(f"{model}: using {layout.checkpoint_path(params, model)}")


def run(
    params: dict[str, Any],
    models: str | list[str] | None,
    datasets: str | list[str] | None,
    retrain: bool,
    device: torch.device,
) -> None:
    """Prepare missing data, train missing checkpoints, then synthesize, evaluate and report."""
    chosen_models = MODELS.parse(models or table_models(params))
    chosen_datasets = check_dataset_names(params, datasets or params["eval_datasets"])
    needed = [params["train_dataset"], *chosen_datasets]
    producers = declared_datasets(params)
    missing_specs = sorted(
        {
            producers[name][0]
            for name in needed
            if name in producers and not (layout.dataset_dir(params, name) / MANIFEST).is_file()
        }
    )
    if missing_specs:
        console.print(f"preparing data: {', '.join(missing_specs)}")
        prepare(params, missing_specs)
    if "ecs" in params["metrics"] and not layout.classifier_path(params).is_file():
        console.print("training the ECS expression classifier (no checkpoint yet)")
        train_ecs_classifier(params, device)
    for model in chosen_models:
        adapted = MODELS.load(model).adapts_per_dataset
        if adapted:
            base = ((params.get("model_settings") or {}).get(model) or {}).get("base", "stargan")
            _ensure_trained(params, base, retrain, device)
        else:
            _ensure_trained(params, model, retrain, device)
        for dataset in chosen_datasets:
            if adapted:
                checkpoint = layout.checkpoint_path(params, model, dataset)
                if retrain or not checkpoint.is_file():
                    adapt(params, model, dataset, device, fresh=retrain)
                else:
                    console.print(f"{model} on {dataset}: using {checkpoint}")
            synthesize(params, model, dataset, device)
            evaluate(params, model, dataset, device)
    report(params, chosen_models, chosen_datasets)
