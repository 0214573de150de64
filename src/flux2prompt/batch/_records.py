"""Manifest records, typed, and built here only: one shape for every line the runner writes.

The runner writes three kinds of record, and these functions are the only place each is put
together, key by key, in the order the manifest has always had (old manifests resume, and a
test pins the order):

    generated_record   an image sent and written: ``file``, ``sha256``, ``bytes``, ``format``,
                       ``width``, ``height``, ``request_id``; ``copied_from`` null; and, last,
                       ``effective_prompt`` when the host reported the prompt it ran (absent
                       otherwise, so older records and readers are unchanged)
    copied_record      an image written from another item's (same request): the same fields,
                       ``copied_from`` saying where from, ``attempts`` 0
    recovered_record   an image an interrupted run wrote but did not record, found in the
                       folder with this item's provenance (batch/_orphans.py): the fields of
                       a generated record, ``attempts`` 0, ``request_id`` null, and, last,
                       ``"recovered": true`` (absent from every other record, so older records
                       and readers are unchanged)
    failed_record      no image: ``file`` and ``sha256`` null, ``error`` saying why, and
                       ``may_have_been_billed: true`` (after ``error``) when the request may
                       have run the model without an image coming back: the next run does not
                       resend it unless asked (``resend_billed``, ``--resend-billed``); and,
                       last, ``kept`` when the answer held bytes that are no image flux2prompt
                       reads: where they were kept (``unreadable/...``; absent otherwise, so
                       older records and readers are unchanged)

Reading goes the other way: :meth:`ImageRecord.from_record` keeps, from any line of a manifest
(of today's runner or an older one), the fields that resuming and copying need, typed; a value
of the wrong type reads as missing, so such a record never counts as finished. A failed record
without ``may_have_been_billed`` (every older one) reads as not billed
(:func:`may_have_been_billed`).

Example:
    >>> from flux2prompt import scene
    >>> from flux2prompt.batch import BatchJob, plan_items, template, zipped
    >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
    ...                source=zipped(city=["Oslo"]), output="{city}.{ext}", seeds=4)
    >>> item = next(plan_items(job))
    >>> image = ImageRecord(index=0, request_fingerprint=item.key, file="Oslo.jpg",
    ...                     sha256="sha256:00", bytes=3, format="jpeg", width=8, height=8)
    >>> record = generated_record("x", item, Timing.start(), 1, image)
    >>> list(record)[:4], record["file"], record["copied_from"]
    (['job', 'index', 'status', 'variables'], 'Oslo.jpg', None)
    >>> ImageRecord.from_record(record) == image
    True
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NotRequired, TypeAlias, TypedDict, cast

from flux2prompt.batch._plan import PlannedItem
from flux2prompt.transport import APIError

__all__ = [
    "CopiedFrom",
    "ErrorInfo",
    "FailedRecord",
    "ImageRecord",
    "InputRecord",
    "Json",
    "ManifestRecord",
    "OkRecord",
    "SupersededRecord",
    "Timing",
    "clean_text",
    "copied_record",
    "failed_record",
    "generated_record",
    "input_records",
    "may_have_been_billed",
    "recovered_record",
    "superseded_record",
]

#: A JSON value, as a manifest holds it.
Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | float | bool | None"


class ErrorInfo(TypedDict):
    """Why an item failed: the error's class name, its (scrubbed) message, status and code."""

    type: str
    message: str
    status: int | None
    code: int | None


class CopiedFrom(TypedDict):
    """Where a copied image came from (``file`` is null when the original failed)."""

    request_fingerprint: str | None
    index: int | None
    file: str | None


class _Leading(TypedDict):
    """The fields every record starts with: the item, its variables and its request."""

    job: str
    index: int
    status: Literal["ok", "failed"]
    variables: dict[str, Json]
    seed: int | None
    model: str
    parameters: dict[str, Json]
    prompt: Json
    prompt_fingerprint: str
    request_fingerprint: str
    images: NotRequired[list[InputRecord]]
    prompt_format: NotRequired[str]


class InputRecord(TypedDict):
    """A reference image sent with the item: its path (or URL; ``None`` for bytes or a data
    URI) and the sha256 of the bytes sent (``None`` for a URL: the request fingerprint holds the
    URL as given)."""

    file: str | None
    sha256: str | None


