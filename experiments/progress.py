"""Live progress of long commands: a rich bar with the step, counts, elapsed time and ETA.

Shown on stderr only when stderr is a terminal and the command was not asked for ``--json``;
otherwise it says nothing, so logs and piped JSON stay clean. While the bar is live, a command's own
lines go through ``write`` (above the bar) instead of straight to the stream, which would tear it.

    with Progress(total=3, enabled=not opts["json"]) as bar:
        for name in names:
            bar.step(name)           # the previous step is done; this one is under way
            ...
            bar.write(line)          # printed above the bar (or to the fallback when there is none)
"""

from __future__ import annotations

import sys
from typing import Callable, TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        completed: int = 0,
        label: str = "starting",
        fallback: Callable[[str], None] | None = None,
        stream: TextIO | None = None,
        force_terminal: bool = False,
    ):
        self.total, self.completed, self.label = total, completed, label
        self.stream = sys.stderr if stream is None else stream
        self.live = enabled and total > 0 and (force_terminal or is_terminal(self.stream))
        self.fallback = fallback
        self.force_terminal = force_terminal
        self.bar = None
        self._started = 0  # steps begun

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress as Bar,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self.stream, force_terminal=self.force_terminal or None)
            self.bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.bar.__enter__()
            self._task = self.bar.add_task(self.label, total=self.total, completed=self.completed)
        return self

    def step(self, label: str) -> None:
        """A new step begins: those begun before it are done."""
        if self._started:
            self.completed = min(self.total, self.completed + 1)
        self._started += 1
        self.update(self.completed, label)

    def update(self, completed: int, label: str | None = None) -> None:
        self.completed = completed
        if label is not None:
            self.label = label
        if self.bar is not None:
            self.bar.update(self._task, completed=completed, description=self.label)

    def write(self, line: str) -> None:
        """A command's output line: above the bar when stdout is the same terminal, else the fallback."""
        if self.bar is not None and (self.force_terminal or is_terminal(sys.stdout)):
            self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        elif self.fallback is not None:
            self.fallback(line)

    def __exit__(self, exc_type, *rest) -> bool:
        if self.bar is not None:
            if exc_type is None and self._started:
                self.update(min(self.total, self.completed + 1), "done")
            self.bar.__exit__(exc_type, *rest)
            self.bar = None
        return False
