"""Command-line options shared by every ``bench`` command (one definition, one help text), and
the one way a command loads its configuration from them (:func:`load_config_from`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import torch

    from bench.config import Config

ParamsOpt = Annotated[
    Path | None, typer.Option("--params", help="params file (default ./params.yaml)")
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="profile to use: smoke | paper")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help=(
            "override one setting of the params file, e.g. --set training.steps.reggan=50 "
            "(value in YAML syntax; repeatable; checked like the file, recorded in provenance)"
        ),
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto | cpu | cuda (default: params)")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="the run's training seed, one of params' `seeds` (default: the first); with "
        "several seeds each trained or adapted model has one run per seed",
    ),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="also write the results as JSON")]


def load_config_from(
    params_file: Path | None,
    profile: str | None,
    sets: list[str] | None = None,
    *,
    writes: bool = True,
) -> Config:
    """The validated configuration of ``--params``, ``--profile`` and ``--set`` (a mistake is a
    one-line :class:`~bench.core.errors.UserError`: exit 2).

    A command that ``writes`` (the default) also takes the project lock
    (:mod:`bench.core.lock`) until it ends: a second writing command waits (``bench --wait``)
    or exits 2 naming the holder; so it does while jobs of a ``bench run --launcher`` are in
    flight (:mod:`bench.launch.record`). Only inside a command line: the Python API takes no lock."""
    from bench.config import load_config

    config = load_config(params_file, profile, tuple(sets or ()))
    context = _current_context()
    if writes and context is not None:
        from bench.core import lock
        from bench.core.progress import console
        from bench.launch.record import wait_idle

        path = lock.acquire(config.root("results"), say=console.print)
        context.call_on_close(lambda: lock.release(path))
        wait_idle(config, lock.wait_limit(), say=console.print)  # jobs of a launch in flight
    return config


def run_config(config: Config, model: str, seed: int | None) -> Config:
    """``config`` for ``model``'s run with training seed ``seed`` (None: the first); a one-line
    error for a seed not in ``seeds``, or another than the first for a model with one run."""
    from bench import layout

    return _seed_run(
        config,
        seed,
        layout.runs_per_seed(config, model),
        f"{model} has one run (only models trained step by step or adapted train once per "
        "seed, and only with several seeds): leave --seed out",
    )


def _seed_run(config: Config, seed: int | None, per_seed: bool, one_run: str) -> Config:
    """``config.for_seed(seed)`` (None: ``config``); ``--seed K: <one_run>`` (exit 2) for a
    seed other than the first when there is one run (not ``per_seed``)."""
    from bench.core.errors import UserError

    if seed is None:
        return config
    run = config.for_seed(seed)
    if seed != config.seed and not per_seed:
        raise UserError(f"--seed {seed}: {one_run}")
    return run


DataSeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="the data run's seed, one of params' `seeds` (default: the first); only with "
        "`seed_data: per_seed`, where each seed has its own data and ECS classifier",
    ),
]


def data_run_config(config: Config, seed: int | None) -> Config:
    """``config`` for the data run of seed ``seed`` (None: the first); a one-line error for a
    seed not in ``seeds``, or another than the first when the data is made once."""
    return _seed_run(
        config,
        seed,
        config.data_per_seed,
        "the data and the ECS classifier are made once, with the first seed (params "
        "`seed_data: first`): leave --seed out, or set seed_data: per_seed",
    )


def _current_context():
    """The running command's click context (None outside a command line); typer vendors click
    since 0.20 (``typer._click``)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # an older typer on plain click
        from click import get_current_context
    return get_current_context(silent=True)


def chosen_device(config: Config, device: str | None) -> torch.device:
    """``--device``, else the configuration's ``device``, as a torch device."""
    from bench.core.device import resolve_device

    return resolve_device(device or config.device)
