"""The ``bench`` command line: prepare data, train, synthesize, evaluate, report, or all at once.

Every command reads ``params.yaml`` (``--params``, or ``$FES_BENCH_PARAMS``) with
the profile it names (``--profile`` overrides) and ``--set key.path=value`` overrides,
validated once into a :class:`bench.config.Config`. User mistakes (a bad setting
included) exit with code 2 and a one-line reason; ``bench <command> --help``
explains each command.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bench.commands.listing import JsonFlag, print_rows
from bench.commands.options import (
    DataSeedOpt,
    DeviceOpt,
    ParamsOpt,
    ProfileOpt,
    SeedOpt,
    SetOpt,
    data_run_config,
    load_config_from,
    run_config,
)
from bench.core.errors import DISK_ERRNOS, UserError, disk_error_line
from bench.core.progress import console

if TYPE_CHECKING:
    from bench.config import Config

app = typer.Typer(
    help=(
        "fes-bench: train, run and score facial expression synthesis models on the same data, "
        "then write paper-style tables and figures into results/.\n\n"
        "Every command reads params.yaml (--params, or $FES_BENCH_PARAMS), its profile "
        "(--profile smoke|paper) and overrides (--set training.steps.reggan=50, repeatable). "
        "User mistakes exit with code 2 and a one-line reason."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Prepare datasets into data/<name>/ (aligned PNGs + manifest.csv).", no_args_is_help=True
)
app.add_typer(data_app, name="data")

StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict", help="a metric whose weights are missing is an error, not a 'missing' cell"
    ),
]


class Launcher(StrEnum):
    """Where ``bench run`` runs the stages (:mod:`bench.launch`)."""

    none = "none"
    local = "local"
    slurm = "slurm"


def _model_key(name: str) -> str:
    """A model name or ``package.module:Class`` -> its registry key (folder and table name)."""
    from models.registry import MODELS

    return MODELS.check(name)


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="model name (see `bench models`) or an importable package.module:Class",
        callback=_model_key,
    ),
]
DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="prepared dataset name under data/")
]


def _device(config: Config, device: str | None):
    """``--device`` or the configuration's; on the CPU, deterministic algorithms."""
    from bench.core.device import work_device

    return work_device(device or config.device)


def _mount_subcommands() -> None:
    """Attach the commands that live in bench/commands/ (weights, classifier, study, import, perf)."""
    from bench.commands import (
        classifier,
        import_,
        jobs,
        perf,
        perf_baselines,
        perf_models,
        perf_train,
        score,
        stages,
        study,
        weights,
    )

    app.add_typer(
        weights.app, name="weights", help="Pretrained evaluator files: list | pull | verify."
    )
    app.add_typer(classifier.app, name="classifier")
    app.add_typer(stages.app, name="stages")
    app.add_typer(study.app, name="study")
    app.command("import")(import_.import_command)
    perf_app = typer.Typer(
        help="Speed and memory benchmarks: metrics, the expression layer, baselines, training.",
        no_args_is_help=True,
    )
    for group in (perf, perf_models, perf_baselines, perf_train):
        perf_app.registered_commands += group.app.registered_commands
    app.add_typer(perf_app, name="perf")
    app.command("score")(score.score_command)
    app.command("jobs")(jobs.jobs_command)


_mount_subcommands()


def _print_version(value: bool) -> None:
    if value:
        from bench import __version__

        typer.echo(f"fes-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="when another bench command is writing this project (results/.bench.lock), "
            "wait up to SECONDS for it instead of exiting with code 2 (also $FES_BENCH_WAIT)",
        ),
    ] = None,
) -> None:
    """fes-bench: one writing command at a time per project (see --wait)."""
    from bench.core import lock

    lock.wait_seconds = wait


