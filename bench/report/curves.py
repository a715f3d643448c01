"""Training curves: each training or adaptation run's ``history.csv`` (written beside its
checkpoint by :class:`bench.trainer.History`: ``step``, each loss as the mean since the
previous row, ``lr_<optimizer>``, ``s_per_step``) drawn against the step, one panel per loss
(each on its own scale: a gradient penalty and a classification loss differ by orders of
magnitude) and one for the learning rates.

A model that is fitted in closed form (MR), the reference (identity), an imported generator
and a ``bench score`` row have no history and no figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench import layout  # noqa: E402
from bench.core.errors import UserError  # noqa: E402
from bench.trainer import HISTORY_FILE  # noqa: E402

if TYPE_CHECKING:
    from bench.config import Config

NOT_LOSSES = ("step", "s_per_step")
"""Columns of a history that are neither losses nor learning rates."""


def history_runs(config: Config, models: list[str]) -> list[tuple[str, Path]]:
    """``(label, history.csv)`` of every run of ``models`` that has one: the training run on
    the training set (``stargan/synthetic``, or ``stargan/seed1/synthetic`` with several
    seeds) and each per-dataset adaptation (``dai2i/synthetic_statue``), in model, seed and
    dataset order."""
    root = config.root("checkpoints")
    found: dict[Path, str] = {}
    for model in models:
        for seed in layout.run_seeds(config, model):
            run = config.for_seed(seed)
            for dataset in dict.fromkeys([config.train_dataset, *config.eval_datasets]):
                path = layout.checkpoint_path(run, model, dataset).parent / HISTORY_FILE
                if path.is_file() and path not in found:
                    found[path] = path.parent.relative_to(root).as_posix()
    return [(label, path) for path, label in found.items()]


def read_history(path: Path) -> pd.DataFrame:
    """A ``history.csv`` as numbers; a file without a ``step`` column or rows is a one-line
    error naming it."""
    try:
        history = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not a training history ({error})") from None
    if "step" not in history or history.empty:
        raise UserError(f"{path}: not a training history (no `step` column or no rows)")
    return history.apply(pd.to_numeric, errors="coerce")


def curves_figure(history: pd.DataFrame, label: str) -> plt.Figure:
    """One panel per loss column (x: training step, y: the loss, its own scale) and a last
    panel with the learning rates (``lr_*``), four panels to a row."""
    rates = [c for c in history if c.startswith("lr_")]
    losses = [c for c in history if c not in NOT_LOSSES and c not in rates]
    panels = [*losses, *(["learning rate"] if rates else [])]
    if not panels:
        raise UserError(f"{label}: the training history has no loss or learning-rate column")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows + 0.5), squeeze=False
    )
    for axis, panel in zip(axes.flat, panels, strict=False):
        if panel == "learning rate":
            for rate in rates:
                axis.plot(history["step"], history[rate], label=rate.removeprefix("lr_"))
            axis.legend(fontsize="small", frameon=False)
            axis.set_ylabel("learning rate")
        else:
            axis.plot(history["step"], history[panel], linewidth=1.2)
            axis.set_ylabel("loss (mean since last point)")
        axis.set_title(panel, fontsize="medium")
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    every = history["step"].diff().median()
    cadence = f", a point every {every:.0f} steps" if math.isfinite(every) else ""
    figure.suptitle(f"{label}: training losses and learning rates{cadence}")
    figure.tight_layout()
    return figure
