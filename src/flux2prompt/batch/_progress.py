"""A rich progress bar for batch runs: done/total, rate, ETA, failures and HTTP 429 answers.

Example:
    >>> import io
    >>> from rich.console import Console
    >>> progress = RichProgress(Console(file=io.StringIO()))
    >>> progress.started("mugs", total=4, skipped=1)
    >>> progress.item_finished(ItemOutcome(0, "mug-teal.jpg", "ok"), rate_limited=0)
    >>> progress.finished(None)
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from flux2prompt._text import printable
from flux2prompt.batch._runner import BatchReport, ItemOutcome

__all__ = ["RichProgress"]


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- img/s" if speed is None else f"{speed:5.2f} img/s", style="cyan")


class RichProgress:
    """Draws a run's progress on a rich console (stderr by default); a
    :class:`~flux2prompt.batch.BatchObserver`.

    Items skipped because an earlier run finished them count as done from the start, so the
    ETA reflects only what is left.

    Example:
        >>> from flux2prompt.batch import BatchRunner
        >>> runner = BatchRunner(job, "out", observer=RichProgress())  # doctest: +SKIP
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._failed = 0

    def started(self, job: str, total: int, skipped: int) -> None:
        """Open the bar."""
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failures]}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        # The rate counts advances only, so items skipped from an earlier run do not inflate it.
        # The job's name is the user's text: shown as written (escaped for the terminal), never
        # read as markup by the column that draws it in bold.
        self._task = self._progress.add_task(
            escape(printable(job)), total=total, completed=skipped, failures=self._failures_text(0)
        )

    def _failures_text(self, rate_limited: int) -> str:
        text = f"{self._failed} failed"
        if rate_limited:
            text += f", {rate_limited} x 429"
        return text

    def item_finished(self, outcome: ItemOutcome, rate_limited: int) -> None:
        """Advance the bar by one item."""
        if self._progress is None or self._task is None:
            return
        if outcome.status == "failed":
            self._failed += 1
        self._progress.update(self._task, advance=1, failures=self._failures_text(rate_limited))

    def finished(self, report: BatchReport | None) -> None:
        """Close the bar (the summary is printed by the caller)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
