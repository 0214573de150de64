"""The progress bar of ``flux2-prompt batch`` on a terminal: the job's name is shown as written."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from flux2prompt.batch import RichProgress


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("x[/red]y", "x[/red]y"),  # not markup: rich would refuse the unmatched closing tag
        ("[bold]loud[/bold]", "[bold]loud[/bold]"),
        ("clear\x1b[2Jscreen", "clear\\x1b[2Jscreen"),
        ("line\u2028break \u202eevil", "line\\u2028break \\u202eevil"),
    ],
)
def test_the_job_name_is_drawn_as_written_never_as_markup_or_control(name: str, shown: str) -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, color_system=None, width=200)
    progress = RichProgress(console)
    progress.started(name, total=2, skipped=0)
    progress.finished(None)
    drawn = stream.getvalue()
    assert shown in drawn
    assert "\x1b[2J" not in drawn
    assert "\u202e" not in drawn
