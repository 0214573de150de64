"""Two versions of many prompts compared: jobs as expansions, whole inventories by key.

:func:`diff_inventories` pairs the entries of an old and a new side (prompts by key; a job's
items by their variables and seed, then by their origin, then by position) and gives every
prompt or variant added, removed or changed, each changed one with its field diff
(:func:`~flux2prompt._versioning._diff.diff_entries`).

Example:
    >>> from flux2prompt._versioning._inventory import InventoryEntry
    >>> old = [InventoryEntry("a", "prompt", "a", "a", "sha256:1", "sha256:1",
    ...                       document={"mood": "calm"})]
    >>> new = [InventoryEntry("a", "prompt", "a", "a", "sha256:2", "sha256:2",
    ...                       document={"mood": "tense"})]
    >>> print(diff_inventories(old, new).render())
    ~ a: changed
        ~ $.mood: "calm" → "tense"
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flux2prompt._templates import canonical_variables
from flux2prompt._versioning._diff import SAME_VALUES, DiffEntry, diff_entries, one_line
from flux2prompt._versioning._inventory import InventoryEntry

__all__ = ["EntryChange", "InventoryDiff", "diff_inventories", "pair_entries", "unreadable_notes"]


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One prompt or job variant that differs: ``kind``, how it is named, both sides and the
    field diff.

    >>> EntryChange("removed", "hero.py:hero", None, None).lines()
    ['- hero.py:hero: removed']
    """

    kind: Literal["added", "removed", "changed"]
    label: str
    old: InventoryEntry | None
    new: InventoryEntry | None
    fields: tuple[DiffEntry, ...] = ()

    def lines(self) -> list[str]:
        """``~ label: changed`` and the field diff under it, indented."""
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.kind]
        out = [one_line(f"{mark} {self.label}: {self.kind}")]
        out.extend(f"    {entry}" for entry in self.fields)
        old, new = self.old, self.new
        if (
            self.kind == "changed"
            and not self.fields
            and old is not None
            and new is not None
            and old.prompt_fingerprint != new.prompt_fingerprint
        ):
            out.append(f"    {SAME_VALUES}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON data."""

        def side(entry: InventoryEntry | None) -> Any:
            if entry is None:
                return None
            return {
                "source": entry.source,
                "prompt_fingerprint": entry.prompt_fingerprint,
                "request_fingerprint": entry.request_fingerprint,
                "origin": entry.origin,
                "variables": dict(entry.variables) if entry.variables is not None else None,
                "seed": entry.seed,
            }

        return {
            "kind": self.kind,
            "name": self.label,
            "old": side(self.old),
            "new": side(self.new),
            "fields": [entry.to_dict() for entry in self.fields],
        }


@dataclass(frozen=True, slots=True)
class InventoryDiff:
    """What differs between two sides of many prompts; false when nothing does.

    >>> bool(InventoryDiff(()))
    False
    """

    changes: tuple[EntryChange, ...]
    unchanged: int = 0
    a: str | None = None
    b: str | None = None
    #: Lines said beside the diff: a file of the old side that could not be read.
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def render(self) -> str:
        """Every change's lines."""
        return "\n".join(line for change in self.changes for line in change.lines())

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON data: ``identical``, ``unchanged`` and ``changes``."""
        out: dict[str, Any] = {}
        if self.a is not None:
            out["a"] = self.a
        if self.b is not None:
            out["b"] = self.b
        out["identical"] = not self
        out["unchanged"] = self.unchanged
        out["changes"] = [change.to_dict() for change in self.changes]
        out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def unreadable_notes(revision: str, unreadable: Iterable[str]) -> tuple[str, ...]:
    """A note for each file of the old side at ``revision`` that could not be read: what it
    held is shown as added (nothing there can be fixed now).

    >>> unreadable_notes("HEAD~1", ["a.prompt.toml:2: invalid TOML"])
    ('at HEAD~1, a.prompt.toml:2: invalid TOML; left out of the old side, so what it holds now shows as added',)
    """  # noqa: E501
    return tuple(
        f"at {revision}, {line}; left out of the old side, so what it holds now shows as added"
        for line in unreadable
    )


def _variables(entry: InventoryEntry) -> str:
    return canonical_variables(entry.variables or {})


_RULES: tuple[Callable[[InventoryEntry], Any], ...] = (
    lambda e: (_variables(e), e.seed),
    lambda e: (e.origin, e.seed),
    lambda e: (e.origin,),
    lambda e: (e.index,),
)


def pair_entries(
    old: Sequence[InventoryEntry], new: Sequence[InventoryEntry]
) -> list[tuple[InventoryEntry | None, InventoryEntry | None]]:
    """Old and new entries paired: prompts by key; the items of one job first by variables and
    seed (a row inserted above moves nothing), then by origin and seed (a changed cell, a
    changed seed rule), then by origin, then by position. New order, then removed ones."""
    pairs: dict[int, InventoryEntry] = {}
    taken: set[int] = set()

    def by_key(entry: InventoryEntry) -> Any:
        return (entry.kind, entry.key, entry.kind != "item")

    def item_rule(inner: Callable[[InventoryEntry], Any]) -> Callable[[InventoryEntry], Any]:
        def rule(entry: InventoryEntry) -> Any:
            return (entry.key, entry.kind, inner(entry)) if entry.kind == "item" else None

        return rule

    rules: list[Callable[[InventoryEntry], Any]] = [by_key, *(item_rule(r) for r in _RULES)]
    for rule in rules:
        waiting: dict[Any, list[int]] = {}
        for position, entry in enumerate(old):
            key = rule(entry)
            if position not in taken and key is not None and (entry.kind == "item" or key[2]):
                waiting.setdefault(key, []).append(position)
        for position, entry in enumerate(new):
            key = rule(entry)
            if position in pairs or key is None:
                continue
            if entry.kind == "item" and rule is rules[0]:
                continue
            candidates = waiting.get(key)
            if candidates:
                match = candidates.pop(0)
                taken.add(match)
                pairs[position] = old[match]
    out: list[tuple[InventoryEntry | None, InventoryEntry | None]] = [
        (pairs.get(position), entry) for position, entry in enumerate(new)
    ]
    out.extend((entry, None) for position, entry in enumerate(old) if position not in taken)
    return out


def diff_inventories(
    old: Iterable[InventoryEntry],
    new: Iterable[InventoryEntry],
    *,
    a: str | None = None,
    b: str | None = None,
) -> InventoryDiff:
    """Every prompt and variant added, removed or changed from ``old`` to ``new``. An entry is
    changed when its request fingerprint (or, for a template, its document's) differs."""
    changes: list[EntryChange] = []
    unchanged = 0
    for before, after in pair_entries(list(old), list(new)):
        if before is None:
            assert after is not None
            changes.append(EntryChange("added", after.label, None, after))
        elif after is None:
            changes.append(EntryChange("removed", before.label, before, None))
        elif (before.request_fingerprint, before.prompt_fingerprint) == (
            after.request_fingerprint,
            after.prompt_fingerprint,
        ) and dict(before.metadata) == dict(after.metadata):
            unchanged += 1
        else:
            label = after.label
            if before.kind == "item" and before.origin != after.origin:
                label += f" (was {before.origin})"
            changes.append(
                EntryChange("changed", label, before, after, tuple(diff_entries(before, after)))
            )
    return InventoryDiff(tuple(changes), unchanged, a, b)
