"""When to retry, and how long to wait: pure functions, patchable in tests.

The clients run one flat loop: send, and on failure ask :func:`retry_wait`; if it gives a
number of seconds and retries are left, sleep that long and go again. The batch runner asks the
same function (it keeps its own budgets: how many retries, not which or how long). Nothing here
sleeps or sends.

A failure without an HTTP status is first placed by :func:`classify_failure`, from the httpx
exception class and what httpcore reported of the attempt (:class:`SendProgress`), because a
request that may have reached the model may have been billed:

    not sent            connect errors and timeouts, pool timeouts, a write that failed
                        before the request was sent whole: retried (APIConnectionError,
                        APITimeoutError); such an attempt is not counted in ``attempts``
    stale connection    a reused keep-alive connection closed before any response byte,
                        within 0.5 s of the request being sent: retried once at once, apart
                        from ``max_retries`` (one that held the request longer may have run)
    may have run        a read timeout after the whole request was sent, a fresh connection
                        closed before any answer, a response that began and broke:
                        PossiblyBilledError, not resent unless retry_possibly_billed=True

Then, by status:

    retried     408, 429 with code 3040 (capacity), 429 without a code but with a
                Retry-After that parses (seconds or an HTTP date), 502, 503, 504 (a 408 or
                504 may have run the model: the docs say so)
    never       400 (5006 bad input, 6003 headers, 8007 moderated, ...), 401, 403, 404, 413,
                500, 429 with 3036/4006 (daily quota: nothing changes before 00:00 UTC),
                a 2xx with a broken body (it may have been billed), and any answer whose
                Retry-After is longer than 60 s (the error carries the wait; the batch
                runner pauses its queue for it)

Example:
    >>> import random
    >>> 0.375 <= retry_delay(0, None, random.Random(1)) <= 0.5
    True
    >>> retry_delay(0, 2.0)
    2.0
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol, TypeAlias

from flux2prompt.transport._constants import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    QUOTA_CODES,
    RETRYABLE_STATUSES,
    STALE_CONNECTION_WINDOW,
)
from flux2prompt.transport._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    PossiblyBilledError,
    parse_retry_after,
)

__all__ = [
    "Delivery",
    "FailureKind",
    "SendProgress",
    "classify_failure",
    "is_retryable",
    "long_retry_after",
    "parse_retry_after",
    "retry_delay",
    "retry_wait",
]

#: What httpx said went wrong, by exception class (the client maps one to the other):
#: ``connect`` (ConnectError, ConnectTimeout), ``pool`` (PoolTimeout), ``write`` (WriteError,
#: WriteTimeout), ``read_timeout`` (ReadTimeout) and ``read`` (anything else: a reset, a
#: closed connection, a protocol error while reading).
FailureKind: TypeAlias = Literal["connect", "pool", "write", "read_timeout", "read"]


class Delivery(StrEnum):
    """How far a failed attempt got, as far as the client can know.

    Example:
        >>> classify_failure("connect", SendProgress())
        <Delivery.NOT_SENT: 'not_sent'>
    """

    NOT_SENT = "not_sent"  # the model cannot have seen it: safe to resend
    STALE_CONNECTION = "stale_connection"  # a reused idle connection the server had closed
    MAY_HAVE_RUN = "may_have_run"  # sent whole, then no (complete) answer: may be billed


@dataclass(slots=True)
class SendProgress:
    """What httpcore reported of one attempt, from its ``trace`` extension's events.

    ``traced`` is false when the transport reported nothing (a custom or mock transport): the
    client then knows only the exception class, and assumes the worst of an ambiguous one.

    Example:
        >>> progress = SendProgress()
        >>> for event in ("http11.send_request_headers.started",
        ...               "http11.send_request_body.complete"):
        ...     progress.observe(event)
        >>> progress.request_started, progress.request_sent, progress.new_connection
        (True, True, False)
    """

    traced: bool = False
    new_connection: bool = False
    request_started: bool = False
    request_sent: bool = False
    response_started: bool = False
    #: When the request was sent whole, and when the attempt failed (``time.monotonic()``).
    sent_at: float | None = None
    failed_at: float | None = None

    @property
    def waited(self) -> float:
        """Seconds from the request sent whole to the failure (until now when :meth:`fail` was
        not called; 0 when the request was not sent whole, or untraced)."""
        if self.sent_at is None:
            return 0.0
        end = self.failed_at if self.failed_at is not None else time.monotonic()
        return max(0.0, end - self.sent_at)

    def fail(self) -> None:
        """Note the moment the attempt failed (the clients call it as they catch the error)."""
        if self.failed_at is None:
            self.failed_at = time.monotonic()

    def observe(self, event: str) -> None:
        """Take one trace event name, such as ``"http11.send_request_body.complete"``."""
        self.traced = True
        # The prefix names the protocol (http11, http2) or the layer (connection): only the
        # step matters here.
        step = event.partition(".")[2]
        if step == "connect_tcp.started" or step == "connect_unix_socket.started":
            self.new_connection = True
        elif step == "send_request_headers.started":
            self.request_started = True
        elif step in ("send_request_body.complete", "send_request_data.complete"):
            self.request_sent = True
            self.sent_at = time.monotonic()
        elif step == "receive_response_headers.complete":
            self.response_started = True

    @property
    def reached_network(self) -> bool | None:
        """Whether a byte of the request went out (``None`` when untraced)."""
        return self.request_started if self.traced else None


def classify_failure(kind: FailureKind, progress: SendProgress) -> Delivery:
    """Place a failed attempt: not sent (resend), a stale connection (resend once), or may
    have run the model (do not resend: it may have been billed).

    Example:
        >>> sent = SendProgress(traced=True, request_started=True, request_sent=True)
        >>> classify_failure("read_timeout", sent)
        <Delivery.MAY_HAVE_RUN: 'may_have_run'>
        >>> classify_failure("read", sent)  # no new connection: a reused one was closed
        <Delivery.STALE_CONNECTION: 'stale_connection'>
        >>> classify_failure("read", SendProgress())  # untraced: assume the worst
        <Delivery.MAY_HAVE_RUN: 'may_have_run'>
    """
    if kind in ("connect", "pool"):
        return Delivery.NOT_SENT
    if not progress.traced:
        # Only the exception is known. A write error means the request never went out whole;
        # anything else may have happened after the model started.
        return Delivery.NOT_SENT if kind == "write" else Delivery.MAY_HAVE_RUN
    if not progress.request_started:
        return Delivery.NOT_SENT
    if progress.response_started:
        return Delivery.MAY_HAVE_RUN
    if not progress.request_sent:
        return Delivery.NOT_SENT
    if kind == "read" and not progress.new_connection and progress.waited < STALE_CONNECTION_WINDOW:
        # An idle connection the server had closed: the close arrives at once. A server that
        # held the request for longer before closing had it, and may have run the model.
        return Delivery.STALE_CONNECTION
    return Delivery.MAY_HAVE_RUN


class _Random(Protocol):
    def random(self) -> float: ...


def is_retryable(error: APIError, *, retry_possibly_billed: bool = False) -> bool:
    """Say whether a failed attempt is worth repeating (whatever its ``Retry-After``).

    A :class:`PossiblyBilledError` is repeated only with ``retry_possibly_billed=True``.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> is_retryable(make_status_error(503, {}, b""))
        True
        >>> is_retryable(make_status_error(429, {}, b'{"errors":[{"code":3036,"message":"x"}]}'))
        False
        >>> is_retryable(PossiblyBilledError("read_timeout"))
        False
    """
    if isinstance(error, PossiblyBilledError):
        return retry_possibly_billed
    if isinstance(error, APIConnectionError):
        return True
    if not isinstance(error, APIStatusError):
        return False
    if error.status_code in RETRYABLE_STATUSES:
        return True
    if error.status_code == 429:
        if error.code in QUOTA_CODES:
            return False
        # 3040 is "capacity temporarily exceeded: retry with backoff". A 429 without a Workers
        # AI code (a proxy, the gateway) is retried only when it says when to come back: a
        # Retry-After that is a number of seconds or a date, not one that says nothing.
        return error.code == 3040 or (error.code is None and error.retry_after_seconds is not None)
    return False


def retry_delay(attempt: int, retry_after: float | None, rng: _Random | None = None) -> float:
    """Return the seconds to wait before retry number ``attempt + 1`` (``attempt`` from 0).

    A server's ``retry_after`` is honoured, capped at 60 s (:func:`retry_wait` does not retry
    past the cap at all; this function only bounds a delay). Otherwise exponential backoff:
    0.5 s doubling to at most 8 s, scaled by a jitter factor in [0.75, 1.0] so that many
    clients do not retry in lockstep.

    Example:
        >>> class Fixed:
        ...     def random(self) -> float:
        ...         return 0.0
        >>> [retry_delay(n, None, Fixed()) for n in range(6)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        >>> retry_delay(0, 120.0, Fixed())
        60.0
    """
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(attempt, 32), MAX_RETRY_DELAY)
    jitter = 1.0 - 0.25 * (rng if rng is not None else random).random()
    return base * jitter


def long_retry_after(error: APIError) -> float | None:
    """The seconds a retryable error asks to wait when that is longer than a client waits
    (60 s), else ``None``: the one case :func:`retry_wait` refuses for the wait alone.

    The batch runner pauses its whole queue for that long rather than fail the item.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> long_retry_after(make_status_error(503, {"retry-after": "600"}, b""))
        600.0
        >>> long_retry_after(make_status_error(503, {"retry-after": "6"}, b"")) is None
        True
    """
    wait = getattr(error, "retry_after_seconds", None)
    if wait is None or wait <= MAX_RETRY_AFTER or not is_retryable(error):
        return None
    return float(wait)


def retry_wait(
    error: APIError,
    attempt: int = 0,
    rng: _Random | None = None,
    *,
    retry_possibly_billed: bool = False,
) -> float | None:
    """Return the seconds to wait before repeating a request that failed with ``error``, or
    ``None`` when the error is final and repeating the request would not help (or could bill
    twice).

    ``attempt`` counts the retries already made (0 before the first). This is the one retry
    policy: :class:`WorkersAI`, :class:`AsyncWorkersAI` and the batch runner all ask it, and
    only the number of retries allowed is theirs. A ``Retry-After`` is honoured up to 60 s; a
    longer one is not retried (:func:`long_retry_after` gives it); otherwise the backoff of
    :func:`retry_delay`. A :class:`PossiblyBilledError` is retried only with
    ``retry_possibly_billed=True``.

    Example:
        >>> from flux2prompt.transport import retry_wait
        >>> from flux2prompt.transport._errors import make_status_error
        >>> retry_wait(make_status_error(503, {"retry-after": "2"}, b""))
        2.0
        >>> retry_wait(make_status_error(429, {}, b"")) is None  # no code, no Retry-After
        True
        >>> retry_wait(make_status_error(503, {"retry-after": "3600"}, b"")) is None
        True
    """
    if not is_retryable(error, retry_possibly_billed=retry_possibly_billed):
        return None
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
        return None
    # Looked up at call time, so a test that patches retry_delay drives every caller.
    return retry_delay(attempt, retry_after, rng)
