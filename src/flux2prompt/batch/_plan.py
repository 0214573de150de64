"""Planning a batch: from a job to the stream of requests to send, without sending any.

Planning expands the template over every row and seed, checks each request (its parameters,
and its request fingerprint; by :func:`~flux2prompt._versioning._requests.planned_requests`, as
the lockfile's, a stage of variants at a time; the request itself is put together when it is
sent or shown), names each file, and keeps the items of one shard. Names are handed out over
the whole batch before the shard filter, so every shard names an item exactly as an unsharded
run would. It is a generator: memory holds the names and fingerprints seen so far, never the
prompts.

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

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeAlias

from flux2prompt._errors import ImageError, PromptError, SourceError
from flux2prompt._templates import Variant, expand
from flux2prompt._versioning._requests import bfl_variant_requests, planned_requests
from flux2prompt.batch._job import BatchJob
from flux2prompt.batch._naming import NameRegistry, name_digest, with_extension
from flux2prompt.batch._shard import Shard
from flux2prompt.transport import BFLRequest, WorkersAIRequest
from flux2prompt.transport._request import PlannedRequest

__all__ = [
    "MAX_VARIABLES_BYTES",
    "PlanRow",
    "PlanStats",
    "PlannedItem",
    "plan_items",
    "plan_rows",
    "unwritable",
]


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One item to generate: the variant, its checked request and its file name.

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
    #: The request, checked and fingerprinted: a Workers AI one, put together when
    #: :attr:`request` is first read, or a Black Forest Labs one (a job with
    #: ``provider = "bfl"``).
    planned: PlannedRequest | BFLRequest
    name: str
    #: The index of the first item with the same request, when this item is a copy of it.
    original: int | None = None
    #: Why the item's manifest record could not be written (a NaN, a lone surrogate, an
    #: oversized value in its variables), naming its row; such an item is never sent.
    unwritable: str | None = None
    #: What each reference image sent stands for: its path or URL (``None`` for bytes).
    inputs: tuple[str | None, ...] = ()

    @property
    def request(self) -> WorkersAIRequest | BFLRequest:
        """The request to send: a Workers AI request, or a Black Forest Labs one."""
        planned = self.planned
        return planned.request if isinstance(planned, PlannedRequest) else planned

    @property
    def index(self) -> int:
        """The item's position in the whole (unsharded) batch."""
        return self.variant.index

    @property
    def key(self) -> str:
        """The request fingerprint: what decides the image, and the item's shard."""
        return self.planned.fingerprint

    @property
    def is_copy(self) -> bool:
        """Whether an earlier item sends the same request (this one copies its image)."""
        return self.original is not None

    def file_name(self, ext: str) -> str:
        """The relative path of the output file for an image of extension ``ext``."""
        return with_extension(self.name, ext)


#: One planned item as :func:`plan_rows` gives it: :class:`PlannedItem`'s fields in order,
#: then the request fingerprint's first 128 bits as an int.
PlanRow: TypeAlias = tuple[
    Variant, "PlannedRequest | BFLRequest", str, int | None, str | None, tuple[str | None, ...], int
]


@dataclass
class PlanStats:
    """Counts kept while planning: every variant, items that repeat an earlier item's request
    and name (planned once), copies (same request, own name) and items of other shards."""

    variants: int = 0
    duplicates: int = 0
    copies: int = 0
    other_shards: int = 0


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
    for variant, planned, name, original, why, inputs, _ in plan_rows(
        job, shard=shard, stats=stats
    ):
        yield PlannedItem(variant, planned, name, original, why, inputs)


def plan_rows(
    job: BatchJob, *, shard: Shard | None = None, stats: PlanStats | None = None
) -> Iterator[PlanRow]:
    """:func:`plan_items` as rows (:data:`PlanRow`): what the survey of a whole batch reads,
    without an object per item it does not keep.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import matrix, template
        >>> from flux2prompt.batch._job import BatchJob
        >>> job = BatchJob(name="x", template=template(lambda n: scene(f"tile {n}")),
        ...                source=matrix(n=range(2)), output="{n}.{ext}", seeds=1)
        >>> [PlannedItem(*row[:6]).file_name("png") for row in plan_rows(job)]
        ['0.png', '1.png']
    """
    stats = stats if stats is not None else PlanStats()
    references = job.references
    labelled = len(references) > 0
    images = references.request_images()
    parameters: dict[str, Any] = dict(job.parameters)
    names = NameRegistry()
    # Request fingerprint -> its first item (index and name digest); the other names a
    # repeated request was given. Keyed by 128-bit digests (Python ints), not the strings: a
    # 100,000-item batch keeps a few MiB of them, and two different keys sharing 128 bits is
    # beyond any batch's odds.
    originals: dict[int, int] = {}
    rendered: set[int] = set()
    pattern = job.pattern
    render = pattern.renderer(job=job.name)
    requests: Iterator[tuple[Variant, PlannedRequest | BFLRequest]]
    if job.provider == "bfl":
        requests = bfl_variant_requests(
            job.template, job.source, seeds=job.seed_policy, model=job.model,
            parameters=parameters, images=images, prompt_format=job.prompt_format,
        )  # fmt: skip
    else:
        requests = planned_requests(
            job.template, job.source, seeds=job.seed_policy, model=job.model,
            parameters=parameters, images=images, prompt_format=job.prompt_format,
        )  # fmt: skip
    first_item = True
    for variant, request in _rows_named(requests, job, stats):
        stats.variants += 1
        key = request.fingerprint
        if first_item:
            first_item = False
            # A dataset's columns are known only now: an unknown field in the output pattern is
            # the same mistake in the job file as with a matrix (checked when it is read), so the
            # same error, a SourceError (exit 2 on the command line), not an item's failure.
            try:
                pattern.check_fields(variant.variables, origin=variant.origin)
            except PromptError as exc:
                raise _job_error(pattern.origin, str(exc)) from None
        try:
            name = render(variant.variables, variant.index, variant.seed, key)
        except PromptError as exc:
            origin = f", {variant.origin}" if variant.origin else ""
            raise PromptError(f"{exc} (item {variant.index}{origin})") from None
        digest = int(key[7:39], 16)
        named = name_digest(name)
        first = originals.get(digest)
        if first is None:
            # The first item of a request: its index and its name's digest, in one int.
            originals[digest] = (named << _INDEX_BITS) | variant.index
            copy_of = None
        else:
            copy_of = first & _INDEX_MASK
            same = digest ^ named
            if named == first >> _INDEX_BITS or same in rendered:
                stats.duplicates += 1
                continue
            rendered.add(same)
        name = names.claim(name, key, digest_of_name=named)
        if shard is not None and not shard.contains(key):
            stats.other_shards += 1
            continue
        if copy_of is not None:
            stats.copies += 1
        inputs = references.labels(variant.variables) if labelled else ()
        yield variant, request, name, copy_of, unwritable(variant), inputs, digest


