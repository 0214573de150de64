"""The errors of the transport: what went wrong talking to Workers AI, and what to do about it.

The whole tree of flux2prompt's errors is drawn once, in :mod:`flux2prompt._errors`; this module
holds its transport branch, :class:`APIError` and below. Status errors are built by one
function, :func:`make_status_error`, from the HTTP status and the Cloudflare error code of the
response; each carries ``status_code``, ``code``, ``message``, ``request_id`` (the ``cf-ray``
header) and a ``hint`` that says what to do. :class:`ConfigurationError`, :class:`ParameterError`
and :class:`ImageError` are raised before anything is sent; they live in the one error module
and are re-exported here.

Example:
    >>> import flux2prompt.transport as t
    >>> body = b'{"success": false, "errors": [{"code": 3040, "message": "Capacity exceeded"}]}'
    >>> exc = make_status_error(429, {"cf-ray": "8f1e-AMS"}, body)
    >>> type(exc).__name__, exc.code, exc.request_id, isinstance(exc, t.RateLimitError)
    ('CapacityError', 3040, '8f1e-AMS', True)
"""

from __future__ import annotations

import datetime
import email.utils
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final, Literal, NamedTuple

from flux2prompt._errors import ConfigurationError, Flux2PromptError, ImageError, ParameterError
from flux2prompt._text import printable
from flux2prompt.transport._constants import MAX_RETRY_AFTER, RETRYABLE_STATUSES

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CapacityError",
    "ChainedError",
    "ConfigurationError",
    "ContentModeratedError",
    "GenerationStateError",
    "ImageError",
    "InputModeratedError",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidRequestHeadersError",
    "NotFoundError",
    "OutputModeratedError",
    "ParameterError",
    "PermissionDeniedError",
    "PossiblyBilledError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseError",
    "ResultDownloadError",
    "TaskError",
    "TaskFailedError",
    "TaskModeratedError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "TooManyActiveTasksError",
    "UnprocessableRequestError",
    "failure_detail",
    "make_bfl_status_error",
    "make_status_error",
    "parse_retry_after",
    "scrub_exception_chain",
    "scrub_headers",
    "scrub_secrets",
    "server_text",
]


def _restore(cls: type[APIError], args: tuple[Any, ...], state: dict[str, Any]) -> APIError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _paragraph(message: str, hint: str) -> str:
    if not hint:
        return message
    end = "" if message.endswith((".", "!", "?")) else "."
    return f"{message}{end} {hint}"


class APIError(Flux2PromptError):
    """Raised when a request to Workers AI was attempted and did not produce an image.

    ``message`` is what went wrong, ``hint`` what to do about it; ``str(exc)`` joins both.

    Example:
        >>> from flux2prompt.transport import APIConnectionError
        >>> exc = APIConnectionError("connection refused", url="http://127.0.0.1:9/x")
        >>> isinstance(exc, APIError), exc.hint.startswith("Check")
        (True, True)
    """

    default_hint: ClassVar[str] = ""
    #: Whether the model may have run (and been billed) although no image came back: a 2xx with
    #: a broken body, or a :class:`PossiblyBilledError`. The batch runner records it.
    may_have_been_billed: bool = False
    #: How many requests reached the network before this error was raised (set by the clients;
    #: 0 when none did, e.g. every connection was refused: nothing can have been billed).
    attempts: int = 1
    #: What the answer held where an image was expected, when it was not one flux2prompt reads
    #: (not JPEG, PNG or WebP, or an impossible size): a :class:`ResponseError` or a
    #: :class:`ResultDownloadError`. It may have been paid for, so it is kept here, never
    #: thrown away: save it and look at it (``None`` for every other error).
    data: bytes | None = None

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.url = url
        self.hint = self.default_hint if hint is None else hint
        super().__init__(_paragraph(message, self.hint))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as state, not constructor arguments, so that errors cross process boundaries
        # (multiprocessing, a batch runner's workers) intact.
        return (_restore, (type(self), self.args, self.__dict__))


class APIConnectionError(APIError):
    """Raised when no HTTP response arrived: connection refused or reset, DNS failure, TLS error.

    Retried by the clients (``max_retries``) before it is raised.

    Example:
        >>> str(APIConnectionError("connection refused")).startswith("connection refused")
        True
    """

    default_hint = (
        "Check the network and the base URL (CLOUDFLARE_BASE_URL); the clients retry a "
        "connection failure up to max_retries, and it can be tried again."
    )
    #: True when a reused keep-alive connection was found closed before any response byte
    #: (the request never reached the model; resent once at once, apart from max_retries).
    stale_connection: bool = False


class APITimeoutError(APIConnectionError):
    """Raised when a connect, write or pool timeout kept the request from reaching the model
    (retried before it is raised). A read timeout after the request was sent whole is a
    :class:`PossiblyBilledError` instead: the model may already have run.

    Example:
        >>> isinstance(APITimeoutError("connect timed out"), APIConnectionError)
        True
    """

    default_hint = (
        "The service could not be reached in time; check the network, or raise `timeout` "
        "(seconds, or an httpx.Timeout with a longer connect or pool timeout)."
    )


class ResponseError(APIError):
    """Raised when a 2xx response is not the documented envelope with a base64 image.

    Malformed JSON, a missing ``result.image``, invalid base64, or an image that is not JPEG,
    PNG or WebP (its bytes are kept in ``data``). Not retried: the model ran, so the request
    may have been billed (``may_have_been_billed`` is true). ``request_id`` holds the ``cf-ray``
    header when there was one.

    Example:
        >>> ResponseError("malformed JSON", request_id="8f1e").request_id
        '8f1e'
    """

    default_hint = (
        "The service answered with a broken body; try again, and report the request id if it "
        "persists."
    )
    may_have_been_billed = True

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        data: bytes | None = None,
    ) -> None:
        self.request_id = request_id
        self.data = data
        if request_id:
            message = f"{message} (request id {request_id})"
        super().__init__(message, url=url, hint=hint)


