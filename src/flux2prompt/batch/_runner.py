"""The batch runner: every item generated once, none lost, resumable after any crash.

A run goes:

1. Lock the output folder (:class:`~flux2prompt.batch._lock.FolderLock`, ``flock``): a
   second run on it stops at once naming the holder's PID, or waits (``wait=True``). Only
   then, once the plan (3) has found those that hold an item's whole image (recovered, 5),
   remove the temporary files that an interrupted run left in the folder.
2. Read the manifest. An item is *finished* when its own ``ok`` record (same request
   fingerprint, same index) names the file the item has now, and that file has the recorded
   sha256; finished items are skipped.
3. Plan the whole batch once before sending anything, so a bad row or parameter stops the
   run before it spends money; send from that plan when it has at most :data:`PLAN_BUFFER`
   items to do, else plan it again as a stream. An item whose record could not be written (a
   NaN, a lone surrogate in its row) fails without a request. Recorded items the job no
   longer has are *superseded*: a ``superseded`` record each, their images moved to
   ``superseded/`` (nothing paid for is deleted).
4. An unfinished item whose request already has an intact image (under another name: the
   output pattern changed, or it is a copy of an identical request that an earlier run made)
   is *copied*: the bytes are written atomically under its own name and its record appended,
   without a request. A copy whose original is sent in this run waits for it, and is written
   as soon as the original's image is.
5. Anything else is sent: wait for a place (:class:`~flux2prompt.batch.AdaptiveConcurrency`)
   and a send slot (:class:`~flux2prompt.batch.RateLimiter`), send, and on success write the
   image atomically, then append its record to the manifest (flushed and fsynced). A crash
   between the two (or a record that does not fit on a full disk) leaves an image without a
   record, which the next run *recovers* (batch/_orphans.py): when the file, or the temporary
   file the crash left, is a whole image whose provenance is exactly this item's, its record
   is appended (``"recovered": true``) without a request; anything else under its name is
   treated as always (the item is sent, the file set aside). A crash between an original and
   its copies leaves copies that the next run writes from the original's image, without a
   request.
6. Retries: which failures are retried, and after how long, is the transport's one policy
   (:func:`~flux2prompt.transport.retry_wait`, the clients' own rules); the runner keeps only
   the budgets. Every HTTP 429 (but a quota) halves the rate and the concurrency; one the policy
   retries (code 3040, or no code but a ``Retry-After``) pauses every sender for that long and
   is retried apart from the item's budget; 5xx and connection failures are retried
   ``retries`` times with backoff; anything else fails the item (it is retried on the next
   run). A quota, too few credits (Black Forest Labs' 402), an authentication or permission
   error stops the batch: every other request would fail the same way. An answer whose
   ``Retry-After`` is longer than a client waits (60 s) pauses the whole queue for that long
   and the item is sent again, apart from its budget (a wait longer than an hour stops the
   batch instead, saying when to rerun).
   A request that may have run the model without an image coming back (a read timeout after it
   was sent whole, a response that broke off, a 2xx with a broken body) is not resent: its
   record says ``may_have_been_billed``, and later runs leave it alone (it is *held*) until
   the run is made with ``resend_billed=True`` (``--resend-billed``), which also retries such
   failures within the run.
7. An image or record that cannot be written (a full disk, a folder where the image goes, a
   symbolic link out of the folder) fails its item with one line; after a disk error the batch
   stops sending. Write the gallery, and return a :class:`BatchReport`.

Example:
    >>> import pathlib, tempfile
    >>> from flux2prompt import scene
    >>> from flux2prompt.batch import BatchJob, matrix, run_batch, template
    >>> @template
    ... def mug(color: str):
    ...     return scene(f"a {color} ceramic mug on seamless paper")
    >>> job = BatchJob(name="mugs", template=mug, source=matrix(color=["teal", "rust"]),
    ...                output="mug-{color}.{ext}", model="klein-4b", seeds=7,
    ...                parameters={"width": 256, "height": 256})
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> report = run_batch(job, out, emulator=True)
    >>> report.generated, report.failed, sorted(p.name for p in out.glob("*.jpg"))
    (2, 0, ['mug-rust.jpg', 'mug-teal.jpg'])
    >>> run_batch(job, out, emulator=True).skipped
    2
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import logging
import os
import re
import stat
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

from flux2prompt._atomic import atomic_write, finish_write, read_at_most
from flux2prompt._digest import sha256_file_fingerprint, sha256_fingerprint
from flux2prompt._errors import Flux2PromptError, SourceError
from flux2prompt.batch._bfl_host import BatchClient, bfl_client, bfl_model_priced
from flux2prompt.batch._emulated import EmulatorEndpoint, emulated
from flux2prompt.batch._forms import job_form
from flux2prompt.batch._gallery import write_gallery
from flux2prompt.batch._job import MAX_CONCURRENCY, BatchJob, load_job
from flux2prompt.batch._limits import AdaptiveConcurrency, RateLimiter, shard_rate_limit
from flux2prompt.batch._lock import LOCK_NAME, FolderLock
from flux2prompt.batch._manifest import (
    MANIFEST_NAME,
    SUPERSEDED,
    ManifestWriter,
    iter_manifest,
    record_key,
)
from flux2prompt.batch._naming import inside
from flux2prompt.batch._orphans import Orphan, Orphans
from flux2prompt.batch._plan import PlannedItem, PlanRow, PlanStats, plan_items, plan_rows
from flux2prompt.batch._records import (
    CopiedFrom,
    FailedRecord,
    ImageRecord,
    Timing,
    copied_record,
    failed_record,
    generated_record,
    may_have_been_billed,
    recovered_record,
    superseded_record,
)
from flux2prompt.batch._shard import Shard
from flux2prompt.transport import (
    DEFAULT_TIMEOUT,
    APIError,
    AsyncWorkersAI,
    AuthenticationError,
    ImageResult,
    InsufficientCreditsError,
    InvalidRequestHeadersError,
    NotFoundError,
    ParameterError,
    PermissionDeniedError,
    PooledTransport,
    QuotaExceededError,
    RateLimitError,
    long_retry_after,
    resolve_model,
    retry_wait,
    stamp_provenance,
)

if TYPE_CHECKING:
    from flux2prompt.emulator import EmulatorConfig

__all__ = [
    "BatchObserver",
    "BatchReport",
    "BatchRunner",
    "DryRun",
    "ItemOutcome",
    "run_batch",
]

#: HTTP 429 answers retried for one item before it is given up (apart from ``retries``). Which
#: 429s are retried, and after how long, is the transport's one policy (``retry_wait``).
MAX_RATE_LIMIT_RETRIES = 100
#: The longest ``Retry-After`` the runner pauses its queue for; a longer one stops the batch.
MAX_QUEUE_PAUSE = 3600.0
_logger = logging.getLogger("flux2prompt.batch")

_FATAL = (
    AuthenticationError,
    InsufficientCreditsError,
    PermissionDeniedError,
    QuotaExceededError,
    NotFoundError,
    InvalidRequestHeadersError,
)
_MAX_LISTED_FAILURES = 20


def _sha256_file(path: Path) -> str | None:
    # Never through a symbolic link: a record holds a file of the folder, not what a link
    # points at.
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            return sha256_file_fingerprint(handle)
    except OSError:
        return None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class _Refused(OSError):
    """A write refused before it was tried (a symbolic link that leaves the output folder)."""


class _Unrecorded(OSError):
    """An image written whose record could not be (a full disk): the next run recovers it."""


#: Errors after which every further write fails too: the batch stops (rerun once fixed).
_DISK_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
    | ({errno.EFBIG} if hasattr(errno, "EFBIG") else set())
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Items to send that the survey keeps for the run, so it plans once; beyond that many, the run
#: plans the batch again as a stream (memory stays flat, whatever the batch's size).
PLAN_BUFFER = 4096
#: The folder superseded images are moved to, inside the output folder.
SUPERSEDED_DIR = "superseded"
#: Where the bytes of an answer that was no image flux2prompt reads are kept (paid for, maybe).
UNREADABLE_DIR = "unreadable"


_TEMPORARY = re.compile(r"^\..+\.tmp$")


def _remove_temporary_files(folder: Path, keep: frozenset[str] = frozenset()) -> int:
    """Delete the temporary files (``.NAME.XXXX.tmp``) interrupted writes left under
    ``folder``, but those in ``keep`` (paths: whole images the run recovers); return how many.
    A folder inside it that has a lock file of its own is another batch's output folder
    (``--out out`` and ``--out out/test``): its temporary files may be in flight, and its own
    run cleans them, so it is left alone."""
    removed = 0
    if not folder.is_dir():
        return 0
    for root, dirs, files in os.walk(folder):
        if root != os.fspath(folder) and LOCK_NAME in files:
            dirs.clear()
            continue
        for name in files:
            if _TEMPORARY.match(name) and os.path.join(root, name) not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf of an exception group (a task group's), raised instead of the group."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _item(row: PlanRow) -> PlannedItem:
    """The :class:`PlannedItem` of a plan's row."""
    variant, planned, name, original, why, inputs, _ = row
    return PlannedItem(variant, planned, name, original, why, inputs)


