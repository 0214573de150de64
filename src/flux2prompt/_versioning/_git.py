"""The two sides of a diff read from files or from git (``REV:path``).

:func:`diff_sources` diffs two files, either of which may be ``REV:path`` read with
``git show``; :func:`read_git_file` reads one file at a revision.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from flux2prompt._errors import FileValidationError, PromptValidationError, SourceError
from flux2prompt._files import PromptFile, in_file, is_job_file, parse_prompt, read_bytes
from flux2prompt._versioning._compare import InventoryDiff, diff_inventories, unreadable_notes
from flux2prompt._versioning._diff import SAME_VALUES, PromptDiff, diff, diff_entries, wire_text
from flux2prompt._versioning._inventory import InventoryEntry


def read_git_file(revision: str, path: str, *, cwd: str | Path | None = None) -> bytes:
    """The contents of ``path`` at ``revision``, as ``git show REVISION:PATH`` prints them.

    ``path`` is relative to the repository's root, or to ``cwd`` when it starts with ``./``.
    Raises :class:`~flux2prompt.SourceError` when git is missing, ``cwd`` is not in a repository,
    or the revision or path does not exist there.
    """
    label = f"{revision}:{path}"
    if "\x00" in label:
        raise SourceError(
            "a revision or path cannot hold a NUL character; give a commit, branch or tag",
            source=label.replace("\x00", "\\x00"),
        )
    if revision.startswith("-"):
        raise SourceError(
            "a revision cannot start with '-'; give a commit, branch or tag such as HEAD~1",
            source=label,
        )
    if not revision or not path:
        raise SourceError(
            "expected REV:PATH, such as HEAD~1:prompts/hero.prompt.toml", source=label
        )
    try:
        done = subprocess.run(
            # --end-of-options: whatever the revision holds, git reads it as one, never as an
            # option (a "--output=FILE" revision would make git write a file).
            ["git", "show", "--end-of-options", f"{revision}:{path}"],
            cwd=cwd,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        raise SourceError(
            "git is not installed (or not on PATH); it is needed to read a REV:path", source=label
        ) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(f"cannot run git: {exc}", source=label) from None
    if done.returncode != 0:
        from flux2prompt._versioning._revision import resolve_revision

        # A revision that does not resolve says why as for code and --rev: no repository, no
        # commit yet, no such revision (with how to fetch it in a shallow clone).
        resolve_revision(revision, cwd)
        inside = _in_submodule(revision, path, cwd, label)
        if inside is not None:
            return inside
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1].removeprefix("fatal: ") if message else f"exit {done.returncode}"
        raise SourceError(f"git cannot read it: {detail}", source=label)
    return done.stdout


def _in_submodule(revision: str, path: str, cwd: str | Path | None, label: str) -> bytes | None:
    """``path`` at ``revision`` when it lies in a submodule (``git show`` stops at one): read
    from the submodule checked out here, at the commit ``revision`` records for it. ``None``
    when no folder of ``path`` is a submodule there."""
    from flux2prompt._versioning._revision import _git, repository_root

    relative = path.startswith("./")  # REV:./path is from cwd, REV:path from the root
    parts = path.removeprefix("./").split("/")
    for n in range(1, len(parts)):
        prefix = "/".join(parts[:n])
        listed = _git(
            ["ls-tree", "-z", *([] if relative else ["--full-tree"]), revision, "--", prefix],
            cwd,
            label,
        )
        fields = listed.stdout.partition(b"\t")[0].split()
        if listed.returncode != 0 or not fields:
            return None  # no such folder there: git's own message says so
        if fields[1] != b"commit":
            continue  # a folder, not a submodule
        commit = fields[2].decode("ascii")
        here = Path(cwd) if cwd is not None else Path()
        folder = (here if relative else repository_root(cwd)) / prefix
        rest = "/".join(parts[n:])
        if not (folder / ".git").exists():
            raise SourceError(
                f"{prefix} is a submodule that is not checked out here; run git submodule "
                "update --init, then diff again",
                source=label,
            )
        try:
            return read_git_file(commit, rest, cwd=folder)
        except SourceError as exc:
            why = str(exc).removeprefix(f"{commit}:{rest}: ")
            raise SourceError(
                f"in submodule {prefix} at {commit[:12]}: {why}", source=label
            ) from None
    return None


def _split_revision(spec: str, cwd: str | Path | None) -> tuple[str, str] | None:
    if (Path(cwd) / spec if cwd is not None else Path(spec)).exists():
        return None
    revision, sep, path = spec.partition(":")
    # "C:\\prompts\\a.json" is a Windows path, not a revision.
    if not sep or (len(revision) == 1 and revision.isalpha() and path[:1] in ("\\", "/")):
        return None
    return revision, path


def read_diff_source(
    spec: str | Path, *, cwd: str | Path | None = None
) -> PromptFile | dict[str, Any]:
    """Read one side of a diff: a prompt file, a plain prompt document, or ``REV:path`` from git.

    A prompt file gives a :class:`PromptFile`; a plain document the dict of its validated prompt.
    A string naming no existing file but holding a ``:`` is read from git.
    """
    split = _split_revision(spec, cwd) if isinstance(spec, str) else None
    if split is not None:
        revision, name = split
        data = read_git_file(revision, name, cwd=cwd)
        suffix = PurePosixPath(name).suffix
        label = str(spec)
        path = None
    else:
        path = Path(spec)
        if cwd is not None and not path.is_absolute():
            path = Path(cwd) / path
        data = read_bytes(path)
        suffix = path.suffix
        label = str(spec)
    try:
        loaded = parse_prompt(data, suffix=suffix, source=label, path=path)
    except FileValidationError:
        raise  # a prompt file's error already names the file and paths inside it
    except PromptValidationError as exc:
        raise in_file(exc, label, base="$") from None
    return loaded if isinstance(loaded, PromptFile) else loaded.to_dict()


def _sent(side: PromptFile | dict[str, Any]) -> dict[str, Any]:
    """What a side sends: a prompt file's compiled prompt (a template's document as written)."""
    if isinstance(side, PromptFile):
        return dict(side.document) if side.is_template else side.prompt.to_dict()
    return side


def _is_prompt_side(spec: str | Path, cwd: str | Path | None) -> bool:
    """Whether ``spec`` is read as before: a prompt file or a plain document, here or in git."""
    from flux2prompt._files._source import split_source
    from flux2prompt._versioning._sources import is_code_side, split_revision

    if not isinstance(spec, str):
        spec = str(spec)
    split = split_revision(spec, cwd)
    if split is not None:
        return not is_code_side(split[1])
    path, name = split_source(spec)
    full = Path(cwd) / path if cwd is not None else path
    return name is None and path.suffix != ".py" and not is_job_file(full)


def diff_sources(
    a: str | Path, b: str | Path, *, cwd: str | Path | None = None
) -> PromptDiff | InventoryDiff:
    """Diff two SOURCEs of any form, ``[REV:]path[:NAME]``.

    Two prompt files or plain documents (either may be ``REV:path``, read with ``git show``;
    ``REV:./path`` for a path relative to ``cwd``) give a :class:`PromptDiff`, metadata
    included. A Python module's ``file.py:NAME`` or a job file on either side gives an
    :class:`~flux2prompt._versioning._compare.InventoryDiff`: a job diffs as its expansion
    (variants added, removed and changed, each with its field diff). A ``REV:`` side of code is
    read in a separate interpreter over that commit's tree (:mod:`._revision`), so the working
    tree's modules are never imported for it.
    """
    if _is_prompt_side(a, cwd) and _is_prompt_side(b, cwd):
        old_side, new_side = read_diff_source(a, cwd=cwd), read_diff_source(b, cwd=cwd)
        result = diff(old_side, new_side)
        notes: tuple[str, ...] = ()
        if not result.entries and wire_text(_sent(old_side)) != wire_text(_sent(new_side)):
            notes = (SAME_VALUES,)
        return PromptDiff(result.entries, result.metadata, a=str(a), b=str(b), notes=notes)
    old, new = load_sides([str(a), str(b)], cwd=cwd)
    if len(old) == 1 and len(new) == 1 and old[0].kind != "item" and new[0].kind != "item":
        entries = diff_entries(old[0], new[0])
        same = not entries and old[0].prompt_fingerprint != new[0].prompt_fingerprint
        return PromptDiff(tuple(entries), a=str(a), b=str(b), notes=(SAME_VALUES,) if same else ())
    if all(e.kind == "item" for e in [*old, *new]):
        # Two versions of one job: its items pair whatever the two files are called.
        old = [dataclasses.replace(e, key=str(b), source=str(b)) for e in old]
        new = [dataclasses.replace(e, key=str(b), source=str(b)) for e in new]
    return diff_inventories(old, new, a=str(a), b=str(b))


def load_sides(
    specs: Sequence[str], *, cwd: str | Path | None = None
) -> list[list[InventoryEntry]]:
    """The entries of each SOURCE; the ``REV:`` sides of each revision are read together, by
    one interpreter.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fog.json"
    >>> _ = path.write_text('{"scene": "fog"}')
    >>> [[e.document for e in side] for side in load_sides([str(path)])]
    [[{'scene': 'fog'}]]
    """
    from flux2prompt._versioning._sources import load_side, load_sides_at, split_revision

    here = Path(cwd) if cwd is not None else Path()
    results: dict[int, list[InventoryEntry]] = {}
    by_revision: dict[str, list[tuple[int, str]]] = {}
    for position, spec in enumerate(specs):
        split = split_revision(spec, cwd)
        if split is None:
            path = spec if cwd is None else str(here / spec)
            results[position] = load_side(path)
        elif not _is_prompt_side(spec, cwd):
            by_revision.setdefault(split[0], []).append((position, split[1]))
        else:
            loaded = read_diff_source(spec, cwd=cwd)
            from flux2prompt._versioning._inventory import InventoryEntry as Entry

            document = (
                (loaded.prompt.to_dict() if not loaded.is_template else dict(loaded.document))
                if isinstance(loaded, PromptFile)
                else dict(loaded)
            )
            metadata = loaded.metadata() if isinstance(loaded, PromptFile) else {}
            results[position] = [
                Entry(spec, "prompt", spec, spec, "", None, document=document, metadata=metadata)
            ]
    for revision, wanted in by_revision.items():
        sides = load_sides_at(revision, [rest for _, rest in wanted], cwd=here)
        for (position, _), side in zip(wanted, sides, strict=True):
            results[position] = side
    return [results[position] for position in range(len(specs))]


def diff_revision(
    base: str, paths: Iterable[str | Path] | None = None, *, cwd: str | Path = "."
) -> InventoryDiff:
    """Every prompt and job item of the inventory that differs between revision ``base`` and
    the working tree. The whole ``base`` side is read by one separate interpreter over that
    commit's tree; the working tree's in this process.

    >>> diff_revision("--exec=x")
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: --exec=x: a revision cannot start with '-'; give a commit, branch \
or tag such as HEAD~1
    """
    from flux2prompt._files._project import find_project
    from flux2prompt._versioning._inventory import build_inventory
    from flux2prompt._versioning._revision import inventory_at

    project = find_project(cwd)
    _, old = inventory_at(
        base, paths, base=project.root, cwd=cwd, project_root=project.root, tolerant=True
    )
    new = build_inventory(paths, base=project.root, project=project)
    result = diff_inventories(old.entries, new.entries, a=base, b="working tree")
    return dataclasses.replace(result, notes=unreadable_notes(base, old.unreadable))
