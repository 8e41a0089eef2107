"""Live progress in the terminal: one bar per engine, fed by polling the run's live records.

Polling (rather than callbacks) keeps engines unaware of the display: they report trials
to the run (`on_trial`), and the bar reads the run's count and best score twice a second.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Poll = Callable[[], "tuple[int, float | None]"]


class Display:
    """Progress bars on a terminal; silent when quiet or when stderr is not a terminal."""

    def __init__(self, quiet: bool = False, interval: float = 0.5) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.interval = interval

    @contextmanager
    def engine(self, name: str, total: int | None, poll: Poll) -> Iterator[None]:
        """Show `name`'s bar while the block runs: done / planned, elapsed, ETA, best so far."""
        if not self.enabled:
            yield
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
            console=Console(stderr=True),
            transient=False,
        )
        task = bar.add_task(name, total=total, best="")
        stop = threading.Event()

        def refresh() -> None:
            done, best = poll()
            bar.update(task, completed=done, best="" if best is None else f"best {best:.4f}")

        def loop() -> None:
            while not stop.wait(self.interval):
                try:
                    refresh()
                except OSError:  # a file replaced under us: try again next tick
                    continue

        with bar:
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()
                refresh()