#: What went wrong in an attempt that may have reached the model: the request was sent whole and
#: no answer came in time (``read_timeout``), the connection closed after the request was sent
#: and before any answer (``disconnected``), or an answer began and broke off (``response_broken``).
BillingRisk = Literal["read_timeout", "disconnected", "response_broken"]

_RISKS: dict[str, str] = {
    "read_timeout": "the request was sent whole and no response came within the read timeout",
    "disconnected": "the connection closed after the request was sent whole, before any response",
    "response_broken": "the response began and broke off before its body was complete",
}


class PossiblyBilledError(APIError):
    """Raised when an attempt may already have run the model, and so may have been billed.

    The request was sent whole and then timed out waiting, the connection closed before any
    answer, or a response began and broke off. Resubmitting it could charge a second time for
    one image, so the clients do not, unless they were made with ``retry_possibly_billed=True``.
    ``risk`` says which of the three it was; ``resubmitted`` how many times the request was sent
    again after such a failure (0 unless that opt-in is on).

    Example:
        >>> exc = PossiblyBilledError("read_timeout", url="http://127.0.0.1:9/x")
        >>> exc.may_have_been_billed, "not resubmitted" in str(exc)
        (True, True)
        >>> "resubmitted 2 times" in str(PossiblyBilledError("read_timeout", resubmitted=2))
        True
    """

    may_have_been_billed = True
    default_hint = (
        "Check the usage in the Cloudflare dashboard before trying again. To have such requests "
        "resent automatically, accepting that each resend may be billed again, make the client "
        "with retry_possibly_billed=True (a batch: --resend-billed)."
    )

    def __init__(
        self,
        risk: BillingRisk,
        *,
        url: str | None = None,
        detail: str = "",
        resubmitted: int = 0,
        hint: str | None = None,
        host: str = "Workers AI",
    ) -> None:
        self.risk: BillingRisk = risk
        self.resubmitted = resubmitted
        where = f" ({url})" if url else ""
        cause = f" ({detail})" if detail else ""
        if resubmitted:
            times = "once" if resubmitted == 1 else f"{resubmitted} times"
            outcome = (
                f"it was resubmitted {times} (retry_possibly_billed=True) and every attempt may "
                "have been billed"
            )
        else:
            outcome = "the generation may have been billed, so it was not resubmitted"
        message = f"{host}{where}: {_RISKS[risk]}{cause}; {outcome}"
        if risk == "read_timeout" and host == "Workers AI":
            # The usual cause: a large FLUX.2 [dev] image takes longer than the read timeout.
            message += (
                ". FLUX.2 [dev] can take over a minute for large images: raise `timeout`, or "
                "lower width/height or steps"
            )
        super().__init__(message, url=url, hint=hint)


class ChainedError(NamedTuple):
    """One entry of a Cloudflare ``error_chain``: the underlying cause of an error.

    Example:
        >>> ChainedError(6111, "Invalid format for Authorization header")
        ChainedError(code=6111, message='Invalid format for Authorization header')
    """

    code: int | None
    message: str


class APIStatusError(APIError):
    """Raised when Workers AI answers with an HTTP error status; see the subclasses.

    Attributes: ``status_code`` (HTTP), ``code`` (the Cloudflare error code, or ``None`` when
    the body had none, e.g. an HTML 502), ``message`` (Cloudflare's message, or a description of
    the body), ``error_chain`` (the causes Cloudflare lists under the error, as
    :class:`ChainedError`), ``request_id`` (``cf-ray``), ``hint``, ``retry_after`` (the raw
    ``Retry-After`` header), ``retry_after_seconds`` (the same, in seconds, or ``None``) and
    ``body`` (the first 2,000 characters of the body). A ``Retry-After`` longer than the 60 s a
    client waits is not slept through: the error says so, and carries the wait.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> exc = make_status_error(418, {}, b"")
        >>> type(exc).__name__, exc.status_code, exc.code
        ('APIStatusError', 418, None)
    """

    status: ClassVar[int | None] = None
    codes: ClassVar[frozenset[int]] = frozenset()
    default_hint = "See the Cloudflare error code in the Workers AI documentation (Errors)."

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: int | None = None,
        request_id: str | None = None,
        url: str | None = None,
        hint: str | None = None,
        retry_after: str | None = None,
        body: str = "",
        error_chain: Iterable[ChainedError] = (),
        host: str = "Workers AI",
    ) -> None:
        self.status_code = status_code
        #: Who answered: ``"Workers AI"`` or ``"Black Forest Labs"``.
        self.host = host
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.retry_after_seconds: float | None = parse_retry_after(retry_after)
        self.body = body
        self.error_chain: tuple[ChainedError, ...] = tuple(error_chain)
        cf_code = f", code {code}" if code is not None else ""
        ray = f", request id {request_id}" if request_id else ""
        causes = "".join(f" ({_cause(c)})" for c in self.error_chain if _cause(c))
        wait = self.retry_after_seconds
        long_wait = ""
        if wait is not None and wait > MAX_RETRY_AFTER:
            # A hostile header may ask for 1e308 s: shown in three digits, not three hundred.
            shown = f"{wait:.0f}" if wait < 1e9 else f"{wait:.3g}"
            long_wait = (
                f" The service asks to wait {shown} s (Retry-After), longer than the "
                f"{MAX_RETRY_AFTER:.0f} s a client waits, so it was not retried; the wait is in "
                "retry_after_seconds."
            )
        self.summary = (
            f"{host} answered HTTP {status_code}{cf_code}{ray}: {message}{causes}{long_wait}"
        )
        super().__init__(message, url=url, hint=hint)
        # str(): one paragraph with status, code, Cloudflare's message and what to do.
        self.args = (_paragraph(self.summary, self.hint),)

    def __str__(self) -> str:
        return str(self.args[0])


def _cause(entry: ChainedError) -> str:
    """One entry of an ``error_chain`` as a message shows it: ``code 6111: Invalid format``,
    or the code or the message alone when the other is missing."""
    code = f"code {entry.code}" if entry.code is not None else ""
    message = entry.message.strip()
    return f"{code}: {message}" if code and message else code or message


