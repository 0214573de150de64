"""CLI commands: ``diff`` and ``lock``, prompts versioned like code.

Both are thin faces over :mod:`flux2prompt._versioning`. Exit codes follow
:mod:`flux2prompt.cli._output` (``2`` unreadable input, ``1`` an invalid prompt), and:

- ``diff`` exits ``0`` whether or not the prompts differ, unless ``--exit-code`` asks for ``1``
  when they do (as ``git diff --exit-code``);
- ``lock --check`` exits ``1`` when the lockfile is missing or out of date, ``0`` when it is
  up to date.

Without ``--file``, ``lock`` uses the nearest ``flux2prompt.lock`` in the current folder or a
parent, up to the repository's root (:func:`~flux2prompt._versioning.find_lock_file`), so both
work from any subfolder; with no lockfile there, ``lock`` writes one in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from flux2prompt._errors import FileValidationError, Flux2PromptError
from flux2prompt._versioning import (
    LOCK_FILE,
    LockCheck,
    build_lock,
    compare_locks,
    diff_sources,
    find_lock_file,
    lock_search_path,
    read_lock,
    write_lock,
)
from flux2prompt.cli._app import app
from flux2prompt.cli._output import EXIT_INVALID, echo_data, handle_errors, print_error, say
from flux2prompt.cli._output import stdout as out

__all__ = ["diff_command", "lock_command"]

_STYLES = {"+": "green", "-": "red", "~": "yellow"}


def _print_line(line: str) -> None:
    stripped = line.lstrip()
    style = _STYLES.get(stripped[:1]) if stripped[1:2] == " " else None
    from rich.text import Text  # a diff is shown in colour on a terminal

    out.print(Text(line, style=style or ""))


@app.command("diff")
def diff_command(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="The old prompt: a prompt file (.toml/.json), a plain .json prompt, or REV:path "
            "read from git (e.g. HEAD~1:prompts/hero.prompt.toml).",
            show_default=False,
        ),
    ],
    b: Annotated[
        str,
        typer.Argument(metavar="B", help="The new prompt, in the same forms.", show_default=False),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the diff as JSON instead of lines.")
    ] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the prompts differ.")
    ] = False,
) -> None:
    """Show what changed between two prompts, path by path.

    Lines read `~ $.mood: "calm" → "tense"` (changed), `+ $.camera.lens: "85mm"` (added) and
    `- $.effects[1]: "soft bloom"` (removed); differences in a prompt file's metadata follow
    under `metadata:`.
    """
    try:
        result = diff_sources(a, b)
    except Flux2PromptError as exc:
        # An invalid prompt's issues are the error lines: prefix them with the file they are in.
        # (Other errors name their file already.)
        with handle_errors(exc.source if isinstance(exc, FileValidationError) else None):
            raise
    if as_json:
        echo_data(result.to_json())
    elif not result:
        out.print(f"no differences between {a} and {b}")
    else:
        from rich.text import Text

        out.print(Text(f"--- {a}\n+++ {b}", style="bold"))
        for line in result.render().splitlines():
            _print_line(line)
    if exit_code and result:
        raise typer.Exit(EXIT_INVALID)


@app.command("lock")
def lock_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATHS",
            help="Prompt files, or folders searched recursively for *.prompt.toml and "
            "*.prompt.json. Default: the lockfile's folder.",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 and list the changes when the lockfile is out of date.",
        ),
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="The lockfile. Default: the nearest flux2prompt.lock in this folder or a parent, "
            "up to the repository's root; else a new one in this folder.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Record (or, with --check, verify) the fingerprints of every prompt file in a lockfile.

    Commit flux2prompt.lock; in CI, `flux2-prompt lock --check` fails when a prompt changed
    without the lockfile being updated, so every prompt change shows up in review.
    """
    result: LockCheck | None = None
    searched = False
    if file is None:
        found = find_lock_file()
        searched = found is None
        file = Path(os.path.relpath(found) if found is not None else LOCK_FILE)
    with handle_errors(show_warnings=True):
        # Paths in the lock are relative to its folder, and by default it covers that folder.
        current = build_lock(paths or [file.parent], base=file.parent)
        if not check:
            written = write_lock(current, file)
        elif file.exists():
            result = compare_locks(read_lock(file), current)
    if check and result is None:
        print_error(f"{_where_looked(file, searched)}; run `flux2-prompt lock` and commit it")
        raise typer.Exit(EXIT_INVALID)
    count = len(current.prompts)
    noun = "prompt" if count == 1 else "prompts"
    if not current.prompts:
        say("warning: no prompt files found (*.prompt.toml, *.prompt.json)", err=True)
    if result is None:  # no --check: the lockfile was written, or was already up to date
        state = "wrote" if written else "unchanged:"
        out.print(f"{state} {file} ({count} {noun})")
        return
    if result.ok:
        out.print(f"{file} is up to date ({count} {noun})")
        return
    changes = len(result.changes) + len(result.notes)
    print_error(
        f"{file} is out of date ({changes} change{'s' if changes != 1 else ''}); review the "
        "prompt changes, then run `flux2-prompt lock` and commit the lockfile"
    )
    for line in result.render().splitlines():
        _print_line(line)
    raise typer.Exit(EXIT_INVALID)


def _where_looked(file: Path, searched: bool) -> str:
    if not searched:
        return f"{file}: no lockfile"
    folders = lock_search_path()
    top = folders[-1]
    root = "the repository's root" if (top / ".git").exists() else "the filesystem's root"
    if len(folders) == 1:
        return f"no lockfile: no {LOCK_FILE} in {top} ({root})"
    return f"no lockfile: no {LOCK_FILE} in {folders[0]} or its parents up to {top} ({root})"
