"""What the Black Forest Labs clients share: configuration, the task, requests, retry rules and
the reading of answers. :class:`~flux2prompt.transport.BFL` and
:class:`~flux2prompt.transport.AsyncBFL` differ only in how they send and sleep.

The task API runs in three steps, each with its own retry rule:

============  =====================================  =========================================
step          request                                retried
============  =====================================  =========================================
submit        ``POST {base}/v1/{endpoint}`` (paid)   429 (too many active tasks: waits for a
                                                     slot, ``Retry-After`` plus jitter, until
                                                     ``slot_timeout``); a connection that never
                                                     carried the request. Never after a 5xx, a
                                                     read timeout or a cut answer: the task may
                                                     already exist, and would be paid twice.
poll          ``GET polling_url`` (as returned)      5xx, 408, 429 and any connection failure,
                                                     up to ``max_retries`` in a row (a GET is
                                                     safe to repeat)
download      ``GET result.sample`` (no key)         never: see ``_download.py``
============  =====================================  =========================================

Every answer is bounded as the Workers AI clients bound theirs (``_bounds.py``): its body to
``max_response_bytes`` (an error answer to its envelope) and each attempt, submit or poll, to
``deadline`` as a whole, on top of httpx's per-read timeouts. A submit whose answer does not
arrive whole within the deadline, after it was sent whole, may have created the task: it is a
:class:`PossiblyBilledError` and is never resent; a poll cut off so is retried like any
connection failure. Every header value of an answer goes through ``scrub_headers`` before it is
read, so a key a proxy reflects reaches no error, log or result.

The API key goes only to the base URL's host or a ``*.bfl.ai`` host (a ``polling_url`` naming
any other host is refused), never to the delivery host of ``result.sample``.

Example:
    >>> from flux2prompt.transport import BFL
    >>> client = BFL(api_key="bfl-secret-key", region="eu")
    >>> client.base_url, "bfl-secret-key" in repr(client)
    ('https://api.eu.bfl.ai', False)
    >>> client.close()
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

import httpx

from flux2prompt.transport import _bounds, _retry
from flux2prompt.transport._base import (
    CLIENT_USER_AGENT,
    DEFAULT_TIMEOUT,
    _check_base_url,
    _default_deadline,
    _env,
    _failure_kind,
    _Secret,
    check_answer_bounds,
    check_header_secret,
    check_max_retries,
    download_limits,
    positive_seconds,
)
from flux2prompt.transport._bfl_catalogue import BFLModelSpec, resolve_bfl_model
from flux2prompt.transport._bfl_request import (
    BFL_DEFAULT_MODEL,
    BFL_REGIONS,
    BFLPromptLike,
    BFLRequest,
    build_bfl_request,
)
from flux2prompt.transport._constants import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    MAX_RETRY_AFTER,
)
from flux2prompt.transport._download import DownloadLimits, ResultLink, is_loopback_host
from flux2prompt.transport._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    InputModeratedError,
    InternalServerError,
    OutputModeratedError,
    ParameterError,
    PossiblyBilledError,
    RateLimitError,
    RequestTimeoutError,
    ResponseError,
    ResultDownloadError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TooManyActiveTasksError,
    _paragraph,
    make_bfl_status_error,
    scrub_exception_chain,
    scrub_headers,
    scrub_secrets,
)
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._result import ImageResult

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_POLL_TIMEOUT",
    "DEFAULT_SLOT_TIMEOUT",
    "BFLBaseClient",
    "BFLTask",
]

logger = logging.getLogger("flux2prompt.transport")

API_KEY_ENV: Final = "BFL_API_KEY"
BASE_URL_ENV: Final = "BFL_BASE_URL"
#: Seconds between two polls of a task (BFL's guides poll every half second).
DEFAULT_POLL_INTERVAL: Final = 0.5
#: Seconds a client polls one task before :class:`TaskTimeoutError` (the task is not lost).
DEFAULT_POLL_TIMEOUT: Final = 600.0
#: Seconds a submit waits, in all, for a free slot while BFL answers 429.
DEFAULT_SLOT_TIMEOUT: Final = 600.0

_HOST: Final = "Black Forest Labs"
#: The longest task id a client records: BFL's are UUIDs (36 characters).
_MAX_TASK_ID: Final = 200


def _origin(parsed: httpx.URL, url: str) -> str:
    """A URL as an error shows it: its origin, or, when it has no scheme or host (relative),
    the URL itself up to its query."""
    if parsed.scheme and parsed.host:
        return f"{parsed.scheme}://{parsed.host}/..."
    bare = url.split("?", 1)[0].split("#", 1)[0]
    return repr(bare[:60] + ("..." if len(bare) > 60 else "")) + " (relative)"


def _task_id_problem(task_id: str) -> str | None:
    """Why a submit's ``id`` cannot be recorded and shown, or ``None`` when it can."""
    if len(task_id) > _MAX_TASK_ID:
        return f"an id of {len(task_id):,} characters (at most {_MAX_TASK_ID})"
    if not task_id.isprintable() or task_id != task_id.strip():
        return f"an id with control or blank characters ({task_id[:40]!a})"
    return None


