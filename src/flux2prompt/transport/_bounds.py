"""What one answer may cost the caller: a size bound on its body and a deadline on the whole.

httpx's timeouts are per operation: a read timeout of 180 s is 180 s *per read*, so a server
that sends one byte every 0.4 s holds a request forever. The clients add two bounds of their
own, on every download path (the Workers AI answer and a proxied model's result URL):

- **a deadline per attempt**, from connecting to the last byte of the body. Every connection a
  client opens is bound when httpcore reports it (the ``trace`` extension): each of its reads
  and writes waits at most until the deadline, so a trickling server is cut off on time, while
  headers or body are still arriving. (A connection the client did not open, in a pool shared
  with other code, is checked between chunks instead.) The async client runs the attempt in a
  cancel scope (``anyio.fail_after``), which cuts any await off on time;
- **a maximum body size**, after decoding (so a compressed bomb is cut off too), refused as soon
  as ``Content-Length`` declares more, or as soon as more has arrived: the rest is never read.

:class:`AnswerBounds` holds both for every client (Workers AI's and Black Forest Labs', sync
and async), with the one way an attempt is sent within them.

Example:
    >>> body = collect_body(iter([b"ab", b"cd"]), None, limit=3, deadline_at=None)
    >>> body.content, body.truncated
    (b'abc', True)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import anyio
import httpcore
import httpx

from flux2prompt.transport._errors import failure_detail, scrub_secrets

__all__ = [
    "ERROR_BODY_LIMIT",
    "AnswerBounds",
    "Body",
    "acollect_body",
    "bind_stream",
    "bound_timeout",
    "collect_body",
    "deadline_detail",
    "deadline_scope",
    "declared_length",
    "sync_deadline",
    "trace_streams",
]

#: How much of an error answer (a non-2xx status) is read: enough for any JSON envelope or the
#: title of an HTML page; the rest is not read.
ERROR_BODY_LIMIT: Final = 1024 * 1024

_BOUND: Final = "_flux2prompt_deadline_bound"
_local = threading.local()


@dataclass(frozen=True, slots=True)
class Body:
    """The bytes read of an answer's body; ``truncated`` when there was more than the limit
    (``declared`` is the ``Content-Length``, when it said so before anything was read)."""

    content: bytes
    truncated: bool = False
    declared: int | None = None

    @property
    def excess(self) -> str:
        """What showed a truncated body too large, for its error: the declared length, or
        that more arrived.

        >>> Body(b"", True, 70_000_000).excess, Body(b"abc", True).excess
        ('Content-Length 70,000,000', 'more arrived')
        """
        return f"Content-Length {self.declared:,}" if self.declared is not None else "more arrived"


def deadline_detail(seconds: float) -> str:
    """The words of a deadline that passed, for an error's detail.

    >>> deadline_detail(3)
    'the whole answer did not arrive within the deadline of 3 s, set by deadline='
    """
    return f"the whole answer did not arrive within the deadline of {seconds:g} s, set by deadline="


def _left() -> float | None:
    at: float | None = getattr(_local, "at", None)
    return None if at is None else at - time.monotonic()


def _passed() -> bool:
    left = _left()
    return left is not None and left <= 0.001


def _clamped(timeout: float | None, left: float) -> float:
    return left if timeout is None else min(timeout, left)


def _within_deadline(
    operation: Callable[[Any, float | None], Any],
    argument: Any,
    timeout: float | None,
    timeout_error: type[httpcore.TimeoutException],
) -> Any:
    """``operation(argument, timeout)`` (a stream's read or write), waiting at most until the
    deadline of the attempt running in this thread; past it, ``timeout_error`` saying so."""
    left = _left()
    if left is None:
        return operation(argument, timeout)
    if left <= 0:
        raise timeout_error(deadline_detail(_local.seconds))
    try:
        return operation(argument, _clamped(timeout, left))
    except timeout_error:
        if _passed():
            raise timeout_error(deadline_detail(_local.seconds)) from None
        raise


def bind_stream(stream: object) -> None:
    """Make every read and write of an httpcore network ``stream`` wait at most until the
    deadline of the attempt running in this thread (see :func:`sync_deadline`); idempotent.

    Outside an attempt with a deadline the stream behaves as before.
    """
    if getattr(stream, _BOUND, False):
        return
    read = getattr(stream, "read", None)
    write = getattr(stream, "write", None)
    if not callable(read) or not callable(write):
        return

    def bounded_read(max_bytes: int, timeout: float | None = None) -> Any:
        return _within_deadline(read, max_bytes, timeout, httpcore.ReadTimeout)

    def bounded_write(buffer: bytes, timeout: float | None = None) -> Any:
        return _within_deadline(write, buffer, timeout, httpcore.WriteTimeout)

    try:
        stream.read = bounded_read  # type: ignore[attr-defined]
        stream.write = bounded_write  # type: ignore[attr-defined]
        setattr(stream, _BOUND, True)
    except (AttributeError, TypeError):  # a stream with slots: checked between chunks instead
        return


def trace_streams(event: str, info: object) -> None:
    """For httpcore's ``trace`` extension: bind each connection the attempt opens."""
    if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
        stream = info.get("return_value") if isinstance(info, dict) else None
        if stream is not None:
            bind_stream(stream)


@contextlib.contextmanager
def sync_deadline(seconds: float | None) -> Iterator[float | None]:
    """Run the block as one attempt with a deadline ``seconds`` from now (``None``: none);
    yields the deadline on the :func:`time.monotonic` clock."""
    if seconds is None:
        yield None
        return
    saved = (getattr(_local, "at", None), getattr(_local, "seconds", None))
    at = time.monotonic() + seconds
    _local.at, _local.seconds = at, seconds
    try:
        yield at
    finally:
        _local.at, _local.seconds = saved


def bound_timeout(request: httpx.Request, seconds: float | None) -> None:
    """Clamp the connect, read, write and pool timeouts of ``request`` to ``seconds``."""
    if seconds is None:
        return
    timeouts = dict(request.extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = timeouts.get(key)
        timeouts[key] = seconds if value is None else min(float(value), seconds)
    request.extensions["timeout"] = timeouts


def declared_length(response: httpx.Response) -> int | None:
    """The ``Content-Length`` of ``response`` as a number, ``None`` when absent or not one."""
    declared = response.headers.get("content-length", "").strip()
    return int(declared) if declared.isdigit() and len(declared) < 20 else None


def _past(deadline_at: float | None) -> bool:
    return deadline_at is not None and time.monotonic() > deadline_at


def collect_body(
    chunks: Iterator[bytes],
    declared: int | None,
    *,
    limit: int,
    deadline_at: float | None,
    on_deadline: Callable[[], BaseException] | None = None,
) -> Body:
    """Read ``chunks`` (decoded body bytes) up to ``limit`` bytes, stopping at the deadline.

    More than ``limit`` (declared or arrived) stops the reading: ``truncated`` is set and the
    rest is never read. Past ``deadline_at``, ``on_deadline()`` is raised (an
    ``httpx.ReadTimeout`` by default).
    """
    if declared is not None and declared > limit:
        return Body(b"", truncated=True, declared=declared)
    body = bytearray()
    try:
        for chunk in chunks:
            body += chunk
            if len(body) > limit:
                return Body(bytes(body[:limit]), truncated=True)
            if _past(deadline_at):
                raise _deadline_error(deadline_at, on_deadline)
    except httpx.DecodingError as exc:
        raise _undecodable(exc) from exc
    return Body(bytes(body))


async def acollect_body(
    chunks: AsyncIterator[bytes],
    declared: int | None,
    *,
    limit: int,
    deadline_at: float | None,
    on_deadline: Callable[[], BaseException] | None = None,
) -> Body:
    """The async twin of :func:`collect_body`."""
    if declared is not None and declared > limit:
        return Body(b"", truncated=True, declared=declared)
    body = bytearray()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                return Body(bytes(body[:limit]), truncated=True)
            if _past(deadline_at):
                raise _deadline_error(deadline_at, on_deadline)
    except httpx.DecodingError as exc:
        raise _undecodable(exc) from exc
    return Body(bytes(body))


def _undecodable(exc: httpx.DecodingError) -> httpx.RemoteProtocolError:
    """A body its ``Content-Encoding`` does not decode (a gzip that is not gzip) is a response
    that broke off: the error every caller already handles (a generation it may have billed,
    a poll read again, a failed download), not httpx's ``DecodingError``, which is no
    ``TransportError``."""
    return httpx.RemoteProtocolError(
        f"the body could not be decoded by its Content-Encoding ({exc})"
    )


def _deadline_error(
    deadline_at: float | None, on_deadline: Callable[[], BaseException] | None
) -> BaseException:
    if on_deadline is not None:
        return on_deadline()
    seconds = getattr(_local, "seconds", None)
    return httpx.ReadTimeout(deadline_detail(seconds) if seconds else "deadline passed")


def deadline_scope(seconds: float | None) -> contextlib.AbstractContextManager[object]:
    """A cancel scope that ends an async attempt ``seconds`` from now with ``TimeoutError``
    (``None``: no deadline)."""
    return contextlib.nullcontext() if seconds is None else anyio.fail_after(seconds)


class AnswerBounds:
    """The bounds of every client's answers, Workers AI's and Black Forest Labs': the body's
    size (``max_response_bytes``) and the attempt's ``deadline``, and one attempt sent within
    them (the client's ``httpx.Client`` or ``httpx.AsyncClient`` passed in)."""

    max_response_bytes: int
    deadline: float | None

    def redact(self, text: str) -> str:
        """``text`` with the client's secrets scrubbed (each client knows its own)."""
        raise NotImplementedError

    def _failure_detail(self, exc: httpx.TransportError, secrets: tuple[str, ...] = ()) -> str:
        """What went wrong, scrubbed (of ``secrets`` too), in the same words from the blocking
        and the async clients: their I/O libraries word the same failure differently."""
        detail = failure_detail(exc)
        # anyio words a timeout by its cancel scope ("Cancelled via cancel scope 7f3a...").
        if isinstance(exc, httpx.TimeoutException) and (
            detail == type(exc).__name__ or detail.startswith("Cancelled via cancel scope")
        ):
            detail = "timed out"
        return scrub_secrets(self.redact(detail), secrets)

    def _body_limit(self, response: httpx.Response) -> int:
        # An error answer needs only its envelope: the rest of a huge one is never read.
        if 200 <= response.status_code < 300:
            return self.max_response_bytes
        return min(self.max_response_bytes, ERROR_BODY_LIMIT)

    @staticmethod
    def _declared(response: httpx.Response) -> int | None:
        """The ``Content-Length`` that refuses a body unread: a 2xx's only. Of an error answer
        the first MiB is read whatever it declares, so that its error says what it was."""
        return declared_length(response) if 200 <= response.status_code < 300 else None

    def _deadline_passed(self) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(deadline_detail(self.deadline or 0.0))

    def _bound_request(self, request: httpx.Request) -> float | None:
        """Clamp ``request``'s timeouts to the deadline; the deadline in seconds, if any."""
        bound_timeout(request, self.deadline)
        return self.deadline

    def _cut_off(self, request_sent: bool) -> httpx.TransportError:
        """The httpx error of an attempt the deadline cut off (the async clients' cancel
        scope): a read timeout once the request was sent whole, else a write timeout."""
        detail = deadline_detail(self.deadline or 0.0)
        return httpx.ReadTimeout(detail) if request_sent else httpx.WriteTimeout(detail)

    def _send_bounded(
        self, client: httpx.Client, request: httpx.Request, observe: Callable[[str], object]
    ) -> tuple[httpx.Response, Body]:
        """Send one attempt within the deadline and read its body up to the size bound;
        ``observe`` is told each step of the attempt httpcore reports."""

        # httpcore reports each step of the attempt here: whether a connection was made for it,
        # whether the request went out whole, whether a response began (what tells a safe
        # resend from one that may bill twice). Each connection opened for it is bound to the
        # attempt's deadline.
        def trace(event: str, info: object) -> None:
            observe(event)
            trace_streams(event, info)

        request.extensions["trace"] = trace
        seconds = self._bound_request(request)
        with sync_deadline(seconds) as deadline_at:
            # Never a redirect, whatever the client passed in was configured with: httpx strips
            # only Authorization on one to another host, and a header key would follow it.
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                body = collect_body(
                    response.iter_bytes(),
                    self._declared(response),
                    limit=self._body_limit(response),
                    deadline_at=deadline_at,
                    on_deadline=self._deadline_passed,
                )
            finally:
                response.close()
        return response, body

    async def _asend_bounded(
        self, client: httpx.AsyncClient, request: httpx.Request, observe: Callable[[str], object]
    ) -> tuple[httpx.Response, Body]:
        """The async twin of :meth:`_send_bounded`: the deadline is a cancel scope, which
        raises ``TimeoutError`` when it passes."""

        async def trace(event: str, info: object) -> None:
            observe(event)

        request.extensions["trace"] = trace
        seconds = self._bound_request(request)
        # The deadline: a cancel scope cuts any await of the attempt off on time.
        with deadline_scope(seconds):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = await acollect_body(
                    response.aiter_bytes(),
                    self._declared(response),
                    limit=self._body_limit(response),
                    deadline_at=None,
                )
            finally:
                await response.aclose()
        return response, body