def _rows_named(
    requests: Iterator[tuple[Variant, PlannedRequest | BFLRequest]],
    job: BatchJob,
    stats: PlanStats,
) -> Iterator[tuple[Variant, PlannedRequest | BFLRequest]]:
    """``requests``, with an image that one row's request cannot take (a template's
    ``.reference()`` naming a file that is missing, too large, not an image) raised as the
    row's error: a :class:`PromptError` naming its origin (``rows.csv:14``) and the file."""
    try:
        yield from requests
    except ImageError as exc:
        label = _IMAGE_LABEL.match(str(exc))
        if label is None or (_NOT_A_PATH.fullmatch(label["path"]) and not job.references.per_item):
            raise  # the job's images, the same for every item: a job-level problem
        # The requests before the failing one were all given: it is variant number
        # stats.variants of the expansion, whose origin a second expansion finds (only now).
        position = stats.variants
        found = next(
            islice(expand(job.template, job.source, seeds=job.seed_policy), position, None), None
        )
        origin = found.origin if found is not None and found.origin else f"item {position}"
        message = _IMAGE_LABEL.sub(
            lambda m: (
                f"reference image {m['where']}"
                if _NOT_A_PATH.fullmatch(m["path"])
                else f"reference image {m['path']} ({m['where']})"
            ),
            str(exc),
        )
        raise PromptError(f"{origin}: {message}; add the file or correct the row") from None


_IMAGE_LABEL = re.compile(r"^(?P<where>images\[\d+\]) \((?P<path>[^)]*)\)")
# What the transport says in place of a path for bytes and Pillow images.
_NOT_A_PATH = re.compile(r"\d+ bytes|Pillow image")


def _job_error(origin: str | None, message: str) -> SourceError:
    """``message`` (which starts with ``origin``, ``job.toml:4``, when known) as a
    :class:`SourceError` naming the job file and the line."""
    file, _, line = (origin or "").rpartition(":")
    if file and line.isdigit() and message.startswith(f"{origin}: "):
        return SourceError(message[len(origin or "") + 2 :], source=file, line=int(line))
    return SourceError(message)


_INDEX_BITS = 48
_INDEX_MASK = (1 << _INDEX_BITS) - 1

#: The most bytes an item's variables may take in its manifest record.
MAX_VARIABLES_BYTES = 256 * 1024


def unwritable(variant: Variant) -> str | None:
    """Why ``variant``'s variables cannot go into a manifest record as they are (a number that
    is not finite, a lone surrogate, more than :data:`MAX_VARIABLES_BYTES`), or ``None``.

    Example:
        >>> from flux2prompt._templates import Variant
        >>> print(unwritable(Variant(0, {"note": float("nan")}, None, None, "rows.csv:3")))
        rows.csv:3: column 'note' holds nan, which a manifest record cannot hold (JSON has no NaN or Infinity); fix the row
    """  # noqa: E501
    # The common row (short text, integers) is settled without serialising it.
    length = 0
    for value in variant.variables.values():
        if value.__class__ is int:  # the commonest kind first, by its exact type
            continue
        if isinstance(value, str):
            if not value.isascii():
                break
            length += len(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                break
        elif not (value is None or isinstance(value, int)):
            break
    else:
        if length * 6 < MAX_VARIABLES_BYTES:  # \u escapes take at most 6 bytes a character
            return None
    try:
        text = json.dumps(dict(variant.variables), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
        return _why(variant)
    if size > MAX_VARIABLES_BYTES:
        where = f"{variant.origin}: " if variant.origin else f"item {variant.index}: "
        return (
            f"{where}the row's values take {size:,} bytes, more than the {MAX_VARIABLES_BYTES:,} "
            "a manifest record holds; shorten them"
        )
    return None


def _why(variant: Variant) -> str:
    where = f"{variant.origin}: " if variant.origin else f"item {variant.index}: "
    for name, value in variant.variables.items():
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except ValueError as exc:
            if isinstance(exc, UnicodeEncodeError):
                what = "a lone surrogate (half of a character, such as a cut-off emoji)"
                hint = "write the whole character"
            else:
                what = f"{value!r}"
                hint = "JSON has no NaN or Infinity"
            return (
                f"{where}column {name!r} holds {what}, which a manifest record cannot hold "
                f"({hint}); fix the row"
            )
        except (TypeError, RecursionError):
            return (
                f"{where}column {name!r} holds a value a manifest record cannot hold; fix the row"
            )
    return f"{where}the row cannot be written to the manifest; fix the row"