_RETRIED_POLL_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
# The statuses the API documents, by their case-folded words: "ready" or " Content moderated "
# is that status (FLUX 3's own steps are lowercase), not an unknown one polled until the deadline
# while the result URL expires.
_KNOWN_STATUSES: Final = {status.casefold(): status for status in TaskTimeoutError.known}


def _canonical_status(status: str) -> str:
    """``status`` as the API documents it, when it is one of those in another case or spacing.

    >>> _canonical_status(" content  MODERATED"), _canonical_status("reasoning")
    ('Content Moderated', 'reasoning')
    """
    return _KNOWN_STATUSES.get(" ".join(status.split()).casefold(), status)


@dataclass(frozen=True, slots=True)
class BFLTask:
    """A submitted task: what to poll, and what its result will be traced by.

    ``polling_url`` is the one the submit returned (tasks live in a region; never build it).
    ``submitted_at`` is wall-clock time (``time.time()``), so a task recorded by one process can
    be resumed by another: ``client.result(BFLTask.from_dict(record))`` polls it again and
    submits nothing. ``cost`` is what the submit said it costs, in credits, when it said.

    Example:
        >>> task = BFLTask("t-1", "https://api.bfl.ai/v1/get_result?id=t-1", "flux-2-pro")
        >>> BFLTask.from_dict(task.to_dict()) == task
        True
    """

    id: str
    polling_url: str
    model: str
    submitted_at: float = 0.0
    cost: float | None = None
    prompt_fingerprint: str = ""
    request_fingerprint: str = ""
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the task (it holds no secret)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> BFLTask:
        """Rebuild a task from :meth:`to_dict`'s record; a malformed one is a ParameterError.

        Example:
            >>> BFLTask.from_dict({"id": "t-1"})
            Traceback (most recent call last):
            ...
            flux2prompt.ParameterError: a task record needs 'id', 'polling_url' and 'model' ...
        """
        names = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in record.items() if k in names}
        if not all(isinstance(given.get(k), str) for k in ("id", "polling_url", "model")):
            raise ParameterError(
                "a task record needs 'id', 'polling_url' and 'model' as strings",
                parameter="task",
            )
        # An optional field of the wrong type (a record edited by hand, a line from another
        # tool) falls back to its default: the task is still polled, never submitted again,
        # and no string "seed" or boolean reaches the result and its manifest record.
        for name, fits in _RECORD_FIELDS.items():
            if name in given and not fits(given[name]):
                del given[name]
        return cls(**given)


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


_RECORD_FIELDS: Final[dict[str, Any]] = {
    "submitted_at": _number,
    "cost": lambda value: value is None or _number(value),
    "prompt_fingerprint": lambda value: isinstance(value, str),
    "request_fingerprint": lambda value: isinstance(value, str),
    # A seed: an integer from 0 to 2**64 - 1 (BFL takes 0 to 2**53 - 1; a result may say more).
    "seed": lambda value: (
        value is None
        or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64)
    ),
}

_ClientT = TypeVar("_ClientT", httpx.Client, httpx.AsyncClient)


