"""A semantic diff of prompts by JSON path.

:func:`diff` compares two prompts (or prompt files, or documents) key by key and reports every
added, removed and changed JSON path; list items are aligned (moves, inserts, edits).

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
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from flux2prompt._errors import PromptError
from flux2prompt._files import (
    PromptFile,
)
from flux2prompt._schema import json_path

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._model import Prompt
    from flux2prompt._versioning._inventory import InventoryEntry

DiffKind = Literal["added", "removed", "changed"]

_MARKS: dict[str, str] = {"added": "+", "removed": "-", "changed": "~"}


def one_line(text: str) -> str:
    r"""``text`` as one line of a diff: its line breaks written as JSON writes them, so a file
    name or a prompt's text that holds one cannot start a line that looks like another change.

    >>> print(one_line('a harbour\n~ $.mood: "fake"'))
    a harbour\n~ $.mood: "fake"
    """
    return text.replace("\n", "\\n").replace("\r", "\\r")


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
        return one_line("".join(out))


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
    #: Lines about a difference no path shows (:data:`SAME_VALUES`).
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries or self.metadata or self.notes)

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
        lines.extend(self.notes)
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
        if self.notes:  # the form of a diff with a path to show stays as it was
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (UTF-8 text, no escapes)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


#: Said when two prompts have the same keys and values (a diff of no path) but are not sent as
#: the same text, so that their fingerprints differ: keys of an extra in another order, ``1``
#: written ``1.0``.
SAME_VALUES = (
    "same keys and values, sent as other text: keys in another order or a number written "
    "otherwise (1 and 1.0), so the fingerprints differ"
)


def wire_text(document: Mapping[str, Any]) -> str:
    """A prompt document as compact JSON in its own key order, numbers as written: two documents
    with one text are sent alike.

    >>> wire_text({"scene": "x", "w": 1.0}) == wire_text({"w": 1.0, "scene": "x"})
    False
    """
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


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


def diff_entries(old: InventoryEntry, new: InventoryEntry) -> list[DiffEntry]:
    """The field diff of two versions of one inventory entry: its prompt's paths, then its
    model and parameters (the seed included) under ``model`` and ``parameters``.

    >>> from flux2prompt._versioning._inventory import InventoryEntry
    >>> a = InventoryEntry("k", "prompt", "k", "k", "sha256:1", None, document={"scene": "a"})
    >>> b = InventoryEntry("k", "prompt", "k", "k", "sha256:2", None, document={"scene": "b"},
    ...                    metadata={"model": "dev"})
    >>> [str(e) for e in diff_entries(a, b)]
    ['~ $.scene: "a" → "b"', '+ $.model: "dev"']
    """
    entries: list[DiffEntry] = []
    _compare(dict(old.document or {}), dict(new.document or {}), [], [], entries)
    _compare(dict(old.metadata), dict(new.metadata), [], [], entries)
    return entries
