"""The two sides of a diff read from files or from git (``REV:path``).

:func:`diff_sources` diffs two files, either of which may be ``REV:path`` read with
``git show``; :func:`read_git_file` reads one file at a revision.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from flux2prompt._errors import FileValidationError, PromptValidationError, SourceError
from flux2prompt._files import PromptFile, in_file, parse_prompt, read_bytes
from flux2prompt._versioning._diff import PromptDiff, diff

if TYPE_CHECKING:
    pass


def read_git_file(revision: str, path: str, *, cwd: str | Path | None = None) -> bytes:
    """The contents of ``path`` at ``revision``, as ``git show REVISION:PATH`` prints them.

    ``path`` is relative to the repository's root, or to ``cwd`` when it starts with ``./``.
    Raises :class:`~flux2prompt.SourceError` when git is missing, ``cwd`` is not in a repository,
    or the revision or path does not exist there.
    """
    label = f"{revision}:{path}"
    if not revision or not path:
        raise SourceError(
            "expected REV:PATH, such as HEAD~1:prompts/hero.prompt.toml", source=label
        )
    try:
        done = subprocess.run(
            ["git", "show", f"{revision}:{path}"],
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
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1].removeprefix("fatal: ") if message else f"exit {done.returncode}"
        raise SourceError(f"git cannot read it: {detail}", source=label)
    return done.stdout


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


def diff_sources(a: str | Path, b: str | Path, *, cwd: str | Path | None = None) -> PromptDiff:
    """:func:`diff` two files, each a prompt file, a plain prompt document, or ``REV:path``.

    A string naming no existing file but holding a ``:`` is read from git
    (``HEAD~1:prompts/hero.prompt.toml``; ``REV:./path`` for a path relative to ``cwd``).
    """
    result = diff(read_diff_source(a, cwd=cwd), read_diff_source(b, cwd=cwd))
    return PromptDiff(result.entries, result.metadata, a=str(a), b=str(b))
