"""What the sync and async clients share: configuration, request building, retry policy and
response parsing. They differ only in how they send and how they sleep.

Example:
    >>> from flux2prompt.transport import WorkersAI
    >>> client = WorkersAI(account_id="0123abcd", api_token="secret-token")
    >>> "secret-token" in repr(client), repr(client).startswith("WorkersAI(account_id='0123abcd'")
    (False, True)
    >>> client.close()
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import math
import os
import random
import re
import time
import weakref
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, Final, Generic, Self, TypeVar

import httpx

from flux2prompt.transport import _bounds, _retry
from flux2prompt.transport._catalogue import ModelSpec, Route, resolve_model
from flux2prompt.transport._constants import (
    ACCOUNT_ID_ENV,
    API_TOKEN_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_GATEWAY_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_READ_TIMEOUT,
    GATEWAY_BASE_URL_ENV,
    MAX_RESPONSE_BYTES,
    USER_AGENT,
)
from flux2prompt.transport._download import DownloadLimits, ResultLink, is_loopback_host
from flux2prompt.transport._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BillingRisk,
    ConfigurationError,
    GenerationStateError,
    ParameterError,
    PossiblyBilledError,
    ResponseError,
    ResultDownloadError,
    _first_error,
    make_status_error,
    scrub_exception_chain,
    scrub_headers,
    scrub_secrets,
)
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource, detect_format
from flux2prompt.transport._request import (
    PromptLike,
    WorkersAIRequest,
    build_request,
    check_path_segment,
    endpoint_url,
)
from flux2prompt.transport._result import ImageResult

__all__ = ["DEFAULT_TIMEOUT", "NOT_GIVEN", "BaseClient", "NotGiven", "redact_headers"]

logger = logging.getLogger("flux2prompt.transport")

_SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "cf-aig-authorization", "proxy-authorization", "x-key"}
)

#: The formats an answer may hold raw, instead of in its JSON envelope.
_RAW_IMAGES: Final = frozenset({"jpeg", "png", "webp"})

#: The timeout of a client that makes its own connection pool (built here, from the numbers in
#: _constants, so that importing the constants does not import httpx).
DEFAULT_TIMEOUT: Final = httpx.Timeout(DEFAULT_READ_TIMEOUT, connect=DEFAULT_CONNECT_TIMEOUT)

try:
    _VERSION = metadata.version("flux2-prompt")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"

#: The ``User-Agent`` of every request the clients send: to Workers AI, to Black Forest Labs
#: and to a result URL.
CLIENT_USER_AGENT: Final = f"{USER_AGENT}/{_VERSION}"


class NotGiven:
    """The type of :data:`NOT_GIVEN`: "leave this option as it is" in ``with_options``.

    Example:
        >>> from flux2prompt.transport._base import NOT_GIVEN
        >>> bool(NOT_GIVEN), NOT_GIVEN
        (False, NOT_GIVEN)
    """

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()


#: The loggers of httpx and httpcore: httpx logs each answer's status line at INFO, httpcore
#: each answer's headers at DEBUG, as the server sent them, so a token a hostile server (or a
#: proxy) reflects would reach a log file through them.
_DEPENDENCY_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _SecretsFilter(logging.Filter):
    """Scrubs the secret of every live client from the records of httpx's and httpcore's
    loggers (it runs only for records a logger emits, so it costs nothing when they are off)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [secret._value for secret in list(_LIVE_SECRETS)]
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit: logging reports it itself
            return True
        clean = scrub_secrets(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_LIVE_SECRETS: weakref.WeakSet[_Secret] = weakref.WeakSet()
_FILTER = _SecretsFilter()


class _Secret:
    """A string that shows as ``'***'`` in every repr, str, log line and debugger view.

    Every secret alive is also scrubbed from the log records of httpx and httpcore.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        if not _LIVE_SECRETS:
            for name in _DEPENDENCY_LOGGERS:
                dependency = logging.getLogger(name)
                if _FILTER not in dependency.filters:
                    dependency.addFilter(_FILTER)
        _LIVE_SECRETS.add(self)

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def reveal(self) -> str:
        return self._value

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Never serialised: a pickled client would put the token in a file.
        raise TypeError("the API token cannot be pickled")


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return a copy of ``headers`` fit for a log line: credentials replaced by ``***``.

    Example:
        >>> redact_headers({"Authorization": "Bearer abc", "cf-aig-cache-ttl": "60"})
        {'Authorization': '***', 'cf-aig-cache-ttl': '60'}
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: ("***" if k.lower() in _SENSITIVE_HEADERS else v) for k, v in items}


def check_header_secret(secret: str, what: str, where: str) -> None:
    """Refuse a credential no HTTP header can carry, before a request fails (and is retried)
    for it: ``what`` names it (``"the API token"``), ``where`` says where it was set.

    The credential itself is never quoted: it is a secret even when it is malformed.

    >>> check_header_secret(None, "the API key", "BFL_API_KEY (or api_key=)")
    Traceback (most recent call last):
    ...
    flux2prompt.ConfigurationError: the API key must be a string, got NoneType
    """
    if not isinstance(secret, str):
        raise ConfigurationError(f"{what} must be a string, got {type(secret).__name__}")
    bad = [c for c in secret if not " " < c < "\x7f"]
    if bad:
        kind = "whitespace" if all(c.isspace() for c in bad) else "non-ASCII or control characters"
        raise ConfigurationError(
            f"{what} contains {kind}, which an HTTP header cannot carry; check {where} for a "
            "stray newline, space or quote"
        )


def positive_seconds(name: str, value: object) -> float:
    """``value`` as seconds, refused unless it is a finite number above 0 (``name`` says which
    option it is).

    >>> positive_seconds("poll_interval", 2)
    2.0
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ParameterError(f"{name} must be seconds (> 0), got {value!r}", parameter=name)
    return float(value)


def check_max_retries(max_retries: object) -> int:
    """``max_retries`` of a client, refused unless it is an integer of 0 or more.

    >>> check_max_retries(0)
    0
    """
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise ParameterError(
            f"max_retries must be an integer >= 0, got {max_retries!r}", parameter="max_retries"
        )
    return max_retries


def _check_base_url(name: str, url: str, env: str) -> None:
    """Refuse a base URL that is not http(s)://host before a request fails (and is retried)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"{name} must be an http:// or https:// URL with a host, got {url!r}; check {name}= "
            f"or {env}"
        )
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        # The request paths are appended to it: after a '?' or a '#' they would be a query or
        # a fragment, and every request would go to the base URL itself.
        raise ConfigurationError(
            f"{name} must have no query ('?...') or fragment ('#...'), since request paths are "
            f"appended to it, got {url!r}; check {name}= or {env}"
        )


def _url_option(name: str, given: object, env: str, default: str) -> str:
    """A base URL option: given, else from the environment, else the default; checked to be a
    string first (without a trailing slash)."""
    value = given or _env(env) or default
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be a string (an http:// or https:// URL), got {type(value).__name__}; "
            f"check {name}= or {env}"
        )
    return value.rstrip("/")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


_ClientT = TypeVar("_ClientT", httpx.Client, httpx.AsyncClient)


def check_answer_bounds(max_response_bytes: object, deadline: object) -> tuple[int, float | None]:
    """The checked ``max_response_bytes`` (``None``: the default) and ``deadline`` (``None``:
    the client's default) of a client, Workers AI's or Black Forest Labs'.

    >>> check_answer_bounds(None, 2)
    (67108864, 2.0)
    """
    if max_response_bytes is None:
        max_response_bytes = MAX_RESPONSE_BYTES
    if (
        isinstance(max_response_bytes, bool)
        or not isinstance(max_response_bytes, int)
        or max_response_bytes < 1
    ):
        raise ParameterError(
            f"max_response_bytes must be an integer >= 1, got {max_response_bytes!r}",
            parameter="max_response_bytes",
        )
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not math.isfinite(deadline)
        or deadline <= 0
    ):
        raise ParameterError(
            f"deadline must be seconds (> 0) or None, got {deadline!r}", parameter="deadline"
        )
    return max_response_bytes, None if deadline is None else float(deadline)


class BaseClient(_bounds.AnswerBounds, Generic[_ClientT]):
    """Configuration, request building, retry policy and response parsing for both clients."""

    _client: _ClientT

    def __init__(
        self,
        *,
        account_id: str | None = None,
        api_token: str | None = None,
        model: str | ModelSpec = DEFAULT_MODEL,
        base_url: str | None = None,
        gateway: str | None = None,
        gateway_base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: _ClientT | None = None,
        resize_images: bool = True,
        download_timeout: float | None = None,
        retry_possibly_billed: bool = False,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        account_id = account_id or _env(ACCOUNT_ID_ENV)
        token = api_token or _env(API_TOKEN_ENV)
        missing = [
            f"the account id (account_id= or {ACCOUNT_ID_ENV})" if not account_id else "",
            f"the API token (api_token= or {API_TOKEN_ENV})" if not token else "",
        ]
        missing = [item for item in missing if item]
        if missing:
            raise ConfigurationError(
                f"Workers AI needs {' and '.join(missing)}. Set the environment variables "
                f"{ACCOUNT_ID_ENV} and {API_TOKEN_ENV}, or pass them to the client; the token "
                "needs Workers AI Read and Edit permissions."
            )
        assert account_id is not None
        assert token is not None
        check_max_retries(max_retries)
        check_header_secret(token, "the API token", f"{API_TOKEN_ENV} (or api_token=)")
        self.account_id: str = account_id
        self._api_token = _Secret(token)
        self.model: ModelSpec = resolve_model(model)
        self.base_url: str = _url_option("base_url", base_url, BASE_URL_ENV, DEFAULT_BASE_URL)
        self.gateway: str | None = gateway
        self.gateway_base_url: str = _url_option(
            "gateway_base_url", gateway_base_url, GATEWAY_BASE_URL_ENV, DEFAULT_GATEWAY_BASE_URL
        )
        _check_base_url("base_url", self.base_url, BASE_URL_ENV)
        if gateway is not None:
            _check_base_url("gateway_base_url", self.gateway_base_url, GATEWAY_BASE_URL_ENV)
        self.max_retries: int = max_retries
        if not isinstance(retry_possibly_billed, bool):
            raise ParameterError(
                f"retry_possibly_billed must be True or False, got {retry_possibly_billed!r}",
                parameter="retry_possibly_billed",
            )
        #: Resend a request that may already have run the model (and been billed): a read
        #: timeout after it was sent whole, a response that broke off. Off by default.
        self.retry_possibly_billed: bool = retry_possibly_billed
        if not isinstance(resize_images, bool):
            raise ParameterError(
                f"resize_images must be True or False, got {resize_images!r}",
                parameter="resize_images",
            )
        self.resize_images: bool = resize_images
        self._owns_client = http_client is None
        # With an injected client and no timeout, the client's own timeout applies.
        self.timeout: httpx.Timeout | None
        if isinstance(timeout, httpx.Timeout):
            self.timeout = _checked_timeout(timeout)
        elif (
            isinstance(timeout, int | float)
            and not isinstance(timeout, bool)
            and math.isfinite(timeout)
            and timeout > 0
        ):
            self.timeout = httpx.Timeout(float(timeout))
        elif timeout is None:
            self.timeout = DEFAULT_TIMEOUT if self._owns_client else None
        else:
            raise ParameterError(
                f"timeout must be seconds (> 0) or an httpx.Timeout, got {timeout!r}",
                parameter="timeout",
            )
        # Checked now rather than on the first request: both become URL path segments.
        check_path_segment("account_id", self.account_id)
        if gateway is not None:
            check_path_segment("gateway", gateway)
        #: The whole-download deadline for a proxied model's result URL, in seconds.
        self.download_timeout: float = positive_seconds(
            "download_timeout",
            DEFAULT_DOWNLOAD_TIMEOUT if download_timeout is None else download_timeout,
        )
        max_response_bytes, deadline_given = check_answer_bounds(max_response_bytes, deadline)
        #: The largest body an answer may have, after decoding (a result URL's image too).
        self.max_response_bytes: int = max_response_bytes
        self._deadline_given = deadline_given
        self._rng = random.Random()
        self._client = http_client if http_client is not None else self._make_http_client()
        #: Seconds one attempt may take as a whole, from connecting to the last byte of the
        #: answer, on top of httpx's per-read timeouts (``None``: no deadline). By default
        #: twice the connect and read timeouts together.
        self.deadline: float | None = (
            self._deadline_given
            if self._deadline_given is not None
            else _default_deadline(self.timeout or self._client.timeout)
        )

    # -- configuration ------------------------------------------------------------------------

    def _make_http_client(self) -> _ClientT:
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "api_token": self._api_token.reveal(),
            "model": self.model,
            "base_url": self.base_url,
            "gateway": self.gateway,
            "gateway_base_url": self.gateway_base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "http_client": self._client,
            "resize_images": self.resize_images,
            "download_timeout": self.download_timeout,
            "retry_possibly_billed": self.retry_possibly_billed,
            "deadline": self._deadline_given,
            "max_response_bytes": self.max_response_bytes,
        }

    def with_options(
        self,
        *,
        account_id: str | NotGiven = NOT_GIVEN,
        api_token: str | NotGiven = NOT_GIVEN,
        model: str | ModelSpec | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        gateway: str | NotGiven | None = NOT_GIVEN,
        gateway_base_url: str | NotGiven = NOT_GIVEN,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        resize_images: bool | NotGiven = NOT_GIVEN,
        download_timeout: float | NotGiven = NOT_GIVEN,
        retry_possibly_billed: bool | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_response_bytes: int | NotGiven = NOT_GIVEN,
    ) -> Self:
        """Return a new client with some options changed; this one is left as it is.

        The new client shares this one's connection pool (closing this one closes it).

        Example:
            >>> from flux2prompt.transport import WorkersAI
            >>> client = WorkersAI(account_id="acc", api_token="tok")
            >>> fast = client.with_options(model="klein-4b", max_retries=5)
            >>> fast.model.id, fast.max_retries, client.max_retries
            ('@cf/black-forest-labs/flux-2-klein-4b', 5, 2)
            >>> client.close()
        """
        options = self._options()
        changes = {
            "account_id": account_id,
            "api_token": api_token,
            "model": model,
            "base_url": base_url,
            "gateway": gateway,
            "gateway_base_url": gateway_base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "resize_images": resize_images,
            "download_timeout": download_timeout,
            "retry_possibly_billed": retry_possibly_billed,
            "deadline": deadline,
            "max_response_bytes": max_response_bytes,
        }
        options.update({k: v for k, v in changes.items() if not isinstance(v, NotGiven)})
        clone = type(self)(**options)
        clone._rng = self._rng
        clone._share_pool_state(self)
        return clone

    def _share_pool_state(self, original: Self) -> None:
        """What a copy from :meth:`with_options` takes over about the pool it shares with
        ``original`` (the async client: the event loop it was last used in)."""

    def __repr__(self) -> str:
        gateway = f", gateway={self.gateway!r}" if self.gateway else ""
        billed = ", retry_possibly_billed=True" if self.retry_possibly_billed else ""
        return (
            f"{type(self).__name__}(account_id={self.account_id!r}, api_token='***', "
            f"model={self.model.id!r}, base_url={self.base_url!r}{gateway}, "
            f"max_retries={self.max_retries}{billed})"
        )

    def redact(self, text: str) -> str:
        """Return ``text`` with this client's API token replaced by ``***``.

        For text about to be stored or shown (a log line, a manifest record): the client's own
        errors are already scrubbed by the same rule. The token is the one the client was
        given or read from ``CLOUDFLARE_API_TOKEN``, so a caller never reads it again.

        Example:
            >>> from flux2prompt.transport import WorkersAI
            >>> with WorkersAI(account_id="acc", api_token="tok-0123456789") as client:
            ...     client.redact("refused: Bearer tok-0123456789")
            'refused: Bearer ***'
        """
        return scrub_secrets(text, (self._api_token.reveal(),))

    # -- request building ---------------------------------------------------------------------

    def build_request(
        self,
        prompt: PromptLike,
        *,
        model: str | ModelSpec | None = None,
        width: int | None = None,
        height: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | None = None,
        images: Iterable[ImageSource] = (),
        gateway_options: GatewayOptions | None = None,
        prompt_upsampling: bool | None = None,
        safety_tolerance: int | None = None,
        output_format: str | None = None,
        allow_unknown_model: bool = False,
        route: Route | str | None = None,
        prompt_format: str = "auto",
    ) -> WorkersAIRequest:
        """Build and check the request :meth:`generate` would send, without sending it.

        The parameters are those of :func:`flux2prompt.transport.build_request`; the account,
        endpoints, gateway and image resizing are this client's.

        Example:
            >>> from flux2prompt.transport import WorkersAI
            >>> with WorkersAI(account_id="acc", api_token="tok") as client:
            ...     client.build_request("a fox", width=512, height=512).url
            'https://api.cloudflare.com/client/v4/accounts/acc/ai/run/@cf/black-forest-labs/flux-2-dev'
        """
        return build_request(
            prompt,
            model=self.model if model is None else model,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            seed=seed,
            images=images,
            account_id=self.account_id,
            base_url=self.base_url,
            gateway=self.gateway,
            gateway_base_url=self.gateway_base_url,
            gateway_options=gateway_options,
            resize_images=self.resize_images,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            allow_unknown_model=allow_unknown_model,
            route=route,
            prompt_format=prompt_format,
        )

    @staticmethod
    def _check_sendable(request: object) -> None:
        """Refuse what :meth:`send` cannot send, before anything else reads it."""
        if not isinstance(request, WorkersAIRequest):
            raise ParameterError(
                f"send() takes a WorkersAIRequest (from build_request()), got "
                f"{type(request).__name__}; to send a prompt, call generate()",
                parameter="request",
            )

    def _check_open(self) -> None:
        """Refuse to send on a closed connection pool, saying so (httpx's own error is a bare
        ``RuntimeError``): nothing is sent, so nothing is billed."""
        if self._client.is_closed:
            raise ConfigurationError(
                f"this {type(self).__name__} client is closed: its with block ended or close() "
                "was called (on it, on the client with_options() made it from, or on the "
                "http_client it was given). Make a new client, or send inside its with block."
            )

    def _url_for(self, request: WorkersAIRequest) -> str:
        # The client decides where a request goes: a request built elsewhere (a dry run without
        # an account id) is sent to this client's endpoint. The URL templates live in
        # endpoint_url alone, so request.url and the URL sent cannot drift apart.
        # A proxied request names its gateway in a header; only path-routed ones need the URL.
        if self.gateway is None and request.headers and request.route is not Route.PROXIED:
            raise ParameterError(
                "this request has gateway options but the client has no gateway: build the "
                "client with gateway='your-gateway-id'",
                parameter="gateway_options",
            )
        return endpoint_url(
            request.model,
            account_id=self.account_id,
            base_url=self.base_url,
            gateway=self.gateway,
            gateway_base_url=self.gateway_base_url,
        )

    def _to_httpx(self, request: WorkersAIRequest) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {self._api_token.reveal()}",
            "Accept": "application/json",
            "User-Agent": CLIENT_USER_AGENT,
            **request.headers,
        }
        content = request.content
        if content is not None:
            headers["Content-Type"] = "application/json"
        http_request = self._client.build_request(
            "POST",
            self._url_for(request),
            files=request.files if content is None else None,
            content=content,
            headers=headers,
            timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        # httpx streams multipart as one small chunk per boundary, header and value, and each
        # chunk becomes its own socket write (a dozen system calls per request). Joined once
        # here, the body goes out in one write: measurably faster, and identical on the wire.
        http_request.read()
        return http_request

    # -- errors, retries and responses ---------------------------------------------------------

    def _secrets(self, request: WorkersAIRequest) -> tuple[str, ...]:
        """What is scrubbed from everything kept of an attempt: the API token, and the token
        of an authenticated gateway when the request carries one."""
        gateway = request.headers.get("cf-aig-authorization")
        if not gateway:
            return (self._api_token.reveal(),)
        bare = gateway[7:] if gateway.lower().startswith("bearer ") else gateway
        return (self._api_token.reveal(), bare)

    def _connection_error(
        self, exc: httpx.TransportError, url: str, secrets: tuple[str, ...] = ()
    ) -> APIConnectionError:
        detail = self._failure_detail(exc, secrets)
        if isinstance(exc, httpx.TimeoutException):
            kind = type(exc).__name__.replace("Timeout", " timeout").lower().strip()
            return APITimeoutError(f"no response from {url}: {kind} ({detail})", url=url)
        return APIConnectionError(f"could not reach {url}: {detail}", url=url)

    def _transport_error(
        self,
        exc: httpx.TransportError,
        url: str,
        progress: _retry.SendProgress,
        resubmitted: int,
        secrets: tuple[str, ...] = (),
    ) -> APIError:
        """The error for an attempt that got no complete response, placed by the retry policy:
        safe to resend (a connection error), or one that may have run the model.

        The token is scrubbed from ``exc`` and everything chained behind it first: the error
        keeps it as its cause, and a hostile answer may have reflected the token into the text
        httpx quotes of what it could not parse."""
        progress.fail()
        scrub_exception_chain(exc, (self._api_token.reveal(), *secrets))
        kind = _failure_kind(exc)
        delivery = _retry.classify_failure(kind, progress)
        if delivery is _retry.Delivery.MAY_HAVE_RUN:
            risk: BillingRisk
            if progress.response_started:
                risk = "response_broken"
            elif kind == "read_timeout":
                risk = "read_timeout"
            else:
                risk = "disconnected"
            detail = self._failure_detail(exc, secrets)
            return PossiblyBilledError(risk, url=url, detail=detail, resubmitted=resubmitted)
        error = self._connection_error(exc, url, secrets)
        error.stale_connection = delivery is _retry.Delivery.STALE_CONNECTION
        return error

    @staticmethod
    def _reached_network(exc: httpx.TransportError, progress: _retry.SendProgress) -> bool:
        reached = progress.reached_network
        if reached is None:  # untraced: only the exception class says
            return _failure_kind(exc) not in ("connect", "pool")
        return reached

    def _retry_delay(self, attempt: int, error: APIError) -> float | None:
        """Seconds to wait before retrying after ``error``, or ``None`` to raise it."""
        if attempt >= self.max_retries:
            return None
        delay = _retry.retry_wait(
            error, attempt, self._rng, retry_possibly_billed=self.retry_possibly_billed
        )
        if delay is None:
            return None
        logger.info(
            "Workers AI request failed (%s); retry %d of %d in %.2f s",
            _short(error),
            attempt + 1,
            self.max_retries,
            delay,
        )
        return delay

    @staticmethod
    def _finish_error(error: APIError, reached: int, resubmitted: int) -> None:
        """Set what the final error says about the whole call: the requests that reached the
        network, and whether an earlier attempt may have been billed."""
        error.attempts = reached
        if resubmitted and not error.may_have_been_billed:
            error.may_have_been_billed = True
            note = (
                f"An earlier attempt may have been billed (resent {resubmitted} time(s) with "
                "retry_possibly_billed=True)."
            )
            error.args = (f"{error.args[0]} {note}",) if error.args else (note,)

    def _log_request(self, request: httpx.Request, attempt: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s (attempt %d) headers=%s",
                request.url,
                attempt + 1,
                redact_headers(request.headers.items()),
            )

    def _deadline_error(
        self,
        url: str,
        progress: _retry.SendProgress,
        resubmitted: int,
        secrets: tuple[str, ...] = (),
    ) -> APIError:
        """The error of an attempt cut off by the deadline (the async client's cancel scope)."""
        return self._transport_error(
            self._cut_off(progress.request_sent), url, progress, resubmitted, secrets
        )

    def _parse_response(
        self,
        request: WorkersAIRequest,
        response: httpx.Response,
        started: float,
        attempts: int,
        body: _bounds.Body | None = None,
    ) -> ImageResult | ResultLink:
        status = response.status_code
        content = response.content if body is None else body.content
        url = str(response.request.url)
        secrets = self._secrets(request)
        # Every header value taken from an answer goes through the one scrubber, here: a token
        # a proxy reflects (in cf-ray, Content-Type, Retry-After) reaches no error, log line,
        # result or manifest.
        headers = scrub_headers(response.headers, secrets)
        request_id = headers.get("cf-ray")
        logger.debug("HTTP %d from %s (%d bytes, cf-ray %s)", status, url, len(content), request_id)
        if not 200 <= status < 300:
            raise make_status_error(
                status,
                headers,
                content,
                url=url,
                secrets=secrets,
                truncated=body is not None and body.truncated,
            )
        if body is not None and body.truncated:
            raise ResponseError(
                f"HTTP {status} with a body larger than the limit of "
                f"{self.max_response_bytes:,} bytes ({body.excess}); the rest was not read",
                url=url,
                request_id=request_id,
                hint=(
                    "No real image answer is this large: check the base URL and any proxy "
                    "in between; raise max_response_bytes= only if the answers really are "
                    "this large."
                ),
            )
        if request.route is not Route.PROXIED and detect_format(content) in _RAW_IMAGES:
            # The image itself rather than its JSON envelope (what Workers AI's older image
            # models answer, image/png): the model ran and it is paid for, so it is kept.
            return self._image(request, content, request_id, started, attempts)
        try:
            # An integer past the 4,300 digits int() converts, anywhere in the envelope, must
            # not cost the image beside it: read as a float (infinite) instead.
            payload = json.loads(content, parse_int=_lenient_int)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ResponseError(
                f"HTTP {status} with a body that is not JSON ({len(content)} bytes, "
                f"content type {headers.get('content-type', 'none')!r})",
                url=url,
                request_id=request_id,
            ) from None
        if isinstance(payload, dict) and payload.get("success") is False:
            raise make_status_error(status, headers, content, url=url, secrets=secrets)
        if request.route is Route.PROXIED:
            return self._parse_proxied(request, payload, url, request_id, started, attempts)
        result = payload.get("result") if isinstance(payload, dict) else None
        image = result.get("image") if isinstance(result, dict) else None
        if not isinstance(image, str):
            raise ResponseError(
                f"HTTP {status} without result.image in the JSON envelope",
                url=url,
                request_id=request_id,
            )
        try:
            data = _b64decode(image)
        except (binascii.Error, ValueError):
            raise ResponseError(
                f"HTTP {status} with result.image that is not valid base64 ({len(image)} chars)",
                url=url,
                request_id=request_id,
            ) from None
        return self._image(request, data, request_id, started, attempts)

    @staticmethod
    def _image(
        request: WorkersAIRequest,
        data: bytes,
        request_id: str | None,
        started: float,
        attempts: int,
    ) -> ImageResult:
        return ImageResult.from_bytes(
            data,
            seed=request.seed,
            model=request.model.id,
            prompt_fingerprint=request.prompt_fingerprint,
            request_fingerprint=request.fingerprint,
            request_id=request_id,
            elapsed=time.perf_counter() - started,
            attempts=attempts,
        )

    # -- the proxied route ----------------------------------------------------------------------

    def _parse_proxied(
        self,
        request: WorkersAIRequest,
        payload: Any,
        url: str,
        request_id: str | None,
        started: float,
        attempts: int,
    ) -> ResultLink:
        """The URL of a proxied model's image, or the error its envelope says."""
        if not isinstance(payload, dict):
            raise ResponseError(
                "a proxied model answered JSON that is not an object",
                url=url,
                request_id=request_id,
            )
        state = payload.get("state")
        if state != "Completed":
            # What the envelope says of it, when it says anything (a moderation, an error).
            _, said = _first_error(payload)
            raise GenerationStateError(
                state if isinstance(state, str) else None,
                url=url,
                request_id=request_id,
                detail=scrub_secrets(said, self._secrets(request)) if said else None,
            )
        result = payload.get("result")
        image = result.get("image") if isinstance(result, dict) else None
        if not isinstance(image, str) or not image.startswith(("https://", "http://")):
            got = "nothing" if image is None else f"{type(image).__name__} {str(image)[:16]!r}"
            raise ResponseError(
                f"a proxied model answered state Completed without an image URL in "
                f"result.image (got {got})",
                url=url,
                request_id=request_id,
            )
        assert isinstance(result, dict)
        effective = result.get("prompt")
        return ResultLink(
            url=image,
            request=request,
            request_id=request_id,
            started=started,
            attempts=attempts,
            effective_prompt=effective if isinstance(effective, str) else None,
        )

    def _download_limits(self) -> DownloadLimits:
        return download_limits(self.base_url, self.download_timeout, self.max_response_bytes)

    def _downloaded(self, link: ResultLink, data: bytes) -> ImageResult:
        request = link.request
        try:
            result = ImageResult.from_bytes(
                data,
                seed=request.seed,
                model=request.model.id,
                prompt_fingerprint=request.prompt_fingerprint,
                request_fingerprint=request.fingerprint,
                elapsed=time.perf_counter() - link.started,
                attempts=link.attempts,
                effective_prompt=link.effective_prompt,
            )
        except ResponseError as exc:
            raise ResultDownloadError(
                f"the result URL did not hold an image: {exc.message}",
                reason="not_an_image",
                result_url=link.url,
                request_id=link.request_id,
                hint=exc.hint,  # fetching the URL again would give the same bytes: look at them
                data=exc.data,
            ) from None
        # Set after the check, so that the refusal above names the request id once.
        return dataclasses.replace(result, request_id=link.request_id)


def download_limits(base_url: str, timeout: float, max_bytes: int) -> DownloadLimits:
    """The limits of a result URL's download by a client of ``base_url``, of either API.

    Plain http and loopback addresses are accepted only from the local emulator, that is when
    the client itself talks to a loopback address.

    >>> download_limits("http://127.0.0.1:8787", 30.0, 1024).allow_loopback
    True
    """
    return DownloadLimits(
        timeout=timeout,
        max_bytes=max_bytes,
        allow_loopback=is_loopback_host(httpx.URL(base_url).host),
        user_agent=CLIENT_USER_AGENT,
    )


def _checked_timeout(timeout: httpx.Timeout) -> httpx.Timeout:
    """``timeout`` when each of its parts is seconds above 0 or ``None`` (no limit): httpx
    takes any number, and a negative or NaN one fails only when a request is sent, as a
    ``ValueError`` from the socket."""
    for part in ("connect", "read", "write", "pool"):
        value = getattr(timeout, part)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ParameterError(
                f"timeout must be seconds (> 0) or an httpx.Timeout whose parts are, got "
                f"{part}={value!r} in {timeout!r}",
                parameter="timeout",
            )
    return timeout


def _default_deadline(timeout: httpx.Timeout) -> float | None:
    """Twice the connect and read timeouts together (380 s by default; 6 s for
    ``timeout=1.5``); no deadline when reads may wait forever."""
    if timeout.read is None:
        return None
    return 2.0 * (timeout.read + (timeout.connect or 0.0))


def _lenient_int(text: str) -> int | float:
    """A JSON integer: as an ``int``, or as a float when it has more digits than ``int()``
    converts."""
    try:
        return int(text)
    except ValueError:
        return float(text)


_WHITESPACE: Final = re.compile(r"[ \t\r\n]+")


def _b64decode(text: str) -> bytes:
    """Strict base64, except that line breaks and spaces are passed over: base64 wrapped in
    lines (as MIME writes it, RFC 2045) is the same image, and it is paid for.

    >>> _b64decode("iVBO\\nRw==")
    b'\\x89PNG'
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        stripped = _WHITESPACE.sub("", text)
        if stripped == text:
            raise
        return base64.b64decode(stripped, validate=True)


def _failure_kind(exc: httpx.TransportError) -> _retry.FailureKind:
    """What httpx's exception class says went wrong, in the retry policy's terms."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.PoolTimeout):
        return "pool"
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout):
        return "write"
    if isinstance(exc, httpx.ReadTimeout):
        return "read_timeout"
    return "read"


def _short(error: APIError) -> str:
    code = getattr(error, "code", None)
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"HTTP {status}" + (f", code {code}" if code is not None else "")
    return type(error).__name__
