"""The HTTP side of the emulator: routes, the per-request pipeline, recording, and lifecycle.

One request goes through, in this order: routing and the ``x-emulator-*`` headers, a dropped
connection, latency (plus jitter), the rate limit, the daily quota, injected 500/502/503, an
HTML 502, then the real handling (auth, model, multipart checks, rendering) and finally the
success-side faults (truncated JSON, garbage base64). The real handling is computed during the
latency, so that latency is the time to answer, but its outcome only counts in its place.

Example:
    >>> import httpx
    >>> with serve(latency_ms=0) as emu:
    ...     url = f"{emu.base_url}/accounts/acc/ai/run/@cf/black-forest-labs/flux-2-dev"
    ...     response = httpx.post(url, headers={"Authorization": "Bearer t"},
    ...                           files={"prompt": (None, "a red fox")})
    >>> response.status_code, response.json()["success"], emu.requests[0].fields
    (200, True, {'prompt': 'a red fox'})
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hmac
import json
import logging
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from flux2prompt.emulator._bfl import (
    BFL_PREFIX,
    POLL_PATH,
    TERMINAL_STATUSES,
    BFLRefusal,
    BFLTaskInfo,
    TaskBoard,
    cost_of,
    refusal_body,
    validate_bfl,
)
from flux2prompt.emulator._config import (
    BFL_STATUSES,
    ERROR_CODES,
    EmulatorConfig,
    parse_format,
    parse_override_header,
)
from flux2prompt.emulator._faults import FaultPlan, RequestState
from flux2prompt.emulator._multipart import FormPart, is_multipart, parse_form, validate_form
from flux2prompt.emulator._protocol import (
    HTML_502_PAGE,
    HTML_504_PAGE,
    KNOWN_MODELS,
    ApiError,
    error_body,
    loads_strict,
    ray_id,
    success_body,
)
from flux2prompt.emulator._proxied import (
    JSON_MODELS,
    RESULT_PATH_PREFIX,
    ResultStore,
    proxied_body,
    validate_proxied,
    validate_schnell,
)
from flux2prompt.emulator._render import FONTS_HEADER, render_base64, render_image, rendered_fonts
from flux2prompt.emulator._webhook import sign

__all__ = [
    "Emulator",
    "RecordedFile",
    "RecordedRequest",
    "listen_failure",
    "serve",
    "serve_forever",
]

logger = logging.getLogger("flux2prompt.emulator")

#: Bodies above this size are refused with 413 / code 3006 without being read.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: The same on the Black Forest Labs routes, whose FLUX 3 body may carry ten reference images of
#: up to 20 MB of base64 each.
MAX_BFL_BODY_BYTES = 10 * 20 * 1000 * 1000 + 1024 * 1024
#: The ``status`` recorded for a request whose connection the emulator dropped on purpose.
DROPPED = 0

_DIRECT = re.compile(r"/client/v4/accounts/(?P<account>[^/]+)/ai/run/(?P<model>.*)")
_UNIVERSAL = re.compile(r"/client/v4/accounts/(?P<account>[^/]+)/ai/run")
_GATEWAY = re.compile(r"/gateway/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/workers-ai/(?P<model>.*)")
_INVALID_BASE64 = "iVBORw0KGgo!!not*base64%%~~" * 4
# Chunked framing: the longest size line or trailer read (a size, its extensions and CRLF), and
# how many trailer lines (http.server reads at most 100 headers).
_MAX_FRAMING_LINE = 4096
_MAX_TRAILERS = 100
# A whole 1x1 GIF: a real image, in a format no FLUX host answers and flux2prompt does not read.
_NOT_AN_IMAGE = base64.b64encode(
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
    b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
).decode()
_CAPACITY = "AiError: Capacity temporarily exceeded, please try again."
_QUOTA = (
    "AiError: Account limited: daily free allowance used ({quota} successful requests in the "
    "emulator); resets at 00:00 UTC"
)
_INJECTED: dict[int, tuple[int, str]] = {
    # Workers AI documents no codes for these; the emulator picks fixed, recognisable ones.
    500: (3043, "AiError: Unknown internal error"),
    502: (3044, "AiError: Bad gateway: upstream inference server did not answer"),
    503: (3045, "AiError: Service temporarily unavailable"),
    # 3046 is the code seen on live 408s.
    408: (3046, "AiError: Request timeout"),
}
#: The message of each injectable code (its status is ERROR_CODES'). 4006 and 8007 are the
#: messages seen on live answers; 5016 and 7000 are the emulator's wording.
_INJECTED_CODES: dict[int, str] = {
    4006: (
        "AiError: you have used up your daily free allocation of 10,000 neurons, please upgrade "
        "to Cloudflare's Workers Paid plan if you would like to continue usage."
    ),
    8007: "Input prompt contains NSFW content.",
    5016: (
        "AiError: Prior to using this model, you must submit the prompt 'agree' to accept its "
        "license agreement"
    ),
    7000: "AiError: Internal server error (AI Gateway: the upstream Workers AI call failed)",
}
_AUTH_HEADER = re.compile(r"bearer [^\s]+", re.IGNORECASE)


class _NoRedirects(HTTPRedirectHandler):
    """Webhook deliveries follow no redirect: a 3xx is the receiver's answer, and final."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_WEBHOOK_OPENER = build_opener(_NoRedirects())