def input_records(item: PlannedItem) -> list[InputRecord]:
    """The item's reference images, in the order sent, each with its path and hash."""
    # Workers AI requests hold each image's bare hex digest; Black Forest Labs requests hold
    # "sha256:..." identities already, and a URL's identity is the URL (not a file sent).
    digests: list[str] = [
        image.sha256 if image.sha256.startswith("sha256:") else f"sha256:{image.sha256}"
        for image in item.request.images
        if not image.sha256.startswith(("https://", "http://", "data:"))
    ]
    prepared = iter(digests)
    out: list[InputRecord] = []
    for label in item.inputs:
        if label is not None and label.startswith(("https://", "http://", "data:")):
            out.append({"file": None if label.startswith("data:") else label, "sha256": None})
            continue
        out.append({"file": label, "sha256": next(prepared, None)})
    return out


class OkRecord(_Leading):
    """The line of an image written (sent, or copied from another item's)."""

    file: str
    sha256: str | None
    bytes: int | None
    format: str | None
    width: int | None
    height: int | None
    error: None
    request_id: str | None
    copied_from: CopiedFrom | None
    attempts: int
    started_at: str
    finished_at: str
    elapsed: float
    effective_prompt: NotRequired[str]
    #: Present, and true, only on the record of an image recovered from an interrupted run.
    recovered: NotRequired[bool]


class FailedRecord(_Leading):
    """The line of an item without an image; it has no image fields, as it never had.

    ``may_have_been_billed`` is present, and true, only when the request may have run the
    model (a read timeout after it was sent whole, a response that broke off, a 2xx with a
    broken body): the key is left out otherwise, so records read as they always have.
    """

    file: None
    sha256: None
    error: ErrorInfo
    may_have_been_billed: NotRequired[bool]
    request_id: str | None
    copied_from: CopiedFrom | None
    attempts: int
    started_at: str
    finished_at: str
    elapsed: float
    #: Present only when the answer held bytes that are no image flux2prompt reads: where
    #: they were kept (``unreadable/<name>.<digest>.bin``, relative to the output folder).
    kept: NotRequired[str]


#: One line of the manifest, as the runner writes it.
ManifestRecord: TypeAlias = OkRecord | FailedRecord