class BFLBaseClient(_bounds.AnswerBounds, Generic[_ClientT]):
    """Configuration, requests, retry rules and the reading of answers for both BFL clients."""

    _client: _ClientT

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str | BFLModelSpec = BFL_DEFAULT_MODEL,
        region: str = "global",
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: _ClientT | None = None,
        download_timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_timeout: float = DEFAULT_POLL_TIMEOUT,
        slot_timeout: float = DEFAULT_SLOT_TIMEOUT,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        key = api_key or _env(API_KEY_ENV)
        if not key:
            raise ConfigurationError(
                f"Black Forest Labs needs an API key: set {API_KEY_ENV} or pass api_key= (keys "
                "are made at dashboard.bfl.ai)"
            )
        check_header_secret(key, "the API key", f"{API_KEY_ENV} (or api_key=)")
        if region not in BFL_REGIONS:
            raise ParameterError(
                f"region must be one of {', '.join(BFL_REGIONS)}, got {region!r}",
                parameter="region",
            )
        check_max_retries(max_retries)
        self._api_key = _Secret(key)
        self.model: BFLModelSpec = resolve_bfl_model(model)
        self.region: str = region
        self.base_url: str = (base_url or _env(BASE_URL_ENV) or BFL_REGIONS[region]).rstrip("/")
        _check_base_url("base_url", self.base_url, BASE_URL_ENV)
        self.max_retries: int = max_retries
        self.poll_interval: float = positive_seconds("poll_interval", poll_interval)
        self.poll_timeout: float = positive_seconds("poll_timeout", poll_timeout)
        self.slot_timeout: float = positive_seconds("slot_timeout", slot_timeout)
        self.download_timeout: float = positive_seconds(
            "download_timeout",
            DEFAULT_DOWNLOAD_TIMEOUT if download_timeout is None else download_timeout,
        )
        self._owns_client = http_client is None
        self.timeout: httpx.Timeout | None
        if isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        elif timeout is None:
            self.timeout = DEFAULT_TIMEOUT if self._owns_client else None
        else:
            self.timeout = httpx.Timeout(positive_seconds("timeout", timeout))
        max_response_bytes, deadline = check_answer_bounds(max_response_bytes, deadline)
        #: The largest body an answer may have, after decoding (the result's image too).
        self.max_response_bytes: int = max_response_bytes
        self._rng = random.Random()
        self._client = http_client if http_client is not None else self._make_http_client()
        #: Seconds one attempt (a submit or a poll) may take as a whole, from connecting to the
        #: last byte of the answer, on top of httpx's per-read timeouts (``None``: no
        #: deadline). By default twice the connect and read timeouts together.
        self.deadline: float | None = (
            float(deadline)
            if deadline is not None
            else _default_deadline(self.timeout or self._client.timeout)
        )

    def _make_http_client(self) -> _ClientT:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(api_key='***', model={self.model.id!r}, "
            f"base_url={self.base_url!r}, max_retries={self.max_retries})"
        )

    def redact(self, text: str) -> str:
        """Return ``text`` with this client's API key replaced by ``***``.

        Example:
            >>> from flux2prompt.transport import BFL
            >>> with BFL(api_key="bfl-key-0123456789") as client:
            ...     client.redact("x-key: bfl-key-0123456789")
            'x-key: ***'
        """
        return scrub_secrets(text, (self._api_key.reveal(),))

    def _echoes_key(self, text: str) -> bool:
        """Whether ``text`` (from an answer) holds this client's key, as the scrubber sees it
        (a "key" too short to be a real one, such as a test's ``"k"``, is never found)."""
        return self.redact(text) != text

    # -- requests -------------------------------------------------------------------------------

    def build_request(
        self,
        prompt: BFLPromptLike,
        *,
        model: str | BFLModelSpec | None = None,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        safety_tolerance: int | None = None,
        output_format: str | None = None,
        prompt_upsampling: bool | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        grounding: bool | None = None,
        images: Iterable[ImageSource] = (),
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        extra: Mapping[str, Any] | None = None,
        prompt_format: str = "auto",
    ) -> BFLRequest:
        """Build and check the request :meth:`generate` would send, without sending it; the
        parameters are those of :func:`~flux2prompt.transport.build_bfl_request`.

        Example:
            >>> from flux2prompt.transport import BFL
            >>> with BFL(api_key="k", model="flex") as client:
            ...     client.build_request("a fox", steps=20).url
            'https://api.bfl.ai/v1/flux-2-flex'
        """
        return build_bfl_request(
            prompt,
            model=self.model if model is None else model,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=guidance,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            prompt_upsampling=prompt_upsampling,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            grounding=grounding,
            images=images,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            extra=extra,
            base_url=self.base_url,
            prompt_format=prompt_format,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "x-key": self._api_key.reveal(),
            "Accept": "application/json",
            "User-Agent": CLIENT_USER_AGENT,
        }

    def _timeout(self) -> httpx.Timeout | Any:
        return self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT

    def _submit_request(self, request: BFLRequest) -> httpx.Request:
        # The client decides where a request goes: its own base URL, the endpoint's path.
        headers = {**self._headers(), "Content-Type": "application/json"}
        http_request = self._client.build_request(
            "POST",
            self.base_url + request.model.path,
            content=request.content,
            headers=headers,
            timeout=self._timeout(),
        )
        http_request.read()
        return http_request

    def _poll_request(self, task: BFLTask) -> httpx.Request:
        url = self._check_polling_url(task.polling_url, task.id)
        return self._client.build_request(
            "GET", url, headers=self._headers(), timeout=self._timeout()
        )

    def _loopback(self) -> bool:
        return is_loopback_host(httpx.URL(self.base_url).host)

    def _check_polling_url(self, url: object, task_id: str) -> str:
        """The polling URL, if the key may be sent there: the base URL's host or a BFL host."""
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else None
        except (httpx.InvalidURL, TypeError, ValueError):
            parsed = None
        host = parsed.host if parsed is not None else ""
        ours = httpx.URL(self.base_url).host
        bfl = host == "bfl.ai" or host.endswith(".bfl.ai")
        loopback = self._loopback() and is_loopback_host(host)
        scheme_ok = parsed is not None and (
            parsed.scheme == "https" or (parsed.scheme == "http" and loopback)
        )
        if parsed is None or not scheme_ok or not (host == ours or bfl or loopback):
            shown = repr(url)[:40] if parsed is None else _origin(parsed, str(url))
            raise ResponseError(
                f"task {task_id}: the polling_url {shown} is not a Black Forest Labs address "
                "(https, *.bfl.ai or the base URL's host); the API key is not sent there",
                hint="Report it to Black Forest Labs; the task may be running and was not "
                "resubmitted.",
            )
        return str(url)

    # -- answers ----------------------------------------------------------------------------------

    def _deadline_error(
        self, url: str, progress: _retry.SendProgress, *, idempotent: bool = False
    ) -> APIError:
        """The error of an attempt cut off by the deadline (the async client's cancel scope)."""
        return self._transport_error(
            self._cut_off(progress.request_sent), url, progress, idempotent=idempotent
        )

    def _answer_headers(self, response: httpx.Response) -> dict[str, str]:
        # Every header value taken from an answer goes through the one scrubber, here: a key a
        # proxy reflects (in x-request-id, Content-Type, Retry-After) reaches no error or log.
        return scrub_headers(response.headers, (self._api_key.reveal(),))

    def _status_error(self, response: httpx.Response, body: _bounds.Body) -> APIStatusError:
        return make_bfl_status_error(
            response.status_code,
            self._answer_headers(response),
            body.content,
            url=str(response.request.url),
            secrets=(self._api_key.reveal(),),
        )

    def _json(
        self, response: httpx.Response, body: _bounds.Body, what: str, after: str
    ) -> dict[str, Any]:
        """The JSON object of a 2xx answer; ``after`` says what was (not) done about it."""
        url = str(response.request.url)
        request_id = self._answer_headers(response).get("x-request-id")
        if body.truncated:
            raise ResponseError(
                f"{what}: HTTP {response.status_code} with a body larger than the limit of "
                f"{self.max_response_bytes:,} bytes ({body.excess}); the rest was not read{after}",
                url=url,
                request_id=request_id,
                hint="No real answer of Black Forest Labs is this large: check the base URL and "
                "any proxy in between; raise max_response_bytes= only if the answers really "
                "are this large.",
            )
        try:
            payload = json.loads(body.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            raise ResponseError(
                f"{what}: HTTP {response.status_code} with a body that is not a JSON object "
                f"({len(body.content)} bytes){after}",
                url=url,
                request_id=request_id,
            )
        return payload

    def _parse_submit(
        self, request: BFLRequest, response: httpx.Response, body: _bounds.Body
    ) -> BFLTask:
        if not 200 <= response.status_code < 300:
            raise self._status_error(response, body)
        payload = self._json(
            response,
            body,
            f"submit to {request.model.id}",
            "; the task may exist and was not resubmitted",
        )
        task_id, polling_url = payload.get("id"), payload.get("polling_url")
        if not isinstance(task_id, str) or not task_id or not isinstance(polling_url, str):
            raise ResponseError(
                f"submit to {request.model.id}: the answer has no id and polling_url; the task "
                "may exist and was not resubmitted",
                url=str(response.request.url),
            )
        if self._echoes_key(task_id) or self._echoes_key(polling_url):
            # A proxy reflecting the key: the id and the URL would carry it into every error,
            # log and task record (and the URL to each poll).
            echoed = "id" if self._echoes_key(task_id) else "polling_url"
            raise ResponseError(
                f"submit to {request.model.id}: the answer's {echoed} holds the API key (echoed "
                "by the server or a proxy); it is not recorded or polled; the task may exist and "
                "was not resubmitted",
                url=str(response.request.url),
                hint="Check the base URL and any proxy in between, and the account's tasks at "
                "dashboard.bfl.ai before submitting again.",
            )
        problem = _task_id_problem(task_id)
        if problem is not None:
            raise ResponseError(
                f"submit to {request.model.id}: the answer names {problem}, which no task of "
                "Black Forest Labs has; the task may exist and was not resubmitted",
                url=str(response.request.url),
                hint="Check the account's tasks at dashboard.bfl.ai before submitting again, and "
                "the base URL and any proxy in between.",
            )
        cost = payload.get("cost")
        # Credits are a finite count >= 0; anything else (NaN, a negative) is no price at all.
        credits = (
            float(cost)
            if isinstance(cost, int | float)
            and not isinstance(cost, bool)
            and math.isfinite(cost)
            and cost >= 0
            else None
        )
        return BFLTask(
            id=task_id,
            polling_url=polling_url,
            model=request.model.id,
            submitted_at=time.time(),
            cost=credits,
            prompt_fingerprint=request.prompt_fingerprint,
            request_fingerprint=request.fingerprint,
            seed=request.seed,
        )

    def _parse_poll(
        self, task: BFLTask, response: httpx.Response, body: _bounds.Body
    ) -> tuple[str, dict[str, Any]]:
        if response.status_code == 404:
            raise TaskNotFoundError(task.id, "Task not found", polling_url=task.polling_url)
        if not 200 <= response.status_code < 300:
            error = self._status_error(response, body)
            if response.status_code == 429:
                # Not a submit waiting for a slot (slot_timeout): the polls came too fast.
                error.hint = (
                    f"Black Forest Labs limited the polling of task {task.id}; the poll was "
                    "retried up to max_retries. The task is not lost: resume with "
                    "client.result(task), or raise poll_interval."
                )
                error.args = (_paragraph(error.message, error.hint),)
            raise error
        payload = self._json(response, body, f"task {task.id}", "")
        status = payload.get("status")
        if not isinstance(status, str):
            raise ResponseError(
                f"task {task.id}: the polling answer has no status", url=task.polling_url
            )
        # The status reaches messages and logs: never the key a proxy may have echoed into it.
        return self.redact(_canonical_status(status)), payload

    def _interpret(
        self, task: BFLTask, status: str, payload: dict[str, Any], started: float
    ) -> ResultLink | None:
        """A link to the image when the task is Ready, ``None`` to keep polling; a task that
        ended otherwise raises its error."""
        where = task.polling_url
        if status == "Ready":
            result = payload.get("result")
            sample = result.get("sample") if isinstance(result, dict) else None
            if not isinstance(sample, str):
                raise ResponseError(
                    f"task {task.id} is Ready without result.sample (an image URL)", url=where
                )
            assert isinstance(result, dict)
            if self._echoes_key(sample):
                raise ResultDownloadError(
                    f"task {task.id} is Ready, but its result URL holds the API key (echoed by "
                    "the server or a proxy); it was not fetched, so the key went to no delivery "
                    "host",
                    reason="unsafe",
                    result_url=self.redact(sample),
                    request_id=task.id,
                )
            effective = result.get("prompt")
            if isinstance(effective, str):
                effective = self.redact(effective)
            return ResultLink(
                url=sample,
                request=cast(Any, task),  # download_result reads only the URL and request_id
                request_id=task.id,
                started=started,
                attempts=1,  # one paid submit; polls are free and not counted
                effective_prompt=effective if isinstance(effective, str) else None,
            )
        if status == "Request Moderated":
            raise InputModeratedError(task.id, polling_url=where)
        if status == "Content Moderated":
            raise OutputModeratedError(task.id, polling_url=where)
        if status == "Task not found":
            raise TaskNotFoundError(task.id, status, polling_url=where)
        if status in ("Error", "Failed"):
            detail = payload.get("details") or payload.get("error") or ""
            # The server's words, on one printable line: no escape sequence reaches a terminal.
            shown = "".join(c if c.isprintable() else " " for c in self.redact(str(detail)[:400]))
            raise TaskFailedError(task.id, status, polling_url=where, detail=shown[:200])
        if status != "Pending":
            logger.debug("task %s reports status %r; polling on", task.id, status)
        return None

    @staticmethod
    def _seed_of(task: BFLTask, payload: Mapping[str, Any]) -> int | None:
        """The seed the Ready answer reports (``result.seed``), else the one sent; ``None`` on
        an endpoint that takes no seed (FLUX 3): a seed it reports could not be sent back to
        reproduce the image."""
        try:
            takes_seed = "seed" in resolve_bfl_model(task.model).fields
        except ParameterError:  # a record naming an endpoint this version does not know
            takes_seed = True
        if not takes_seed:
            return None
        result = payload.get("result")
        payload_seed = result.get("seed") if isinstance(result, dict) else None
        if isinstance(payload_seed, int) and not isinstance(payload_seed, bool):
            return payload_seed
        return task.seed

    def _finish(
        self, task: BFLTask, link: ResultLink, payload: Mapping[str, Any], data: bytes
    ) -> ImageResult:
        """The image of a Ready task, downloaded as ``data``; ``payload`` is its Ready answer."""
        seed = self._seed_of(task, payload)
        try:
            return ImageResult.from_bytes(
                data,
                seed=seed,
                model=task.model,
                prompt_fingerprint=task.prompt_fingerprint,
                request_fingerprint=task.request_fingerprint,
                request_id=task.id,
                elapsed=time.perf_counter() - link.started,
                attempts=link.attempts,
                effective_prompt=link.effective_prompt,
            )
        except ResponseError as exc:
            error = ResultDownloadError(
                f"the result URL did not hold an image: {exc.message}",
                reason="not_an_image",
                result_url=link.url,
                data=exc.data,
            )
            raise self._expired(task, error) from None

    def _download_limits(self) -> DownloadLimits:
        return download_limits(self.base_url, self.download_timeout, self.max_response_bytes)

    @staticmethod
    def _expired(task: BFLTask, error: ResultDownloadError) -> ResultDownloadError:
        try:
            minutes = f"{resolve_bfl_model(task.model).result_validity / 60:.0f} minutes"
        except ParameterError:  # a record naming an endpoint this version does not know
            minutes = "a limited time"
        if error.status_code not in (401, 403, 404, 410):
            # The shared hint speaks of Workers AI's 10 minutes; a task's URL is valid for its
            # model's time, and the task can be polled again for it.
            error.hint = (
                f"The task was Ready (paid) and was not resubmitted. Its result URL can be "
                f"fetched for {minutes} after it is Ready: client.result(task) polls the task "
                "again and fetches the image without submitting anything; or generate again."
            )
            error.args = (_paragraph(error.message, error.hint),)
            return error
        return ResultDownloadError(
            f"task {task.id} was Ready but its result URL has expired (HTTP {error.status_code}): "
            f"paid, result expired",
            reason="expired",
            result_url=error.result_url,
            status_code=error.status_code,
            request_id=task.id,
            hint=f"A {task.model} result can be fetched for {minutes} after it "
            "is Ready; the task was paid and was not resubmitted. Generate again to get an image.",
        )

    # -- retry rules ------------------------------------------------------------------------------

    def _transport_error(
        self,
        exc: httpx.TransportError,
        url: str,
        progress: _retry.SendProgress,
        *,
        idempotent: bool = False,
    ) -> APIError:
        """A failed attempt without a complete answer: for a paid submit, placed by the retry
        policy (never sent, a stale connection, or may have created the task); for a poll
        (``idempotent``), always a connection error, safe to repeat.

        The key is scrubbed from ``exc`` and everything chained behind it first (the error
        keeps it as its cause, and a hostile answer may have reflected the key into the text
        httpx quotes of what it could not parse); the failure is worded alike from the
        blocking and the async client."""
        progress.fail()
        scrub_exception_chain(exc, (self._api_key.reveal(),))
        kind = _failure_kind(exc)
        delivery = _retry.classify_failure(kind, progress)
        detail = self._failure_detail(exc)
        if idempotent:
            delivery = _retry.Delivery.NOT_SENT
        if delivery is _retry.Delivery.MAY_HAVE_RUN:
            risk: Any = (
                "response_broken"
                if progress.response_started
                else "read_timeout"
                if kind == "read_timeout"
                else "disconnected"
            )
            return PossiblyBilledError(
                risk,
                url=url,
                detail=detail,
                host=_HOST,
                hint="Check the account's tasks at dashboard.bfl.ai before submitting again: "
                "the task may exist.",
            )
        error: APIConnectionError
        if isinstance(exc, httpx.TimeoutException):
            error = APITimeoutError(f"no response from {url}: {detail}", url=url)
        else:
            error = APIConnectionError(
                f"could not reach {url}: {detail}",
                url=url,
                hint="Check the network and the base URL (BFL_BASE_URL, region=).",
            )
        error.stale_connection = delivery is _retry.Delivery.STALE_CONNECTION
        return error

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        schedule = min(0.5 * 2.0 ** min(attempt, 16), 8.0)
        # A Retry-After shorter than the schedule's first step ("0", an HTTP date already past
        # by this machine's clock) asks for no wait: the schedule, not a loop of submits for
        # the whole slot_timeout.
        base = (
            min(retry_after, MAX_RETRY_AFTER)
            if retry_after is not None and retry_after >= 0.5
            else schedule
        )
        # Jitter on top of the server's wait, never below it, so many clients spread out.
        return base + self._rng.uniform(0.0, max(base, 0.1) / 2)

    def _submit_delay(self, error: APIError, attempt: int, slot_deadline: float) -> float | None:
        """Seconds to wait before submitting again after ``error``, or ``None`` to raise it."""
        if isinstance(error, TooManyActiveTasksError):
            delay = self._backoff(attempt, error.retry_after_seconds)
            if time.monotonic() + delay > slot_deadline:
                error.args = (
                    f"{error.args[0]} No slot freed within slot_timeout={self.slot_timeout:g} s.",
                )
                return None
            logger.info("BFL: too many active tasks; waiting %.2f s for a slot", delay)
            return delay
        if (
            isinstance(error, APIConnectionError)
            and not isinstance(error, PossiblyBilledError)
            and attempt < self.max_retries
        ):
            return self._backoff(attempt, None)
        return None  # 5xx, a cut answer, a read timeout: the task may exist; never resubmitted

    def _poll_delay(
        self, error: APIError, failures: int, deadline: float | None = None
    ) -> float | None:
        """Seconds to wait before polling again after ``error``, or ``None`` to raise it. A
        wait ends at ``deadline`` (``time.monotonic()``; ``result()``'s ``poll_timeout``), and
        with no time left the error is raised: a long Retry-After never overruns it."""
        if failures >= self.max_retries:
            return None
        if isinstance(error, APIConnectionError | PossiblyBilledError):
            delay = self._backoff(failures, None)
        elif isinstance(error, InternalServerError | RequestTimeoutError | RateLimitError) or (
            isinstance(error, APIStatusError) and error.status_code in _RETRIED_POLL_STATUSES
        ):
            assert isinstance(error, APIStatusError)
            delay = self._backoff(failures, error.retry_after_seconds)
        else:
            return None
        if deadline is None:
            return delay
        left = deadline - time.monotonic()
        return min(delay, left) if left > 0 else None

    @staticmethod
    def _saw(seen: list[str], status: str) -> None:
        """Note a status in order of first sight; what a server could make endless (new,
        long statuses on every poll) is bounded: 50 statuses of at most 200 characters."""
        status = status[:200]
        if status not in seen and len(seen) < 50:
            seen.append(status)

    def _timed_out(
        self, task: BFLTask, status: str | None, seen: list[str], waited: float
    ) -> TaskTimeoutError:
        return TaskTimeoutError(
            task.id, status, seen=seen, waited=waited, polling_url=task.polling_url
        )