@dataclass(frozen=True, repr=False)
class RecordedFile:
    """A file part of a recorded multipart request.

    Example:
        >>> RecordedFile("ref.png", "image/png", b"\\x89PNG")
        RecordedFile(filename='ref.png', content_type='image/png', 4 bytes)
    """

    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return (
            f"RecordedFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"{len(self.data)} bytes)"
        )


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as the emulator received it, and the status it answered.

    ``headers`` has lower-case names; ``fields`` and ``files`` are the multipart parts (empty when
    the body is not multipart). ``status`` is 0 when the emulator dropped the connection, and
    ``model`` is None when the path is not a Workers AI route. The repr leaves out headers and
    body, so a failing assertion never prints the bearer token.

    Example:
        >>> RecordedRequest("POST", "/x", {}, b"", "", {}, {}, 404, None)
        RecordedRequest(POST /x -> 404, model=None, fields=[], files=[])
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    content_type: str
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, RecordedFile] = field(default_factory=dict)
    status: int = 0
    model: str | None = None

    def __repr__(self) -> str:
        return (
            f"RecordedRequest({self.method} {self.path} -> {self.status}, model={self.model!r}, "
            f"fields={sorted(self.fields)}, files={sorted(self.files)})"
        )

    @property
    def json(self) -> Any:
        """The body parsed as JSON (a JSON route's request), or ``None`` when it is not JSON.

        Example:
            >>> RecordedRequest("POST", "/x", {}, b'{"prompt": "a fox"}', "").json
            {'prompt': 'a fox'}
        """
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None


@dataclass(frozen=True, slots=True)
class _Route:
    model: str
    gateway: bool
    universal: bool = False  # /ai/run without a model: the model is named in the JSON body


def _route(path: str) -> _Route | None:
    if _UNIVERSAL.fullmatch(path):
        return _Route(model="", gateway=False, universal=True)
    for pattern, gateway in ((_DIRECT, False), (_GATEWAY, True)):
        match = pattern.fullmatch(path)
        if match is not None:
            # Clients may send "@cf/..." literally or percent-encoded; both name the same model.
            return _Route(model=unquote(match.group("model")), gateway=gateway)
    return None


class _UnreadCoding(ValueError):
    """A body sent in a transfer coding the emulator does not read: whole, but not readable."""


