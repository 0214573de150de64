"""Planning a batch: from a job to the stream of requests to send, without sending any.

Planning expands the template over every row and seed, builds each request (which checks the
parameters and gives the request fingerprint), drops exact duplicates (an identical request
would give an identical image), names each file, and keeps the items of one shard. Names are
handed out over the whole batch before the shard filter, so every shard names an item exactly
as an unsharded run would. It is a generator: memory holds the names and fingerprints seen so
far, never the prompts.

Example:
    >>> from flux2prompt import scene
    >>> from flux2prompt._templates import matrix, template
    >>> from flux2prompt.batch._job import BatchJob
    >>> @template
    ... def mug(color: str):
    ...     return scene(f"a {color} mug")
    >>> job = BatchJob(name="m", template=mug, source=matrix(color=["teal", "teal", "rust"]),
    ...                output="{color}.{ext}", model="klein-4b", seeds=1)
    >>> stats = PlanStats()
    >>> [item.name for item in plan_items(job, stats=stats)]
    ['teal.\\x00ext\\x00', 'rust.\\x00ext\\x00']
    >>> stats.duplicates
    1
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux2prompt._errors import SourceError
from flux2prompt._templates import Variant, expand
from flux2prompt.batch._job import BatchJob
from flux2prompt.batch._naming import NameRegistry, with_extension
from flux2prompt.batch._shard import Shard
from flux2prompt.transport import WorkersAIRequest, build_request

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

    @property
    def index(self) -> int:
        """The item's position in the whole (unsharded) batch."""
        return self.variant.index

    @property
    def key(self) -> str:
        """The request fingerprint: the item's identity in manifests and shards."""
        return self.request.fingerprint

    def file_name(self, ext: str) -> str:
        """The relative path of the output file for an image of extension ``ext``."""
        return with_extension(self.name, ext)


@dataclass
class PlanStats:
    """Counts kept while planning: every variant, exact duplicates, items of other shards."""

    variants: int = 0
    duplicates: int = 0
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
    seen: set[str] = set()
    pattern = job.pattern
    for variant in expand(job.template, job.source, seeds=job.seed_policy):
        stats.variants += 1
        request = build_request(
            variant.prompt, model=job.model, seed=variant.seed, images=images, **parameters
        )
        key = request.fingerprint
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        name = pattern.render(
            variant.variables,
            index=variant.index,
            seed=variant.seed,
            fingerprint=key,
            job=job.name,
        )
        name = names.claim(name, key)
        if shard is not None and not shard.contains(key):
            stats.other_shards += 1
            continue
        yield PlannedItem(variant, request, name)
