"""``bench stages``: the stage table (:mod:`bench.stages`) as DVC sees it.

``bench stages settings`` (DVC's first stage) writes the resolved settings every stage
depends on and checks that ``dvc.yaml`` is the one the table gives; ``bench stages dvc-yaml``
writes (or ``--check``s) ``dvc.yaml``; ``bench stages list`` prints each stage and the
settings its result depends on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.options import ParamsOpt, ProfileOpt, SetOpt, load_config_from
from bench.core.errors import UserError
from bench.core.progress import console

app = typer.Typer(
    help="The stage table behind dvc.yaml and `bench run`: settings | dvc-yaml | list.",
    no_args_is_help=True,
)

DvcYamlOpt = Annotated[Path, typer.Option("--dvc-yaml", help="the pipeline file")]


def _stale_dvc_yaml(path: Path, expected: str) -> str | None:
    if not path.is_file():
        return None
    if path.read_text(encoding="utf-8") != expected:
        return (
            f"{path} is not the pipeline the stage table gives for these settings (the bases "
            "of adapted models changed, or it was edited): run `bench stages dvc-yaml`, then "
            "`dvc repro` again"
        )
    return None


@app.command("settings")
def settings_command(
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
    dvc_yaml: DvcYamlOpt = Path("dvc.yaml"),
) -> None:
    """Write <results>/settings.yaml: the resolved settings each stage's result depends on (the
    params DVC tracks); fail if dvc.yaml is not the generated one."""
    from bench.core import atomic
    from bench.stages import SETTINGS_FILE, settings_text
    from bench.stages import dvc_yaml as generate

    config = load_config_from(params_file, profile, sets)
    if reason := _stale_dvc_yaml(dvc_yaml, generate(config)):
        raise UserError(reason)
    path = config.root("results") / SETTINGS_FILE
    text = settings_text(config)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic.write_text(path, text)
    console.print(f"settings: {path}")


@app.command("dvc-yaml")
def dvc_yaml_command(
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    dvc_yaml: DvcYamlOpt = Path("dvc.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="only check that the file is current (exit 2 if not)")
    ] = False,
) -> None:
    """Write dvc.yaml from the stage table (the adapted models' bases come from their settings)."""
    from bench.core import atomic
    from bench.stages import dvc_yaml as generate

    text = generate(load_config_from(params_file, profile))
    if check:
        if reason := _stale_dvc_yaml(dvc_yaml, text) if dvc_yaml.is_file() else f"no {dvc_yaml}":
            raise UserError(reason)
        console.print(f"{dvc_yaml} is current")
        return
    atomic.write_text(dvc_yaml, text)
    console.print(f"wrote {dvc_yaml}")


@app.command("list")
def list_command(
    params_file: ParamsOpt = None, profile: ProfileOpt = None, sets: SetOpt = None
) -> None:
    """Print every stage instance (DVC's names) and the settings its result depends on."""
    from bench.stages import STAGES, instances, settings_path

    config = load_config_from(params_file, profile, sets, writes=False)
    for stage in STAGES:
        named = instances(config, stage) if stage.matrix or stage.foreach(config) else {"": {}}
        for key, item in named.items():
            tracked = settings_path(stage, item) or "(none: always run, cheap)"
            typer.echo(f"{stage.name}{'@' + key if key else ''}\t{tracked}")