def _now() -> str:
    return (
        datetime.datetime.now(datetime.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class Timing:
    """When an item's work started: the wall clock for ``started_at``, a monotonic clock for
    ``elapsed``; the record's ``finished_at`` is taken when it is built."""

    started_at: str
    clock: float

    @classmethod
    def start(cls) -> Timing:
        """Start the clocks now."""
        return cls(_now(), time.perf_counter())


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """The fields of an ``ok`` record that resuming and copying need: which item, which file,
    and what the file must hold to count as intact."""

    index: int | None
    request_fingerprint: str
    file: str | None
    sha256: str | None
    bytes: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    request_id: str | None = None
    effective_prompt: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> ImageRecord:
        """The image fields of a manifest line (``request_fingerprint`` is checked on reading)."""
        return cls(
            index=_int(record.get("index")),
            request_fingerprint=str(record["request_fingerprint"]),
            file=_str(record.get("file")),
            sha256=_str(record.get("sha256")),
            bytes=_int(record.get("bytes")),
            format=_str(record.get("format")),
            width=_int(record.get("width")),
            height=_int(record.get("height")),
            request_id=_str(record.get("request_id")),
            effective_prompt=_str(record.get("effective_prompt")),
        )


def may_have_been_billed(record: Mapping[str, object]) -> bool:
    """Whether a manifest line records a failure that may have been billed (``False`` for an
    ``ok`` line and for every line an older runner wrote).

    Example:
        >>> may_have_been_billed({"status": "failed", "may_have_been_billed": True})
        True
        >>> may_have_been_billed({"status": "failed"})
        False
    """
    return record.get("status") == "failed" and record.get("may_have_been_billed") is True


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class _Trailing(TypedDict):
    attempts: int
    started_at: str
    finished_at: str
    elapsed: float


def _leading(
    job: str, item: PlannedItem, status: Literal["ok", "failed"], *, writable: bool = True
) -> _Leading:
    request = item.request
    variant = item.variant
    # The variables of an item that cannot be recorded as they are (PlannedItem.unwritable)
    # are recorded as text, so its failure still has a line of its own.
    variables: dict[str, Json] = (
        dict(variant.variables)
        if writable
        else {str(name): _printable(value) for name, value in variant.variables.items()}
    )
    leading: _Leading = {
        "job": job,
        "index": item.index,
        "status": status,
        "variables": variables,
        "seed": variant.seed,
        "model": request.model.id,
        "parameters": dict(request.params),
        # The JSON prompt, whatever form it was sent in (a FLUX 3 caption is its text).
        "prompt": request.document,
        "prompt_fingerprint": request.prompt_fingerprint,
        "request_fingerprint": request.fingerprint,
    }
    if item.inputs:  # absent without reference images: such records keep their old shape
        leading["images"] = input_records(item)
    if request.prompt_format != "json":
        # The form it was sent in; a record without one was sent as JSON (every record written
        # before forms), so a JSON record keeps the shape it always had.
        leading["prompt_format"] = request.prompt_format
    return leading


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(value: object) -> str:
    return clean_text(repr(value) if not isinstance(value, str) else value)


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it can be written as UTF-8.

    Example:
        >>> clean_text("cut-off emoji " + chr(0xD800)) == "cut-off emoji " + chr(0xFFFD)
        True
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def _trailing(timing: Timing, attempts: int) -> _Trailing:
    return {
        "attempts": attempts,
        "started_at": timing.started_at,
        "finished_at": _now(),
        "elapsed": round(time.perf_counter() - timing.clock, 4),
    }


def _ok(
    job: str,
    item: PlannedItem,
    timing: Timing,
    attempts: int,
    file: str,
    image: ImageRecord,
    copied_from: CopiedFrom | None,
) -> OkRecord:
    # cast: mypy cannot check a TypedDict with an optional key built from ** items.
    record = cast(
        OkRecord,
        {
            **_leading(job, item, "ok"),
            "file": file,
            "sha256": image.sha256,
            "bytes": image.bytes,
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "error": None,
            "request_id": _clean_optional(image.request_id),
            "copied_from": copied_from,
            **_trailing(timing, attempts),
        },
    )
    if image.effective_prompt is not None:
        record["effective_prompt"] = clean_text(image.effective_prompt)
    return record


def generated_record(
    job: str, item: PlannedItem, timing: Timing, attempts: int, image: ImageRecord
) -> OkRecord:
    """The record of an image sent for ``item`` and written to ``image.file``.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, plan_items, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda c: scene(c)),
        ...                source=zipped(c=["fog"]), output="{c}.{ext}")
        >>> item = next(plan_items(job))
        >>> image = ImageRecord(0, item.key, "fog.jpg", "sha256:00", 3, "jpeg", 8, 8, "ray")
        >>> generated_record("x", item, Timing.start(), 2, image)["attempts"]
        2
    """
    assert image.file is not None
    return _ok(job, item, timing, attempts, image.file, image, None)


def copied_record(
    job: str, item: PlannedItem, timing: Timing, source: ImageRecord, file: str
) -> OkRecord:
    """The record of ``item`` written to ``file`` from the image ``source`` records.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, plan_items, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda c: scene(c)),
        ...                source=zipped(c=["fog", "fog"], n=[1, 2]), output="{n}.{ext}")
        >>> copy = list(plan_items(job))[1]
        >>> source = ImageRecord(0, copy.key, "1.jpg", "sha256:00", 3, "jpeg", 8, 8)
        >>> record = copied_record("x", copy, Timing.start(), source, "2.jpg")
        >>> record["copied_from"]["file"], record["attempts"]
        ('1.jpg', 0)
    """
    copied_from: CopiedFrom = {
        "request_fingerprint": source.request_fingerprint,
        "index": source.index,
        "file": source.file,
    }
    return _ok(job, item, timing, 0, file, source, copied_from)


def recovered_record(job: str, item: PlannedItem, timing: Timing, image: ImageRecord) -> OkRecord:
    """The record of ``item``'s image found in ``image.file``, written by a run that stopped
    before recording it: nothing was sent for it in this run (``attempts`` 0).

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, plan_items, template, zipped
        >>> job = BatchJob(name="x", template=template(lambda c: scene(c)),
        ...                source=zipped(c=["fog"]), output="{c}.{ext}")
        >>> item = next(plan_items(job))
        >>> image = ImageRecord(0, item.key, "fog.jpg", "sha256:00", 3, "jpeg", 8, 8)
        >>> record = recovered_record("x", item, Timing.start(), image)
        >>> record["attempts"], record["request_id"], list(record)[-1], record["recovered"]
        (0, None, 'recovered', True)
    """
    assert image.file is not None
    record = _ok(job, item, timing, 0, image.file, image, None)
    record["recovered"] = True
    return record


def failed_record(
    job: str,
    item: PlannedItem,
    timing: Timing,
    attempts: int,
    error: APIError | Exception,
    message: str,
    *,
    request_id: str | None,
    copied_from: CopiedFrom | None = None,
    billed: bool = False,
    kept: str | None = None,
) -> FailedRecord:
    """The record of ``item`` failing with ``error``; ``message`` is its scrubbed text.
    ``billed`` marks a failure that was billed whatever ``error`` says (an image paid for that
    could not be written); ``kept`` is where the answer's bytes were kept, when they were no
    image flux2prompt reads.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.batch import BatchJob, plan_items, template, zipped
        >>> from flux2prompt.transport._errors import make_status_error
        >>> job = BatchJob(name="x", template=template(lambda c: scene(c)),
        ...                source=zipped(c=["fog"]), output="{c}.{ext}")
        >>> item = next(plan_items(job))
        >>> error = make_status_error(500, {}, b"")
        >>> record = failed_record("x", item, Timing.start(), 1, error, str(error),
        ...                        request_id=None)
        >>> record["status"], record["file"], record["error"]["status"], "bytes" in record
        ('failed', None, 500, False)
        >>> "may_have_been_billed" in record  # a 500 ran nothing
        False
    """
    status = getattr(error, "status_code", None)
    code = getattr(error, "code", None)
    error_info: ErrorInfo = {
        "type": type(error).__name__,
        "message": clean_text(message),
        "status": status if isinstance(status, int) else None,
        "code": code if isinstance(code, int) else None,
    }
    # A copy sends nothing, so only the item that sent the request carries the flag; it sits
    # right after the error it qualifies, and is absent when false (the old shape of a record).
    billed_error = billed or getattr(error, "may_have_been_billed", False) is True
    billed_flag: dict[str, bool] = (
        {"may_have_been_billed": True} if billed_error and copied_from is None else {}
    )
    record: dict[str, object] = {
        **_leading(job, item, "failed", writable=item.unwritable is None),
        "file": None,
        "sha256": None,
        "error": error_info,
        **billed_flag,
        "request_id": _clean_optional(request_id),
        "copied_from": copied_from,
        **_trailing(timing, attempts),
    }
    if kept is not None:
        record["kept"] = kept
    return cast(FailedRecord, record)


class SupersededRecord(TypedDict):
    """The line that takes an item out of the effective view: its file was replaced by another
    item's image, or it is no longer in the job. ``moved_to`` says where its image went
    (``superseded/...``), null when it was not on disk any more or stays for a current item."""

    job: str
    index: int | None
    status: Literal["superseded"]
    request_fingerprint: str
    file: str | None
    sha256: str | None
    moved_to: str | None
    reason: str
    superseded_at: str


def superseded_record(
    job: str, image: ImageRecord | Mapping[str, object], reason: str, moved_to: str | None
) -> SupersededRecord:
    """The record that supersedes ``image`` (an ``ok`` record, or any record's fields).

    Example:
        >>> image = ImageRecord(3, "sha256:ab", "mug.jpg", "sha256:cd")
        >>> record = superseded_record("x", image, "no longer in the job", "superseded/mug.jpg")
        >>> record["status"], record["index"], record["moved_to"]
        ('superseded', 3, 'superseded/mug.jpg')
    """
    if isinstance(image, ImageRecord):
        index, fingerprint, file, digest = (
            image.index,
            image.request_fingerprint,
            image.file,
            image.sha256,
        )
    else:
        index = _int(image.get("index"))
        fingerprint = str(image["request_fingerprint"])
        file, digest = _str(image.get("file")), _str(image.get("sha256"))
    return {
        "job": job,
        "index": index,
        "status": "superseded",
        "request_fingerprint": fingerprint,
        "file": file,
        "sha256": digest,
        "moved_to": moved_to,
        "reason": reason,
        "superseded_at": _now(),
    }