def _kept(todo: list[PlannedItem] | None, item: PlannedItem) -> list[PlannedItem] | None:
    """``todo`` with ``item`` added, or ``None`` once it would hold more than PLAN_BUFFER."""
    if todo is None or len(todo) >= PLAN_BUFFER:
        return None
    todo.append(item)
    return todo


def _target(folder: Path, relative: str) -> Path:
    """``folder / relative``, checked: the folders on the way must not lead out of ``folder``
    through a symbolic link (raises :class:`_Refused`, an ``OSError``, when they do)."""
    path = inside(folder, relative)
    if path is None:
        raise _Refused(errno.EINVAL, f"{relative!r} is not a path inside the output folder")
    root = os.path.realpath(folder)
    real = os.path.realpath(path.parent)
    if real != root and not real.startswith(root + os.sep):
        raise _Refused(
            errno.ELOOP,
            f"{relative}: a symbolic link on the way leads out of the output folder (refused)",
        )
    if path.is_symlink():
        raise _Refused(errno.ELOOP, f"{relative} is a symbolic link (refused)")
    return path


def _superseded_name(record: ImageRecord) -> str:
    """Where a superseded image goes: ``superseded/<its path>`` with 12 hex digits of its
    sha256 before the extension, so two images once under one name never meet."""
    return _aside_name(str(record.file), record.sha256)


def _aside_name(relative: str, sha256: str | None) -> str:
    path = PurePosixPath(relative)
    digest = str(sha256 or "").partition(":")[2][:12] or "unknown"
    return str(PurePosixPath(SUPERSEDED_DIR, path.parent, f"{path.stem}.{digest}{path.suffix}"))


def _unreadable_name(item: PlannedItem, data: bytes) -> str:
    """Where the bytes of an answer that is no image flux2prompt reads go:
    ``unreadable/<the item's name>.<12 hex digits of their sha256>.bin``, so two such answers
    for one item never meet (``.bin``: what they are is not known)."""
    path = PurePosixPath(item.file_name("bin"))
    digest = sha256_fingerprint(data).partition(":")[2][:12]
    return str(PurePosixPath(UNREADABLE_DIR, path.parent, f"{path.stem}.{digest}.bin"))


def _free_unreadable(folder: Path, relative: str, data: bytes) -> tuple[str, bool]:
    """Where to keep ``data``, and whether it is there already: ``relative``, or the first
    ``NAME.N.bin`` that is free or holds these very bytes. A file under the name with other
    bytes (edited since) is never written over."""
    path = PurePosixPath(relative)
    for number in range(1000):
        name = relative if number == 0 else str(path.with_name(f"{path.stem}.{number}.bin"))
        try:
            existing = read_at_most(_target(folder, name), len(data))
        except FileNotFoundError:
            return name, False
        except OSError as exc:
            if exc.errno not in (errno.EFBIG, errno.EISDIR):
                raise
            continue  # larger, or a folder: not these bytes
        if existing == data:
            return name, True
    raise OSError(errno.EEXIST, f"no free name beside {relative}", relative)


def _set_aside(folder: Path, relative: str, incoming: str) -> None:
    """Before an image with sha256 ``incoming`` is written as ``relative``: move a different
    image already there to ``superseded/`` (its name fixed by that image, as a superseded one's),
    never overwrite it. It may be another item's image, still to be copied under its new name
    (two items that swap names), or one a crash left half-renamed; either way it was paid for.
    """
    path = _target(folder, relative)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return  # nothing there, or not an image: writing it says what is wrong
    except FileNotFoundError:
        return
    digest = _sha256_file(path)
    if digest is None or digest == incoming:
        return
    aside = _target(folder, _aside_name(relative, digest))
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, aside)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What happened to one item in this run (what a :class:`BatchObserver` receives).

    Example:
        >>> ItemOutcome(3, "mug-teal.jpg", "ok").status
        'ok'
    """

    index: int
    name: str
    status: Literal["ok", "failed"]
    error: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The summary of a run.

    ``total`` counts the items of this run (one shard), ``skipped`` those already finished by
    an earlier run, ``generated`` those sent and written, ``copied`` those written from the
    image of an identical request (or from their old name) without a request, and
    ``duplicates`` the items planned once because their request and file name repeat an
    earlier item's. ``elapsed`` is the seconds spent generating (planning and the gallery
    excluded); ``rate_limited`` counts HTTP 429 answers and ``retries`` every repeated request.
    ``stopped`` says why the batch stopped early (a quota, a bad token), if it did. ``held``
    counts the items not sent because an earlier run's request for them may have been billed
    (rerun with ``resend_billed=True`` to send them), ``billed`` the items of this run that
    failed that way, and ``paused`` the seconds the queue waited for long ``Retry-After`` answers.
    ``superseded`` counts the records this run took out of the effective view (their image was
    replaced, or the item is no longer in the job; the images went to ``superseded/``),
    ``recovered`` the items whose image an interrupted run had written without recording it
    (found with this item's provenance, recorded now, no request sent), and ``gallery_error``
    says why the gallery could not be written, if it could not. ``kept`` lists where the bytes of
    answers that were no image flux2prompt reads were kept (under ``unreadable/``).

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
        ...                source=zipped(city=["Oslo"]), output="{city}.{ext}",
        ...                model="klein-4b", parameters={"width": 256, "height": 256})
        >>> import tempfile
        >>> report = run_batch(job, tempfile.mkdtemp(), emulator=True, gallery=False)
        >>> report.ok, report.exit_code, report.generated, report.gallery
        (True, 0, 1, None)
    """

    job: str
    out_dir: Path
    manifest: Path
    gallery: Path | None
    total: int
    skipped: int
    generated: int
    failed: int
    duplicates: int
    other_shards: int
    rate_limited: int
    retries: int
    elapsed: float
    lowest_concurrency: int
    stopped: str | None = None
    failures: tuple[tuple[str, str], ...] = ()
    copied: int = 0
    held: int = 0
    billed: int = 0
    paused: float = 0.0
    superseded: int = 0
    gallery_error: str | None = None
    #: How the rate was set when shards share the job's (``None`` otherwise).
    pace: str | None = None
    recovered: int = 0
    #: Where this run kept the bytes of answers that were no image (``unreadable/...``,
    #: relative to ``out_dir``): each may have been paid for.
    kept: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every item of the run is finished."""
        return self.failed == 0 and self.stopped is None and self.pending == 0 and not self.held

    @property
    def pending(self) -> int:
        """Items neither finished nor failed (the batch stopped before reaching them)."""
        return (
            self.total
            - self.skipped
            - self.generated
            - self.copied
            - self.recovered
            - self.failed
            - self.held
        )

    @property
    def rate(self) -> float:
        """Images generated per second."""
        return self.generated / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every item is finished, else 1."""
        return 0 if self.ok else 1

    def _repr_html_(self) -> str:
        """The notebook view: the counts and a grid of the images' thumbnails.

        >>> "f2p-counts" in BatchReport("x", Path("out"), Path("out/m.jsonl"), None,
        ...                             0, 0, 0, 0, 0, 0, 0, 0, 0.0, 1)._repr_html_()
        True
        """
        from flux2prompt.batch._notebook import report_html

        return report_html(self)


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a run would do, computed without any network: counts, the estimated cost of the
    requests to send (``None`` for a model without a published price), and the first of them.

    ``to_copy`` counts the items that would be written from an image of the same request
    (an identical request earlier in the batch, or a finished image under an old name) instead
    of being sent; they cost nothing. ``held`` counts the items not sent because an earlier
    request for them may have been billed (``resend_billed=True`` sends them). ``superseded``
    counts the records a run would take out of the effective view (items no longer in the job,
    images to be replaced), and ``unwritable`` the items whose record could not be written (a
    NaN or a lone surrogate in a row): they fail without a request; ``problems`` says why (the
    first few, each naming its row). ``to_recover`` counts the items whose image an interrupted
    run wrote without recording it (a whole image with this item's provenance, under its name
    or in the temporary file the crash left): a run records them without a request.
    ``prompt_format`` says the form prompts are sent in and why (``"prose (auto for
    klein-4b)"``).

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
        ...                source=zipped(city=["Oslo", "Lima"]), output="{city}.{ext}")
        >>> dry = BatchRunner(job, "out/dry").dry_run()
        >>> dry.total, dry.finished, dry.first[0].file_name("jpg")
        (2, 0, 'Oslo.jpg')
    """

    job: str
    shard: Shard | None
    total: int
    finished: int
    duplicates: int
    other_shards: int
    estimated_cost: float | None
    first: tuple[PlannedItem, ...]
    model: str
    to_copy: int = 0
    held: int = 0
    superseded: int = 0
    unwritable: int = 0
    problems: tuple[str, ...] = ()
    prompt_format: str = ""
    to_recover: int = 0

    @property
    def to_generate(self) -> int:
        """Items a run would send."""
        return (
            self.total
            - self.finished
            - self.to_copy
            - self.to_recover
            - self.held
            - self.unwritable
        )


class BatchObserver(Protocol):
    """Receives progress; :class:`~flux2prompt.batch.RichProgress` draws a progress bar.

    Example:
        >>> class Count:
        ...     def started(self, job, total, skipped): self.done = skipped
        ...     def item_finished(self, outcome, rate_limited): self.done += 1
        ...     def finished(self, report): pass
        >>> observer: BatchObserver = Count()
    """

    def started(self, job: str, total: int, skipped: int) -> None:
        """The run is about to send its first request."""

    def item_finished(self, outcome: ItemOutcome, rate_limited: int) -> None:
        """One item succeeded or failed; ``rate_limited`` counts HTTP 429 answers so far."""

    def finished(self, report: BatchReport | None) -> None:
        """The run is over; ``report`` is ``None`` when it ended with an exception (Ctrl-C)."""


def _planned_file(item: PlannedItem, record: ImageRecord) -> str:
    """The name ``item`` gets now for the image ``record`` holds (same extension)."""
    return item.file_name(Path(str(record.file)).suffix.lstrip("."))


@dataclass(frozen=True, slots=True)
class _Survey:
    """The whole batch planned once: what a dry run shows, which items are finished (by index)
    and which are copied from which record, without a request; the records to supersede, and
    the files current records keep; the items to dispatch when they were few enough to keep
    (``None``: plan them again as a stream); and the orphans to record, by index."""

    dry: DryRun
    finished: frozenset[int]
    sources: dict[int, ImageRecord]
    held: frozenset[int] = frozenset()
    stale: tuple[tuple[tuple[str, int | None], ImageRecord | None], ...] = ()
    kept_files: frozenset[str] = frozenset()
    todo: tuple[PlannedItem, ...] | None = None
    orphans: dict[int, Orphan] = field(default_factory=dict)

    def temporary_files(self, out_dir: Path) -> frozenset[str]:
        """The paths of the temporary files that hold orphans (kept by the clean-up)."""
        root = os.fspath(out_dir)
        return frozenset(
            os.path.join(root, *orphan.found.split("/"))
            for orphan in self.orphans.values()
            if orphan.temporary
        )


class _Images:
    """The intact images of an output folder, each file hashed at most once per survey."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir
        self._digests: dict[Path, str] = {}

    def intact(self, record: ImageRecord | None) -> bool:
        """Whether ``record``'s file exists with the recorded sha256."""
        if record is None:
            return False
        path = inside(self._out_dir, record.file)
        if path is None:
            return False
        digest = self._digests.get(path)
        if digest is None:
            digest = self._digests[path] = _sha256_file(path) or ""
        return digest == record.sha256

    def promise(self, record: ImageRecord) -> None:
        """Take ``record``'s file as intact: an orphan the run records before anything is
        copied from it (from its temporary file, renamed into place then)."""
        path = inside(self._out_dir, record.file)
        if path is not None and record.sha256 is not None:
            self._digests[path] = record.sha256

    def located(self, record: ImageRecord) -> ImageRecord | None:
        """``record`` as it is on disk: itself when its file is intact, else the same image
        set aside under ``superseded/`` (another image was written under its name since, see
        :func:`_set_aside`), with ``file`` naming it there; ``None`` when neither holds it."""
        if self.intact(record):
            return record
        if record.file is None or record.file.startswith(f"{SUPERSEDED_DIR}/"):
            return None
        aside = dataclasses.replace(record, file=_superseded_name(record))
        return aside if self.intact(aside) else None

    def copy_source(self, item: PlannedItem, candidates: list[ImageRecord]) -> ImageRecord | None:
        """An intact image of ``item``'s request to copy: one already under the item's name,
        else its original's (or its own, under an old name), else the latest."""
        intact = [found for r in reversed(candidates) if (found := self.located(r)) is not None]
        first = item.original if item.original is not None else item.index
        mine = [r for r in intact if r.file == _planned_file(item, r)]
        originals = [r for r in intact if r.index == first]
        best = mine or originals or intact
        return best[0] if best else None


