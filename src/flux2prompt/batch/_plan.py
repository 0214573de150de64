"""Planning a batch: from a job to the stream of requests to send, without sending any.

Planning expands the template over every row and seed, builds each request (which checks the
parameters and gives the request fingerprint; built by
:func:`~flux2prompt._versioning._requests.variant_requests`, as the lockfile's), names each
file, and keeps the items of one shard. Names are handed out over the whole batch before the
shard filter, so every shard names an item exactly as an unsharded run would. It is a
generator: memory holds the names and fingerprints seen so far, never the prompts.

Two items whose requests are byte-for-byte identical (two dataset rows that differ only in a
column the template does not use) would get identical images, so only the first is sent: a
later one is a *copy* (:attr:`PlannedItem.original` is the index of the first), which the
runner writes under its own name from the first one's image. An item whose request *and* file
name both repeat an earlier item's is the same file: it is planned once and counted in
:attr:`PlanStats.duplicates`. A copy has the request fingerprint of its original, so it
always falls in the same shard.

Example:
    >>> from flux2prompt import scene
    >>> from flux2prompt._templates import zipped, template
    >>> from flux2prompt.batch._job import BatchJob
    >>> @template
    ... def mug(color: str):
    ...     return scene(f"a {color} mug")
    >>> job = BatchJob(name="m", template=mug, source=zipped(color=["teal", "teal", "rust"],
    ...                sku=["A", "B", "C"]), output="{sku}.{ext}", model="klein-4b", seeds=1)
    >>> [(item.file_name("jpg"), item.original) for item in plan_items(job)]
    [('A.jpg', None), ('B.jpg', 0), ('C.jpg', None)]
    >>> stats = PlanStats()
    >>> same = BatchJob(name="m", template=mug, source=zipped(color=["teal", "teal"]),
    ...                 output="{color}.{ext}", model="klein-4b", seeds=1)
    >>> [item.file_name("jpg") for item in plan_items(same, stats=stats)], stats.duplicates
    (['teal.jpg'], 1)
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux2prompt._errors import PromptError, SourceError
from flux2prompt._templates import Variant
from flux2prompt._versioning._requests import variant_requests
from flux2prompt.batch._job import BatchJob
from flux2prompt.batch._naming import NameRegistry, with_extension
from flux2prompt.batch._shard import Shard
from flux2prompt.transport import WorkersAIRequest

__all__ = ["PlanStats", "PlannedItem", "plan_items"]


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One item to generate: the variant, its built request and its file name.

    ``name`` still holds a stand-in for the extension; :meth:`file_name` puts the real one in.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import template, zipped
        >>> from flux2prompt.batch._job import BatchJob
        >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
        ...                source=zipped(city=["Oslo"]), output="{city}.{ext}", seeds=4)
        >>> item = next(plan_items(job))
        >>> item.index, item.file_name("jpg"), item.request.seed, item.key[:7]
        (0, 'Oslo.jpg', 4, 'sha256:')
    """

    variant: Variant
    request: WorkersAIRequest
    name: str
    #: The index of the first item with the same request, when this item is a copy of it.
    original: int | None = None

    @property
    def index(self) -> int:
        """The item's position in the whole (unsharded) batch."""
        return self.variant.index

    @property
    def key(self) -> str:
        """The request fingerprint: what decides the image, and the item's shard."""
        return self.request.fingerprint

    @property
    def is_copy(self) -> bool:
        """Whether an earlier item sends the same request (this one copies its image)."""
        return self.original is not None

    def file_name(self, ext: str) -> str:
        """The relative path of the output file for an image of extension ``ext``."""
        return with_extension(self.name, ext)


@dataclass
class PlanStats:
    """Counts kept while planning: every variant, items that repeat an earlier item's request
    and name (planned once), copies (same request, own name) and items of other shards."""

    variants: int = 0
    duplicates: int = 0
    copies: int = 0
    other_shards: int = 0


def _read_images(job: BatchJob) -> list[bytes]:
    images: list[bytes] = []
    for image in job.images:
        if isinstance(image, bytes):
            images.append(image)
            continue
        try:
            images.append(Path(image).read_bytes())
        except OSError as exc:
            raise SourceError(
                f"cannot read the reference image: {exc.strerror}", source=os.fspath(image)
            ) from None
    return images


def plan_items(
    job: BatchJob, *, shard: Shard | None = None, stats: PlanStats | None = None
) -> Iterator[PlannedItem]:
    """Stream the items of ``job`` (of one ``shard``), in batch order, with their requests.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import matrix, template
        >>> from flux2prompt.batch._job import BatchJob
        >>> job = BatchJob(name="x", template=template(lambda n: scene(f"tile {n}")),
        ...                source=matrix(n=range(10)), output="{n}.{ext}", seeds=1)
        >>> sum(1 for _ in plan_items(job, shard=Shard(1, 2))) + sum(
        ...     1 for _ in plan_items(job, shard=Shard(2, 2)))
        10
    """
    stats = stats if stats is not None else PlanStats()
    images = _read_images(job)
    parameters: dict[str, Any] = dict(job.parameters)
    names = NameRegistry()
    # Request fingerprint -> index of its first item; fingerprint + rendered name, for repeats.
    originals: dict[str, int] = {}
    rendered: set[str] = set()
    pattern = job.pattern
    requests = variant_requests(
        job.template,
        job.source,
        seeds=job.seed_policy,
        model=job.model,
        parameters=parameters,
        images=images,
        prompt_format=job.prompt_format,
    )
    for variant, request in requests:
        stats.variants += 1
        key = request.fingerprint
        if stats.variants == 1:
            # A dataset's columns are known only now: an unknown field in the output pattern is
            # the same mistake in the job file as with a matrix (checked when it is read), so the
            # same error, a SourceError (exit 2 on the command line), not an item's failure.
            try:
                pattern.check_fields(variant.variables)
            except PromptError as exc:
                raise SourceError(str(exc)) from None
        try:
            name = pattern.render(
                variant.variables,
                index=variant.index,
                seed=variant.seed,
                fingerprint=key,
                job=job.name,
            )
        except PromptError as exc:
            origin = f", {variant.origin}" if variant.origin else ""
            raise PromptError(f"{exc} (item {variant.index}{origin})") from None
        original = originals.setdefault(key, variant.index)
        same = f"{key}\x00{unicodedata.normalize('NFC', name).casefold()}"
        if same in rendered:
            stats.duplicates += 1
            continue
        rendered.add(same)
        name = names.claim(name, key)
        if shard is not None and not shard.contains(key):
            stats.other_shards += 1
            continue
        copy_of = original if original != variant.index else None
        if copy_of is not None:
            stats.copies += 1
        yield PlannedItem(variant, request, name, copy_of)
