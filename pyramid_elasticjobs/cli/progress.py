"""A progress bar for long commands, drawn on stderr when it is a terminal.

rich draws it (installed with the ``audit`` extra). Without rich, or when stderr is a
file or a pipe, the bar is skipped: a script reading the command's output gets only
what the command prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: ``update(done, total)``: how many items are done out of how many (both may grow).
Update = Callable[[int, int], None]


def _ignore(done: int, total: int) -> None:
    """No bar to draw."""


@contextmanager
def progress_bar(label: str, *, console: Console | None = None) -> Iterator[Update]:
    """Yield ``update(done, total)``; the bar disappears when the block ends."""
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )
    except ModuleNotFoundError:
        yield _ignore
        return
    target = console if console is not None else Console(stderr=True)
    if not target.is_terminal:
        yield _ignore
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=target,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            # Totals from SQS are approximate: never let the bar run past its end.
            progress.update(task, completed=done, total=max(done, total))

        yield update
