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

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from flux2prompt._errors import FileValidationError, Flux2PromptError
from flux2prompt._files._project import Project, find_project
from flux2prompt._versioning import (
    LOCK_FILE,
    InventoryDiff,
    Lock,
    LockCheck,
    PromptDiff,
    build_inventory,
    compare_locks,
    diff_revision,
    diff_sources,
    find_lock_file,
    lock_from_inventory,
    lock_search_path,
    read_lock,
    write_lock,
)
from flux2prompt._versioning._diff import one_line
from flux2prompt._versioning._lock import with_field_diffs
from flux2prompt._versioning._revision import inventory_at_lock_revision
from flux2prompt.cli._app import app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    echo_data,
    error_lines,
    fail,
    handle_errors,
    json_report,
    print_error,
    say,
)
from flux2prompt.cli._output import stdout as out
from flux2prompt.cli._report import (
    JSON_VERSION,
    escape_data,
    escape_property,
    file_of,
    output_format,
)

__all__ = ["diff_command", "diff_failed", "lock_command"]

_STYLES = {"+": "green", "-": "red", "~": "yellow"}


def _print_line(line: str) -> None:
    stripped = line.lstrip()
    style = _STYLES.get(stripped[:1]) if stripped[1:2] == " " else None
    from rich.text import Text  # a diff is shown in colour on a terminal

    out.print(Text(line, style=style or ""))


@app.command("diff")
def diff_command(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="A B",
            help="The old side A and the new side B, each [REV:]path[:NAME]: a prompt file "
            "(.toml/.json), a plain .json prompt, file.py:NAME, a job file; REV: reads it at a "
            "git revision (e.g. HEAD~1:prompts/hero.py:hero). With --rev BASE: paths (files or "
            "folders) that limit the inventory compared.",
            show_default=False,
        ),
    ] = None,
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev",
            metavar="BASE",
            help="Diff every prompt and job of the inventory (or of the PATHS given) between "
            "BASE and the working tree.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the diff as JSON instead of lines.")
    ] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the prompts differ.")
    ] = False,
) -> None:
    """Show what changed between two prompts (or jobs, or the whole inventory), path by path.

    Lines read `~ $.mood: "calm" → "tense"` (changed), `+ $.camera.lens: "85mm"` (added) and
    `- $.effects[1]: "soft bloom"` (removed); differences in a prompt file's metadata follow
    under `metadata:`. A job diffs as its expansion: each variant added, removed or changed.
    `diff --rev BASE PATHS...` compares only the prompts of those files and folders.
    """
    given = list(sources or ())
    first, second = (rev, "working tree") if rev is not None else (*given, None, None)[:2]
    sides = (first, second)

    def refuse(message: str) -> NoReturn:
        if as_json:
            diff_failed(first, second, message)
        fail(message)

    if rev is not None:
        paths = None
        if given:
            blank = next((i for i, p in enumerate(given, 1) if not p.strip()), None)
            if blank is not None:  # Path("") would read as the current folder
                refuse(
                    f"path {blank}: empty path; give paths of the working tree (files or folders)"
                )
            missing = [p for p in given if not Path(p).exists()]
            if missing:
                refuse(
                    f"{missing[0]}: no such file or folder; with --rev BASE, give paths of the "
                    "working tree (prompt files, modules, job files, folders)"
                )
            paths = [Path(p) for p in given]
        with handle_errors(), _diff_reported(as_json, sides, None):
            result: PromptDiff | InventoryDiff = diff_revision(rev, paths)
        label_a, label_b = rev, "the working tree"
    else:
        if len(given) != 2:
            refuse("give two sources A and B, or --rev BASE (and paths to limit it)")
        a, b = given
        for side, source in (("A", a), ("B", b)):
            if not source.strip():  # an unset shell variable ("$OLD"), not the current folder
                refuse(
                    f"{side}: empty SOURCE; give a prompt file, path/to/file.py:NAME or a job file"
                )
        try:
            with _diff_reported(as_json, sides, "file"):
                result = diff_sources(a, b)
        except Flux2PromptError as exc:
            # An invalid prompt's issues are the error lines: prefix them with the file they are
            # in. (Other errors name their file already.)
            with handle_errors(exc.source if isinstance(exc, FileValidationError) else None):
                raise
        label_a, label_b = a, b
    if isinstance(result, InventoryDiff) and not as_json:
        for note in result.notes:
            say(f"note: {note}", err=True)
    if as_json:
        echo_data(json_report(result.to_dict()))
    elif not result:
        extra = f" ({result.unchanged} unchanged)" if isinstance(result, InventoryDiff) else ""
        out.print(f"no differences between {label_a} and {label_b}{extra}")
    else:
        from rich.text import Text

        out.print(Text(f"--- {one_line(label_a)}\n+++ {one_line(label_b)}", style="bold"))
        for line in result.render().split("\n"):
            _print_line(line)
    if exit_code and result:
        raise typer.Exit(EXIT_INVALID)