class _BodyTooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes a burst of parallel connects wait for SYN retries (1 s).
    request_queue_size = 128

    def __init__(self, emulator: Emulator, address: tuple[str, int]) -> None:
        self.emulator = emulator
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:  # an IPv6 literal such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine for a fault injector; keep stderr quiet.
        logger.debug("error while handling a request from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle and delayed ACKs add
    # ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections do not pin a thread forever
    server: _Server
    # Headers of the answer being prepared (the placeholder's fonts); reset for each request.
    _answer_headers: dict[str, str] = {}  # noqa: RUF012 - replaced per request, never mutated

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        # Never to stderr: request lines are noise in test output. Headers are never logged.
        logger.debug("%s - " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        if urlsplit(self.path).path.startswith(BFL_PREFIX + "/"):
            self._handle_bfl()
        else:
            self._handle()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, a made-up one) is routed like POST, so it gets the
        # platform's envelope (405 / 7001 on a model route), recorded, not http.server's HTML
        # 501 page.
        if name.startswith("do_"):
            return self.do_POST
        raise AttributeError(name)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(RESULT_PATH_PREFIX):
            self._serve_result()
        elif path.startswith(BFL_PREFIX + "/"):
            self._handle_bfl()
        else:
            self._handle()

    do_HEAD = do_GET  # answered as GET would be, without the body

    # -- the pipeline ------------------------------------------------------------------------

    def _handle(self) -> None:
        arrived = time.monotonic()  # latency counts from here: it is the time to answer
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        route = _route(path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        content_type = headers.get("content-type", "")
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            body=b"",
            content_type=content_type,
            model=route.model if route else None,
        )
        try:
            body = self._read_body()
        except _BodyTooLarge:
            sequence, _ = emulator._state.arrive(emulator.config)
            error = ApiError(413, 3006, "AiError: Request is too large")
            # The unread body is still in the socket, so this connection cannot be reused.
            self.close_connection = True
            self._send_error(error, sequence, route, record)
            return
        except ValueError as exc:
            sequence, _ = emulator._state.arrive(emulator.config)
            self.close_connection = True
            said = "Bad request" if isinstance(exc, _UnreadCoding) else "Incomplete request"
            error = ApiError(400, 3003, f"AiError: {said}: {exc}")
            self._send_error(error, sequence, route, record)
            return
        parts = _parse_for_record(content_type, body)
        record = dataclasses.replace(
            record,
            body=body,
            fields={part.name: part.text("replace") for part in parts or () if not part.is_file},
            files={
                part.name: RecordedFile(part.filename or "", part.content_type, part.data)
                for part in parts or ()
                if part.is_file
            },
            model=_body_model(body) if route is not None and route.universal else record.model,
        )
        try:
            config = self._effective_config(headers)
            header_error = None
        except ValueError as exc:
            config = emulator.config
            header_error = ApiError(400, 5006, f"EmulatorError: {exc}")
        sequence, plan = emulator._state.arrive(config)

        if route is None:
            message = "No route for that URI"
            self._send_error(ApiError(400, 7000, message), sequence, route, record)
        elif self.command != "POST":
            error = ApiError(405, 7001, "Method not allowed", {"Allow": "POST"})
            self._send_error(error, sequence, route, record)
        elif header_error is not None:
            self._send_error(header_error, sequence, route, record)
        else:
            self._answer(route, config, plan, sequence, parts, body, record, arrived)

    def _answer(
        self,
        route: _Route,
        config: EmulatorConfig,
        plan: FaultPlan,
        sequence: int,
        parts: list[FormPart] | None,
        body: bytes,
        record: RecordedRequest,
        arrived: float,
    ) -> None:
        emulator = self.server.emulator
        if plan.dropped:
            emulator._record(sequence, dataclasses.replace(record, status=DROPPED))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # The real work (checks and rendering) happens inside the latency window rather than after
        # it, so latency_ms is the time to answer, as with the real service. Its outcome is held
        # back until the faults that come first in the pipeline have had their say.
        outcome = self._prepare(route, config, plan, parts, record.content_type, body)
        remaining = plan.delay_s - (time.monotonic() - arrived)
        if remaining > 0 and self.server.stopping.wait(remaining):
            return  # the emulator is shutting down; nobody is waiting for this answer
        try:
            retry_after = emulator._state.take_token()
            if retry_after is not None:
                raise ApiError(429, 3040, _CAPACITY, {"Retry-After": str(retry_after)})
            if emulator._state.quota_exhausted():
                raise ApiError(429, 3036, _QUOTA.format(quota=emulator.config.daily_quota))
            if plan.error_status == 504:
                # The edge's answer when the origin does not answer in time: HTML, no code.
                self._send(504, HTML_504_PAGE, "text/html", sequence, route, record)
                return
            if plan.error_status is not None:
                code, message = _INJECTED[plan.error_status]
                raise ApiError(plan.error_status, code, message)
            # 7000 is the gateway's failure: a direct call cannot get it.
            if plan.error_code is not None and (plan.error_code != 7000 or route.gateway):
                code = plan.error_code
                raise ApiError(ERROR_CODES[code], code, _INJECTED_CODES[code])
            if plan.html_502:
                self._send(502, HTML_502_PAGE, "text/html", sequence, route, record)
                return
            if isinstance(outcome, ApiError):
                raise outcome
            if not emulator._state.claim_success():
                raise ApiError(429, 3036, _QUOTA.format(quota=emulator.config.daily_quota))
        except ApiError as error:
            self._send_error(error, sequence, route, record)
            return
        if isinstance(outcome, bytes):  # a whole envelope (the proxied route)
            payload = outcome
        else:
            payload = success_body(
                _INVALID_BASE64
                if plan.invalid_base64
                else _NOT_AN_IMAGE
                if plan.not_an_image
                else outcome
            )
        if plan.malformed_json:
            payload = payload[: len(payload) // 2]  # cut mid-string: never parses as JSON
        self._send(200, payload, "application/json", sequence, route, record, self._answer_headers)

    def _prepare(
        self,
        route: _Route,
        config: EmulatorConfig,
        plan: FaultPlan,
        parts: list[FormPart] | None,
        content_type: str,
        body: bytes,
    ) -> str | bytes | ApiError:
        """The base64 image (or a proxied model's whole answer), or the refusal that the real
        handling would answer."""
        self._answer_headers = {}
        try:
            return self._generate(route, config, plan, parts, content_type, body)
        except ApiError as error:
            return error
        except Exception as exc:
            # A bug in the emulator must look like a server error, not a dropped connection
            # that a client under test would retry and misreport.
            logger.exception("the emulator failed to answer a valid-looking request")
            message = f"AiError: Unknown internal error (emulator: {type(exc).__name__})"
            return ApiError(500, 3043, message)

    def _generate(
        self,
        route: _Route,
        config: EmulatorConfig,
        plan: FaultPlan,
        parts: list[FormPart] | None,
        content_type: str,
        body: bytes,
    ) -> str | bytes:
        self._authenticate(self.server.emulator.config.token)
        if route.universal:
            return self._generate_proxied(config, plan, content_type, body)
        if route.model not in KNOWN_MODELS:
            # Live answers give 400 / 5007 (the reference lists 404 / 3042 as well).
            raise ApiError(400, 5007, f"AiError: No such model {route.model} or task")
        if route.model in JSON_MODELS:
            return self._generate_schnell(config, plan, content_type, body)
        if parts is None:
            parts = parse_form(content_type, body)  # raises the precise 400 for this body
        job = validate_form(
            route.model,
            parts,
            strict_klein_steps=config.strict_klein_steps,
            strict_fields=config.strict_fields,
        )
        seed = plan.image_seed if job.seed is None else job.seed
        self._note_fonts(job.prompt, job.width, job.height)
        return render_base64(
            job.prompt, seed, job.width, job.height, config.image_format, job.inputs
        )

    def _note_fonts(self, prompt: str, width: int, height: int) -> None:
        # The placeholder depends on the fonts installed here: the answer names them, so a
        # client (or a cache) can tell images drawn with different fonts apart.
        self._answer_headers = {FONTS_HEADER: ",".join(rendered_fonts(prompt, width, height))}

    # -- the JSON routes: flux-1-schnell, and the proxied envelope with its result URLs ----------

    def _generate_schnell(
        self, config: EmulatorConfig, plan: FaultPlan, content_type: str, body: bytes
    ) -> str:
        job = validate_schnell(content_type, body)
        self._note_fonts(job.prompt, 1024, 1024)
        return render_base64(job.prompt, plan.image_seed, 1024, 1024, config.image_format)

    def _generate_proxied(
        self, config: EmulatorConfig, plan: FaultPlan, content_type: str, body: bytes
    ) -> bytes:
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise ApiError(400, 5006, "AiError: Bad input: Error: the body must be JSON")
        try:
            document = loads_strict(body, huge_integers=True)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(400, 5006, "AiError: Bad input: Error: the body is not JSON") from None
        job = validate_proxied(document)
        state = self.headers.get("x-emulator-state")
        if state is not None and state != "Completed":
            # A test asks for a generation that ends otherwise (moderated, failed).
            answer = {"state": state, "result": None, "gatewayMetadata": {"keySource": "Unified"}}
            return json.dumps(answer, separators=(",", ":")).encode()
        seed = plan.image_seed if job.seed is None else job.seed
        fmt = job.output_format or config.image_format
        self._note_fonts(job.effective_prompt, job.width, job.height)
        data = render_image(job.effective_prompt, seed, job.width, job.height, fmt)
        media_type = f"image/{fmt}"
        if plan.not_an_image:  # the result URL holds a GIF instead (not_an_image_ratio)
            data, media_type = base64.b64decode(_NOT_AN_IMAGE), "image/gif"
        emulator = self.server.emulator
        ttl = _result_ttl(self.headers.get("x-emulator-result-ttl"), emulator.result_ttl)
        key = emulator._results.put(data, media_type, ttl=ttl)
        extension = "jpg" if fmt == "jpeg" else fmt
        expires = int(time.time() + ttl)
        url = f"http://{emulator._url_host()}:{emulator.port}{RESULT_PATH_PREFIX}{key}.{extension}"
        return proxied_body(f"{url}?se={expires}", job, seed)

    def _serve_result(self) -> None:
        # A signed result URL is fetched without credentials: no auth, no faults, no quota.
        emulator = self.server.emulator
        headers = {name.lower(): value for name, value in self.headers.items()}
        sequence, _ = emulator._state.arrive(emulator.config)
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            body=b"",
            content_type=headers.get("content-type", ""),
        )
        name = urlsplit(self.path).path[len(RESULT_PATH_PREFIX) :]
        found = emulator._results.get(name.rsplit(".", 1)[0])
        if found is None:
            self._send(404, b"no such result\n", "text/plain", sequence, None, record)
        elif found is False:
            # What the reference leaves open; a signed storage URL past its expiry answers 403.
            body = b"the signed result URL has expired\n"
            self._send(403, body, "text/plain", sequence, None, record)
        else:
            assert isinstance(found, tuple)
            self._send(200, found[0], found[1], sequence, None, record)

    # -- the Black Forest Labs mode: /bfl/v1/{endpoint} and /bfl/v1/get_result -----------------

    def _handle_bfl(self) -> None:
        arrived = time.monotonic()
        emulator = self.server.emulator
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        submit = self.command == "POST" and split.path != POLL_PATH
        endpoint = split.path[len(BFL_PREFIX + "/v1/") :] if submit else None
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            body=b"",
            content_type=headers.get("content-type", ""),
            model=endpoint,
        )
        try:
            body = self._read_body(MAX_BFL_BODY_BYTES)
        except (_BodyTooLarge, ValueError) as exc:
            sequence, _ = emulator._state.arrive(emulator.config)
            self.close_connection = True
            refusal = (
                BFLRefusal(413, "Request entity too large")
                if isinstance(exc, _BodyTooLarge)
                else BFLRefusal(400, f"Bad request: {exc}")
                if isinstance(exc, _UnreadCoding)
                else BFLRefusal(400, f"Incomplete request: {exc}")
            )
            self._send_bfl(refusal, sequence, record)
            return
        record = dataclasses.replace(record, body=body)
        try:
            config = self._effective_config(headers)
            header_error = None
        except ValueError as exc:
            config = emulator.config
            header_error = BFLRefusal(422, f"EmulatorError: {exc}")
        sequence, plan = emulator._state.arrive(config)
        if plan.dropped:
            emulator._record(sequence, dataclasses.replace(record, status=DROPPED))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        remaining = plan.delay_s - (time.monotonic() - arrived)
        if remaining > 0 and self.server.stopping.wait(remaining):
            return
        try:
            if header_error is not None:
                raise header_error
            if not split.path.startswith(BFL_PREFIX + "/v1/"):
                raise BFLRefusal(404, "Not Found")
            if self.command not in ("POST", "GET") or (
                split.path == POLL_PATH and self.command != "GET"
            ):
                raise BFLRefusal(405, "Method Not Allowed", {"Allow": "GET, POST"})
            if self.command == "GET" and split.path != POLL_PATH:
                raise BFLRefusal(405, "Method Not Allowed", {"Allow": "POST"})
            self._authenticate_bfl(emulator.config.token)
            if submit:
                assert endpoint is not None
                answer = self._bfl_submit(endpoint, config, plan, headers, body)
            else:
                answer = self._bfl_poll(parse_qs(split.query).get("id", [""])[0], plan)
        except BFLRefusal as refusal:
            self._send_bfl(refusal, sequence, record)
            return
        if answer is None:  # an HTML 502 or 504 from the edge
            page = HTML_504_PAGE if plan.error_status == 504 else HTML_502_PAGE
            status = 504 if plan.error_status == 504 else 502
            self._send(status, page, "text/html", sequence, None, record)
            return
        payload = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        if plan.malformed_json:
            payload = payload[: len(payload) // 2]
        self._send(200, payload, "application/json", sequence, None, record)

    def _bfl_submit(
        self,
        endpoint: str,
        config: EmulatorConfig,
        plan: FaultPlan,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any] | None:
        emulator = self.server.emulator
        try:
            document = loads_strict(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BFLRefusal(422, "the body is not valid JSON") from None
        job = validate_bfl(endpoint, document)
        final = headers.get("x-emulator-status")
        if final is None:
            # Drawn from the request's own image seed: no extra draw from the shared dice, so
            # configuring these ratios leaves every other run's sequence as it was.
            roll = random.Random(plan.image_seed).random()
            threshold = 0.0
            final = "Ready"
            for status in BFL_STATUSES:
                threshold += config.bfl_status_ratios.get(status, 0.0)
                if roll < threshold:
                    final = status
                    break
        try:
            poll_errors = max(0, int(headers.get("x-emulator-poll-errors", "0")))
        except ValueError:
            raise BFLRefusal(
                422, "EmulatorError: x-emulator-poll-errors must be an integer"
            ) from None
        validity = _result_ttl(headers.get("x-emulator-result-ttl"), job.validity)
        task = emulator._bfl.submit(
            job,
            seed=plan.image_seed if job.seed is None else job.seed,
            duration=config.bfl_task_ms / 1000.0,
            final_status=final,
            poll_errors=poll_errors,
            validity=validity,
            cost=cost_of(job),
            not_an_image=plan.not_an_image,
        )
        # Faults come after the task exists: the answer is lost, the task runs (and is paid).
        if job.webhook_url is not None:
            emulator._schedule_webhook(task)
        if plan.error_status is not None and plan.error_status != 504:
            raise BFLRefusal(plan.error_status, "Internal Server Error")
        if plan.error_status == 504 or plan.html_502:
            return None
        answer: dict[str, Any] = {
            "id": task.id,
            "polling_url": f"{emulator.bfl_base_url}/v1/get_result?id={task.id}",
        }
        cost = cost_of(job)
        if cost is not None:
            answer["cost"] = cost
        return answer

    def _bfl_poll(self, task_id: str, plan: FaultPlan) -> dict[str, Any] | None:
        emulator = self.server.emulator
        if emulator._bfl.take_poll_error(task_id):
            raise BFLRefusal(503, "Service Unavailable")
        if plan.error_status is not None and plan.error_status != 504:
            raise BFLRefusal(plan.error_status, "Internal Server Error")
        if plan.error_status == 504 or plan.html_502:
            return None
        task, status = emulator._bfl.status(task_id)
        answer: dict[str, Any] = {"id": task_id, "status": status, "result": None}
        if task is None:
            return answer
        if status == "Ready":
            answer["result"] = emulator._bfl_result(task)
        elif status not in TERMINAL_STATUSES:
            span = max(task.ends_at - task.submitted, 1e-9)
            answer["progress"] = round(min(1.0, (time.monotonic() - task.submitted) / span), 2)
        return answer

    def _authenticate_bfl(self, expected: str | None) -> None:
        key = self.headers.get("x-key")
        if key is None or not key.strip():
            raise BFLRefusal(403, "Not authenticated")
        # compare_digest: the emulator should not teach anyone a timing side channel either.
        if expected is not None and not hmac.compare_digest(
            key.strip().encode(), expected.encode()
        ):
            raise BFLRefusal(403, "Invalid API key")

    def _send_bfl(self, refusal: BFLRefusal, sequence: int, record: RecordedRequest) -> None:
        self._send(
            refusal.status,
            refusal_body(refusal),
            "application/json",
            sequence,
            None,
            record,
            refusal.headers,
        )

    def _authenticate(self, expected: str | None) -> None:
        header = self.headers.get("Authorization")
        if header is None:
            raise ApiError(401, 10000, "Authentication error")
        # Present but not "Bearer <token>" (another scheme, no token, a token with a space in
        # it, a second value): the platform refuses the header itself, before any token check.
        if not _AUTH_HEADER.fullmatch(header.strip()):
            raise ApiError(
                400,
                6003,
                "Invalid request headers",
                chain=((6111, "Invalid format for Authorization header"),),
            )
        token = header.strip()[len("bearer ") :]
        # compare_digest: the emulator should not teach anyone a timing side channel either.
        if expected is not None and not hmac.compare_digest(token.encode(), expected.encode()):
            raise ApiError(401, 10000, "Authentication error")

    def _effective_config(self, headers: dict[str, str]) -> EmulatorConfig:
        config = self.server.emulator.config
        raw = headers.get("x-emulator-config")
        if raw is not None:
            config = parse_override_header(config, raw)
        image_format = headers.get("x-emulator-format")
        if image_format is not None:
            try:
                fmt = parse_format(image_format)
            except ValueError as exc:
                raise ValueError(f"x-emulator-format: {exc}") from None
            config = dataclasses.replace(config, image_format=fmt)
        return config

    # -- reading and writing -----------------------------------------------------------------

    def _read_body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        encodings = self.headers.get_all("Transfer-Encoding") or []
        if encodings:
            # Chunked alone is what the emulator reads. Any other coding (gzip, or gzip then
            # chunked) would be a body it cannot read as sent: refused, never taken as empty
            # or as its coded bytes.
            # An empty element of the list ("chunked,") is nothing, as RFC 9110 reads lists.
            codings = [
                c.strip().lower() for value in encodings for c in value.split(",") if c.strip()
            ]
            if codings != ["chunked"]:
                shown = ", ".join(encodings).strip(" ,")
                said = (
                    f"Transfer-Encoding {shown[:80]!r}" if shown else "an empty Transfer-Encoding"
                )
                raise _UnreadCoding(
                    f"{said} is not read here; send the body with Content-Length, or with "
                    "Transfer-Encoding: chunked alone"
                )
            if self.headers.get("Content-Length") is not None:
                # Both frame the body: chunked wins (RFC 9112), and the connection is not
                # reused, so no byte the two disagree about is read as the next request.
                self.close_connection = True
            return self._read_chunked(limit)
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        raw_length = lengths[0]
        # ASCII digits only (int() would also take "+5", "5_0" and other scripts' digits), and
        # the same in every Content-Length header: two that disagree frame two bodies.
        if any(value.strip() != raw_length.strip() for value in lengths):
            raise ValueError(f"Content-Length headers disagree ({', '.join(map(repr, lengths))})")
        if not raw_length.strip().isdigit() or not raw_length.strip().isascii():
            raise ValueError(f"bad Content-Length {raw_length[:40]!r}")
        length = int(raw_length)
        if length > limit:
            raise _BodyTooLarge
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError(f"body ended after {len(body)} of {length} bytes")
        return body

    def _line(self, what: str) -> bytes:
        """One line of chunked framing, whole: a line longer than the limit is refused, never
        cut, so that its rest is never read as body or as the next request."""
        line = self.rfile.readline(_MAX_FRAMING_LINE + 1)
        if len(line) > _MAX_FRAMING_LINE:
            raise ValueError(f"a {what} longer than {_MAX_FRAMING_LINE:,} bytes")
        if not line.endswith(b"\n"):
            raise ValueError(f"the body ended inside a {what}")
        return line

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self._line("chunk size line")
            digits = line.split(b";", 1)[0].strip()
            # Hex digits only: int(..., 16) would also take "-5", "+5", "0x5" and "5_0".
            if not digits or digits.strip(b"0123456789abcdefABCDEF"):
                raise ValueError("bad chunk size line")
            size = int(digits, 16)
            if size == 0:
                # Trailers, then the final CRLF: as many as a request's headers may be.
                for _ in range(_MAX_TRAILERS + 1):
                    if not self._line("trailer").strip():
                        return b"".join(chunks)
                raise ValueError(f"more than {_MAX_TRAILERS} trailer lines")
            total += size
            if total > limit:
                raise _BodyTooLarge
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ValueError(f"body ended inside a chunk, after {len(chunk)} of {size} bytes")
            if self.rfile.readline(8) not in (b"\r\n", b"\n"):
                raise ValueError("a chunk is not followed by CRLF")
            chunks.append(chunk)

    def _send_error(
        self, error: ApiError, sequence: int, route: _Route | None, record: RecordedRequest
    ) -> None:
        body = error_body(error)
        self._send(error.status, body, "application/json", sequence, route, record, error.headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        sequence: int,
        route: _Route | None,
        record: RecordedRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        emulator = self.server.emulator
        # Recorded before the bytes go out, so a client that reads emu.requests right after its
        # response returns always finds its own request there.
        emulator._record(sequence, dataclasses.replace(record, status=status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("cf-ray", ray_id(emulator.config.seed, sequence))
        if route is not None and route.gateway:
            self.send_header("cf-aig-cache-status", "MISS")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _body_model(body: bytes) -> str | None:
    # The universal route names its model in the body; the record says which, when it can.
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    model = document.get("model") if isinstance(document, dict) else None
    return model if isinstance(model, str) else None


def _result_ttl(raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        ttl = float(raw)
    except ValueError:
        return default
    # Finite only: an infinite validity has no expiry second to write into the URL.
    return ttl if 0 <= ttl < 10**9 else default


def _parse_for_record(content_type: str, body: bytes) -> list[FormPart] | None:
    # Parsed once, up front, so that even a faulted or refused request is recorded with its
    # fields; None tells the pipeline to parse again and report the precise error.
    if not is_multipart(content_type):
        return None
    try:
        return parse_form(content_type, body)
    except ApiError:
        return None


class Emulator:
    """A local Workers AI emulator on a background thread, speaking real HTTP on 127.0.0.1.

    Use it as a context manager (or :func:`serve`); ``base_url`` is what a client puts in place
    of ``https://api.cloudflare.com/client/v4``.

    Example:
        >>> with Emulator(EmulatorConfig(seed=3)) as emu:
        ...     emu.base_url.startswith("http://127.0.0.1:") and emu.base_url.endswith("/client/v4")
        True
    """

    def __init__(self, config: EmulatorConfig | None = None, *, result_ttl: float = 600.0) -> None:
        self._config = config or EmulatorConfig()
        #: Seconds a proxied model's result URL stays valid (BFL's signed URLs: 10 minutes).
        #: A request may shorten it with the ``x-emulator-result-ttl`` header.
        self.result_ttl = result_ttl
        self._results = ResultStore()
        self._state = RequestState(self._config)
        self._bfl = TaskBoard(self._config.bfl_max_active, self._config.bfl_credits)
        self._webhooks: list[threading.Timer] = []
        self._webhooks_lock = threading.Lock()
        self._records: dict[int, RecordedRequest] = {}
        self._records_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"Emulator({where}, {self._config!r})"

    @property
    def config(self) -> EmulatorConfig:
        """The configuration every request starts from."""
        return self._config

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._require_server().server_address[0])

    @property
    def port(self) -> int:
        """The port the server is bound to (the free one picked when the config says 0)."""
        return int(self._require_server().server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/client/v4``: the stand-in for ``https://api.cloudflare.com/client/v4``."""
        return f"http://{self._url_host()}:{self.port}/client/v4"

    @property
    def gateway_base_url(self) -> str:
        """``http://HOST:PORT/gateway/v1``: the stand-in for ``https://gateway.ai.cloudflare.com/v1``."""
        return f"http://{self._url_host()}:{self.port}/gateway/v1"

    @property
    def bfl_base_url(self) -> str:
        """``http://HOST:PORT/bfl``: the stand-in for ``https://api.bfl.ai`` (Black Forest Labs)."""
        return f"http://{self._url_host()}:{self.port}{BFL_PREFIX}"

    @property
    def bfl_tasks(self) -> list[BFLTaskInfo]:
        """The Black Forest Labs tasks submitted so far, in submit order."""
        return self._bfl.infos()

    @property
    def bfl_credits(self) -> float | None:
        """The Black Forest Labs account's credits left (``None``: ``bfl_credits`` sets no limit).

        Example:
            >>> with serve(bfl_credits=10) as emu:
            ...     emu.bfl_credits
            10
        """
        return self._bfl.credits

    def finish_bfl_tasks(self, *, result_ttl: float | None = None) -> int:
        """End every running Black Forest Labs task now, as if its time had passed (tests that
        resume a batch need not wait); ``result_ttl`` also sets how long their result URLs stay
        valid once Ready (``0``: expired at once). Returns how many were running.

        Example:
            >>> with serve() as emu:
            ...     emu.finish_bfl_tasks()
            0
        """
        return self._bfl.finish_all(result_ttl=result_ttl)

    def _bfl_result(self, task: Any) -> dict[str, Any]:
        """A Ready task's ``result``: its image stored once, behind a URL that expires
        ``validity`` seconds after the task was Ready."""
        job = task.job
        fmt = job.output_format or self._config.image_format
        if task.result_key is None:
            data = render_image(job.effective_prompt, task.seed, job.width, job.height, fmt)
            media_type = f"image/{fmt}"
            if task.not_an_image:  # the result URL holds a GIF instead (not_an_image_ratio)
                data, media_type = base64.b64decode(_NOT_AN_IMAGE), "image/gif"
            key = self._results.put(data, media_type, ttl=self._bfl.ready_left(task))
            self._bfl.claim_result(task, key)
        extension = "jpg" if fmt == "jpeg" else fmt
        expires = int(time.time() + self._bfl.ready_left(task))
        url = f"http://{self._url_host()}:{self.port}{RESULT_PATH_PREFIX}{task.result_key}"
        result: dict[str, Any] = {
            "sample": f"{url}.{extension}?se={expires}",
            "prompt": job.effective_prompt,
        }
        if not job.endpoint.startswith("flux-3"):
            # FLUX 3 takes no seed, so it reports none: the seed that drew the placeholder is
            # the emulator's own, and could not be sent back to reproduce the image.
            result["seed"] = task.seed
        return result

    def _schedule_webhook(self, task: Any) -> None:
        delay = max(0.0, task.ends_at - time.monotonic())
        timer = threading.Timer(delay, self._deliver_webhook, args=(task,))
        timer.daemon = True
        with self._webhooks_lock:
            self._webhooks = [t for t in self._webhooks if t.is_alive()]
            self._webhooks.append(timer)
        timer.start()

    def _deliver_webhook(self, task: Any) -> None:
        """Post a finished task to its ``webhook_url`` (loopback only: a local tool posts to no
        other machine), signed with ``webhook_secret`` as ``X-BFL-Signature: sha256=<hex>``."""
        job = task.job
        host = urlsplit(job.webhook_url).hostname or ""
        if host not in ("127.0.0.1", "::1", "localhost") or self._server is None:
            logger.info("webhook to %s not delivered: the emulator posts to loopback only", host)
            return
        status = task.final_status
        if status not in TERMINAL_STATUSES:
            return  # a task left in a status of its own never ends: nothing to deliver
        document: dict[str, Any] = {"id": task.id, "status": status, "result": None}
        if status == "Ready":
            document["result"] = self._bfl_result(task)
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if job.webhook_secret:
            headers["X-BFL-Signature"] = sign(body, job.webhook_secret)
        try:
            # No redirects: a loopback receiver answering 3xx must not send the signed
            # delivery (or a GET carrying its headers) on to another machine.
            with _WEBHOOK_OPENER.open(
                Request(job.webhook_url, body, headers, method="POST"), timeout=5
            ):
                pass
        except (OSError, ValueError):
            logger.info("webhook to %s failed", job.webhook_url, exc_info=True)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the answered requests, in arrival order."""
        with self._records_lock:
            return [self._records[key] for key in sorted(self._records)]

    def reset(self) -> None:
        """Forget recorded requests, the rate-limit bucket, the quota and BFL credits used; reseed
        the dice."""
        with self._records_lock:
            self._records.clear()
        self._results.clear()
        self._state.reset()
        self._bfl.clear()

    def start(self) -> Emulator:
        """Bind and start serving on a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server(self, (self._config.host, self._config.port))
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # bounds how long stop() waits
            name=f"flux2prompt-emulator-{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        with self._webhooks_lock:
            for timer in self._webhooks:
                timer.cancel()
            self._webhooks.clear()
        server.stopping.set()
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, sequence: int, record: RecordedRequest) -> None:
        with self._records_lock:
            self._records[sequence] = record

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the emulator is not running; use start() or a with block")
        return self._server

    def _url_host(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):  # bound everywhere: use loopback
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host


def _resolve(config: EmulatorConfig | None, overrides: dict[str, Any]) -> EmulatorConfig:
    config = config or EmulatorConfig()
    return dataclasses.replace(config, **overrides) if overrides else config


@contextlib.contextmanager
def serve(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[Emulator]:
    """Run an emulator in this process for the duration of a ``with`` block.

    Keyword arguments override fields of ``config``; ``result_ttl`` is the seconds a proxied
    model's result URL stays valid (see :class:`Emulator`).

    Example:
        >>> with serve(latency_ms=0, seed=1, result_ttl=0.5) as emu:
        ...     emu.requests, emu.result_ttl
        ([], 0.5)
    """
    result_ttl = float(overrides.pop("result_ttl", 600.0))
    with Emulator(_resolve(config, overrides), result_ttl=result_ttl) as emulator:
        yield emulator


def listen_failure(config: EmulatorConfig, exc: OSError) -> str:
    """One line saying why the emulator could not listen, for the two command lines.

    >>> listen_failure(EmulatorConfig(port=8787), OSError(98, "Address already in use"))
    'cannot listen on 127.0.0.1:8787: Address already in use; pick another --port (0 picks a free one)'
    """  # noqa: E501
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = "pick another --port (0 picks a free one)"
    if isinstance(exc, socket.gaierror):
        hint = "check --host (an address such as 127.0.0.1 or 0.0.0.0)"
    return f"cannot listen on {config.host}:{config.port}: {reason}; {hint}"


def serve_forever(config: EmulatorConfig | None = None, *, out: TextIO | None = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, after printing the listening line.

    The line is ``flux2prompt emulator listening on http://HOST:PORT/client/v4``; ``spawn()``
    and scripts parse it to learn the port. Both command lines end up here.
    """
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    # Signal handlers can only be installed from the main thread; elsewhere Ctrl+C still works.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        with Emulator(config) as emulator:
            stream = out if out is not None else sys.stdout
            print(f"flux2prompt emulator listening on {emulator.base_url}", file=stream, flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
