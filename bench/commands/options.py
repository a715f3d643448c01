"""Command-line options shared by every ``bench`` command (one definition, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ParamsOpt = Annotated[
    Path | None, typer.Option("--params", help="params file (default ./params.yaml)")
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="profile to use: smoke | paper")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto | cpu | cuda (default: params)")
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="also write the results as JSON")]