def diff_failed(a: str | None, b: str | None, message: str) -> None:
    """What ``diff --json`` prints on stdout when it cannot diff: one document, ``a`` and ``b``
    the sides given (``null`` when not known) and ``error`` the reason; the ``error:`` line on
    stderr and exit 2 (1 for an invalid prompt) follow as in text."""
    echo_data(json_report({"a": a, "b": b, "error": message}))


@contextlib.contextmanager
def _diff_reported(
    as_json: bool, sides: tuple[str | None, str | None], prefix: str | None
) -> Iterator[None]:
    """A diff that fails (a bad revision, an unreadable or invalid prompt) is still one JSON
    document with ``--json``; the error itself goes on to be printed as in text."""
    try:
        yield
    except Flux2PromptError as exc:
        if as_json:
            source = exc.source if prefix and isinstance(exc, FileValidationError) else None
            diff_failed(*sides, "; ".join(error_lines(exc, source)))
        raise


def _count(lock: Lock) -> str:
    prompts = len(lock.prompts)
    text = f"{prompts} prompt{'s' if prompts != 1 else ''}"
    if lock.jobs:
        items = sum(job.items for job in lock.jobs.values())
        jobs = len(lock.jobs)
        text += f", {jobs} job{'s' if jobs != 1 else ''} ({items} item{'s' if items != 1 else ''})"
    return text


@app.command("lock")
def lock_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATHS",
            help="Prompt files, Python modules, job files, or folders scanned for all three. "
            "Default: the project's inventory ([tool.flux2prompt] in pyproject.toml, else "
            "discovery from the lockfile's folder).",
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
            help="The lockfile. Default: the configuration's, else the nearest flux2prompt.lock "
            "in this folder or a parent, up to the repository's root; else a new one here.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --check: the same as --format json.")
    ] = False,
    output: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="text|json|github",
            help="With --check: text, one JSON document (docs/cli.md), or GitHub Actions "
            "annotations (::error file=...::).",
        ),
    ] = "text",
) -> None:
    """Record (or, with --check, verify) the fingerprints of every prompt in a lockfile.

    Commit flux2prompt.lock and flux2prompt.lock.items; in CI, `flux2-prompt lock --check`
    fails when a prompt, a module's prompt or a job's variant changed without the lockfile
    being updated, so every prompt change shows up in review.
    """
    if (as_json or output != "text") and not check:
        fail("--json and --format go with --check")
    shape = output_format(output, as_json)
    as_json = shape == "json"
    result: LockCheck | None = None
    searched = False
    with handle_errors(show_warnings=True), _reported(check, shape, lambda: file):
        project = find_project()
        if file is None and project.config_file is not None:
            file = Path(os.path.relpath(project.lock_path))
        if file is None:
            found = find_lock_file()
            searched = found is None
            file = Path(os.path.relpath(found) if found is not None else LOCK_FILE)
        if project.config_file is None:
            # Without configuration the lockfile's folder is the project's root.
            project = Project(file.parent)
        inventory = build_inventory(paths, base=file.parent, project=project)
        current = lock_from_inventory(inventory)
        if not check:
            written = write_lock(current, file)
        elif file.exists():
            recorded = read_lock(file)
            result = compare_locks(recorded, current)
            if any(change.kind == "changed" for change in result.changes):
                problems: list[str] = []
                found_old = inventory_at_lock_revision(
                    file, paths, project=project, problems=problems
                )
                if found_old is not None:
                    result = with_field_diffs(result, found_old[1], inventory, found_old[0])
                else:
                    result = dataclasses.replace(result, messages=(*result.messages, *problems))
    if check and result is None:
        message = f"{_where_looked(file, searched)}; run `flux2-prompt lock` and commit it"
        # One document whatever happens: CI reads the failure as it reads a stale lock.
        check_failed(shape, file, message)
        print_error(message)
        raise typer.Exit(EXIT_INVALID)
    if shape == "text":
        for line in inventory.scanned:
            say(f"scanned: {line}", err=True)
        for source, reason in inventory.unlocked:
            say(f"note: {source}: {reason}", err=True)
    count = _count(current)
    if not current.prompts and not current.jobs:
        say(
            "warning: no prompt files found (*.prompt.toml, *.prompt.json), and no Python "
            "modules or job files",
            err=True,
        )
    if result is None:  # no --check: the lockfile was written, or was already up to date
        state = "wrote" if written else "unchanged:"
        out.print(f"{state} {file} ({count})")
        return
    if as_json:
        document = {"version": JSON_VERSION, "file": str(file), **result.to_dict()}
        echo_data(json_report(document))
        if not result.ok:
            raise typer.Exit(EXIT_INVALID)
        return
    if shape == "github":
        for line in _annotations(result, file):
            say(line)
        say(
            f"flux2-prompt lock --check: {file} "
            + ("is up to date" if result.ok else "is out of date")
        )
        if not result.ok:
            raise typer.Exit(EXIT_INVALID)
        return
    for message in result.messages:
        say(f"note: {file}: {message}", err=True)
    if result.ok:
        out.print(f"{file} is up to date ({count})")
        return
    changes = len(result.changes) + len(result.notes)
    print_error(
        f"{file} is out of date ({changes} change{'s' if changes != 1 else ''}); review the "
        "prompt changes, then run `flux2-prompt lock` and commit the lockfile"
    )
    for line in result.render().split("\n"):
        _print_line(line)
    raise typer.Exit(EXIT_INVALID)