class BadRequestError(APIStatusError):
    """HTTP 400: the service refused the request as malformed (5007 no such model, 5004, 3003).

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> make_status_error(400, {}, b'{"errors":[{"code":5007,"message":"No such model"}]}').code
        5007
    """

    status = 400
    default_hint = "Check the model id and the parameters against docs/transport.md."


class InvalidInputError(BadRequestError):
    """HTTP 400 with code 5006: the input did not match the model's schema.

    Cloudflare's message says which property; a JSON body instead of multipart gives
    ``required properties at '/' are 'multipart'``.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> exc = make_status_error(400, {}, b'{"errors":[{"code":5006,"message":"AiError: Bad"}]}')
        >>> isinstance(exc, InvalidInputError)
        True
    """

    codes = frozenset({5006})
    default_hint = (
        "The input itself was refused (the message names the property); retrying will not help. "
        "Check width/height (256-1920), steps (not for klein), at most 4 input images of at most "
        "512x512, and that the body is multipart/form-data."
    )


class ContentModeratedError(BadRequestError):
    """Code 8007: the prompt was flagged ("Input prompt contains NSFW content."). Not retried.

    Example:
        >>> body = b'{"errors":[{"code":8007,"message":"Input prompt contains NSFW content."}]}'
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(400, {}, body), ContentModeratedError)
        True
    """

    codes = frozenset({8007})
    default_hint = "Rephrase the prompt; the same prompt will be refused again."


class InvalidRequestHeadersError(BadRequestError):
    """HTTP 400 with code 6003 ("Invalid request headers"); ``error_chain`` names the header.

    Its usual cause is an ``Authorization`` header not of the form ``Bearer <token>`` (chained
    code 6111): a token pasted with its ``Bearer`` prefix, or with quotes. Every request would be
    refused the same way, so it is not retried (and stops a batch).

    Example:
        >>> body = (b'{"errors":[{"code":6003,"message":"Invalid request headers","error_chain":'
        ...         b'[{"code":6111,"message":"Invalid format for Authorization header"}]}]}')
        >>> from flux2prompt.transport._errors import make_status_error
        >>> exc = make_status_error(400, {}, body)
        >>> type(exc).__name__, exc.error_chain[0].code
        ('InvalidRequestHeadersError', 6111)
        >>> "Invalid format for Authorization header" in str(exc), "model id" in str(exc)
        (True, False)
    """

    codes = frozenset({6003})
    default_hint = (
        "A request header was refused (the cause is in parentheses); check headers you added, "
        "such as cf-aig-* gateway options."
    )
    #: The hint when the chain names the Authorization header (6111).
    authorization_hint: ClassVar[str] = (
        "The Authorization header must be exactly 'Bearer <token>': check CLOUDFLARE_API_TOKEN "
        "(or api_token=) for a 'Bearer ' prefix, quotes or a second value pasted with the token."
    )

    def __init__(self, message: str, *, hint: str | None = None, **kw: Any) -> None:
        chain = tuple(kw.get("error_chain", ()))
        if hint is None and any(c.code == 6111 for c in chain):
            hint = self.authorization_hint
        super().__init__(message, hint=hint, **kw)


class AuthenticationError(APIStatusError):
    """HTTP 401: the API token is missing, malformed, expired or revoked.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(401, {}, b""), AuthenticationError)
        True
    """

    status = 401
    default_hint = (
        "Check CLOUDFLARE_API_TOKEN (or api_token=): it must be a valid API token with "
        "Workers AI Read and Edit permissions."
    )


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the token may not use this model or account (5016, 3023, 5018, 3041).

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(403, {}, b""), PermissionDeniedError)
        True
    """

    status = 403
    default_hint = (
        "Check that the token belongs to this account (CLOUDFLARE_ACCOUNT_ID) and has Workers AI "
        "Read and Edit permissions; some models need their license agreement accepted first (5016)."
    )


class NotFoundError(APIStatusError):
    """HTTP 404 (3042 invalid model id, or a wrong account id / base URL).

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(404, {}, b""), NotFoundError)
        True
    """

    status = 404
    default_hint = (
        "Check the model id (e.g. @cf/black-forest-labs/flux-2-dev, or a short name such as "
        "'flux-2-dev', 'klein-4b', 'klein-9b') and the account id."
    )


class RequestTimeoutError(APIStatusError):
    """HTTP 408 (3007 timeout, 3008 aborted, 3046): the service gave up. Retried.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(408, {}, b""), RequestTimeoutError)
        True
    """

    status = 408
    default_hint = (
        "The service timed out (the clients retry a 408 up to max_retries; it may have run the "
        "model). Try again, or ask for a smaller image."
    )


class RequestTooLargeError(APIStatusError):
    """HTTP 413 (3006): the body is too large, usually because of the input images.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(413, {}, b""), RequestTooLargeError)
        True
    """

    status = 413
    default_hint = "Send fewer or smaller input images (at most 4, each at most 512x512)."


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests (720 per minute per account for text-to-image).

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(429, {}, b""), RateLimitError)
        True
    """

    status = 429
    default_hint = "Slow down: Workers AI allows 720 text-to-image requests per minute."


class CapacityError(RateLimitError):
    """HTTP 429 with code 3040: the model is out of capacity. Retried, honouring Retry-After.

    Example:
        >>> body = b'{"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}'
        >>> from flux2prompt.transport._errors import make_status_error
        >>> make_status_error(429, {"retry-after": "2"}, body).retry_after
        '2'
    """

    codes = frozenset({3040})
    default_hint = (
        "Capacity is temporarily exceeded; the clients retry it with backoff up to max_retries "
        "(honouring a Retry-After of up to 60 s). Try again shortly, or raise max_retries."
    )
    #: The hint when the answer asks for a longer wait than a client makes (not retried).
    long_wait_hint: ClassVar[str] = (
        "Capacity is temporarily exceeded; wait as long as Retry-After asks, then try again."
    )

    def __init__(self, message: str, *, hint: str | None = None, **kw: Any) -> None:
        wait = parse_retry_after(kw.get("retry_after"))
        if hint is None and wait is not None and wait > MAX_RETRY_AFTER:
            hint = self.long_wait_hint
        elif hint is None and kw.get("status_code") != 429:
            # Code 3040 with another status (a 200 with success false): the retry policy goes
            # by status, so it was not retried, and the hint must not say it was.
            hint = (
                "Capacity is temporarily exceeded; this answer was not a 429, so it was not "
                "retried: try again shortly."
            )
        super().__init__(message, hint=hint, **kw)


