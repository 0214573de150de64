"""Prompts versioned like code: a semantic diff by JSON path, and a lockfile of fingerprints.

:func:`diff` compares two prompts (or prompt files, or documents) key by key and reports every
added, removed and changed JSON path; :func:`diff_sources` does the same for two files, either of
which may be ``REV:path`` read from git. :func:`build_lock` fingerprints every prompt file under
some paths, :func:`write_lock` stores that as ``flux2prompt.lock`` and :func:`check_lock` says
what changed since, so CI can refuse an unreviewed prompt change.

Example:
    >>> from flux2prompt import load
    >>> change = diff(load({"scene": "harbour", "mood": "calm"}),
    ...               load({"scene": "harbour", "mood": "tense", "effects": ["grain"]}))
    >>> print(change.render())
    ~ $.mood: "calm" → "tense"
    + $.effects: ["grain"]
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from flux2prompt._errors import PromptError, PromptValidationError, SourceError
from flux2prompt._files import (
    PromptFile,
    in_file,
    load_prompt_file,
    parse_document,
    prompt_file_from_document,
    read_bytes,
)
from flux2prompt._schema import SCHEMA_VERSION, json_path

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._model import Prompt

__all__ = [
    "LOCK_FILE",
    "LOCK_VERSION",
    "PROMPT_FILE_PATTERNS",
    "DiffEntry",
    "Lock",
    "LockChange",
    "LockCheck",
    "LockEntry",
    "PromptDiff",
    "build_lock",
    "check_lock",
    "compare_locks",
    "diff",
    "diff_sources",
    "find_lock_file",
    "find_prompt_files",
    "lock_search_path",
    "read_diff_source",
    "read_git_file",
    "read_lock",
    "request_fingerprint",
    "write_lock",
]

DiffKind = Literal["added", "removed", "changed"]

_MARKS: dict[str, str] = {"added": "+", "removed": "-", "changed": "~"}


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One difference: ``kind`` at ``path``, from ``old`` (unless added) to ``new`` (unless
    removed).

    ``path`` names the place in the new document, except for an item removed from a list, which is
    named by its index in the old list. ``old_path`` is the place in the old document when it
    differs (a list item that shifted or moved), else ``None``; ``moved`` is true when the list
    item holding this difference changed places relative to the items around it.

    >>> str(DiffEntry("changed", "$.mood", "calm", "tense"))
    '~ $.mood: "calm" → "tense"'
    >>> str(DiffEntry("changed", "$.subjects[0].pose", "sitting", "standing",
    ...                old_path="$.subjects[2].pose", moved=True))
    '~ $.subjects[0].pose: "sitting" → "standing" (was $.subjects[2].pose)'
    """

    kind: DiffKind
    path: str
    old: Any = None
    new: Any = None
    old_path: str | None = None
    moved: bool = False

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {_show(self.new)}"
        if self.kind == "removed":
            line = f"- {self.path}: {_show(self.old)}"
        else:
            line = f"~ {self.path}: {_show(self.old)} → {_show(self.new)}"
        if self.moved and self.old_path is not None:
            line += f" (was {self.old_path})"
        return line

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON data: ``op``, ``path``, ``old_path`` when it differs, and ``old``
        and/or ``new``."""
        out: dict[str, Any] = {"op": self.kind, "path": self.path}
        if self.old_path is not None and self.old_path != self.path:
            out["old_path"] = self.old_path
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        return out

    def word_diff(self) -> str | None:
        """For a change between two long texts, the new text with ``[-old-]{+new+}`` words marked.

        ``None`` when the values are not both text, are short enough to read side by side, or
        share too little to be worth marking.
        """
        if self.kind != "changed" or not (isinstance(self.old, str) and isinstance(self.new, str)):
            return None
        if max(len(self.old), len(self.new)) <= 40:
            return None
        old = re.split(r"(\s+)", self.old)
        new = re.split(r"(\s+)", self.new)
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        if matcher.ratio() < 0.4:
            return None
        out = []
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                out.append("".join(old[i1:i2]))
                continue
            if i2 > i1:
                out.append("[-" + "".join(old[i1:i2]) + "-]")
            if j2 > j1:
                out.append("{+" + "".join(new[j1:j2]) + "+}")
        return "".join(out)


@dataclass(frozen=True, slots=True)
class PromptDiff:
    """The semantic difference between two prompts: what was added, removed and changed, by path.

    ``entries`` are differences in the prompt documents (paths from the prompt's root, ``$.mood``);
    ``metadata`` the differences in the metadata of two prompt files (paths from the file's root,
    ``$.parameters.seed``). Empty (and false) when the prompts are the same. ``a`` and ``b`` are
    labels of the two sides, when known.

    >>> from flux2prompt import load
    >>> d = diff(load({"scene": "x", "effects": ["grain", "soft bloom"]}),
    ...          load({"scene": "x", "effects": ["grain"]}))
    >>> [entry.path for entry in d.removed], bool(d)
    (['$.effects[1]'], True)
    """

    entries: tuple[DiffEntry, ...]
    metadata: tuple[DiffEntry, ...] = ()
    a: str | None = None
    b: str | None = None

    def __bool__(self) -> bool:
        return bool(self.entries or self.metadata)

    def __len__(self) -> int:
        return len(self.entries) + len(self.metadata)

    def __iter__(self) -> Iterator[DiffEntry]:
        yield from self.entries
        yield from self.metadata

    @property
    def added(self) -> tuple[DiffEntry, ...]:
        """Paths present only in the new prompt."""
        return tuple(e for e in self.entries if e.kind == "added")

    @property
    def removed(self) -> tuple[DiffEntry, ...]:
        """Paths present only in the old prompt."""
        return tuple(e for e in self.entries if e.kind == "removed")

    @property
    def changed(self) -> tuple[DiffEntry, ...]:
        """Paths whose value differs."""
        return tuple(e for e in self.entries if e.kind == "changed")

    @property
    def paths(self) -> tuple[str, ...]:
        """The JSON paths of the prompt that differ, in document order."""
        return tuple(e.path for e in self.entries)

    def render(self) -> str:
        """Human-readable lines: ``~ $.mood: "calm" → "tense"``, ``+ ...``, ``- ...``.

        A change between two long texts gets a second line with the changed words marked
        ``[-old-]{+new+}``. Metadata differences follow under ``metadata:``. Empty when identical.
        """
        lines: list[str] = []
        for entry in self.entries:
            lines.append(str(entry))
            words = entry.word_diff()
            if words is not None:
                lines.append(f"    {words}")
        if self.metadata:
            lines.append("metadata:")
            lines.extend(f"  {entry}" for entry in self.metadata)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON data: ``identical``, ``prompt`` and ``metadata`` lists, and labels."""
        out: dict[str, Any] = {}
        if self.a is not None:
            out["a"] = self.a
        if self.b is not None:
            out["b"] = self.b
        out["identical"] = not self
        out["prompt"] = [entry.to_dict() for entry in self.entries]
        out["metadata"] = [entry.to_dict() for entry in self.metadata]
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (UTF-8 text, no escapes)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _same(a: Any, b: Any) -> bool:
    # JSON semantics, not Python's: true is not 1, but 85 and 85.0 are one number.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _canonical(value: Any) -> str:
    """One string per JSON value under :func:`_same`: keys sorted, ``85.0`` written as ``85``."""

    def normal(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {str(key): normal(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [normal(inner) for inner in item]
        if isinstance(item, float) and item.is_integer():
            return int(item)
        return item

    return json.dumps(normal(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _similarity(a: Any, b: Any) -> float:
    """How alike two JSON values are, from 0 (nothing shared) to 1 (equal)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = set(a) | set(b)
        if not keys:
            return 1.0
        shared = sum(_similarity(a[key], b[key]) for key in keys if key in a and key in b)
        return shared / len(keys)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if not a and not b:
            return 1.0
        items_a, items_b = [_canonical(x) for x in a], [_canonical(x) for x in b]
        return difflib.SequenceMatcher(None, items_a, items_b, autojunk=False).ratio()
    if isinstance(a, str) and isinstance(b, str):
        return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return 1.0 if _same(a, b) else 0.0


# Keys that say which thing a list item is: a subject's type or description, a text's content.
_IDENTITY_KEYS = ("type", "content", "description")
_CONTAINERS = (Mapping, list, tuple)
# Pairing weighs every old item of a run against every new one; prompts have a handful.
_MAX_COMPARISONS = 2_500


def _pair_score(a: Any, b: Any, *, in_place: bool) -> float | None:
    """How well an old list item pairs with a new one (higher is better), ``None`` when the two
    are better shown as one removed and one added item.

    ``in_place``: both stand in the same run of replaced items, where any two plain values pair
    (a replaced colour is a change); a pair across runs is a moved item, and needs likeness.
    """
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        likeness = _similarity(a, b)
        if any(key in a and key in b and _same(a[key], b[key]) for key in _IDENTITY_KEYS):
            return 1.0 + likeness
        return likeness if likeness >= 0.5 else None
    if isinstance(a, _CONTAINERS) or isinstance(b, _CONTAINERS):
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            likeness = _similarity(a, b)
            return likeness if likeness >= 0.5 else None
        return None
    likeness = _similarity(a, b)
    if in_place:
        return 0.5 + likeness / 2
    return likeness if isinstance(a, str) and isinstance(b, str) and likeness >= 0.5 else None


def _align_block(old: list[Any], new: list[Any]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of a replaced run, in order, with the best total score (a small
    Needleman-Wunsch: replaced runs are a handful of items)."""
    n, m = len(old), len(new)
    if n * m > _MAX_COMPARISONS:  # an unusual prompt: pair by position rather than stall
        return [(k, k) for k in range(min(n, m))]
    scores = [[_pair_score(a, b, in_place=True) for b in new] for a in old]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            score = scores[i][j]
            paired = best[i + 1][j + 1] + score if score is not None else -1.0
            best[i][j] = max(paired, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        score = scores[i][j]
        if score is not None and best[i][j] == best[i + 1][j + 1] + score:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _align(
    old: Sequence[Any], new: Sequence[Any]
) -> tuple[dict[int, int], set[int], dict[int, int]]:
    """Which old item each new item continues, ``{j: i}``; the ``j`` whose item moved; and for
    each other new item, the old index before which removed items are shown first.

    Equal items are matched first, as the longest common runs (``difflib.SequenceMatcher`` over
    canonical JSON); then, inside each replaced run, items are paired in order by likeness; last,
    items left over in different runs pair when alike (a moved and edited item). An item with no
    partner was added or removed; an equal item in another run is a move shown as both.
    """
    keys_old = [_canonical(item) for item in old]
    keys_new = [_canonical(item) for item in new]
    matcher = difflib.SequenceMatcher(None, keys_old, keys_new, autojunk=False)
    pairs: dict[int, int] = {}
    stops: dict[int, int] = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pairs.update((j1 + k, i1 + k) for k in range(i2 - i1))
            continue
        block = _align_block(list(old[i1:i2]), list(new[j1:j2])) if op == "replace" else []
        pairs.update((j1 + j, i1 + i) for i, j in block)
        for j in range(j1, j2):
            # As in a line diff, the removed items of a run come before its added ones.
            later = [i1 + i for i, paired_j in block if j1 + paired_j > j]
            stops[j] = min(later, default=i2)
    free_old = sorted(set(range(len(old))) - set(pairs.values()))
    free_new = sorted(set(range(len(new))) - set(pairs))
    candidates = []
    if len(free_old) * len(free_new) > _MAX_COMPARISONS:
        free_old = []  # too many to weigh: moved items show as removed and added
    for i in free_old:
        for j in free_new:
            if keys_old[i] == keys_new[j]:
                continue  # a pure move: shown as removed and added, so it is not lost
            score = _pair_score(old[i], new[j], in_place=False)
            if score is not None:
                candidates.append((-score, abs(i - j), i, j))
    moved: set[int] = set()
    taken: set[int] = set()
    for _, _, i, j in sorted(candidates):
        if i not in taken and j not in pairs:
            pairs[j] = i
            taken.add(i)
            moved.add(j)
    return pairs, moved, stops


def _compare(
    old: Any,
    new: Any,
    parts: list[str | int],
    old_parts: list[str | int],
    out: list[DiffEntry],
    moved: bool = False,
) -> None:
    """Append the differences from ``old`` (at ``old_parts``) to ``new`` (at ``parts``)."""

    def entry(kind: DiffKind, where: list[str | int], was: list[str | int], **values: Any) -> None:
        path, old_path = json_path(where), json_path(was)
        shifted = old_path if old_path != path else None
        out.append(DiffEntry(kind, path, old_path=shifted, moved=moved, **values))

    if isinstance(old, Mapping) and isinstance(new, Mapping):
        # In the new document's key order, each removed key where it stood in the old one.
        old_keys = list(old)
        position = {key: index for index, key in enumerate(old_keys)}
        done = 0

        def removed_until(stop: int) -> None:
            nonlocal done
            for key in old_keys[done:stop]:
                if key not in new:
                    entry("removed", [*parts, key], [*old_parts, key], old=old[key])
            done = max(done, stop)

        for key, value in new.items():
            if key in position:
                removed_until(position[key])
                done = max(done, position[key] + 1)
                _compare(old[key], value, [*parts, key], [*old_parts, key], out, moved)
            else:
                out.append(DiffEntry("added", json_path([*parts, key]), new=value))
        removed_until(len(old_keys))
        return
    if isinstance(old, list | tuple) and isinstance(new, list | tuple):
        pairs, moves, stops = _align(old, new)
        kept = set(pairs.values())
        next_old = 0

        def removed_until(stop: int) -> None:
            nonlocal next_old
            for index in range(next_old, stop):
                if index not in kept:
                    # A removed item has no new index: it is named by its old one.
                    entry("removed", [*parts, index], [*old_parts, index], old=old[index])
            next_old = max(next_old, stop)

        for j, value in enumerate(new):
            if j not in pairs:
                removed_until(stops[j])
                out.append(DiffEntry("added", json_path([*parts, j]), new=value))
                continue
            i = pairs[j]
            if j not in moves:
                removed_until(i)
            _compare(old[i], value, [*parts, j], [*old_parts, i], out, moved or j in moves)
        removed_until(len(old))
        return
    if not _same(old, new):
        entry("changed", parts, old_parts, old=old, new=new)


def _as_document(value: Any) -> Any:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._model import Prompt

    if isinstance(value, PromptFile):
        return value.prompt.to_dict() if not value.is_template else value.document
    if isinstance(value, Prompt):
        return value.to_dict()
    if isinstance(value, PromptBuilder):
        return value.compile().to_dict()
    if isinstance(value, Mapping):
        return value
    raise PromptError(
        f"cannot diff a {type(value).__name__}; give a Prompt, a builder, a PromptFile or a dict"
    )


def diff(
    a: Prompt | PromptBuilder | PromptFile | Mapping[str, Any],
    b: Prompt | PromptBuilder | PromptFile | Mapping[str, Any],
) -> PromptDiff:
    """The semantic difference from ``a`` to ``b``, by JSON path.

    Prompts and builders are compared in their compiled form (so ``#abc`` and ``#AABBCC`` are the
    same colour); a template :class:`PromptFile` by its document as written; a dict as it is.
    When both are prompt files, their metadata is compared too.

    List items are aligned, not compared index by index: an inserted subject is one ``+`` entry,
    and an edited one shows its changed fields under its new index (``old_path`` keeps the old
    one); a removed item is named by its index in the old list.

    >>> from flux2prompt import scene
    >>> print(diff(scene("fog").mood("calm"), scene("fog").camera(lens="85mm")).render())
    + $.camera: {"lens": "85mm"}
    - $.mood: "calm"
    """
    entries: list[DiffEntry] = []
    _compare(_as_document(a), _as_document(b), [], [], entries)
    metadata: list[DiffEntry] = []
    if isinstance(a, PromptFile) and isinstance(b, PromptFile):
        _compare(a.metadata(), b.metadata(), [], [], metadata)
    return PromptDiff(tuple(entries), tuple(metadata))


# --------------------------------------------------------------------------------------------
# Reading files from git


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
    document, is_file = parse_document(data, suffix=suffix, source=label)
    if is_file:
        return prompt_file_from_document(document, source=label, path=path)
    from flux2prompt._load import prompt_from_document

    try:
        return prompt_from_document(document).to_dict()
    except PromptValidationError as exc:
        raise in_file(exc, label, base="$") from None


def diff_sources(a: str | Path, b: str | Path, *, cwd: str | Path | None = None) -> PromptDiff:
    """:func:`diff` two files, each a prompt file, a plain prompt document, or ``REV:path``.

    A string naming no existing file but holding a ``:`` is read from git
    (``HEAD~1:prompts/hero.prompt.toml``; ``REV:./path`` for a path relative to ``cwd``).
    """
    result = diff(read_diff_source(a, cwd=cwd), read_diff_source(b, cwd=cwd))
    return PromptDiff(result.entries, result.metadata, a=str(a), b=str(b))


# --------------------------------------------------------------------------------------------
# The lockfile

#: The default name of the lockfile.
LOCK_FILE = "flux2prompt.lock"
#: The version of the lockfile's own format.
LOCK_VERSION = 1
#: The names of the files that :func:`find_prompt_files` picks up inside a directory.
PROMPT_FILE_PATTERNS: tuple[str, ...] = ("*.prompt.toml", "*.prompt.json")

_SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "__prompt_snapshots__"})


def find_prompt_files(paths: Iterable[str | Path] = (".",)) -> list[Path]:
    """The prompt files named by ``paths``, sorted and without repeats.

    A file is taken whatever its name; a directory is searched recursively for
    ``*.prompt.toml`` and ``*.prompt.json``, skipping hidden directories (``.git``, ``.venv``),
    ``node_modules``, ``__pycache__`` and ``__prompt_snapshots__``. A path that does not exist is
    a :class:`~flux2prompt.SourceError`.
    """
    found: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.setdefault(os.path.normpath(path.absolute()), path)
            continue
        if not path.is_dir():
            raise SourceError("no such file or directory", source=str(path))
        for folder, directories, files in os.walk(path):
            directories[:] = sorted(
                d for d in directories if not d.startswith(".") and d not in _SKIPPED_DIRECTORIES
            )
            for name in sorted(files):
                if name.endswith((".prompt.toml", ".prompt.json")):
                    file = Path(folder) / name
                    found.setdefault(os.path.normpath(file.absolute()), file)
    return [found[key] for key in sorted(found)]


def _sha256_json(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def request_fingerprint(
    prompt: Prompt, *, model: str | None = None, parameters: Mapping[str, int | float] | None = None
) -> str:
    """The request fingerprint of ``prompt`` sent to ``model`` with ``parameters``.

    It is the transport's: sha256 of canonical JSON of the model id, the prompt fingerprint and
    the sorted parameters (width and height filled in with the model's defaults), so it matches
    the fingerprint the batch runner records. Bad parameters raise the transport's
    ``ParameterError``.
    """
    from flux2prompt.transport import build_request

    options: dict[str, Any] = dict(parameters or {})
    if model is not None:
        options["model"] = model
    return build_request(prompt, **options).fingerprint


@dataclass(frozen=True, slots=True)
class LockEntry:
    """What the lockfile records for one prompt file.

    ``path`` is relative to the lockfile's folder, with ``/`` separators. For a template,
    ``prompt_fingerprint`` is the fingerprint of its document as written and
    ``request_fingerprint`` is ``None``.
    """

    path: str
    prompt_fingerprint: str
    request_fingerprint: str | None
    template: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The entry as it appears in ``flux2prompt.lock``."""
        out: dict[str, Any] = {
            "path": self.path,
            "prompt_fingerprint": self.prompt_fingerprint,
            "request_fingerprint": self.request_fingerprint,
        }
        if self.template:
            out["template"] = True
        return out


@dataclass(frozen=True, slots=True)
class Lock:
    """The contents of ``flux2prompt.lock``: prompt name → :class:`LockEntry`.

    ``to_json()`` is stable (keys sorted, indent 2, a final newline), so the file diffs cleanly.

    >>> print(Lock({}).to_json(), end="")
    {
      "lock_version": 1,
      "prompts": {},
      "schema_version": 1
    }
    """

    prompts: Mapping[str, LockEntry]
    schema_version: int = SCHEMA_VERSION
    lock_version: int = LOCK_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The lock as JSON data."""
        return {
            "lock_version": self.lock_version,
            "prompts": {name: entry.to_dict() for name, entry in sorted(self.prompts.items())},
            "schema_version": self.schema_version,
        }

    def to_json(self) -> str:
        """The text of the lockfile."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _lock_entry(prompt_file: PromptFile, base: Path) -> LockEntry:
    assert prompt_file.path is not None
    relative = os.path.relpath(prompt_file.path.absolute(), base.absolute())
    path = PurePosixPath(*Path(relative).parts).as_posix()
    if prompt_file.is_template:
        return LockEntry(path, _sha256_json(prompt_file.document), None, template=True)
    from flux2prompt.transport import ParameterError

    prompt = prompt_file.prompt
    try:
        request = request_fingerprint(
            prompt, model=prompt_file.model, parameters=prompt_file.parameters
        )
    except ParameterError as exc:
        raise SourceError(f"model or parameters: {exc}", source=prompt_file.source) from None
    return LockEntry(path, prompt.fingerprint, request)


def build_lock(paths: Iterable[str | Path] = (".",), *, base: str | Path = ".") -> Lock:
    """Load every prompt file under ``paths`` (see :func:`find_prompt_files`) and fingerprint it.

    Paths in the lock are relative to ``base``, the folder of the lockfile. Two files with one
    ``name`` are a :class:`~flux2prompt.SourceError` naming both.
    """
    entries: dict[str, LockEntry] = {}
    owners: dict[str, Path] = {}
    for file in find_prompt_files(paths):
        prompt_file = load_prompt_file(file)
        if prompt_file.name in owners:
            raise SourceError(
                f"duplicate prompt name {prompt_file.name!r}: also in {owners[prompt_file.name]}; "
                "give each prompt file its own name",
                source=str(file),
            )
        owners[prompt_file.name] = file
        entries[prompt_file.name] = _lock_entry(prompt_file, Path(base))
    return Lock(dict(sorted(entries.items())))


def lock_search_path(start: str | Path = ".") -> tuple[Path, ...]:
    """The folders :func:`find_lock_file` looks in, nearest first: ``start`` and its parents, up
    to the repository's root (the first folder holding ``.git``) or the filesystem's root.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "prompts" / "hero").mkdir(parents=True)
    >>> [p.relative_to(root).as_posix() for p in lock_search_path(root / "prompts" / "hero")]
    ['prompts/hero', 'prompts', '.']
    """
    folders: list[Path] = []
    for folder in (Path(start).absolute(), *Path(start).absolute().parents):
        folders.append(folder)
        # A file too: in a worktree or a submodule, .git is a file naming the real one.
        if (folder / ".git").exists():
            break
    return tuple(folders)


def find_lock_file(start: str | Path = ".") -> Path | None:
    """The nearest ``flux2prompt.lock`` in ``start`` or a parent folder, as git finds ``.git``:
    the search stops at the repository's root (a folder holding ``.git``) or the filesystem's
    root. ``None`` when there is none (see :func:`lock_search_path` for where it looked).

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "prompts").mkdir()
    >>> find_lock_file(root / "prompts") is None
    True
    >>> _ = (root / LOCK_FILE).write_text("{}")
    >>> find_lock_file(root / "prompts") == root / LOCK_FILE
    True
    """
    for folder in lock_search_path(start):
        candidate = folder / LOCK_FILE
        if candidate.is_file():
            return candidate
    return None


def read_lock(path: str | Path = LOCK_FILE) -> Lock:
    """Read a lockfile. Raises :class:`~flux2prompt.SourceError` when it is missing or malformed."""
    from flux2prompt._load import parse_json

    path = Path(path)
    source = str(path)
    data = parse_json(read_bytes(path), source=source)

    def bad(where: str, what: str) -> SourceError:
        return SourceError(
            f"{where}: {what}; this is not a flux2prompt lockfile (rewrite it with "
            "`flux2-prompt lock`)",
            source=source,
        )

    if not isinstance(data, dict):
        raise bad("$", "expected an object")
    lock_version = data.get("lock_version")
    if isinstance(lock_version, bool) or not isinstance(lock_version, int):
        raise bad("$.lock_version", "expected an integer")
    if lock_version > LOCK_VERSION:
        raise SourceError(
            f"written by a newer flux2prompt (lock version {lock_version}, this one knows "
            f"{LOCK_VERSION}); upgrade flux2prompt (pip install --upgrade flux2-prompt)",
            source=source,
        )
    schema_version = data.get("schema_version")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise bad("$.schema_version", "expected an integer")
    prompts = data.get("prompts")
    if not isinstance(prompts, dict):
        raise bad("$.prompts", "expected an object")
    entries: dict[str, LockEntry] = {}
    for name, item in prompts.items():
        where = json_path(["prompts", name])
        if not isinstance(item, dict):
            raise bad(where, "expected an object")
        file, prompt_fp, request_fp = (
            item.get("path"),
            item.get("prompt_fingerprint"),
            item.get("request_fingerprint"),
        )
        if not isinstance(file, str) or not isinstance(prompt_fp, str):
            raise bad(where, "expected 'path' and 'prompt_fingerprint' strings")
        if request_fp is not None and not isinstance(request_fp, str):
            raise bad(where, "expected 'request_fingerprint' to be a string or null")
        entries[name] = LockEntry(
            file, prompt_fp, request_fp, template=item.get("template") is True
        )
    return Lock(entries, schema_version=schema_version, lock_version=lock_version)


def write_lock(lock: Lock, path: str | Path = LOCK_FILE) -> bool:
    """Write ``lock`` to ``path`` atomically; ``False`` (nothing written) when it is unchanged."""
    path = Path(path)
    text = lock.to_json()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise SourceError(f"cannot write: {exc.strerror}", source=str(path)) from None
    return True


LockChangeKind = Literal["added", "removed", "changed", "moved"]


def _short(fingerprint: str | None) -> str:
    if fingerprint is None:
        return "none"
    return fingerprint[: len("sha256:") + 16]


@dataclass(frozen=True, slots=True)
class LockChange:
    """One prompt whose entry in the lockfile is out of date.

    ``added``: a prompt file the lock does not list; ``removed``: listed, no longer found;
    ``changed``: its prompt or request fingerprint differs; ``moved``: same fingerprints, new path.
    """

    kind: LockChangeKind
    name: str
    old: LockEntry | None
    new: LockEntry | None

    def __str__(self) -> str:
        if self.kind == "added":
            assert self.new is not None
            return f"+ {self.name}: new prompt file {self.new.path}"
        if self.kind == "removed":
            assert self.old is not None
            return f"- {self.name}: no longer found (was {self.old.path})"
        assert self.old is not None
        assert self.new is not None
        if self.kind == "moved":
            return f"~ {self.name}: moved from {self.old.path} to {self.new.path}"
        parts = []
        if self.old.prompt_fingerprint != self.new.prompt_fingerprint:
            old, new = self.old.prompt_fingerprint, self.new.prompt_fingerprint
            parts.append(f"prompt {_short(old)} → {_short(new)}")
        if self.old.request_fingerprint != self.new.request_fingerprint:
            old_r, new_r = self.old.request_fingerprint, self.new.request_fingerprint
            parts.append(f"request {_short(old_r)} → {_short(new_r)}")
        if self.old.template != self.new.template:
            parts.append("now a template" if self.new.template else "no longer a template")
        return f"~ {self.name} ({self.new.path}): {', '.join(parts)}"


@dataclass(frozen=True, slots=True)
class LockCheck:
    """The result of :func:`check_lock`: true (``ok``) when the lockfile is up to date."""

    changes: tuple[LockChange, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the lockfile matches the prompt files."""
        return not self.changes and not self.notes

    def __bool__(self) -> bool:
        return self.ok

    def render(self) -> str:
        """One line per change, as ``+ name``, ``- name``, ``~ name: prompt old → new``."""
        return "\n".join([*self.notes, *(str(change) for change in self.changes)])


def compare_locks(recorded: Lock, current: Lock) -> LockCheck:
    """What changed from the ``recorded`` lock to the ``current`` one."""
    changes: list[LockChange] = []
    for name in sorted(set(recorded.prompts) | set(current.prompts)):
        old, new = recorded.prompts.get(name), current.prompts.get(name)
        if old is None:
            changes.append(LockChange("added", name, None, new))
        elif new is None:
            changes.append(LockChange("removed", name, old, None))
        elif (old.prompt_fingerprint, old.request_fingerprint, old.template) != (
            new.prompt_fingerprint,
            new.request_fingerprint,
            new.template,
        ):
            changes.append(LockChange("changed", name, old, new))
        elif old.path != new.path:
            changes.append(LockChange("moved", name, old, new))
    notes = []
    if recorded.schema_version != current.schema_version:
        notes.append(
            f"schema version {recorded.schema_version} → {current.schema_version}: the lock was "
            "written by another version of flux2prompt"
        )
    if recorded.lock_version != current.lock_version:
        notes.append(f"lock version {recorded.lock_version} → {current.lock_version}")
    return LockCheck(tuple(changes), tuple(notes))


def check_lock(
    paths: Iterable[str | Path] = (".",), lock_file: str | Path = LOCK_FILE
) -> LockCheck:
    """Compare the lockfile with the prompt files under ``paths`` as they are now.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "fox.prompt.toml").write_text('name = "fox"\\n[prompt]\\nscene = "fox"\\n')
    >>> _ = write_lock(build_lock([folder], base=folder), folder / LOCK_FILE)
    >>> check_lock([folder], folder / LOCK_FILE).ok
    True
    """
    lock_path = Path(lock_file)
    recorded = read_lock(lock_path)
    current = build_lock(paths, base=lock_path.parent)
    return compare_locks(recorded, current)