@app.command("models")
def models_command(as_json: JsonFlag = False) -> None:
    """List the registered models (table rows), whether they need training and where each comes from
    (built-in, entry point of an installed package, or ad hoc package.module:Class). Printed to
    stdout: a table on a terminal, tab-separated when piped, JSON with --json."""
    from models.registry import MODELS

    rows = []
    for name in MODELS.names():
        cls = MODELS.load(name)
        if cls.adapts_per_dataset:
            training = "bench adapt (per dataset)"
        else:
            training = "bench train" if cls.trainable else "none"
        summary = (cls.__doc__ or "").strip().splitlines() or [""]
        rows.append(
            {
                "model": name,
                "training": training,
                "source": MODELS.origin(name),
                "description": summary[0],
            }
        )
    print_rows(rows, ["model", "training", "source", "description"], as_json)


@app.command("metrics")
def metrics_command(as_json: JsonFlag = False) -> None:
    """List the registered metrics with their columns, direction, range and where each comes from
    (stdout: a table on a terminal, tab-separated when piped, JSON with --json)."""
    from metrics.registry import METRICS

    rows = [
        {
            "metric": name,
            "source": METRICS.origin(name),
            "column": column.name,
            "better": "higher" if column.higher_is_better else "lower",
            "range": str(column.value_range),
            "description": column.description,
        }
        for name in METRICS.names()
        for column in METRICS.load(name).all_columns()
    ]
    print_rows(rows, ["metric", "source", "column", "better", "range", "description"], as_json)


