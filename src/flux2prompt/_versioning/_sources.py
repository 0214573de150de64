"""Every SOURCE form as a side of a diff: ``[REV:]path[:NAME]``.

A side is a list of :class:`~flux2prompt._versioning._inventory.InventoryEntry`: one for a
prompt (a prompt file, a plain ``.json`` document, ``file.py:NAME``), one per item for a job
file. ``REV:`` reads the path at a git revision: a prompt file with ``git show``, a Python
module or a job file in a separate interpreter over the materialised tree
(:mod:`._revision`). An existing file wins over a revision (``C:x`` on Windows, ``a:b.json``).

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "shots.py").write_text(
    ...     "from flux2prompt import scene\\nhero = scene('a lighthouse')\\n")
    >>> [e.document for e in load_side(f"{folder}/shots.py:hero")]
    [{'scene': 'a lighthouse'}]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flux2prompt._files import is_job_file
from flux2prompt._files._source import load_source, split_source
from flux2prompt._versioning._inventory import InventoryEntry, build_inventory

__all__ = ["is_code_side", "load_side", "load_sides_at", "split_revision"]


def split_revision(spec: str, cwd: str | Path | None = None) -> tuple[str, str] | None:
    """``(REV, rest)`` when ``spec`` reads from git, ``None`` when it names a file.

    >>> split_revision("HEAD~1:prompts/hero.py:hero")
    ('HEAD~1', 'prompts/hero.py:hero')
    >>> split_revision("prompts/hero.py:hero") is None
    True
    """
    base = Path(cwd) if cwd is not None else Path()
    if (base / spec).exists():
        return None
    path, name = split_source(spec)
    if name is not None and (base / path).exists():
        return None  # file.py:NAME of a file that exists
    revision, sep, rest = spec.partition(":")
    if revision.endswith(".py") and ":" not in rest:
        return None  # file.py:NAME, NAME only after a .py path (the file may be missing)
    # "C:\\prompts\\a.json" is a Windows path, not a revision.
    if not sep or not rest or (len(revision) == 1 and revision.isalpha() and rest[:1] in "\\/"):
        return None
    return revision, rest


def is_code_side(rest: str) -> bool:
    """Whether a path read at a revision needs the old side's interpreter: a Python module
    (``file.py:NAME``) or a job file, not a prompt file."""
    path, name = split_source(rest)
    return (
        name is not None
        or path.suffix == ".py"
        or (path.suffix == ".toml" and not path.name.endswith(".prompt.toml"))
    )


def load_side(spec: str) -> list[InventoryEntry]:
    """The entries a local SOURCE names (no revision): see the module's doc."""
    path, name = split_source(spec)
    if name is None and is_job_file(path):
        # The job's items only: not the other prompts of the module its template is in.
        return [e for e in build_inventory([path], base=Path()).entries if e.kind == "item"]
    if name is None and path.suffix != ".py":
        entries = list(build_inventory([path], base=Path()).entries)
        return [
            InventoryEntry(
                spec,
                e.kind,
                spec,
                e.path,
                e.prompt_fingerprint,
                e.request_fingerprint,
                e.profile,
                e.document,
                e.metadata,
            )
            for e in entries
        ]
    loaded = load_source(spec)
    prompt = loaded.prompt
    return [
        InventoryEntry(
            spec, "prompt", spec, str(path), prompt.fingerprint, None, document=prompt.to_dict()
        )
    ]


def load_sides_at(
    revision: str, rests: Sequence[str], *, cwd: str | Path = "."
) -> list[list[InventoryEntry]]:
    """Each of ``rests`` (``path[:NAME]`` from the repository's root, as git reads
    ``REV:path``, or ``./path[:NAME]`` from ``cwd``) as it was at ``revision``, all read by one
    separate interpreter over that commit's tree."""
    import os

    from flux2prompt._versioning._revision import (
        materialise,
        repository_root,
        resolve_revision,
        run_worker,
    )

    commit = resolve_revision(revision, cwd)
    root = repository_root(cwd)
    relative = os.path.relpath(Path(cwd).absolute(), root)

    def from_cwd(rest: str) -> str:
        # The worker runs in the tree's copy of cwd: a path from the root is made relative to it.
        if rest.startswith("./"):
            return rest[2:]
        path, name = split_source(rest)
        moved = Path(os.path.relpath(path, relative)).as_posix()
        return moved if name is None else f"{moved}:{name}"

    specs = [from_cwd(rest) for rest in rests]
    with materialise(commit, root) as tree:
        data = run_worker(tree, {"op": "sources", "cwd": relative, "specs": specs}, label=revision)
    return [[InventoryEntry.from_dict(e) for e in side] for side in data]