class QuotaExceededError(RateLimitError):
    """HTTP 429 with code 3036 or 4006: the daily free allowance (10,000 neurons) is used.

    Never retried: nothing changes before the reset at 00:00 UTC.

    Example:
        >>> body = b'{"errors":[{"code":3036,"message":"Account limited"}]}'
        >>> from flux2prompt.transport._errors import make_status_error
        >>> isinstance(make_status_error(429, {}, body), QuotaExceededError)
        True
    """

    codes = frozenset({3036, 4006})
    default_hint = (
        "The daily free allocation of 10,000 neurons is used up; wait for the reset at 00:00 UTC, "
        "or move the account to Workers Paid. Retrying now will not help."
    )


class InternalServerError(APIStatusError):
    """HTTP 5xx. 502, 503 and 504 are retried; 500 (e.g. 7000 through AI Gateway) is not.

    The hint follows: a 500's says it was not retried and to retry later, or to report the
    request id if it persists; a 502's says it was retried.

    Example:
        >>> page = b"<html><title>Bad gateway</title></html>"
        >>> from flux2prompt.transport._errors import make_status_error
        >>> exc = make_status_error(502, {"content-type": "text/html"}, page)
        >>> exc.code is None, "Bad gateway" in exc.message
        (True, True)
    """

    status = 500
    #: The hint of a 502, 503 or 504: a gateway or an overloaded service, retried by the client.
    default_hint = (
        "The service was unavailable; these answers are retried (max_retries). Try again in a few "
        "minutes; if it persists, report it to Cloudflare with the request id (cf-ray)."
    )
    #: The hint of a 500, and of any other 5xx that is not retried.
    not_retried_hint: ClassVar[str] = (
        "An error inside Workers AI; it is not retried automatically. Retry later; if it "
        "persists, report it to Cloudflare with the request id (cf-ray)."
    )

    def __init__(self, message: str, *, status_code: int, hint: str | None = None, **kw: Any):
        if hint is None and status_code not in RETRYABLE_STATUSES:
            hint = self.not_retried_hint
        super().__init__(message, status_code=status_code, hint=hint, **kw)


_BY_STATUS: dict[int, type[APIStatusError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RequestTimeoutError,
        RequestTooLargeError,
        RateLimitError,
    )
    if cls.status is not None
}
_BY_CODE: dict[int, type[APIStatusError]] = {
    code: cls
    for cls in (
        InvalidInputError,
        ContentModeratedError,
        InvalidRequestHeadersError,
        CapacityError,
        QuotaExceededError,
    )
    for code in cls.codes
}

