"""``bench score``: score a folder of outputs as a row of a dataset's comparison, or two plain
folders against each other (:mod:`bench.score`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import (
    DeviceOpt,
    ParamsOpt,
    ProfileOpt,
    SetOpt,
    chosen_device,
    load_config_from,
)
from bench.core.errors import UserError
from bench.core.progress import console


def _say(text: str) -> None:
    """One line, never wrapped (the two-folder mode's lines are read by scripts too)."""
    console.print(text, highlight=False, soft_wrap=True)


def _format(value: float | None) -> str:
    return (
        "n/a (fewer than 2 images)" if value is None or not math.isfinite(value) else f"{value:.6f}"
    )


def score_command(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="outputs laid out as <target-expression>/<source-image-id>.png "
            "(as outputs/<model>/<dataset>/)"
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="the prepared dataset they translate")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="the row's name in the tables (not a model's)")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="CSV file,source_id,target_expression mapping each file (relative to FOLDER)"
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="score the (source, target) pairs present; n shows"),
    ] = False,
    resize: Annotated[
        bool,
        typer.Option("--resize", help="resize images of another size (PIL bicubic; in provenance)"),
    ] = False,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="rebuild the tables and report after")
    ] = True,
    real: Annotated[
        Path | None, typer.Option("--real", help="two-folder mode: the real images")
    ] = None,
    fake: Annotated[
        Path | None, typer.Option("--fake", help="two-folder mode: the generated images")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(help="two-folder mode: fid,kid,qualiclip (default: all three)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="two-folder mode: print the result as JSON")
    ] = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Score outputs made anywhere: no training, no plugin.

    `bench score FOLDER --dataset D --name NAME` scores the folder against the prepared dataset
    D with every configured metric and adds NAME as a row of D's comparison (marked §, the
    folder's content sha256 in the footnote and provenance); unchanged, it is not scored again.
    `bench score --real DIR1 --fake DIR2` prints FID, KID (as clean-fid computes them) and the
    fake folder's mean QualiCLIP.
    """
    from bench import fingerprint, score

    if real is not None or fake is not None:
        if real is None or fake is None or folder is not None or dataset or name:
            raise UserError(
                "two-folder mode takes --real DIR1 --fake DIR2 and no FOLDER/--dataset/--name"
            )
        chosen = score.parse_set_metrics(metrics)
        config = load_config_from(params_file, profile, sets)
        result = score.score_folders(config, real, fake, chosen, chosen_device(config, device))
        if as_json:
            typer.echo(json.dumps(result, indent=2, sort_keys=True))
            return
        _say(f"real: {real} ({result['real_images']} images)")
        _say(f"fake: {fake} ({result['fake_images']} images)")
        for metric in chosen:
            if metric in result["missing"]:
                _say(f"{metric}: missing ({result['missing'][metric]})")
            else:
                _say(f"{metric}: {_format(result['metrics'][metric])}")
        return
    if folder is None or not dataset or not name:
        raise UserError(
            "give FOLDER --dataset D --name NAME (a folder as a row), or --real DIR1 --fake DIR2"
        )
    if metrics or as_json:
        raise UserError("--metrics and --json belong to the two-folder mode (--real/--fake)")
    config = load_config_from(params_file, profile, sets)
    records, reused = score.score_folder(
        config,
        folder,
        dataset,
        name,
        chosen_device(config, device),
        mapping=mapping,
        allow_missing=allow_missing,
        resize=resize,
    )
    state = "unchanged folder, records reused" if reused else "scored"
    _say(f"{name} on {dataset}: {state}: {records}")
    if dataset not in config.eval_datasets:
        _say(f"note: {dataset} is not in eval_datasets: the report leaves it out")
    if report and not (reused and fingerprint.report_mismatch(config) is None):
        from bench.report import report as write_report
        from bench.report.scope import current_scope

        try:
            scope = current_scope(config, [], [])
        except UserError as error:  # the row is scored; the report waits for the models
            _say(f"report not rebuilt: {error}")
        else:
            write_report(config, *scope)
