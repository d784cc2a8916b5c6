"""Progress display: frames done and total (when known), frames per second, ETA."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Shared stderr console, so log warnings and the progress bar do not overwrite each other.
console = Console(stderr=True)


class FrameProgress:
    """A rich progress bar over frames, or nothing at all when ``quiet``.

    Args:
        description: label shown before the bar.
        total: expected frame count, or None when the header does not say (the bar then
            shows "n/?" and no ETA instead of failing).
        quiet: show nothing.
        done: frames already done before this run (a resumed job): counted in the bar,
            not in the speed.
    """

    def __init__(
        self, description: str, total: int | None, quiet: bool = False, done: int = 0
    ):
        self.quiet = quiet
        self.done = self.initial = done
        self.started = time.perf_counter()
        self._progress: Progress | None = None
        if not quiet:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>6.2f} fps"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                # Cleared when done: the caller prints a one-line summary (or the error).
                transient=True,
            )
            self._task = self._progress.add_task(
                description, total=total or None, completed=done, fps=0.0
            )

    def __enter__(self) -> FrameProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, frames: int = 1) -> None:
        self.done += frames
        if self._progress is not None:
            task = self._progress.tasks[0]
            total = task.total
            if total is not None and self.done > total:  # the header under-counted
                self._progress.update(self._task, total=self.done)
            self._progress.update(self._task, advance=frames, fps=self.fps)

    def skip(self, frames: int) -> None:
        """Count ``frames`` done by an earlier run: in the bar, not in the speed."""
        self.initial += frames
        self.advance(frames)

    def update(self, done: int) -> None:
        """Set the frames done so far (all processes of a job together)."""
        if done > self.done:
            self.advance(done - self.done)

    @property
    def fps(self) -> float:
        """Frames per second done by this run (resumed frames excluded)."""
        return (self.done - self.initial) / max(time.perf_counter() - self.started, 1e-9)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            if exc[0] is None:
                self._progress.update(self._task, total=self.done)
            self._progress.stop()