_GATEWAY_7000_HINT = (
    "Code 7000 through AI Gateway: multipart FLUX.2 calls through a gateway have failed upstream "
    "(an open Cloudflare issue); call Workers AI directly (no gateway=) until it is fixed."
)
_NO_ROUTE_HINT = (
    "Code 7000 with a 4xx: no route for that URL. Check base_url (CLOUDFLARE_BASE_URL): it must "
    "end in /client/v4 (for the gateway, gateway_base_url ends in /v1), and the account id."
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_BODY_LIMIT = 2000
#: The most characters of a server's own text (a message, a cause, a page title) an error
#: quotes; the first 2,000 characters of the body are in ``body`` for the rest.
_TEXT_LIMIT = 500


def server_text(text: str, limit: int = _TEXT_LIMIT) -> str:
    r"""A server's text as an error quotes it: on one line (every run of whitespace, newlines
    included, becomes one space), control and bidi characters escaped (``\x1b``), and cut to
    ``limit`` characters with a note of how many more there were. Scrub secrets before calling
    it, so that the cut never splits one.

    Example:
        >>> server_text("Bad input:\n  width\x1b[2J")
        'Bad input: width\\x1b[2J'
        >>> server_text("x" * 600)[-30:]
        'xxxxx... (100 more characters)'
    """
    one_line = printable(_SPACE.sub(" ", text).strip())
    if len(one_line) <= limit:
        return one_line
    return f"{one_line[:limit]}... ({len(one_line) - limit:,} more characters)"


def _as_text(value: object) -> str:
    """A message the server sent as something other than a string (an object, a list), as
    its JSON rather than Python's repr of it."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # httpx.Headers is case-insensitive; a plain dict from a test may not be.
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value


def _int_code(raw: object) -> int | None:
    # A proxy may pass the code on as a string ("5006") or a float (5006.0): the same code.
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip()) if len(raw.strip()) < 10 else None
    elif isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e9:
        raw = int(raw)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _first_error(payload: Any) -> tuple[int | None, str | None]:
    if not isinstance(payload, dict):
        return None, None
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = _int_code(errors[0].get("code"))
        message = errors[0].get("message")
        return code, _as_text(message) if message is not None else None
    message = payload.get("error") or payload.get("message")
    return None, _as_text(message) if message is not None else None


def _error_chain(payload: Any) -> tuple[ChainedError, ...]:
    # Cloudflare nests the chain in the first error; a top-level one is read too, so that a
    # proxy that flattens the envelope still shows the cause.
    if not isinstance(payload, dict):
        return ()
    errors = payload.get("errors")
    raw: object = None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        raw = errors[0].get("error_chain")
    if raw is None:
        raw = payload.get("error_chain")
    if not isinstance(raw, list):
        return ()
    chain = []
    for entry in raw[:8]:
        if not isinstance(entry, dict):
            continue
        code, message = _int_code(entry.get("code")), entry.get("message")
        text = "" if message is None else _as_text(message)
        if code is not None or text.strip():  # an entry that says nothing is left out
            chain.append(ChainedError(code, text))
    return tuple(chain)


#: Delta-seconds, as RFC 9110 writes them (digits), with the fraction some servers add.
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


#: The most digits a number sent may have: Python converts no more to text by default (and
#: no FLUX parameter needs a thousandth of them).
MAX_DIGITS: Final = 4300


def count_digits(value: int) -> int:
    """How many decimal digits ``value`` has, without converting it to text (which Python
    refuses past 4,300 digits)."""
    bits = abs(value).bit_length()
    if bits <= 64:
        return len(str(abs(value)))
    estimate = int(bits * math.log10(2))  # the digits, or one too few
    return estimate + int(abs(value) >= 10**estimate)


def shown_number(value: object) -> str:
    """``value`` for an error message: an integer of more than 40 digits by its length, so
    that a message stays one readable line (and a number past 4,300 digits can be shown).

    >>> shown_number(10**100), shown_number(512), shown_number(2.5)
    ('an integer of 101 digits', '512', '2.5')
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 133:
        sign = "a negative integer" if value < 0 else "an integer"
        return f"{sign} of {count_digits(value):,} digits"
    return repr(value)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or ``None`` if unusable.

    Takes delta-seconds (``"2"``, ``"1.5"``) or an HTTP date in any of its forms (one without
    a zone is GMT); a date in the past gives ``0.0``.

    Example:
        >>> parse_retry_after("3"), parse_retry_after("soon")
        (3.0, None)
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
        10.0
    """
    if value is None:
        return None
    value = value.strip()
    if not _DELTA_SECONDS.fullmatch(value):
        # Not digits (float() would also take "1e308", "1_0", "inf" or Arabic-Indic digits):
        # an HTTP date, in any of its three forms, or nothing usable.
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # The asctime form (and a "-0000" zone) name no zone: an HTTP date is in GMT.
            when = when.replace(tzinfo=datetime.UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    seconds = float(value)
    # ASCII digits past a float's range are a wait longer than any clock, not no wait at all:
    # the largest float says so (a wait over the cap, so not retried), where None would let
    # the request be repeated after the backoff.
    return seconds if math.isfinite(seconds) else sys.float_info.max


def _describe_body(text: str, content_type: str) -> str:
    """A body that is not the JSON envelope, described; ``text`` is the body decoded, with
    secrets already scrubbed (so that no cut below can split one)."""
    if not text.strip():
        return "empty body"
    match = _TITLE.search(text[: _BODY_LIMIT * 4])
    kind = server_text(content_type.split(";")[0], 100) or "unknown content type"
    if match:
        title = server_text(match.group(1), 200)
        return f"a non-JSON {kind} page titled {title!r}"
    shown = server_text(_TAGS.sub(" ", text[:300]), 200)
    return f"a non-JSON {kind} body: {shown!r}"


def _decoded(content: bytes, secrets: tuple[str, ...]) -> str:
    """An error body as text, secrets scrubbed, before anything cuts it."""
    return scrub_secrets(content.decode("utf-8", "replace"), secrets)


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (an API token) in ``text`` by ``***``: the one scrubber, used for
    error messages and bodies here and, through the clients' ``redact``, by the batch runner.

    Example:
        >>> scrub_secrets("bad token tok-0123456789", ["tok-0123456789"])
        'bad token ***'
        >>> scrub_secrets("t is short", ["t"])  # too short to be a real token: left alone
        't is short'
    """
    for secret in secrets:
        # A very short "secret" (a test token such as "t") would shred every message; real API
        # tokens are 40 characters.
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it (``__cause__``, ``__context__``, the members of an
    exception group), each once, at most 64."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 64:
        current = todo.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(reversed(current.exceptions))
        todo.extend(e for e in (current.__context__, current.__cause__) if e is not None)
    return seen


def _scrub_value(value: object, secrets: tuple[str, ...]) -> object:
    if isinstance(value, str):
        return scrub_secrets(value, secrets)
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        for secret in secrets:
            if len(secret) >= 8:
                data = data.replace(secret.encode("utf-8", "replace"), b"***")
        return data
    return value


def scrub_exception_chain(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """Scrub ``secrets`` from the text of ``exc`` and of every exception chained behind it, in
    place, and return ``exc``: what an error keeps as its ``__cause__`` (or ``__context__``)
    shows in every traceback, so a token that a hostile answer reflects (in a status line
    httpx could not parse, say) must not survive there either.

    Example:
        >>> inner = ValueError("bad status line b'Bearer tok-0123456789'")
        >>> outer = RuntimeError("cannot read the answer")
        >>> outer.__cause__ = inner
        >>> scrub_exception_chain(outer, ["tok-0123456789"]).__cause__.args
        ("bad status line b'Bearer ***'",)
    """
    secrets = tuple(s for s in secrets if len(s) >= 8)
    if not secrets:
        return exc
    for link in _chain(exc):
        args = link.args
        if not isinstance(args, tuple):
            continue
        scrubbed = tuple(_scrub_value(arg, secrets) for arg in args)
        if scrubbed != args:
            try:
                link.args = scrubbed
            except (AttributeError, TypeError):  # pragma: no cover - a read-only exception
                continue
        for name in ("message", "msg", "strerror"):
            value = getattr(link, name, None)
            if isinstance(value, str) and value != scrub_secrets(value, secrets):
                try:
                    setattr(link, name, scrub_secrets(value, secrets))
                except (AttributeError, TypeError):
                    continue
    return exc


def failure_detail(exc: BaseException) -> str:
    """What went wrong in ``exc`` (an httpx transport error), in words that do not depend on
    the I/O library underneath, so that the blocking and the async clients say the same: the
    operating system's words for the deepest error number in the chain (``[Errno 111]
    Connection refused``), else the first message in it, else the exception's class name.

    Example:
        >>> outer = RuntimeError("All connection attempts failed")
        >>> outer.__cause__ = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
        >>> failure_detail(outer)
        '[Errno 111] Connection refused'
    """
    chain = _chain(exc)
    for link in reversed(chain):
        errno = getattr(link, "errno", None)
        if isinstance(link, OSError) and isinstance(errno, int) and errno > 0:
            return f"[Errno {errno}] {os.strerror(errno)}"
    for link in chain:
        text = str(link).strip()
        if text:
            return text
    return type(exc).__name__


def scrub_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], secrets: Iterable[str]
) -> dict[str, str]:
    """The headers of an answer with every value passed through :func:`scrub_secrets`, names in
    lower case (repeated headers joined by ``", "``): what the clients keep of a response's
    headers, so that a token a proxy reflects in ``cf-ray`` or ``Retry-After`` goes no further.

    Example:
        >>> scrub_headers({"CF-Ray": "8f1e tok-0123456789"}, ["tok-0123456789"])
        {'cf-ray': '8f1e ***'}
    """
    secrets = tuple(secrets)
    multi = getattr(headers, "multi_items", None)
    items: list[tuple[str, str]]
    if callable(multi):
        items = list(multi())
    else:
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        clean = scrub_secrets(value, secrets)
        out[key] = f"{out[key]}, {clean}" if key in out else clean
    return out


