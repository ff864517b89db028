"""What the command line prints: ``console`` (messages, stderr), ``out`` (results, stdout), progress bars, and
the ``--view`` option shared by the verbs that read or write one camera view."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .errors import RefinetError

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)  # piped output: lines are not cut at 80 columns

View = Annotated[str, typer.Option(help="Camera placement: side or top (as ITOP's two views).")]


def progress(description: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=not console.is_terminal,
    )


def check_view(view: str) -> None:
    """``--view``: side or top."""
    if view not in ("side", "top"):
        raise RefinetError(f"--view must be 'side' or 'top', got {view!r}")
