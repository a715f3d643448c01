"""``bench study``: make the human-study kit from the synthesized outputs, analyze the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import ParamsOpt, ProfileOpt
from bench.core.progress import console

app = typer.Typer(
    help="Human study: a static pairwise-preference page set and the analysis of its answers.",
    no_args_is_help=True,
)


@app.command("make")
def make_command(
    models: Annotated[
        str | None, typer.Option(help="comma-separated models to compare (default: params)")
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="comma-separated datasets (default: params)")
    ] = None,
    criteria: Annotated[
        str, typer.Option(help="comma-separated: expression, identity, realism")
    ] = "expression,identity,realism",
    trials: Annotated[
        int, typer.Option(help="model-vs-model trials per criterion (plus 2 attention checks)")
    ] = 20,
    seed: Annotated[int | None, typer.Option(help="kit seed (default: params seed)")] = None,
    out: Annotated[Path | None, typer.Option(help="kit folder (default results/study/kit)")] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="answer key, outside the kit (default results/study/key.json)"),
    ] = None,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write a self-contained static study page set from the outputs on disk (open
    index.html from file:// or any static host) and its answer key in a separate file."""
    from bench.config import load_params, table_models
    from bench.data import check_dataset_names
    from bench.study.design import parse_criteria
    from bench.study.kit import make_kit

    params = load_params(params_file, profile)
    study_dir = Path(params["paths"]["results"]) / "study"
    chosen_models = [m.strip() for m in (models or ",".join(table_models(params))).split(",")]
    chosen_datasets = check_dataset_names(params, datasets or params["eval_datasets"])
    written = make_kit(
        params,
        list(dict.fromkeys(m for m in chosen_models if m)),
        chosen_datasets,
        parse_criteria(criteria),
        trials,
        int(params["seed"]) if seed is None else seed,
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
) -> None:
    """Drop participants who failed an attention check, then write the preference rates
    (Wilson 95% intervals, binomial tests) per criterion and model pair as CSV, Markdown, PNG."""
    from bench.config import load_params
    from bench.study.analysis import analyze

    study_dir = None
    if key is None or out is None:
        study_dir = Path(load_params(params_file, profile)["paths"]["results"]) / "study"
    result = analyze(answers, key or study_dir / "key.json", out or study_dir)
    screened = result["screened"]
    console.print(
        f"{screened.participants} participants, {len(screened.dropped_participants)} dropped "
        f"for failed attention checks ({screened.dropped_answers} answers); "
        f"tables in {out or study_dir}"
    )
    for statement in result["best_other"].get("statement", []):
        console.print(statement)
