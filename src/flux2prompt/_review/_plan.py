"""What a review shows: every prompt and job item whose request changed, and its requests.

:func:`plan_review` reads the inventory at BASE (in a separate interpreter over that commit's
tree, :mod:`flux2prompt._versioning._revision`: the working tree's code is never imported for
it) and in the working tree, diffs them (:func:`~flux2prompt._versioning.diff_inventories`),
and rebuilds, for each side of each change, the request that would be sent: the entry's
prompt, model and parameters, its seed, and a job's reference images. A prompt with no seed of
its own is drawn at the review's seed, the same on both sides, so before and after differ only
by the change.

``limit`` keeps a sample of the changes for the images: one from each prompt or job in turn,
and within a job a spread chosen by the hash of each item's request (the same sample on every
run); the plan says how many were left out. Costs are counted over every change.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux2prompt._errors import PromptError
from flux2prompt._review._base import Base, resolve_base
from flux2prompt._versioning._compare import (
    EntryChange,
    InventoryDiff,
    diff_inventories,
    unreadable_notes,
)
from flux2prompt._versioning._inventory import Inventory, InventoryEntry

if TYPE_CHECKING:
    from flux2prompt.transport import WorkersAIRequest

__all__ = ["DEFAULT_SEED", "ReviewChange", "ReviewPlan", "Side", "plan_review", "sample"]

#: The seed of a prompt that has none of its own (both sides get the same one).
DEFAULT_SEED = 1


@dataclass(frozen=True, slots=True)
class Side:
    """One side (before or after) of a change: the entry, and the request that draws it.

    ``request`` is ``None`` when there is nothing to draw (a template without variables) or
    its request cannot be built; ``note`` says why, or that the review chose the seed, and
    ``problem`` holds why a request could not be built (an image that cannot be drawn).
    ``options`` rebuild the request on a client (``client.build_request(**options)``).
    ``cost`` is the catalogue's estimate in USD, ``None`` when the model has no price.
    """

    entry: InventoryEntry
    request: WorkersAIRequest | None
    options: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    cost: float | None = None
    job: str | None = None
    problem: str | None = None

    @property
    def fingerprint(self) -> str | None:
        """The request fingerprint of what is drawn (the cache's key)."""
        return self.request.fingerprint if self.request is not None else None


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """A change (:class:`~flux2prompt._versioning._compare.EntryChange`) with its two sides."""

    change: EntryChange
    before: Side | None
    after: Side | None

    @property
    def group(self) -> str:
        """The prompt's key, or the job's: what ``--limit`` samples across."""
        entry = self.change.new or self.change.old
        assert entry is not None
        return entry.key

    @property
    def sides(self) -> list[Side]:
        """The sides that exist (a removed prompt has no after, an added one no before)."""
        return [side for side in (self.before, self.after) if side is not None]


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    """The changes between ``base`` and the working tree: ``changes`` (those shown, in the
    diff's order), ``left_out`` (changes beyond ``--limit``), the ``diff`` and totals."""

    base: Base
    diff: InventoryDiff
    changes: tuple[ReviewChange, ...]
    left_out: int
    before_count: int
    after_count: int
    cost_before: float
    cost_after: float
    unpriced: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """How many prompts or items were changed, added and removed (all, not the sample)."""
        out = {"changed": 0, "added": 0, "removed": 0}
        for change in self.diff.changes:
            out[change.kind] += 1
        return out


def _estimate(request: WorkersAIRequest) -> float | None:
    from flux2prompt.transport import ParameterError, estimate_cost

    if request.model.pricing is None:
        return None
    width, height, steps = (request.params.get(k) for k in ("width", "height", "steps"))
    try:
        return estimate_cost(
            request.model,
            int(width) if isinstance(width, int | float) else None,
            int(height) if isinstance(height, int | float) else None,
            int(steps) if isinstance(steps, int | float) else None,
            [(i.width, i.height) for i in request.images],
        )
    except ParameterError:
        return None


def _cost_only(entry: InventoryEntry, images: Sequence[bytes]) -> tuple[float | None, bool]:
    """The cost of one image of ``entry`` (and whether it has a request at all), without
    building its prompt: a change beyond ``--limit`` counts in the costs, not in the images."""
    from flux2prompt.transport import DEFAULT_MODEL, ParameterError, build_request

    if entry.kind == "template" or entry.document is None:
        return None, False
    parameters = dict(entry.metadata.get("parameters") or {})
    parameters.pop("seed", None)
    try:
        request = build_request(
            "-",
            model=entry.metadata.get("model") or DEFAULT_MODEL,
            images=list(images),
            **parameters,
        )
    except (ParameterError, TypeError):
        return None, False
    return _estimate(request), True


def _side(
    entry: InventoryEntry, images: Sequence[bytes], seed: int, job: str | None = None
) -> Side:
    """The request ``entry`` stands for, drawn at its own seed (else ``seed``)."""
    from flux2prompt._document import prompt_from_value
    from flux2prompt.transport import DEFAULT_MODEL, ParameterError, build_request

    if entry.kind == "template" or entry.document is None:
        return Side(entry, None, note="a template: no variables, so no image", job=job)
    parameters = dict(entry.metadata.get("parameters") or {})
    own_seed = parameters.pop("seed", None)
    if entry.seed is not None:
        own_seed = entry.seed
    note = None
    if own_seed is None:
        own_seed = seed
        note = f"no seed of its own: drawn at seed {seed}"
    try:
        prompt = prompt_from_value(dict(entry.document), profile=entry.profile)
        options: dict[str, Any] = {
            "prompt": prompt,
            "model": entry.metadata.get("model") or DEFAULT_MODEL,
            "seed": own_seed,
            "images": list(images),
            **parameters,
        }
        request = build_request(**options)
    except (ParameterError, PromptError, TypeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Side(
            entry,
            None,
            note=f"its request cannot be built: {exc}",
            job=job,
            problem=f"{entry.label}: {problem}",
        )
    if (
        note is None
        and entry.request_fingerprint is not None
        and request.fingerprint != entry.request_fingerprint
    ):
        note = "the request drawn differs from the one recorded (rebuilt from its prompt)"
    return Side(entry, request, options, note, _estimate(request), job)


def _seed_note(before: Side, after: Side) -> Side:
    """``after`` with a note when its seed is not the one before (a job's seed rule derives it
    from the variables, or the seed itself changed): the two images differ by that too."""
    if before.request is None or after.request is None:
        return after
    old, new = before.request.params.get("seed"), after.request.params.get("seed")
    if old == new or after.note is not None:
        return after
    return dataclasses.replace(
        after, note=f"drawn at seed {new}, not {old}: the change moved the seed too"
    )


def sample(changes: Sequence[ReviewChange], limit: int | None) -> list[int]:
    """The positions of the changes kept under ``limit`` (``None`` or ``0``: all), in order.

    Round-robin over the prompts and jobs (first appearance first); within one, by the sha256
    of the change's label and recorded request fingerprints, so a job's sample is spread over
    its rows and the same on every run.

    >>> sample([], 3)
    []
    """
    if not limit or len(changes) <= limit:
        return list(range(len(changes)))
    groups: dict[str, list[int]] = {}
    for position, change in enumerate(changes):
        groups.setdefault(change.group, []).append(position)

    def rank(position: int) -> str:
        change = changes[position].change
        sides = (change.old, change.new)
        fingerprints = [(e.request_fingerprint or "") if e else "" for e in sides]
        key = "\0".join([change.label, *fingerprints])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    queues = [sorted(members, key=rank) for members in groups.values()]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return sorted(chosen)


def _job_names(inventory: Inventory) -> dict[str, str]:
    return {key: job.name for key, job in inventory.jobs.items()}


def _current_job_images(inventory: Inventory, root: Path) -> dict[str, list[bytes]]:
    from flux2prompt._versioning._inventory import job_images

    out: dict[str, list[bytes]] = {}
    for key, job in inventory.jobs.items():
        images = job_images(root / job.path)
        if images:
            out[key] = images
    return out


def plan_review(
    base: str | None = None,
    *,
    cwd: str | Path = ".",
    limit: int | None = None,
    seed: int = DEFAULT_SEED,
) -> ReviewPlan:
    """The changes between ``base`` (see :func:`~flux2prompt._review._base.resolve_base`) and
    the working tree of the project ``cwd`` is in, each with the requests of its two sides."""
    from flux2prompt._files._project import find_project
    from flux2prompt._versioning._inventory import build_inventory
    from flux2prompt._versioning._revision import inventory_at

    found = resolve_base(base, cwd)
    project = find_project(cwd)
    _, old, old_images = inventory_at(
        found.commit,
        None,
        base=project.root,
        cwd=cwd,
        project_root=project.root,
        job_images=True,
        tolerant=True,
    )
    new = build_inventory(None, base=project.root, project=project)
    new_images = _current_job_images(new, project.root)
    diff = diff_inventories(old.entries, new.entries, a=found.label, b="working tree")
    diff = dataclasses.replace(diff, notes=unreadable_notes(found.label, old.unreadable))
    old_jobs, new_jobs = _job_names(old), _job_names(new)
    listed = [ReviewChange(change, None, None) for change in diff.changes]
    kept = set(sample(listed, limit))
    changes: list[ReviewChange] = []
    cost_before = cost_after = 0.0
    unpriced = 0
    for position, change in enumerate(diff.changes):
        old_entry, new_entry = change.old, change.new
        if position not in kept:
            # Beyond --limit: counted in the costs only.
            for entry, images, is_old in (
                (old_entry, old_images, True),
                (new_entry, new_images, False),
            ):
                if entry is None:
                    continue
                cost, drawable = _cost_only(entry, images.get(entry.key, ()))
                unpriced += drawable and cost is None
                if is_old:
                    cost_before += cost or 0.0
                else:
                    cost_after += cost or 0.0
            continue
        before = after = None
        if old_entry is not None:
            key = old_entry.key
            before = _side(old_entry, old_images.get(key, ()), seed, old_jobs.get(key))
        if new_entry is not None:
            key = new_entry.key
            after = _side(new_entry, new_images.get(key, ()), seed, new_jobs.get(key))
        if before is not None and after is not None:
            after = _seed_note(before, after)
        for side in (before, after):
            if side is not None and side.request is not None and side.cost is None:
                unpriced += 1
        cost_before += (before.cost or 0.0) if before is not None else 0.0
        cost_after += (after.cost or 0.0) if after is not None else 0.0
        changes.append(ReviewChange(change, before, after))
    return ReviewPlan(
        found,
        diff,
        tuple(changes),
        len(diff.changes) - len(changes),
        old.count,
        new.count,
        cost_before,
        cost_after,
        unpriced,
    )
