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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.config import Config


def _root(config: Config, key: str) -> Path:
    return config.root(key)


def check_dataset_name(name: str) -> str:
    """``name`` if it is a safe dataset name (a folder under data/, never a path); else a
    one-line :class:`~bench.core.errors.UserError`. The schema checks params.yaml's names with
    the same pattern; this checks those from the command line."""
    import re

    from bench.config.schema import DATASET_NAME
    from bench.core.errors import UserError

    if not re.fullmatch(DATASET_NAME, name):
        raise UserError(
            f"dataset name {name!r}: use letters, digits, '_' or '-' (starting with a letter or "
            "digit), no path parts"
        )
    return name


def dataset_dir(config: Config, dataset: str) -> Path:
    """Prepared dataset folder (the name is checked: never a path outside data/)."""
    return _root(config, "data") / check_dataset_name(dataset)


def checkpoint_path(config: Config, model: str, dataset: str | None = None) -> Path:
    """Checkpoint of ``model`` trained on the configuration's training dataset.

    ``dataset``: the folder key for models adapted per evaluation dataset
    (``checkpoints/dai2i/<dataset>/model.pt``); default the training dataset.
    """
    return _root(config, "checkpoints") / model / (dataset or config.train_dataset) / "model.pt"


def classifier_path(config: Config) -> Path:
    """The ECS classifier trained on the configuration's training dataset."""
    return _root(config, "checkpoints") / "ecs_classifier" / config.train_dataset / "resnet18.pt"


def outputs_dir(config: Config, model: str, dataset: str) -> Path:
    """Generated images of ``model`` over ``dataset``."""
    return _root(config, "outputs") / model / dataset


def records_path(config: Config, model: str, dataset: str) -> Path:
    """Per-image metric records."""
    return _root(config, "results") / "records" / model / f"{dataset}.parquet"


def metrics_path(config: Config, model: str, dataset: str) -> Path:
    """Aggregated metrics JSON (declared as DVC metrics)."""
    return _root(config, "results") / "metrics" / model / f"{dataset}.json"


def tables_dir(config: Config) -> Path:
    return _root(config, "results") / "tables"


def figures_dir(config: Config) -> Path:
    return _root(config, "results") / "figures"


def pdf_dir(config: Config) -> Path:
    return _root(config, "results") / "pdf"


def weights_lock_dir(config: Config) -> Path:
    """Lock files of the pretrained weights the pipeline uses (one per group)."""
    return _root(config, "results") / "weights"


def sources_dir(config: Config) -> Path:
    """sha256 of the code each model is made of (one file per model, ``bench sources``)."""
    return _root(config, "results") / "sources"