@data_app.command("prepare")
def data_prepare(
    specs: Annotated[
        list[str] | None, typer.Argument(help="dataset specs from params (default: all)")
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    seed: DataSeedOpt = None,
) -> None:
    """Prepare every dataset declared under `datasets:` in params (the DVC `data` stage; with
    `seed_data: per_seed`, `--seed K` prepares seed K's data under data/seed<K>/)."""
    from bench.data import prepare

    config = data_run_config(load_config_from(params_file, profile, sets), seed)
    for root in prepare(config, specs):
        console.print(f"prepared {root}")


@data_app.command("synthetic")
def data_synthetic(
    out: Annotated[Path, typer.Option(help="parent folder of the dataset folders")] = Path("data"),
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    image_size: Annotated[int, typer.Option(help="side in pixels")] = 64,
    train_subjects: int = 24,
    test_subjects: int = 8,
    ood_subjects: int = 4,
) -> None:
    """Write the embedded synthetic face set (train/test + one OOD set per style) without params."""
    from bench.core.progress import progress_bar
    from datasets.synthetic import STYLES, generate

    total = (train_subjects + test_subjects + ood_subjects * len(STYLES)) * 7
    with progress_bar("synthetic faces", total) as advance:
        roots = generate(
            out,
            seed=seed,
            image_size=image_size,
            train_subjects=train_subjects,
            test_subjects=test_subjects,
            ood_subjects=ood_subjects,
            progress=advance,
        )
    for root in roots:
        console.print(f"prepared {root}")


@data_app.command("cfee")
def data_cfee(
    root: Annotated[Path, typer.Argument(help="your copy of CFEE_Database_230")],
    out: Annotated[Path, typer.Option(help="output dataset folder")] = Path("data/cfee"),
    image_size: int = 128,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> None:
    """Ingest CFEE from its distributed layout: detect, align on the eyes, crop, split by subject."""
    from bench.core.progress import progress_bar
    from datasets.cfee import ingest_cfee

    with progress_bar("CFEE ingest", None) as advance:
        summary = ingest_cfee(
            root,
            out,
            image_size=image_size,
            test_fraction=test_fraction,
            seed=seed,
            progress=advance,
        )
    _print_summary(summary)


@data_app.command("folder")
def data_folder(
    src: Annotated[Path, typer.Argument(help="folder of face photos (searched recursively)")],
    name: Annotated[str, typer.Option(help="dataset name; written to data/<name>")],
    declare: Annotated[
        bool,
        typer.Option(
            help="record the set in params.yaml (datasets + eval_datasets) so that `bench run` "
            "and `dvc repro` include it"
        ),
    ] = True,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="ingest over an existing set of that name (a folder set only)"
        ),
    ] = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Ingest any folder of photos as an OOD set at the profile's image size and declare it.

    Pulls the face aligner's weights first. All or nothing: the set is ingested into a
    staging folder, swapped into data/<name> when complete, and only then declared in
    params.yaml. Every file (a skipped one with its reason, e.g. a symlink out of the
    folder) is listed in data/<name>/ingest_report.csv. Then `bench run --datasets <name>`
    runs every model on it.
    """
    from bench import layout
    from bench.config import params_path, updated
    from bench.data import declare_folder_dataset, prepare

    layout.check_dataset_name(name)
    if not src.expanduser().is_dir():
        raise UserError(f"{src} is not a folder of photos")
    config = load_config_from(params_file, profile, sets)
    declared = config.declared_datasets().get(name)
    folder = layout.dataset_dir(config, name)
    if declared and (declared[0] != name or config.datasets[name].kind != "folder"):
        raise UserError(
            f"dataset {name!r} is made by the {declared[0]!r} spec of params.yaml; "
            "choose another --name"
        )
    if (declared or folder.exists()) and not replace:
        where = "declared in params.yaml" if declared else f"{folder} exists"
        raise UserError(
            f"dataset {name!r} already exists ({where}); choose another --name, "
            "or pass --replace to ingest over it"
        )
    root = str(src.expanduser().resolve())
    staged = updated(config, {f"datasets.{name}": {"kind": "folder", "root": root}})
    try:
        prepare(staged, [name])
    except OSError as error:
        if error.errno in DISK_ERRNOS:
            raise  # a full disk or a read-only folder: main() names it, exit code 1
        where = error.filename or config.root("data")
        raise UserError(f"cannot write the dataset at {where}: {error.strerror}") from error
    console.print(f"prepared {folder}")
    if declare:
        path = params_path(params_file)
        if declare_folder_dataset(path, name, Path(root), replace=replace):
            console.print(f"declared {name} in {path} (datasets.{name}, eval_datasets)")
        console.print(f"next: bench run --datasets {name}")


def _print_summary(summary: Any) -> None:
    reasons = ", ".join(f"{k}: {v}" for k, v in summary.reasons.items()) or "none"
    console.print(
        f"{summary.out}: {summary.ingested} ingested, {summary.skipped} skipped ({reasons})"
    )
    console.print(f"per-file report: {summary.report_path}")
    for note in getattr(summary, "notes", ()) or ():
        console.print(f"note: {note}")


@data_app.command("contact-sheet")
def data_contact_sheet(
    dataset: Annotated[str, typer.Argument(help="prepared dataset name under data/")],
    out: Annotated[
        Path | None, typer.Option(help="PNG path (default results/figures/contact_<name>.png)")
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Draw a subjects x expressions grid of a prepared dataset, to eyeball it."""
    from bench import layout
    from datasets.synthetic import contact_sheet

    config = load_config_from(params_file, profile, sets)
    target = out or layout.figures_dir(config) / f"contact_{dataset}.png"
    contact_sheet(layout.dataset_dir(config, dataset), target)
    console.print(f"wrote {target}")


@app.command("sources")
def sources_command(
    params_file: ParamsOpt = None, profile: ProfileOpt = None, sets: SetOpt = None
) -> None:
    """Write results/sources/<model>.json for every configured model: the sha256 of each module
    of its code (its import closure, plugins included). The DVC train and adapt stages depend
    on these files, so a model retrains exactly when its code changes."""
    from bench.sources import write_sources

    config = load_config_from(params_file, profile, sets)
    for path in write_sources(config):
        console.print(f"sources: {path}")


@app.command("train")
def train_command(
    model: ModelOpt,
    fresh: Annotated[
        bool, typer.Option(help="discard the saved training state and start from step 0")
    ] = False,
    seed: SeedOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Train one model on the params' training dataset; resumes from the last checkpoint.

    Writes checkpoints/<model>/<dataset>/model.pt (and train_state.pt for resuming; with
    several seeds checkpoints/<model>/seed<k>/...). For several GPUs:
    torchrun --nproc_per_node N -m bench.cli train --model M.
    """
    from bench.train import train
    from bench.weights_lock import pull_assets

    config = run_config(load_config_from(params_file, profile, sets), model, seed)
    pull_assets(config, ["models"], models=[model])
    console.print(f"checkpoint: {train(config, model, _device(config, device), fresh=fresh)}")


@app.command("adapt")
def adapt_command(
    model: ModelOpt,
    dataset: DatasetOpt,
    fresh: Annotated[
        bool, typer.Option(help="discard the saved training state and start from step 0")
    ] = False,
    seed: SeedOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Adapt a domain-adaptive model (dai2i) to one dataset with its unlabelled images.

    Needs the trained base translator (`bench train --model stargan`). Writes
    checkpoints/<model>/<dataset>/model.pt; resumes from its train_state.pt. On the
    training dataset itself nothing is adapted: the checkpoint is the base translator.
    """
    from bench.adapt import adapt
    from bench.weights_lock import pull_assets

    config = run_config(load_config_from(params_file, profile, sets), model, seed)
    pull_assets(config, ["models"], models=[model])
    path = adapt(config, model, dataset, _device(config, device), fresh=fresh)
    console.print(f"checkpoint: {path}")


@app.command("synthesize")
def synthesize_command(
    model: ModelOpt,
    dataset: DatasetOpt,
    seed: SeedOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Translate every neutral test face of a dataset to every target expression."""
    from bench.synthesize import synthesize
    from bench.weights_lock import pull_assets

    config = run_config(load_config_from(params_file, profile, sets), model, seed)
    pull_assets(config, ["models"], models=[model])
    console.print(f"outputs: {synthesize(config, model, dataset, _device(config, device))}")


@app.command("evaluate")
def evaluate_command(
    model: ModelOpt,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="prepared dataset(s) under data/, comma-separated (default: eval_datasets)",
        ),
    ] = None,
    synthesize: Annotated[
        bool,
        typer.Option(
            "--synthesize", help="translate each dataset first (`bench synthesize`), same process"
        ),
    ] = False,
    strict: StrictOpt = False,
    seed: SeedOpt = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Score a model's outputs on one or more datasets with every metric in params (one row per
    image). The metrics load once for all the datasets; each result equals scoring it alone.
    Example (what each DVC evaluate stage runs): `bench evaluate --model reggan --synthesize`."""
    from bench.data import check_dataset_names
    from bench.evaluate import evaluate_datasets
    from bench.weights_lock import pull_assets

    config = run_config(load_config_from(params_file, profile, sets), model, seed)
    pull_assets(config, ["models", "metrics"] if synthesize else ["metrics"], models=[model])
    datasets = check_dataset_names(config, dataset or config.eval_datasets)
    paths = evaluate_datasets(
        config,
        model,
        datasets,
        _device(config, device),
        strict=strict or None,
        synthesize_first=synthesize,
    )
    for path in paths:
        console.print(f"records: {path}")


@app.command("report")
def report_command(
    models: Annotated[
        str | None, typer.Option(help="comma-separated models (default: params)")
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="comma-separated datasets (default: params)")
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the comparison tables (CSV, Markdown, LaTeX), figures and results/report.html.

    Without --models/--datasets it covers every current record on disk (made under this
    profile by each model's current checkpoint) and names what it leaves out."""
    from bench.data import check_dataset_names
    from bench.report import report
    from bench.report.scope import current_scope
    from models.registry import MODELS

    config = load_config_from(params_file, profile, sets)
    if models or datasets:
        chosen_models = MODELS.parse(models) if models else current_scope(config, [], [])[0]
        chosen_datasets = check_dataset_names(config, datasets or config.eval_datasets)
        report(config, chosen_models, chosen_datasets)
    else:
        report(config, *current_scope(config, [], []))
    print_outcome(config)


@app.command("run")
def run_command(
    models: Annotated[
        str | None, typer.Option(help="comma-separated models (default: params)")
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="comma-separated datasets (default: params)")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="comma-separated metrics (default: params), names or package.module:Class"
        ),
    ] = None,
    retrain: Annotated[bool, typer.Option(help="train even where a checkpoint exists")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="print each stage that would run and why (the setting or file that changed); "
            "run nothing",
        ),
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="do not download weights (also $FES_BENCH_OFFLINE=1); use the cache"
        ),
    ] = False,
    strict: StrictOpt = False,
    launcher: Annotated[
        Launcher,
        typer.Option(
            "--launcher",
            help="none: every stage in this process; slurm: one Slurm job per stage with the "
            "pipeline's dependencies (returns once submitted); local: one process per stage on "
            "this machine, one GPU each (waits). Settings under launcher: in params",
        ),
    ] = Launcher.none,
    wait_jobs: Annotated[
        bool,
        typer.Option(
            "--wait", help="--launcher slurm: follow the jobs to the end, showing their states"
        ),
    ] = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Everything for the chosen models x datasets: pull the weights, prepare data and train where
    nothing current exists (fingerprints), synthesize, evaluate, report every current record.
    Example: `bench run --models identity --datasets synthetic`.

    Models and metrics from other packages: an installed package's entry points (groups
    fes_bench.models, fes_bench.metrics) by name, or any importable class as
    `--models my_package.my_module:MyGenerator` (its table row and folder name is
    my_package.my_module.MyGenerator)."""
    import bench.run
    from bench.config import updated
    from bench.weights_lock import offline_from_env
    from metrics.registry import METRICS

    config = load_config_from(params_file, profile, sets, writes=not dry_run)
    changes: dict[str, Any] = {}
    if metrics:
        changes["metrics"] = METRICS.parse(metrics)
    if strict:
        changes["evaluation.strict"] = True
    if changes:
        config = updated(config, changes)
    if dry_run:
        stale = bench.run.dry_run(config, models, datasets, retrain=retrain)
        for stage, why in stale.items():
            console.print(f"{stage}: would run ({why})", highlight=False, soft_wrap=True)
        if not stale:
            console.print("nothing would run: every stage is current")
        return
    if launcher != Launcher.none:
        from bench.launch import launch

        outcome = launch(
            config,
            models,
            datasets,
            retrain=retrain,
            device=device or config.device,
            launcher=launcher.value,
            wait=wait_jobs,
            offline=offline or offline_from_env(),
        )
        if outcome is False:
            raise typer.Exit(1)
        if outcome:
            print_outcome(config)
        return
    if wait_jobs:
        raise UserError(
            "--wait follows the jobs of --launcher slurm; without a launcher "
            "`bench run` runs every stage itself"
        )
    bench.run.run(
        config,
        models,
        datasets,
        retrain=retrain,
        device=_device(config, device),
        offline=offline or offline_from_env(),
    )
    print_outcome(config)


def print_outcome(config: Config) -> None:
    """The first dataset's comparison table (Markdown, stdout) and where the report is."""
    from bench.report.glance import first_table

    table = first_table(config)
    if table:
        typer.echo(table)
    console.print(f"report: {config.root('results') / 'report.html'}", highlight=False)


def passive_openmp() -> None:
    """Let idle OpenMP threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.

    Must run before torch loads (the CLI imports torch lazily, inside the commands). Busy-waiting
    threads halve the speed when another process shares the cores (0.67 vs 0.30 s per conv
    training step on 2 cores) and gain about 10% on idle cores.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2; a
    full disk or a read-only or forbidden folder one line naming the path and exit code 1."""
    passive_openmp()
    try:
        app()
    except UserError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as error:
        line = disk_error_line(error)
        if line is None:
            raise
        console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
