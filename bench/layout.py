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

With several ``seeds``, a model trained per seed (:func:`runs_per_seed`: kind trained or
adapted) has one *run* per seed, and its folders get a seed level after the model's name:
``checkpoints/<model>/seed<k>/<dataset>/``, ``outputs/<model>/seed<k>/<dataset>/``,
``results/records/<model>/seed<k>/``, ``results/metrics/<model>/seed<k>/``; the run is the
configuration's :attr:`~bench.config.Config.run_seed` (``config.for_seed(k)``). Reference and
fitted models, ``bench score`` rows, and every model under one seed keep the folders above.

With ``seed_data: per_seed`` (and several seeds) the data and the ECS classifier are made
once per seed too (:attr:`~bench.config.Config.data_per_seed`): ``data/seed<k>/<dataset>/``,
``checkpoints/ecs_classifier/seed<k>/<train-dataset>/``, and every model has one run per seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.config import Config


SEEDED_KINDS = ("trained", "adapted")
"""Model kinds trained once per seed (:attr:`models.base.Generator.kind`)."""


def _root(config: Config, key: str) -> Path:
    return config.root(key)


def runs_per_seed(config: Config, model: str) -> bool:
    """True when ``model`` has one run per seed: several ``seeds`` and a model the harness
    trains (kind trained or adapted), or any model when the data is made per seed
    (``seed_data: per_seed``); never a ``bench score`` row."""
    if len(config.seeds) < 2:
        return False
    from bench.factory import kind_of
    from models.registry import MODELS

    if model not in MODELS:  # a `bench score` row
        return False
    return config.data_per_seed or kind_of(model) in SEEDED_KINDS


def run_seeds(config: Config, model: str) -> list[int]:
    """The seeds ``model`` runs under: every seed if it trains per seed, else the first."""
    return list(config.seeds) if runs_per_seed(config, model) else [config.seed]


def training_seed(config: Config, model: str) -> int:
    """The seed ``model`` trains with in this configuration's run (the first seed for models
    with one run)."""
    return config.run_seed if runs_per_seed(config, model) else config.seed


def run_dir(config: Config, model: str) -> str:
    """``model``'s folder name under each root: ``<model>`` or, trained per seed,
    ``<model>/seed<k>`` for the configuration's run."""
    return f"{model}/seed{config.run_seed}" if runs_per_seed(config, model) else model


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


def data_dir(config: Config) -> Path:
    """The prepared datasets' folder: ``data/``, or ``data/seed<k>/`` for the run's seed when
    the data is made per seed."""
    root = _root(config, "data")
    return root / f"seed{config.run_seed}" if config.data_per_seed else root


def dataset_dir(config: Config, dataset: str) -> Path:
    """Prepared dataset folder (the name is checked: never a path outside data/)."""
    return data_dir(config) / check_dataset_name(dataset)


def checkpoint_path(config: Config, model: str, dataset: str | None = None) -> Path:
    """Checkpoint of ``model`` trained on the configuration's training dataset.

    ``dataset``: the folder key for models adapted per evaluation dataset
    (``checkpoints/dai2i/<dataset>/model.pt``); default the training dataset.
    """
    folder = _root(config, "checkpoints") / run_dir(config, model)
    return folder / (dataset or config.train_dataset) / "model.pt"


def classifier_path(config: Config) -> Path:
    """The ECS classifier trained on the configuration's training dataset (the run's seed's,
    ``ecs_classifier/seed<k>/...``, when the data is made per seed)."""
    folder = _root(config, "checkpoints") / "ecs_classifier"
    if config.data_per_seed:
        folder = folder / f"seed{config.run_seed}"
    return folder / config.train_dataset / "resnet18.pt"


def outputs_dir(config: Config, model: str, dataset: str) -> Path:
    """Generated images of ``model`` over ``dataset``."""
    return _root(config, "outputs") / run_dir(config, model) / dataset


def records_path(config: Config, model: str, dataset: str) -> Path:
    """Per-image metric records."""
    return _root(config, "results") / "records" / run_dir(config, model) / f"{dataset}.parquet"


def metrics_path(config: Config, model: str, dataset: str) -> Path:
    """Aggregated metrics JSON (declared as DVC metrics)."""
    return _root(config, "results") / "metrics" / run_dir(config, model) / f"{dataset}.json"


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
