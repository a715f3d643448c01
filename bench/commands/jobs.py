"""``bench jobs``: the jobs of the last ``bench run --launcher``: their states and logs;
``--wait`` follows them to the end, ``--cancel`` cancels those not over."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.commands.listing import JsonFlag, print_rows
from bench.commands.options import ParamsOpt, ProfileOpt, SetOpt, load_config_from
from bench.core.errors import UserError
from bench.core.progress import console


def jobs_command(
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the jobs until every one is over")
    ] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="cancel the jobs not over")] = False,
    as_json: JsonFlag = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """The jobs of the last `bench run --launcher slurm|local` of this project: stage, job id,
    state, log (stdout: a table on a terminal, tab-separated when piped, JSON with --json).
    Exit 1 when one failed or was cancelled."""
    from bench.launch.follow import follow, summary
    from bench.launch.record import load
    from bench.launch.schedulers import is_active

    config = load_config_from(params_file, profile, sets, writes=False)
    launch = load(config)
    if launch is None:
        raise UserError("no jobs: `bench run --launcher slurm` (or local) starts them")
    console.print(f"`{launch.command}` ({launch.launcher}):", highlight=False)
    scheduler = launch.scheduler(config)
    states = launch.states(config, scheduler)
    if cancel:
        scheduler.cancel([j for j in launch.jobs if is_active(states[j.stage])])
        states = launch.states(config, scheduler)
    rows = [
        {
            "stage": job.stage,
            "job": job.job_id or "",
            "state": states[job.stage],
            "log": str(job.log) if job.job_id else "",
        }
        for job in launch.jobs
    ]
    print_rows(rows, ["stage", "job", "state", "log"], as_json)
    if wait and any(is_active(s) for s in states.values()):
        completed = follow(config, launch, scheduler)
    elif any(is_active(s) for s in states.values()):
        return
    else:
        completed = summary(launch, states)
    if not completed:
        raise typer.Exit(1)