def make_status_error(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    url: str | None = None,
    secrets: Iterable[str] = (),
    truncated: bool = False,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass that fits an error response.

    The Cloudflare code picks the class first (3040, 3036/4006, 5006, 6003, 8007), then the
    HTTP status; a body that is not the JSON envelope (an HTML 502 page) is described instead of
    parsed. ``secrets`` (the API token) are replaced by ``***`` wherever the body echoes them.
    ``truncated`` says that ``content`` is only the start of a larger body.

    Example:
        >>> body = b'{"success":false,"errors":[{"code":5006,"message":"AiError: Bad input"}]}'
        >>> exc = make_status_error(400, {"cf-ray": "abc"}, body)
        >>> type(exc).__name__, exc.code, exc.message
        ('InvalidInputError', 5006, 'AiError: Bad input')
    """
    secrets = tuple(secrets)
    headers = scrub_headers(headers, secrets)
    content_type = _header(headers, "content-type") or ""
    try:
        payload: Any = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    code, message = _first_error(payload)
    chain = _error_chain(payload)
    text = _decoded(content, secrets)
    if message is None:
        what = "JSON without an error message" if payload is not None else None
        message = what or _describe_body(text, content_type)
        if truncated and payload is None:
            message += f" (cut off after {len(content):,} bytes: the body is larger)"
    else:
        message = server_text(scrub_secrets(message, secrets))
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        if status_code in _BY_STATUS:
            cls = _BY_STATUS[status_code]
        elif status_code >= 500:
            cls = InternalServerError
        else:
            cls = APIStatusError
    # 7000 is also Cloudflare's generic "no route" code (with a 400); only a 500 is the gateway's.
    hint = None
    if code == 7000:
        hint = _GATEWAY_7000_HINT if status_code >= 500 else _NO_ROUTE_HINT
    elif 300 <= status_code < 400:
        location = _header(headers, "location")
        to = f" to {server_text(location, 200)!r}" if location else ""
        hint = (
            f"The answer is a redirect{to}; the clients follow none, since the request carries "
            "the API token: set base_url (CLOUDFLARE_BASE_URL) to the address it should go to."
        )
    return cls(
        message,
        status_code=status_code,
        code=code,
        request_id=_header(headers, "cf-ray"),
        url=url,
        hint=hint,
        retry_after=_header(headers, "retry-after"),
        body=text[:_BODY_LIMIT],
        error_chain=tuple(
            ChainedError(c.code, server_text(scrub_secrets(c.message, secrets), 200)) for c in chain
        ),
    )


# -- the proxied route: an answer that names a state, and an image behind a URL -----------------


class GenerationStateError(ResponseError):
    """Raised when a proxied model answers 2xx with a ``state`` other than ``Completed``.

    ``state`` is the state the host reported (for example ``"Content Moderated"`` or
    ``"Error"``), ``None`` when the answer had none. Not retried: the model may have run.

    Example:
        >>> exc = GenerationStateError("Request Moderated", request_id="8f1e")
        >>> exc.state, str(exc).startswith("the generation ended in state 'Request Moderated'")
        ('Request Moderated', True)
    """

    default_hint = (
        "The host did not produce an image and the request was not resubmitted (it may have "
        "been billed). A moderated state means the prompt or an input image was refused: "
        "change it, or raise safety_tolerance on models that take it."
    )

    def __init__(
        self,
        state: str | None,
        *,
        url: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.state = state
        # A hostile host may name any state: quoted, escaped and cut like a task's status.
        what = f"state {_short_status(state)}" if state is not None else "no state"
        said = f" ({server_text(detail, 200)})" if detail else ""
        super().__init__(
            f"the generation ended in {what}, not 'Completed'{said}",
            url=url,
            request_id=request_id,
            hint=hint,
        )


class ResultDownloadError(APIError):
    """Raised when a proxied model's result URL could not be fetched, or was not safe to fetch.

    The image was generated (and billed) but its URL was refused (not https, a private address,
    a redirect elsewhere), did not answer in time, answered an error (an expired URL), was
    larger than the limit, or did not hold an image. The generation is never resubmitted for
    it. ``result_url`` is the URL (signed: keep it private), ``reason`` a short word for the
    cause (``"unsafe"``, ``"status"``, ``"timeout"``, ``"connection"``, ``"too_large"``,
    ``"not_an_image"``), ``status_code`` the download's HTTP status when there was one, and
    ``data`` the bytes downloaded when they were not an image flux2prompt reads.

    Example:
        >>> exc = ResultDownloadError("HTTP 403 from the result URL", reason="status",
        ...                           result_url="https://delivery.example/x.jpeg", status_code=403)
        >>> exc.reason, exc.status_code, "not resubmitted" in str(exc)
        ('status', 403, True)
    """

    #: The generation ran (a result URL is only given for a completed one): it is billed.
    may_have_been_billed = True
    default_hint = (
        "The image was generated and the generation was not resubmitted (that could bill it "
        "twice). Result URLs expire about 10 minutes after the generation: fetch result_url "
        "yourself within that time, or generate again."
    )

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        result_url: str,
        status_code: int | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        data: bytes | None = None,
    ) -> None:
        self.reason = reason
        self.result_url = result_url
        self.status_code = status_code
        self.request_id = request_id
        self.data = data
        if request_id:
            message = f"{message} (request id {request_id})"
        super().__init__(message, url=result_url, hint=hint)


# -- Black Forest Labs' API: HTTP statuses of its own, and tasks that end without an image ------


class InsufficientCreditsError(APIStatusError):
    """HTTP 402 from Black Forest Labs: the account has too few credits for the request.

    Example:
        >>> from flux2prompt.transport._errors import make_bfl_status_error
        >>> exc = make_bfl_status_error(402, {}, b'{"detail": "Insufficient credits"}')
        >>> type(exc).__name__, exc.host
        ('InsufficientCreditsError', 'Black Forest Labs')
    """

    status = 402
    default_hint = "Add credits to the account at dashboard.bfl.ai; retrying will not help."


class UnprocessableRequestError(APIStatusError):
    """HTTP 422 from Black Forest Labs: the body failed validation (a field the endpoint does
    not take, a value out of range). The clients check fields against the catalogue first, so
    this usually means the endpoint changed since this library's catalogue.

    Example:
        >>> body = b'{"detail": [{"loc": ["body", "seed"], "msg": "Extra inputs are not allowed"}]}'
        >>> from flux2prompt.transport._errors import make_bfl_status_error
        >>> exc = make_bfl_status_error(422, {}, body)
        >>> type(exc).__name__, exc.message
        ('UnprocessableRequestError', 'body.seed: Extra inputs are not allowed')
    """

    status = 422
    default_hint = (
        "The endpoint refused a field or a value (named above); check it against docs/bfl.md. "
        "Retrying the same body will not help."
    )


class TooManyActiveTasksError(RateLimitError):
    """HTTP 429 from Black Forest Labs: the account already runs its limit of active tasks
    (24 on a standard account). The clients wait for a slot (``Retry-After``, with jitter)
    until ``slot_timeout`` before raising it.

    Example:
        >>> from flux2prompt.transport._errors import make_bfl_status_error
        >>> exc = make_bfl_status_error(429, {"retry-after": "2"}, b'{"detail": "Too many"}')
        >>> isinstance(exc, RateLimitError), exc.retry_after_seconds
        (True, 2.0)
    """

    default_hint = (
        "Wait for running tasks to finish (24 active tasks on a standard account), or raise "
        "slot_timeout; a batch paces itself by active tasks."
    )


_BFL_HINTS: dict[int, str] = {
    400: "Check the fields against the endpoint's table in docs/bfl.md.",
    401: "Check BFL_API_KEY (or api_key=): the key is missing, wrong or revoked.",
    403: "Check BFL_API_KEY (or api_key=): the key is missing, wrong or revoked.",
    404: "Check the endpoint (the model) and the base URL (BFL_BASE_URL, region=).",
    # The Workers AI hints of these name Cloudflare and its retry rules; BFL's differ.
    408: "Black Forest Labs timed out. A submit is never resent after it (the task may already "
    "exist and be charged); a poll is retried. Check the account's tasks before submitting "
    "again.",
    413: "The body is too large, usually because of the reference images: send them as URLs, "
    "or smaller.",
}
# Black Forest Labs' API answers without redirects; the clients follow none (the key would go
# along to wherever it points).
_BFL_REDIRECT_HINT = (
    "A redirect, not followed: the API key goes only to the API's own host. Check the base URL "
    "(BFL_BASE_URL, region=) and any proxy in between; a submit redirected so was not resent."
)
_BFL_HINTS.update(dict.fromkeys((301, 302, 303, 307, 308), _BFL_REDIRECT_HINT))
_BFL_5XX_HINT = (
    "An error at Black Forest Labs. A submit that failed so is never resent (the task may "
    "already exist and be charged); a poll is retried. Check the account's tasks before "
    "submitting again."
)


def _bfl_detail(payload: Any) -> str | None:
    # FastAPI-shaped answers: {"detail": "text"} or {"detail": [{"loc": [...], "msg": "..."}]}.
    if not isinstance(payload, dict):
        return None
    detail = payload.get("detail", payload.get("message", payload.get("error")))
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:8]:
            if isinstance(item, dict):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                msg = str(item.get("msg", ""))
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts) if parts else None
    return None if detail is None else str(detail)


def make_bfl_status_error(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    url: str | None = None,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass that fits an error answer of Black Forest
    Labs' API (402 credits, 403 key, 422 validation, 429 active tasks, 5xx), with BFL's hints.

    ``secrets`` (the API key) are replaced by ``***`` wherever the body echoes them.

    Example:
        >>> exc = make_bfl_status_error(403, {}, b'{"detail": "Not authenticated"}')
        >>> type(exc).__name__, str(exc).split(":")[0]
        ('PermissionDeniedError', 'Black Forest Labs answered HTTP 403')
    """
    secrets = tuple(secrets)
    content_type = _header(headers, "content-type") or ""
    try:
        payload: Any = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # a body nested past any error's
        payload = None
    message = _bfl_detail(payload)
    text = _decoded(content, secrets)
    if message is None:
        message = (
            "JSON without an error message"
            if payload is not None
            else _describe_body(text, content_type)
        )
    else:
        message = server_text(scrub_secrets(message, secrets))
    cls: type[APIStatusError]
    hint: str | None = _BFL_HINTS.get(status_code)
    if status_code == 429:
        cls = TooManyActiveTasksError
    elif status_code in (402, 422):
        cls = InsufficientCreditsError if status_code == 402 else UnprocessableRequestError
    elif status_code in _BY_STATUS:
        cls = _BY_STATUS[status_code]
    elif status_code >= 500:
        cls, hint = InternalServerError, _BFL_5XX_HINT
    else:
        cls = APIStatusError
        hint = hint or "See the status in Black Forest Labs' API documentation (Errors)."
    return cls(
        message,
        status_code=status_code,
        request_id=_header(headers, "x-request-id") or _header(headers, "cf-ray"),
        url=url,
        hint=hint,
        retry_after=_header(headers, "retry-after"),
        body=text[:_BODY_LIMIT],
        host="Black Forest Labs",
    )


class TaskError(APIError):
    """Raised when a Black Forest Labs task ended, or was left, without an image.

    ``task_id`` is the task's id, ``status`` the last status its polling URL reported,
    ``polling_url`` where to ask again (it carries no secret; the key goes in a header).

    Example:
        >>> exc = TaskFailedError("t-1", "Error")
        >>> isinstance(exc, TaskError), exc.task_id, exc.status
        (True, 't-1', 'Error')
    """

    default_hint = "See the task's status in Black Forest Labs' API documentation."
    may_have_been_billed = True

    def __init__(
        self,
        task_id: str,
        status: str | None,
        *,
        polling_url: str | None = None,
        detail: str = "",
        hint: str | None = None,
    ) -> None:
        self.task_id = task_id
        self.status = status
        self.polling_url = polling_url
        shown = _short_status(status) if status is not None else "no status"
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Black Forest Labs task {task_id} ended in {shown}{extra}", url=polling_url, hint=hint
        )


