"""Human output on stderr through rich, JSON on stdout, progress bars only on a terminal.

``NO_COLOR`` is honoured. Off a terminal, progress becomes a few plain log lines.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class Ui:
    """Where people-facing messages go; ``verbosity`` -1 quiet, 0 normal, 1 verbose."""

    def __init__(self, verbosity: int = 0, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.verbosity = verbosity
        is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.console = Console(file=self.stream, no_color="NO_COLOR" in os.environ, highlight=False,
                               width=None if is_tty else 160)
        self.log_path: Path | None = None
        self._pending: list[str] = []   # messages before a run folder exists, for its log

    @property
    def interactive(self) -> bool:
        """True on a terminal: progress bars and colour."""
        return self.console.is_terminal

    def attach_log(self, path: Path) -> None:
        """Also append every message to ``path`` (a run directory's log.txt), those said before too.
        The log is best effort: a disk that refuses it is reported by the save that fails."""
        self.log_path = path
        pending, self._pending = self._pending, []
        self._write_log(pending)

    def _log(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}\n"
        if self.log_path is None:
            self._pending = [*self._pending[-999:], line]
        else:
            self._write_log([line])

    def _write_log(self, lines: list[str]) -> None:
        if self.log_path is None or not lines:
            return
        try:
            with open(self.log_path, "a") as f:
                f.writelines(lines)
        except OSError:
            pass

    def info(self, text: str) -> None:
        """A normal message (hidden by -q)."""
        self._log(text)
        if self.verbosity >= 0:
            self.console.print(text)

    def detail(self, text: str) -> None:
        """A message shown only with -v."""
        self._log(text)
        if self.verbosity >= 1:
            self.console.print(f"[dim]{text}[/dim]")

    def warn(self, text: str) -> None:
        """A warning (shown even with -q)."""
        self._log(f"warning: {text}")
        self.console.print(f"[yellow]warning:[/yellow] {escape(text)}", soft_wrap=True)

    def error(self, text: str) -> None:
        """A one-line error."""
        self._log(f"error: {text}")
        self.console.print(f"[red]error:[/red] {escape(text)}", markup=True, soft_wrap=True)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        """A table of rows (hidden by -q)."""
        if self.verbosity < 0:
            return
        table = Table(title=title, title_justify="left")
        for i, column in enumerate(columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        self.console.print(table)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[..., None]]:
        """Yields ``advance(n=1, status='')``: a rich bar on a terminal, sparse log lines elsewhere."""
        if self.interactive and self.verbosity >= 0:
            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                       TextColumn("{task.fields[status]}")]
            with Progress(*columns, console=self.console, transient=False) as bar:
                task = bar.add_task(description, total=total, status="")
                yield lambda n=1, status="": bar.update(task, advance=n, status=status)
            return
        state = {"done": 0, "last": 0.0}

        def advance(n: int = 1, status: str = "") -> None:
            state["done"] += n
            now = time.monotonic()
            finished = total is not None and state["done"] >= total
            if finished or now - state["last"] >= 10.0:
                state["last"] = now
                of = f"/{total}" if total else ""
                self.info(f"{description}: {state['done']}{of} {status}".rstrip())

        yield advance


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout, nothing else."""
    from .runs import to_json

    sys.stdout.write(to_json(data))
    sys.stdout.flush()
