"""``bench study``: make the human-study kit from the synthesized outputs, analyze the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import ParamsOpt, ProfileOpt, SetOpt, load_config_from
from bench.core.progress import console

app = typer.Typer(
    help="Human study: a static pairwise-preference page set and the analysis of its answers.",
    no_args_is_help=True,
)


@app.command("make")
def make_command(
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated models to compare (default: the configured table)"),
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="comma-separated datasets (default: eval_datasets)")
    ] = None,
    criteria: Annotated[
        str, typer.Option(help="comma-separated: expression, identity, realism")
    ] = "expression,identity,realism",
    trials: Annotated[
        int, typer.Option(help="model-vs-model trials per criterion (plus 2 attention checks)")
    ] = 20,
    seed: Annotated[
        int | None, typer.Option(help="kit seed (default: the configured seed)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="kit folder (default results/study/kit)")] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="answer key, outside the kit (default results/study/key.json)"),
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write a self-contained static study page set from the outputs on disk (open
    index.html from file:// or any static host) and its answer key in a separate file."""
    from bench.data import check_dataset_names
    from bench.study.design import parse_criteria
    from bench.study.kit import make_kit

    config = load_config_from(params_file, profile, sets)
    study_dir = config.root("results") / "study"
    chosen_models = [m.strip() for m in (models or ",".join(config.table_models)).split(",")]
    chosen_datasets = check_dataset_names(config, datasets or config.eval_datasets)
    written = make_kit(
        config,
        list(dict.fromkeys(m for m in chosen_models if m)),
        chosen_datasets,
        parse_criteria(criteria),
        trials,
        config.seed if seed is None else seed,
        out or study_dir / "kit",
        key or study_dir / "key.json",
    )
    console.print(
        f"kit {written['kit_id']}: {len(written['trials'])} screens, "
        f"{len(written['images'])} images -> {out or study_dir / 'kit'}; "
        f"key -> {key or study_dir / 'key.json'}"
    )


@app.command("analyze")
def analyze_command(
    answers: Annotated[list[Path], typer.Argument(help="participants' downloaded answer files")],
    key: Annotated[
        Path | None, typer.Option(help="answer key (default results/study/key.json)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default results/study)")] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Drop participants who failed an attention check, then write the preference rates
    (Wilson 95% intervals, binomial tests) per criterion and model pair as CSV, Markdown, PNG."""
    from bench.study.analysis import analyze

    study_dir = None
    if key is None or out is None:
        study_dir = load_config_from(params_file, profile, sets).root("results") / "study"
    result = analyze(answers, key or study_dir / "key.json", out or study_dir)
    screened = result["screened"]
    for participant in screened.no_answers:
        console.print(
            f"warning: {result['files'][participant]}: no answers; participant "
            f"{participant!r} is excluded (listed in preferences.md)",
            highlight=False,
            soft_wrap=True,
        )
    excluded = f", {len(screened.no_answers)} excluded (no answers)" if screened.no_answers else ""
    console.print(
        f"{screened.participants} participants, {len(screened.dropped_participants)} dropped "
        f"for failed attention checks ({screened.dropped_answers} answers){excluded}; "
        f"tables in {out or study_dir}",
        highlight=False,
        soft_wrap=True,
    )
    for statement in result["best_other"].get("statement", []):
        console.print(statement)