@contextlib.contextmanager
def _reported(check: bool, shape: str, file: Callable[[], Path | None]) -> Iterator[None]:
    """A check that cannot run (an unreadable lockfile, table or prompt) is still one JSON
    document, or one annotation, for CI; the ``error:`` line and exit 2 follow as in text."""
    try:
        yield
    except Flux2PromptError as exc:
        if check:
            check_failed(shape, file(), "; ".join(error_lines(exc)))
        raise


def check_failed(shape: str, file: Path | str | None, message: str) -> None:
    """What ``lock --check`` prints on stdout when it cannot say whether the lockfile is
    current: in JSON the one document (``ok`` false, ``error`` the reason), in GitHub's format
    one annotation, in text nothing (the ``error:`` line on stderr says it)."""
    if shape == "json":
        document = {"version": JSON_VERSION, "file": str(file or LOCK_FILE), "ok": False}
        echo_data(json_report({**document, "error": message}))
    elif shape == "github":
        say(f"::error title=flux2-prompt lock --check::{escape_data(message)}")


def _annotations(result: LockCheck, file: Path) -> list[str]:
    """A GitHub annotation per change, on the changed prompt's (or job's) file; the notes on
    the lockfile. Names in the lockfile are relative to its folder."""
    title = "title=flux2-prompt lock --check"

    def annotation(where: str, text: str) -> str:
        fix = f"; run `flux2-prompt lock` and commit {file}"
        return f"::error file={escape_property(where)},{title}::{escape_data(text + fix)}"

    lines = [annotation(str(file), note) for note in result.notes]
    for change in result.changes:
        entry = change.new or change.old
        path = change.job or getattr(entry, "path", None) or change.name
        named = file_of(path) or path
        where = os.path.normpath(file.parent / named)
        lines.append(annotation(where, str(change).lstrip("+-~ ")))
    return lines


def _where_looked(file: Path, searched: bool) -> str:
    if not searched:
        return f"{file}: no lockfile"
    folders = lock_search_path()
    top = folders[-1]
    root = "the repository's root" if (top / ".git").exists() else "the filesystem's root"
    if len(folders) == 1:
        return f"no lockfile: no {LOCK_FILE} in {top} ({root})"
    return f"no lockfile: no {LOCK_FILE} in {folders[0]} or its parents up to {top} ({root})"