class BatchRunner:
    """Runs one batch job into one output folder; see the module docs for the guarantees.

    ``client`` may be an :class:`~flux2prompt.transport.AsyncWorkersAI` you made; otherwise one
    is made from ``account_id``, ``api_token`` (default: the ``CLOUDFLARE_*`` environment
    variables, read by the client) and ``base_url``, with its own retries off (the runner
    retries, by the transport's policy). ``emulator=True`` (or an
    :class:`~flux2prompt.emulator.EmulatorConfig`) runs against a local emulator started for
    each run that has something to send. ``concurrency`` and ``rate_limit`` override the job's;
    without ``rate_limit``, a ``shard`` of ``n`` paces at the job's rate divided by ``n`` (the
    limit is the account's, shared by the shards; the report's ``pace`` says so).
    ``resend_billed=True`` sends again the items whose earlier request may have been billed
    (their records say ``may_have_been_billed``), and retries such failures within the run;
    by default they are held, never sent twice without being asked. ``wait=True`` waits for
    another run holding the output folder instead of raising at once (see :class:`FolderLock`).

    The runner holds configuration only: each :meth:`run` and :meth:`dry_run` keeps its state
    to itself, so one runner can run again (a rerun resumes) and a dry run changes nothing.

    Example:
        >>> import tempfile
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
        ...                source=zipped(city=["Oslo", "Lima"]), output="{city}.{ext}",
        ...                model="klein-4b", seeds=1)
        >>> dry = BatchRunner(job, tempfile.mkdtemp()).dry_run()
        >>> dry.to_generate, f"${dry.estimated_cost:.4f}"
        (2, '$0.0023')
    """

    def __init__(
        self,
        job: BatchJob,
        out_dir: str | os.PathLike[str],
        *,
        shard: Shard | str | None = None,
        client: AsyncWorkersAI | None = None,
        account_id: str | None = None,
        api_token: str | None = None,
        base_url: str | None = None,
        concurrency: int | None = None,
        rate_limit: int | None = None,
        burst: int = 1,
        gallery: bool = True,
        observer: BatchObserver | None = None,
        emulator: bool | EmulatorConfig = False,
        resend_billed: bool = False,
        wait: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.shard = Shard.parse(shard) if isinstance(shard, str) else shard
        self.manifest_path = self.out_dir / MANIFEST_NAME
        # The form prompts are sent in: a folder made before forms keeps its manifest's.
        self.job, self.form_note = job_form(job, self.manifest_path)
        self.concurrency = concurrency if concurrency is not None else job.concurrency
        # A job's rate limit is the account's: shards share it unless rate_limit= says otherwise.
        self.rate_limit, self.pace = shard_rate_limit(job.rate_limit, self.shard, rate_limit)
        for label, value in (("concurrency", self.concurrency), ("rate_limit", self.rate_limit)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{label} must be an integer >= 1, got {value!r}")
        if self.concurrency > MAX_CONCURRENCY:
            raise ParameterError(
                f"concurrency must be at most {MAX_CONCURRENCY}, got {self.concurrency}"
            )
        if client is not None and emulator is not False:
            raise ParameterError(
                "client= and emulator= exclude each other: a client passed in already says "
                "where it sends"
            )
        if not isinstance(resend_billed, bool):
            raise ParameterError(f"resend_billed must be True or False, got {resend_billed!r}")
        self.resend_billed = resend_billed
        self.wait = wait
        self.burst = burst
        self.gallery = gallery
        self.observer = observer
        self.emulator = emulator
        self._client = client
        self._base_url = base_url
        self._account_id = account_id
        self._api_token = api_token
        # A stop asked of the run in progress (stop()): one holder for the runner's life, so
        # the runner's own attributes never change.
        self._halt = _Halt()

    def connect(
        self,
        *,
        base_url: str | None = None,
        account_id: str | None = None,
        api_token: str | None = None,
    ) -> None:
        """Point the runner at another endpoint (a server started after it was made).

        Example:
            >>> import tempfile
            >>> from flux2prompt import scene
            >>> from flux2prompt.batch import BatchJob, template, zipped
            >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
            ...                source=zipped(city=["Oslo"]), output="{city}.{ext}")
            >>> BatchRunner(job, tempfile.mkdtemp()).connect(base_url="http://127.0.0.1:9")
        """
        self._base_url = base_url
        self._account_id = account_id
        self._api_token = api_token

    # -- planning ------------------------------------------------------------------------------

    def _recorded(
        self,
    ) -> tuple[
        dict[tuple[str, int | None], ImageRecord],
        dict[str, list[ImageRecord]],
        set[str],
        set[tuple[str, int | None]],
    ]:
        """The manifest's ``ok`` records: the last per item (:func:`record_key`), and every one
        per request fingerprint (the images a copy can be made from, those set aside under
        ``superseded/`` included), without the prompts; the request fingerprints whose last
        outcome may have been billed; and the items whose records are failures only. Superseded
        items are in none of the others."""
        own: dict[tuple[str, int | None], ImageRecord] = {}
        by_request: dict[str, list[ImageRecord]] = {}
        billed: set[str] = set()
        failed: set[tuple[str, int | None]] = set()
        if self.manifest_path.is_symlink():
            raise SourceError(
                "the manifest is a symbolic link (refused: a run appends to the folder's own "
                "file); replace it with the file itself, or choose another --out",
                source=str(self.manifest_path),
            )
        for raw in iter_manifest(self.manifest_path):
            fingerprint = str(raw["request_fingerprint"])
            key = record_key(raw)
            status = raw.get("status")
            if status == SUPERSEDED:
                previous = own.pop(key, None)
                failed.discard(key)
                moved_to = raw.get("moved_to")
                if (
                    previous is not None
                    and isinstance(moved_to, str)
                    and previous.sha256 == raw.get("sha256")
                ):
                    # Its image waits under superseded/: an item asking for the same request
                    # again (an edit reverted) is copied from there, not bought again.
                    by_request.setdefault(fingerprint, []).append(
                        dataclasses.replace(previous, file=moved_to)
                    )
                continue
            if status != "ok":
                if key not in own:
                    failed.add(key)
                if may_have_been_billed(raw):
                    billed.add(fingerprint)
                elif raw.get("copied_from") is None:
                    # Sent again since (with resend_billed) and failed cleanly: the latest
                    # outcome of the request decides.
                    billed.discard(fingerprint)
                continue
            billed.discard(fingerprint)
            failed.discard(key)
            record = ImageRecord.from_record(raw)
            own[key] = record
            by_request.setdefault(record.request_fingerprint, []).append(record)
        return own, by_request, billed, failed

    def _survey(self, *, keep: bool = False) -> _Survey:
        """Plan the whole batch once: counts, cost, the first items to send, what is finished
        and what is copied from which record, what is superseded; with ``keep``, the items to
        dispatch too (up to :data:`PLAN_BUFFER` of them)."""
        own, by_request, billed, failed = self._recorded()
        if self.resend_billed:
            billed.clear()
        images = _Images(self.out_dir)
        stats = PlanStats()
        finished: set[int] = set()
        held: set[int] = set()
        sources: dict[int, ImageRecord] = {}
        # The requests to send, as 128-bit digests (not the fingerprint strings): the set grows
        # with the batch.
        sending: set[int] = set()
        # The recorded items the job still has (only those: the set stays as small as the
        # manifest), and the files that current records and copies keep.
        matched: set[tuple[str, int | None]] = set()
        kept: set[str] = set()
        problems: list[str] = []
        unwritable = 0
        todo: list[PlannedItem] | None = [] if keep else None
        to_copy = 0
        first: list[PlannedItem] = []
        total = 0
        if self.job.provider == "bfl":  # Black Forest Labs' API (batch/_bfl_host.py)
            model_id, priced = bfl_model_priced(self.job.model)
        else:
            spec = resolve_model(self.job.model)
            model_id, priced = spec.id, spec.pricing is not None
        cost: float | None = 0.0 if priced else None
        # Nothing recorded yet (a first run, a dry run of a new batch): no record to look up.
        recorded = bool(own or failed)
        # Images an interrupted run wrote without recording them; never the image a record
        # names, where it names it.
        named: dict[str, set[str]] = {}
        for images_of in by_request.values():
            for r in images_of:
                if r.file is not None and r.sha256 is not None:
                    named.setdefault(r.file, set()).add(r.sha256)
        orphans = Orphans(
            self.out_dir,
            self.job.name,
            locate=lambda relative: _target(self.out_dir, relative),
            recorded=named,
        )
        adopted: dict[int, Orphan] = {}

        def recover(item: PlannedItem) -> bool:
            """Whether ``item`` has an orphan; if so, it is recorded by the run before anything
            is sent or copied, and its copies are copied from it."""
            orphan = orphans.find(item)
            if orphan is None:
                return False
            adopted[item.index] = orphan
            images.promise(orphan.image)
            by_request.setdefault(item.key, []).append(orphan.image)
            kept.add(str(orphan.image.file))
            return True

        for row in plan_rows(self.job, shard=self.shard, stats=stats):
            total += 1
            # The item itself is made only when it is kept or a record is compared with it.
            variant, planned, name, original, why, _, digest = row
            fingerprint = planned.fingerprint  # the item's key
            item: PlannedItem | None = None
            record: ImageRecord | None = None
            if recorded:
                item = _item(row)
                key = (fingerprint, variant.index)
                record = own.get(key)
                if record is not None or key in failed:
                    matched.add(key)
                    if record is not None and record.file is not None:
                        kept.add(record.file)
                if (
                    record is not None
                    and record.file == _planned_file(item, record)
                    and images.intact(record)
                ):
                    finished.add(variant.index)
                    continue
            if why is not None:
                unwritable += 1
                if len(problems) < _MAX_LISTED_FAILURES:
                    problems.append(why)
                todo = _kept(todo, item or _item(row)) if todo is not None else None
                continue
            # An original's orphan is recovered first; a copy's only when no image of its
            # request is left to copy (a copy's record says where its image came from).
            if record is None and original is None and orphans.maybe(name):
                item = item or _item(row)
                if recover(item):
                    todo = _kept(todo, item) if todo is not None else None
                    continue
            candidates = by_request.get(fingerprint) if by_request else None
            if candidates:
                item = item or _item(row)
                source = images.copy_source(item, candidates)
                if source is not None:
                    sources[variant.index] = source
                    if source.file == _planned_file(item, source):
                        kept.add(source.file or "")
                    to_copy += 1
                    todo = _kept(todo, item)
                    continue
            if record is None and original is not None and orphans.maybe(name):
                item = item or _item(row)
                if recover(item):
                    todo = _kept(todo, item) if todo is not None else None
                    continue
            if original is not None and digest in sending:  # a copy
                to_copy += 1  # written from its original's image once that is made
                todo = _kept(todo, item or _item(row)) if todo is not None else None
                continue
            if fingerprint in billed:
                # An earlier request for it may have run the model: never sent twice unless
                # asked. Its copies wait with it (same request fingerprint).
                held.add(variant.index)
                continue
            sending.add(digest)
            if todo is not None:
                todo = _kept(todo, item or _item(row))
            if len(first) < 3:
                first.append(item or _item(row))
            if cost is not None:
                cost += planned.estimated_cost
        shard = self.shard
        stale = tuple(
            (key, own.get(key))
            for key in [*own, *sorted(failed, key=str)]
            if key not in matched and (shard is None or shard.contains(key[0]))
        )
        dry = DryRun(
            job=self.job.name,
            shard=self.shard,
            total=total,
            finished=len(finished),
            duplicates=stats.duplicates,
            other_shards=stats.other_shards,
            estimated_cost=cost,
            first=tuple(first),
            model=model_id,
            to_copy=to_copy,
            held=len(held),
            superseded=len(stale),
            unwritable=unwritable,
            problems=tuple(problems),
            prompt_format=self.form_note,
            to_recover=len(adopted),
        )
        return _Survey(
            dry,
            frozenset(finished),
            sources,
            frozenset(held),
            stale,
            frozenset(kept),
            tuple(todo) if todo is not None else None,
            adopted,
        )

    def dry_run(self) -> DryRun:
        """Count, price and show what :meth:`run` would send, without touching the network."""
        return self._survey().dry

    # -- superseding ---------------------------------------------------------------------------

    def _supersede(self, survey: _Survey, writer: ManifestWriter) -> int:
        """Take the records of items no longer in the job out of the effective view, each with
        a ``superseded`` record; move their images (unless a current item keeps the file) to
        ``superseded/``, with a copy of their records in ``superseded/manifest.jsonl``.

        Each step can be repeated after a crash: the moved name is fixed by the image, so a
        rerun finds an image already moved and records it.
        """
        if not survey.stale:
            return 0
        wanted = {key for key, record in survey.stale if record is not None}
        full: dict[tuple[str, int | None], dict[str, Any]] = {}
        if wanted:
            for raw in iter_manifest(self.manifest_path):
                if raw.get("status") == "ok" and record_key(raw) in wanted:
                    full[record_key(raw)] = raw
        images = _Images(self.out_dir)
        moved: dict[str, str] = {}
        aside: ManifestWriter | None = None
        try:
            for key, record in survey.stale:
                moved_to: str | None = None
                if record is not None and record.file is not None:
                    if record.file in moved:
                        moved_to = moved[record.file]
                    elif record.file not in survey.kept_files:
                        moved_to = self._move_aside(record, images)
                        if moved_to is not None:
                            moved[record.file] = moved_to
                            if aside is None:
                                aside = ManifestWriter(
                                    self.out_dir / SUPERSEDED_DIR / MANIFEST_NAME
                                )
                            raw = dict(full.get(key) or {})
                            if raw:
                                raw["file"] = moved_to.removeprefix(f"{SUPERSEDED_DIR}/")
                                aside.append(raw)
                reason = "not in the job any more (its row, the template or a setting changed)"
                target = record if record is not None else {"request_fingerprint": key[0]}
                entry = superseded_record(self.job.name, target, reason, moved_to)
                entry["index"] = key[1]
                writer.append(entry)
        finally:
            if aside is not None:
                aside.close()
        for index, source in list(survey.sources.items()):
            if source.file in moved:
                survey.sources[index] = dataclasses.replace(source, file=moved[source.file])
        return len(survey.stale)

    def _move_aside(self, record: ImageRecord, images: _Images) -> str | None:
        """Move ``record``'s intact image to ``superseded/``; its new name, or ``None`` when
        neither it nor an earlier move of it is on disk."""
        relative = _superseded_name(record)
        if images.intact(record):
            source = _target(self.out_dir, str(record.file))
            target = _target(self.out_dir, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            return relative
        if images.intact(dataclasses.replace(record, file=relative)):
            return relative  # moved by a run that stopped before recording it
        return None

    # -- recovering ----------------------------------------------------------------------------

    def _recover(self, survey: _Survey, writer: ManifestWriter) -> _Recovery:
        """Record the orphans the survey found (batch/_orphans.py), in batch order: an image in
        a temporary file is renamed into place first (a different file under its name is set
        aside, as before any write). An orphan changed since the survey is left to the run (it
        is sent, as any other item); one that cannot be recorded (a full disk) fails its item,
        without a request (the next run recovers it), and a disk error stops the batch."""
        recovery = _Recovery()
        for index in sorted(survey.orphans):
            orphan = survey.orphans[index]
            item, image = orphan.item, orphan.image
            relative = str(image.file)
            timing = Timing.start()
            try:
                found = _target(self.out_dir, orphan.found)
                if _sha256_file(found) != image.sha256:
                    if orphan.temporary:
                        with contextlib.suppress(OSError):
                            os.unlink(found)
                    continue
                if orphan.temporary:
                    _set_aside(self.out_dir, relative, str(image.sha256))
                    finish_write(found, _target(self.out_dir, relative))
                writer.append(recovered_record(self.job.name, item, timing, image))
            except OSError as exc:
                message = f"cannot recover {relative}: {_reason(exc)}"
                error_record = failed_record(
                    self.job.name, item, timing, 0, exc, message, request_id=None
                )
                try:
                    writer.append(error_record)
                except OSError as again:
                    message = f"{message} (not recorded: {_reason(again)})"
                recovery.failed.add(index)
                recovery.failures.append((item.file_name("*"), message))
                if exc.errno in _DISK_ERRORS:
                    recovery.stopped = (
                        f"{_reason(exc)} while recording {self.out_dir / relative}; free space "
                        "(or fix the disk), then rerun the same command"
                    )
                    break
                continue
            recovery.done.add(index)
        return recovery

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> BatchReport:
        """Generate every unfinished item; see the module docs.

        The output folder is locked for the whole run (:class:`FolderLock`): a second run on
        it raises :class:`~flux2prompt.SourceError` naming the process that holds it, or, with
        ``wait=True``, waits for it.
        """
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SourceError(
                f"cannot create the output folder: {reason}; choose another --out",
                source=str(self.out_dir),
            ) from None
        lock = FolderLock(self.out_dir)
        try:
            await lock.acquire_async(wait=self.wait, stopped=lambda: self._halt.reason)
            try:
                return await self._run_locked()
            finally:
                lock.release()
        finally:
            self._halt.reason = None
            self._halt.run = None

    def stop(self, reason: str = "stopped on request; rerun the same command to resume") -> None:
        """Stop the run in progress without losing what it paid for: no new request is sent,
        the requests in flight are answered, written and recorded (their images bought once,
        never again by the rerun), and :meth:`run` returns its report with ``stopped`` set to
        ``reason``; the items not sent are ``pending``, and the rerun sends them.

        Call it from the run's event loop (``loop.add_signal_handler``, another task; from
        another thread, ``loop.call_soon_threadsafe(runner.stop)``). ``flux2-prompt batch`` calls
        it on the first Ctrl+C or SIGTERM. Cancelling the run's task instead stops at once, as
        a crash does: a request in flight may have been billed, and its item is sent again.
        """
        halt = self._halt
        if halt.reason is None:
            halt.reason = reason
        if halt.run is not None:
            halt.run.halt(halt.reason)

    async def _run_locked(self) -> BatchReport:
        # The survey first: a temporary file that holds a whole image of an item (a run killed
        # inside its write) is recovered, not deleted. Only the lock's holder cleans up:
        # another run's temporary files are in flight.
        survey = self._survey(keep=True)
        try:
            _remove_temporary_files(self.out_dir, keep=survey.temporary_files(self.out_dir))
        except OSError as exc:
            raise SourceError(
                f"cannot remove the temporary files an interrupted run left: {_reason(exc)}",
                source=str(getattr(exc, "filename", None) or self.out_dir),
            ) from None
        total = survey.dry.total
        skipped = len(survey.finished)
        tally = _Tally(lowest_concurrency=self.concurrency)
        recovery = _Recovery()
        superseded = 0
        started = time.perf_counter()
        work = total > skipped + len(survey.held)
        try:
            if survey.stale or work:
                with ManifestWriter(self.manifest_path) as writer:
                    try:
                        superseded = await asyncio.to_thread(self._supersede, survey, writer)
                    except OSError as exc:
                        raise SourceError(
                            f"cannot set superseded images aside: {_reason(exc)}; free the "
                            "space or fix the folder, then rerun",
                            source=str(getattr(exc, "filename", None) or self.out_dir),
                        ) from None
                    if survey.orphans:
                        recovery = await asyncio.to_thread(self._recover, survey, writer)
                    # Recovered or failed already: not sent (a failed one is on disk, paid for).
                    settled = skipped + len(recovery.settled)
                    work = recovery.stopped is None and total > settled + len(survey.held)
                    if work and self._halt.reason is not None:
                        work = False  # stopped before anything was sent: all of it pending
                        recovery.stopped = self._halt.reason
                    if work:
                        # The client first: missing credentials fail before the progress bar.
                        async with self._client_context() as client:
                            self._started(total, settled)
                            started = time.perf_counter()
                            run = _Run(self, survey, client, writer, skip=recovery.settled)
                            self._halt.run = run
                            if self._halt.reason is not None:
                                run.halt(self._halt.reason)
                            todo: Iterator[PlannedItem] = (
                                iter(survey.todo)
                                if survey.todo is not None
                                else (
                                    item
                                    for item in plan_items(self.job, shard=self.shard)
                                    if item.index not in survey.finished
                                    and item.index not in survey.held
                                )
                            )
                            await run.dispatch(todo)
                            tally = run.tally
                    else:
                        self._started(total, settled)
            else:
                self._started(total, skipped)
        except BaseException:
            if self.observer is not None:
                self.observer.finished(None)
            raise
        elapsed = time.perf_counter() - started
        gallery = None
        gallery_error = None
        if self.gallery:
            try:
                gallery = write_gallery(
                    self.out_dir, iter_manifest(self.manifest_path), title=self.job.name
                )
            except OSError as exc:
                gallery_error = f"the gallery was not written: {_reason(exc)}"
        report = BatchReport(
            job=self.job.name,
            out_dir=self.out_dir,
            manifest=self.manifest_path,
            gallery=gallery,
            total=total,
            skipped=skipped,
            generated=tally.generated,
            copied=tally.copied,
            failed=tally.failed + len(recovery.failed),
            duplicates=survey.dry.duplicates,
            other_shards=survey.dry.other_shards,
            rate_limited=tally.rate_limited,
            retries=tally.retries,
            elapsed=elapsed,
            lowest_concurrency=tally.lowest_concurrency,
            stopped=recovery.stopped or tally.stopped,
            failures=(*recovery.failures, *tally.failures)[:_MAX_LISTED_FAILURES],
            held=len(survey.held),
            billed=tally.billed,
            paused=round(tally.paused, 3),
            superseded=superseded,
            gallery_error=gallery_error,
            pace=self.pace,
            recovered=len(recovery.done),
            kept=tuple(tally.kept),
        )
        if self.observer is not None:
            self.observer.finished(report)
        return report

    @contextlib.asynccontextmanager
    async def _client_context(self) -> AsyncIterator[BatchClient]:
        if self.job.provider == "bfl":  # Black Forest Labs' API (batch/_bfl_host.py)
            async with self._bfl_context() as bfl:
                yield bfl
            return
        if self._client is not None:
            # The runner retries itself so that it sees every 429 (adaptive concurrency, the
            # rate limiter); a client that also retried would hide them. Same connection pool.
            yield self._client.with_options(max_retries=0)
            return
        with contextlib.ExitStack() as stack:
            endpoint: EmulatorEndpoint | None = None
            if self.emulator is not False:
                config = None if self.emulator is True else self.emulator
                endpoint = stack.enter_context(emulated(config))
            # Small pools, all kept alive: one httpcore pool as large as a high concurrency
            # spends more CPU on its bookkeeping than on the requests (docs/performance.md).
            transport = PooledTransport(connections=self.concurrency + 4)
            async with httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT, transport=transport, follow_redirects=False
            ) as http:
                if endpoint is not None:
                    client = AsyncWorkersAI(
                        **endpoint.client_options(),
                        model=self.job.model,
                        max_retries=0,
                        http_client=http,
                    )
                else:
                    client = AsyncWorkersAI(
                        account_id=self._account_id,
                        api_token=self._api_token,
                        model=self.job.model,
                        base_url=self._base_url,
                        max_retries=0,
                        http_client=http,
                    )
                yield client

    @contextlib.asynccontextmanager
    async def _bfl_context(self) -> AsyncIterator[BatchClient]:
        if self._client is not None:
            raise ParameterError(
                "client= is a Workers AI client, and this job's provider is 'bfl': leave client= "
                "out (the runner makes its BFL client from BFL_API_KEY, or base_url=)"
            )
        with contextlib.ExitStack() as stack:
            endpoint = None
            if self.emulator is not False:
                config = None if self.emulator is True else self.emulator
                endpoint = stack.enter_context(emulated(config))
            async with bfl_client(
                self.out_dir,
                model=self.job.model,
                concurrency=self.concurrency,
                endpoint=endpoint,
                api_key=self._api_token,
                base_url=self._base_url,
            ) as client:
                yield client

    def _started(self, total: int, skipped: int) -> None:
        if self.observer is not None:
            self.observer.started(self.job.name, total, skipped)


@dataclass
class _Halt:
    """A stop asked of a runner (:meth:`BatchRunner.stop`), and the run it reaches, if sending."""

    reason: str | None = None
    run: _Run | None = None


@dataclass
class _Recovery:
    """What recording a survey's orphans did: the items recorded, those that failed (with
    their lines), and why the batch stops, if a disk error says it must."""

    done: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None

    @property
    def settled(self) -> frozenset[int]:
        """The items this step decided: not sent by the run."""
        return frozenset(self.done | self.failed)


@dataclass
class _Tally:
    """What a run counts, for its report."""

    lowest_concurrency: int
    generated: int = 0
    copied: int = 0
    failed: int = 0
    rate_limited: int = 0
    retries: int = 0
    billed: int = 0
    paused: float = 0.0
    stopped: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class _Run:
    """The state of one run of a :class:`BatchRunner`: made by :meth:`BatchRunner.run`, thrown
    away with it, so the runner itself never changes."""

    def __init__(
        self,
        runner: BatchRunner,
        survey: _Survey,
        client: BatchClient,
        writer: ManifestWriter,
        *,
        skip: frozenset[int] = frozenset(),
    ) -> None:
        self._runner = runner
        # Items settled before the run sent anything (orphans recorded, or failed recording).
        self._skip = skip
        self._job = runner.job
        self._out_dir = runner.out_dir
        self._observer = runner.observer
        self._client = client
        self._writer = writer
        # Index -> the record whose image the item gets without a request (popped when used).
        self._sources = dict(survey.sources)
        self._limit = AdaptiveConcurrency(runner.concurrency)
        self._rate = RateLimiter(runner.rate_limit, burst=runner.burst)
        self._copy_slots = asyncio.Semaphore(runner.concurrency)
        # Requests sent in this run, their outcome (the image, or the error), the copies
        # waiting for them, and the image bytes those copies are written from.
        self._sending: set[str] = set()
        self._outcomes: dict[str, ImageRecord | Exception] = {}
        self._waiting: dict[str, list[PlannedItem]] = {}
        self._last_image: dict[str, bytes] = {}
        self._tally = _Tally(lowest_concurrency=runner.concurrency)
        # Set by halt(): wakes the senders waiting for a slot or a retry, which then send
        # nothing more (the requests in flight finish and are recorded).
        self._halted = asyncio.Event()
        # The first unexpected error of an item's task (see _settled), raised once the rest
        # of the run is finished and recorded.
        self._unexpected: Exception | None = None

    def halt(self, reason: str) -> None:
        """Send nothing more (see :meth:`BatchRunner.stop`)."""
        if self._tally.stopped is None:
            self._tally.stopped = reason
        self._halted.set()

    async def _rest(self, seconds: float) -> None:
        """Wait ``seconds`` before a retry, or less if the run is halted meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halted.wait(), seconds)

    @property
    def tally(self) -> _Tally:
        """The counts so far, with the lowest concurrency the run went down to."""
        self._tally.lowest_concurrency = self._limit.lowest
        return self._tally

    async def dispatch(self, todo: Iterator[PlannedItem]) -> None:
        # One task per item, started once a place is free. A task gives its place back as soon
        # as its request is answered, so writing one image overlaps the next request. Copies
        # send nothing: they take a copy slot, not a place.
        try:
            await self._dispatch(todo)
        except BaseExceptionGroup as group:
            # One error, not a group's traceback: every write error is an item's failure
            # already, and every other error of an item's task is held by _settled(), so
            # this is KeyboardInterrupt or CancelledError.
            raise _first_error(group) from None
        if self._unexpected is not None:
            raise self._unexpected

    async def _settled(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one item's task. An unexpected error in it (a fault of flux2prompt's) stops the
        run as :meth:`halt` does, instead of cancelling the other tasks, whose requests may
        already be paid for: they finish and are recorded, then :meth:`dispatch` raises it."""
        try:
            await work
        except Exception as exc:
            if self._unexpected is None:
                self._unexpected = exc
            self.halt(f"an unexpected error ({type(exc).__name__}); nothing more was sent")

    async def _dispatch(self, todo: Iterator[PlannedItem]) -> None:
        async with asyncio.TaskGroup() as group:
            for item in self._planned(todo):
                if self._tally.stopped is not None:
                    return
                if item.index in self._skip:
                    continue
                if item.unwritable is not None:
                    await self._commit_unwritable(item)
                    continue
                if item.index in self._sources or item.is_copy:
                    await self._copy_slots.acquire()
                    if self._tally.stopped is not None:
                        self._copy_slots.release()
                        return
                    group.create_task(self._settled(self._copy(item)))
                    continue
                await self._limit.acquire()
                if self._tally.stopped is not None:
                    await self._limit.release()
                    return
                group.create_task(self._settled(self._generate(item)))

    def _planned(self, todo: Iterator[PlannedItem]) -> Iterator[PlannedItem]:
        """``todo``, until planning it fails. The survey planned every item before anything
        was sent, so this happens only when the batch is planned again as a stream and
        something changed meanwhile (a reference image deleted during the run): the batch
        stops sending, with one line naming the row, and the requests in flight finish and
        are recorded (cancelling them would lose images already paid for)."""
        try:
            yield from todo
        except Flux2PromptError as exc:
            self._tally.stopped = (
                f"{self._client.redact(str(exc))} (it changed during the run); fix it, then "
                "rerun the same command"
            )

    async def _copy(self, item: PlannedItem) -> None:
        """Write ``item`` from an image of its request; called holding a copy slot. Sends it
        only when no such image is left (it changed since the survey) and no one sends it."""
        timing = Timing.start()
        try:
            source = self._sources.pop(item.index, None)
            if source is not None and await self._copy_from(item, source, timing):
                return
            outcome = self._outcomes.get(item.key)
            if isinstance(outcome, ImageRecord):
                if await self._copy_from(item, outcome, timing):
                    return
            elif outcome is not None:
                await self._commit_copy_failure(item, outcome, timing)
                return
            elif item.key in self._sending:
                self._waiting.setdefault(item.key, []).append(item)  # its sender copies it
                return
        finally:
            self._copy_slots.release()
        await self._limit.acquire()
        await self._generate(item)

    async def _copy_from(
        self, item: PlannedItem, source: ImageRecord, timing: Timing, data: bytes | None = None
    ) -> bool:
        try:
            relative = await asyncio.to_thread(self._write_copy, item, source, timing, data)
        except OSError as exc:
            await self._commit_write_failure(item, exc, _planned_file(item, source), timing, 0)
            return True
        if relative is None:
            return False
        self._tally.copied += 1
        self._notify(ItemOutcome(item.index, relative, "ok", None, 0))
        return True

    async def _generate(self, item: PlannedItem) -> None:
        """Send one item, then write the copies waiting for it; called holding a place."""
        self._sending.add(item.key)
        try:
            await self._send(item)
        finally:
            self._sending.discard(item.key)
        waiting = self._waiting.pop(item.key, [])
        outcome = self._outcomes.get(item.key)
        for copy in waiting:
            timing = Timing.start()
            if isinstance(outcome, ImageRecord):
                data = self._last_image.get(item.key)
                await self._copy_from(copy, outcome, timing, data)
            elif outcome is not None:
                await self._commit_copy_failure(copy, outcome, timing)
        self._last_image.pop(item.key, None)

    async def _send(self, item: PlannedItem) -> None:
        """Send one item until it succeeds or fails for good; called holding a place.

        Whether an error is retried, and after how long, is the transport's one policy
        (:func:`~flux2prompt.transport.retry_wait`); the runner keeps only its budgets: 429s
        apart (up to :data:`MAX_RATE_LIMIT_RETRIES`, pausing every sender), anything else up to
        the job's ``retries``.
        """
        tally = self._tally
        timing = Timing.start()
        attempts = retries = throttled = 0
        holding = True
        try:
            while True:
                if not holding:
                    await self._limit.acquire()
                    holding = True
                sent_at = await self._rate.acquire(until=self._halted)
                if tally.stopped is not None:
                    return
                try:
                    result = await self._client.send(item.request)
                except APIError as exc:
                    error: APIError = exc
                    # Only requests that reached the network count (a refused connection
                    # bills nothing); the client says how many did.
                    attempts += exc.attempts
                else:
                    attempts += result.attempts
                    answer = result
                    break
                finally:
                    await self._limit.release()
                    holding = False
                long_wait = long_retry_after(error)
                if long_wait is not None:
                    # The service asks for longer than a client waits: the whole queue waits
                    # (every request would get the same answer), and the item goes again.
                    if long_wait > MAX_QUEUE_PAUSE or throttled >= MAX_RATE_LIMIT_RETRIES:
                        tally.stopped = (
                            f"the service asks to wait {long_wait:.0f} s (Retry-After); rerun "
                            "the same command after that: " + self._client.redact(str(error))
                        )
                    else:
                        throttled += 1
                        tally.retries += 1
                        tally.paused += long_wait
                        self._rate.pause(long_wait)
                        continue
                elif isinstance(error, RateLimitError) and not isinstance(
                    error, QuotaExceededError
                ):
                    # Every 429 says the account is over its rate: slow everyone down, whether
                    # or not this one is worth repeating.
                    tally.rate_limited += 1
                    throttled += 1
                    self._limit.on_rate_limited(sent_at)
                    self._rate.on_rate_limited(sent_at)
                    wait = retry_wait(error, throttled - 1)
                    if wait is not None:
                        self._rate.pause(wait)
                        if throttled <= MAX_RATE_LIMIT_RETRIES:
                            tally.retries += 1
                            continue
                elif isinstance(error, _FATAL):
                    tally.stopped = self._client.redact(str(error))
                elif retries < self._job.retries:
                    wait = retry_wait(
                        error, retries, retry_possibly_billed=self._runner.resend_billed
                    )
                    if wait is not None:
                        retries += 1
                        tally.retries += 1
                        await self._rest(wait)
                        continue
                if tally.stopped is not None and long_wait is not None:
                    return  # not a failure of this item: the rerun sends it
                await self._commit_failure(item, error, timing, attempts)
                self._outcomes[item.key] = error
                return
        finally:
            if holding:
                await self._limit.release()
        self._limit.on_success()
        self._rate.on_success()
        # The record is the request's (never the item's name or index), so every copy of this
        # request is these same bytes; the manifest's sha256 is of them, record included.
        relative = item.file_name(answer.extension.lstrip("."))
        try:
            result = stamp_provenance(answer, item.request, job=self._job.name)
            image = await asyncio.to_thread(self._commit, item, result, relative, timing, attempts)
        except OSError as exc:
            # Paid for, and not on disk: a full disk, a folder where the image goes. The item
            # fails (not held: the next run sends it again once the folder is fixed). Or on
            # disk without its record: the next run recovers it, without a request.
            await self._commit_write_failure(item, exc, relative, timing, attempts)
            self._outcomes[item.key] = exc
            return
        except Exception as exc:
            await self._commit_unexpected(item, exc, relative, timing, attempts, answer)
            self._outcomes[item.key] = exc
            return
        self._outcomes[item.key] = image
        if item.key in self._waiting:
            self._last_image[item.key] = result.data
        tally.generated += 1
        self._notify(ItemOutcome(item.index, relative, "ok", None, attempts))

    async def _commit_failure(
        self, item: PlannedItem, error: APIError, timing: Timing, attempts: int
    ) -> None:
        if error.may_have_been_billed:
            self._tally.billed += 1
        message = self._client.redact(str(error))
        kept = None
        if error.data:
            # An answer that is no image flux2prompt reads may still have been paid for: its
            # bytes are kept, and the record says where.
            kept, said, stop = await asyncio.to_thread(
                self._keep_unreadable, item, error.data, held=error.may_have_been_billed
            )
            message = f"{message} ({said})"
            if kept is not None:
                self._tally.kept.append(kept)
            elif self._tally.stopped is None:
                # Every later answer like it would be lost the same way, paid for: stop.
                self._tally.stopped = stop
        request_id = getattr(error, "request_id", None)
        record = failed_record(
            self._job.name,
            item,
            timing,
            attempts,
            error,
            message,
            request_id=request_id if isinstance(request_id, str) else None,
            kept=kept,
        )
        await self._append_failure(item, record, message, attempts)

    def _keep_unreadable(
        self, item: PlannedItem, data: bytes, *, held: bool
    ) -> tuple[str | None, str, str]:
        """Write ``data`` under ``unreadable/`` (in a worker thread): its relative path
        (``None`` when it could not be written), what the record says of it, and why the batch
        stops when it could not."""
        relative = _unreadable_name(item, data)
        try:
            relative, there = _free_unreadable(self._out_dir, relative, data)
            if not there:
                atomic_write(_target(self._out_dir, relative), data)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTDIR):
                exc = OSError(exc.errno, "a file is where its folder goes", exc.filename)
            then = (
                "the item is held, --resend-billed sends it again"
                if held
                else "the next run fetches that answer again, submitting nothing"
            )
            stop = (
                f"{_reason(exc)} while keeping an answer that is no image as "
                f"{self._out_dir / relative}; fix the folder (or free space), then rerun the "
                f"same command: {then}"
            )
            said = f"its {len(data):,} bytes could not be kept as {relative}: {_reason(exc)}"
            return None, said, stop
        return relative, f"its {len(data):,} bytes are kept as {relative}", ""

    async def _commit_write_failure(
        self, item: PlannedItem, exc: OSError, relative: str, timing: Timing, attempts: int
    ) -> None:
        """Record an item whose image could not be written; after a disk error (full, read
        only) the batch stops: every other write would fail the same way."""
        message = (
            f"{relative} was written, its record not ({_reason(exc)}): the next run records it"
            if isinstance(exc, _Unrecorded)
            else f"cannot write {relative}: {_reason(exc)}"
        )
        if exc.errno in _DISK_ERRORS and self._tally.stopped is None:
            written = (
                self._writer.path if isinstance(exc, _Unrecorded) else self._out_dir / relative
            )
            self._tally.stopped = (
                f"{_reason(exc)} while writing {written}; free space (or fix the disk), then "
                "rerun the same command"
            )
        record = failed_record(
            self._job.name, item, timing, attempts, exc, message, request_id=None
        )
        await self._append_failure(item, record, message, attempts)

    async def _commit_unexpected(
        self,
        item: PlannedItem,
        exc: Exception,
        relative: str,
        timing: Timing,
        attempts: int,
        result: ImageResult,
    ) -> None:
        """Record an item whose image, paid for, an unexpected error kept off the disk: a fault
        of flux2prompt's, not of the job or the disk. Its traceback goes to the
        ``flux2prompt.batch`` logger; the item is held as billed (``--resend-billed`` sends it
        again); the run sends nothing more, since every image after it could meet the same
        fault and be paid for in vain, and the requests in flight finish and are recorded."""
        _logger.error("unexpected error while writing %s", relative, exc_info=exc)
        said = self._client.redact(f"{type(exc).__name__}: {exc}")
        self.halt(
            f"an unexpected error while writing {relative} ({said}); nothing more was sent. "
            "This is a fault of flux2prompt: please report it with the log, then rerun the same "
            "command (add --resend-billed to send that item again)"
        )
        self._tally.billed += 1
        message = f"cannot write {relative}: unexpected {said}"
        record = failed_record(
            self._job.name,
            item,
            timing,
            attempts,
            exc,
            message,
            request_id=result.request_id,
            billed=True,
        )
        await self._append_failure(item, record, message, attempts)

    async def _commit_unwritable(self, item: PlannedItem) -> None:
        """Record an item whose variables a manifest cannot hold, without sending it."""
        message = str(item.unwritable)
        error = ValueError(message)
        record = failed_record(
            self._job.name, item, Timing.start(), 0, error, message, request_id=None
        )
        await self._append_failure(item, record, message, 0)

    async def _commit_copy_failure(
        self, item: PlannedItem, error: Exception, timing: Timing
    ) -> None:
        """Record a copy whose original failed in this run: the next run sends the original
        again and copies this one then."""
        message = (
            f"not copied: item {item.original} sends the same request and failed: "
            f"{self._client.redact(str(error))}"
        )
        copied_from: CopiedFrom = {
            "request_fingerprint": item.key,
            "index": item.original,
            "file": None,
        }
        record = failed_record(
            self._job.name,
            item,
            timing,
            0,
            error,
            message,
            request_id=None,
            copied_from=copied_from,
        )
        await self._append_failure(item, record, message, 0)

    async def _append_failure(
        self, item: PlannedItem, record: FailedRecord, message: str, attempts: int
    ) -> None:
        try:
            await asyncio.to_thread(self._writer.append, record)
        except OSError as exc:
            # Not even the failure fits (a full disk): the item is unrecorded, so the next
            # run sends it again; the manifest keeps complete lines only.
            message = f"{message} (not recorded: {_reason(exc)})"
            if exc.errno in _DISK_ERRORS and self._tally.stopped is None:
                self._tally.stopped = (
                    f"{_reason(exc)} while writing {self._writer.path}; free space (or fix the "
                    "disk), then rerun the same command"
                )
        self._tally.failed += 1
        name = item.file_name("*")
        if len(self._tally.failures) < _MAX_LISTED_FAILURES:
            self._tally.failures.append((name, message))
        self._notify(ItemOutcome(item.index, name, "failed", message, attempts))

    def _commit(
        self,
        item: PlannedItem,
        result: ImageResult,
        relative: str,
        timing: Timing,
        attempts: int,
    ) -> ImageRecord:
        # The image is durable before its record is: a crash between the two costs a rerun of
        # this one item, never a record that points at a missing or partial file.
        digest = sha256_fingerprint(result.data)
        _set_aside(self._out_dir, relative, digest)
        result.save(_target(self._out_dir, relative))
        image = ImageRecord(
            index=item.index,
            request_fingerprint=item.key,
            file=relative,
            sha256=digest,
            bytes=len(result.data),
            format=result.format,
            width=result.width,
            height=result.height,
            request_id=result.request_id,
            effective_prompt=result.effective_prompt,
        )
        try:
            self._writer.append(generated_record(self._job.name, item, timing, attempts, image))
        except OSError as exc:
            raise _Unrecorded(exc.errno, exc.strerror, exc.filename) from exc
        return image

    def _write_copy(
        self, item: PlannedItem, source: ImageRecord, timing: Timing, data: bytes | None = None
    ) -> str | None:
        """Write the image of ``source`` (``data``, or its file) under ``item``'s name and
        record it there; ``None`` when that file no longer holds the recorded image (it was
        changed meanwhile, or it is another item's new name)."""
        relative = _planned_file(item, source)
        if data is None:
            data = self._read_image(source)
            if data is None:  # not under its name: perhaps set aside since the survey
                source = dataclasses.replace(source, file=_superseded_name(source))
                data = self._read_image(source)
                if data is None:
                    return None
        elif sha256_fingerprint(data) != source.sha256:
            return None
        if relative != source.file:
            # Durable before its record, as for a generated image; a different image under
            # that name (another item's, to be copied yet) is set aside, not overwritten.
            _set_aside(self._out_dir, relative, str(source.sha256))
            atomic_write(_target(self._out_dir, relative), data)
        self._writer.append(copied_record(self._job.name, item, timing, source, relative))
        return relative

    def _read_image(self, record: ImageRecord) -> bytes | None:
        """The bytes of ``record``'s file when they are the recorded image, else ``None``."""
        path = inside(self._out_dir, record.file)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        return data if sha256_fingerprint(data) == record.sha256 else None

    def _notify(self, outcome: ItemOutcome) -> None:
        if self._observer is not None:
            self._observer.item_finished(outcome, self._tally.rate_limited)


def run_batch(
    job: BatchJob | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    emulator: bool | EmulatorConfig = False,
    **options: Any,
) -> BatchReport:
    """Run a batch (a :class:`BatchJob` or a job file) and wait for it; see :class:`BatchRunner`
    for ``options``.

    With ``emulator=True`` (or an :class:`~flux2prompt.emulator.EmulatorConfig`) the batch runs
    against a local Workers AI emulator started for the occasion: no account, no cost.

    Inside a running event loop (a notebook cell) the batch runs on a loop of its own in a
    worker thread, and this call still returns the report; ``await BatchRunner(job, out).run()``
    is the form that leaves the caller's loop free meanwhile.

    Example:
        >>> report = run_batch("job.toml", "out", emulator=True)  # doctest: +SKIP
        >>> report.gallery  # doctest: +SKIP
        PosixPath('out/index.html')
    """
    if not isinstance(job, BatchJob):
        job = load_job(job)
    runner = BatchRunner(job, out_dir, emulator=emulator, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner.run())
    # A loop already runs in this thread (a Jupyter cell, an async test): asyncio.run() would
    # refuse, and blocking this loop on its own work would deadlock. The batch gets a loop of
    # its own in a worker thread; the caller waits, as it asked to, and can `await
    # BatchRunner(...).run()` instead to keep its loop free.
    return _run_in_worker_thread(runner)


def _run_in_worker_thread(runner: BatchRunner) -> BatchReport:
    """``runner.run()`` on a new loop in a worker thread; an interrupt of the waiting thread
    (a notebook's stop button) cancels the batch there and waits for it to stop."""
    started = threading.Event()
    batch: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def main() -> BatchReport:
        task = asyncio.current_task()
        assert task is not None
        batch.append((asyncio.get_running_loop(), task))
        started.set()
        return await runner.run()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="flux2prompt-batch") as pool:
        future = pool.submit(asyncio.run, main())
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt lands here, in the waiting thread, not in the batch's: without
            # this the batch would go on sending (and the pool's exit would wait for all of it).
            # Cancelled, it stops like a crash would: what is written and recorded is kept,
            # and the next run resumes from there.
            if not future.done() and started.wait(5):
                loop, task = batch[0]
                loop.call_soon_threadsafe(task.cancel)
            with contextlib.suppress(BaseException):
                future.result()
            raise
