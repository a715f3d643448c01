"""Rich progress bars shared by every long loop (quiet when not attached to a terminal)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, soft_wrap=True)
"""Messages go to stderr (data to stdout), one line each: never hard-wrapped (a terminal wraps
long lines itself; a log file or a pipe keeps them whole)."""


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; shows a bar with count, elapsed and remaining time.

    Extra keyword fields (e.g. losses) are shown after the bar.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields: float) -> None:
            if not fields:  # keep the last fields shown (e.g. losses read every N steps)
                progress.update(task, advance=n)
                return
            info = " ".join(f"{k}={v:.4g}" for k, v in fields.items())
            progress.update(task, advance=n, info=info)

        yield advance