#: How many unknown statuses a message lists, and how much of each: a server may send anything.
_STATUSES_SHOWN = 5
_STATUS_CHARS = 60


def _short_status(status: str) -> str:
    """A status as a message quotes it: repr (control characters escaped), cut to 60 chars.

    Example:
        >>> _short_status("Pending"), _short_status("x" * 100)[-5:]
        ("'Pending'", "x'...")
    """
    if len(status) <= _STATUS_CHARS:
        return repr(status)
    return repr(status[:_STATUS_CHARS]) + "..."


class TaskModeratedError(TaskError):
    """Raised when a task was refused by moderation; not charged (``may_have_been_billed`` is
    false). :class:`InputModeratedError` is ``Request Moderated``, :class:`OutputModeratedError`
    ``Content Moderated``.

    Example:
        >>> OutputModeratedError("t-1").may_have_been_billed
        False
    """

    may_have_been_billed = False
    #: The status that names this kind of moderation.
    task_status: ClassVar[str] = ""

    def __init__(self, task_id: str, *, polling_url: str | None = None, detail: str = "") -> None:
        super().__init__(task_id, self.task_status, polling_url=polling_url, detail=detail)


class InputModeratedError(TaskModeratedError):
    """Status ``Request Moderated``: the prompt or an input image was flagged before
    generating. Not charged; the same input will be refused again.

    Example:
        >>> str(InputModeratedError("t-1")).startswith("Black Forest Labs task t-1 ended in 'Req")
        True
    """

    task_status = "Request Moderated"
    default_hint = (
        "The input was flagged (not charged): change the prompt or the input images; the same "
        "request will be refused again. safety_tolerance (higher is more permissive) may help."
    )


