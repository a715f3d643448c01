"""Where every stage reads and writes (one place, so stages and DVC agree).

::

    data/<dataset>/                          prepared images + manifest.csv
    checkpoints/<model>/<train-dataset>/model.pt
    checkpoints/<adapted-model>/<dataset>/model.pt  (models adapted per dataset, e.g. dai2i)
    checkpoints/ecs_classifier/<train-dataset>/resnet18.pt  the ECS expression classifier
    outputs/<model>/<dataset>/<target>/<source-id>.png + outputs.csv + generator.json
    results/records/<model>/<dataset>.parquet    one row per output image
    results/metrics/<model>/<dataset>.json       aggregated, DVC metrics
      (one folder per model: one DVC stage evaluates a model on every dataset)
    results/tables/, results/figures/ (PNG), results/pdf/ (PDF)   written by the report
    results/weights/<group>.json                 the weights lock (bench weights lock)
    results/sources/<model>.json                 the code each model is made of (bench sources)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _root(params: dict[str, Any], key: str) -> Path:
    return Path(params["paths"][key])


def dataset_dir(params: dict[str, Any], dataset: str) -> Path:
    """Prepared dataset folder."""
    return _root(params, "data") / dataset


def checkpoint_path(params: dict[str, Any], model: str, dataset: str | None = None) -> Path:
    """Checkpoint of ``model`` trained on the params' training dataset.

    ``dataset``: the folder key for models adapted per evaluation dataset
    (``checkpoints/dai2i/<dataset>/model.pt``); default the training dataset.
    """
    return _root(params, "checkpoints") / model / (dataset or params["train_dataset"]) / "model.pt"


def classifier_path(params: dict[str, Any]) -> Path:
    """The ECS classifier trained on the params' training dataset."""
    return _root(params, "checkpoints") / "ecs_classifier" / params["train_dataset"] / "resnet18.pt"


def outputs_dir(params: dict[str, Any], model: str, dataset: str) -> Path:
    """Generated images of ``model`` over ``dataset``."""
    return _root(params, "outputs") / model / dataset


def records_path(params: dict[str, Any], model: str, dataset: str) -> Path:
    """Per-image metric records."""
    return _root(params, "results") / "records" / model / f"{dataset}.parquet"


def metrics_path(params: dict[str, Any], model: str, dataset: str) -> Path:
    """Aggregated metrics JSON (declared as DVC metrics)."""
    return _root(params, "results") / "metrics" / model / f"{dataset}.json"


def tables_dir(params: dict[str, Any]) -> Path:
    return _root(params, "results") / "tables"


def figures_dir(params: dict[str, Any]) -> Path:
    return _root(params, "results") / "figures"


def pdf_dir(params: dict[str, Any]) -> Path:
    return _root(params, "results") / "pdf"


def weights_lock_dir(params: dict[str, Any]) -> Path:
    """Lock files of the pretrained weights the pipeline uses (one per group)."""
    return _root(params, "results") / "weights"


def sources_dir(params: dict[str, Any]) -> Path:
    """sha256 of the code each model is made of (one file per model, ``bench sources``)."""
    return _root(params, "results") / "sources"