class OutputModeratedError(TaskModeratedError):
    """Status ``Content Moderated``: the generated image was flagged and withheld. Not charged.

    Example:
        >>> OutputModeratedError("t-1").status
        'Content Moderated'
    """

    task_status = "Content Moderated"
    default_hint = (
        "The generated image was flagged (not charged): change the prompt, or raise "
        "safety_tolerance on endpoints that take it; another seed may pass."
    )


class TaskNotFoundError(TaskError):
    """Status ``Task not found``: the polling URL does not know the task (a wrong id, another
    region's polling URL, or a task older than BFL keeps).

    Example:
        >>> TaskNotFoundError("t-1", "Task not found").status
        'Task not found'
    """

    default_hint = (
        "Poll the polling_url the submit returned (never a built one: tasks live in a region); "
        "a task is kept for a limited time only."
    )


class TaskFailedError(TaskError):
    """Status ``Error`` or ``Failed``: the task failed at Black Forest Labs. It was not
    resubmitted; whether it was charged is for the account's usage page to say.

    Example:
        >>> TaskFailedError("t-1", "Failed").may_have_been_billed
        True
    """

    default_hint = "Generate again; if it persists, report the task id to Black Forest Labs."


class TaskTimeoutError(TaskError):
    """Raised when the polling deadline passed before the task was Ready. The task may still
    finish (and be charged): poll ``polling_url`` again (``client.result(task)``) rather than
    submitting again. ``seen`` lists the statuses reported, in order of first sight; any that
    the client does not know are named in the message.

    Example:
        >>> exc = TaskTimeoutError("t-1", "reasoning", seen=("Pending", "reasoning"), waited=60)
        >>> "unknown status 'reasoning'" in str(exc), exc.seen
        (True, ('Pending', 'reasoning'))
    """

    default_hint = (
        "The task may still finish and be charged: resume with client.result(task) (the task "
        "is not lost), or raise poll_timeout; do not submit again: that would pay twice."
    )
    #: The statuses a client knows (anything else is polled until the deadline, and named).
    known: ClassVar[frozenset[str]] = frozenset(
        {"Pending", "Ready", "Request Moderated", "Content Moderated", "Task not found", "Error"}
        | {"Failed"}
    )

    def __init__(
        self,
        task_id: str,
        status: str | None,
        *,
        seen: Iterable[str] = (),
        waited: float = 0.0,
        polling_url: str | None = None,
    ) -> None:
        self.seen = tuple(seen)
        self.waited = waited
        unknown = [s for s in self.seen if s not in self.known]
        listed = ", ".join(_short_status(s) for s in unknown[:_STATUSES_SHOWN])
        if len(unknown) > _STATUSES_SHOWN:
            listed += f" and {len(unknown) - _STATUSES_SHOWN} more"
        named = f"; unknown status {listed} polled until the deadline" if unknown else ""
        super().__init__(
            task_id,
            status,
            polling_url=polling_url,
            # Tenths under 10 s: a short poll_timeout is not shown as "after 0 s".
            detail=f"not Ready after {waited:.{0 if waited >= 10 else 1}f} s{named}",
        )
        self.message = self.message.replace(" ended in ", " was still in ", 1)
        self.args = (_paragraph(self.message, self.hint),)
