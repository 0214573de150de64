"""An adversarial pass over the Workers AI clients: a hostile server, caller and network.

Each case runs the blocking and the async client alike against a loopback server that
misbehaves on purpose (the raw-socket server of ``test_transport_hostile.py``) and checks that
both give the same error, with the same words and the same retry decision, and that the API
token survives in no message, traceback or exception chain.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import pickle
import socket
import struct
import time
import traceback
from collections.abc import Callable

import httpx
import pytest

from flux2prompt.emulator import serve
from flux2prompt.transport import (
    APIError,
    APIStatusError,
    AsyncWorkersAI,
    CapacityError,
    ConfigurationError,
    GatewayOptions,
    GenerationStateError,
    ImageError,
    ImageResult,
    InvalidInputError,
    ParameterError,
    PossiblyBilledError,
    RateLimitError,
    ResponseError,
    WorkersAI,
    build_request,
)
from flux2prompt.transport._errors import make_status_error, parse_retry_after

from .test_transport_hostile import (
    PNG,
    Handler,
    Hostile,
    MiB,
    _head,
    answer,
    image_envelope,
    trickle,
)

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"


def _sync(base_url: str, **options: object) -> APIError:
    options.setdefault("max_retries", 0)
    with (
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=base_url, **options) as c,  # type: ignore[arg-type]
        pytest.raises(APIError) as info,
    ):
        c.generate("a fox", width=256, height=256)
    return info.value


def _async(base_url: str, **options: object) -> APIError:
    options.setdefault("max_retries", 0)

    async def run() -> None:
        async with AsyncWorkersAI(
            account_id=ACCOUNT,
            api_token=TOKEN,
            base_url=base_url,
            **options,  # type: ignore[arg-type]
        ) as c:
            await c.generate("a fox", width=256, height=256)

    with pytest.raises(APIError) as info:
        asyncio.run(run())
    return info.value


def both(handler: Handler, **options: object) -> tuple[APIError, APIError, int, int]:
    """The errors of the blocking and the async client against ``handler``, and how many
    requests each sent."""
    with Hostile(handler) as server:
        sync = _sync(server.base_url, **options)
        sent_sync = len(server.requests)
        asynchronous = _async(server.base_url, **options)
        sent_async = len(server.requests) - sent_sync
    return sync, asynchronous, sent_sync, sent_async


def generate(client: WorkersAI | AsyncWorkersAI, prompt: str, **options: object) -> object:
    """``client.generate(prompt, **options)``, run to its end whichever client it is."""
    return finish(client, client.generate(prompt, **options))  # type: ignore[arg-type]


def finish(client: WorkersAI | AsyncWorkersAI, outcome: object) -> object:
    """What a call on ``client`` gave (an async client's coroutine run to its end), with the
    client closed."""
    if asyncio.iscoroutine(outcome):

        async def run() -> object:
            assert isinstance(client, AsyncWorkersAI)
            async with client:
                return await outcome

        return asyncio.run(run())
    assert isinstance(client, WorkersAI)
    client.close()
    return outcome


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    return seen


def assert_no_token(error: BaseException) -> None:
    texts = ["".join(traceback.format_exception(error))]
    for link in _chain(error):
        texts += [str(link), repr(link), repr(link.args)]
        texts += [repr(v) for k, v in vars(link).items() if k != "_request"]
    if isinstance(error, APIError):
        texts.append(repr(vars(pickle.loads(pickle.dumps(error)))))
    for text in texts:
        assert TOKEN not in text
        assert TOKEN[4:20] not in text


def _authorization(request: bytes) -> bytes:
    line = next(x for x in request.split(b"\r\n") if x.lower().startswith(b"authorization:"))
    return line.partition(b":")[2].strip()


def _close(conn: socket.socket) -> None:
    conn.close()
    raise OSError("closed by the test server")


# -- the token in the exception chain --------------------------------------------------------


def reflect_in_status_line(conn: socket.socket, request: bytes, server: Hostile) -> None:
    # A status line httpx cannot parse: h11 quotes the bytes it refused in its message.
    conn.sendall(b"XTTP/1.1 200 " + _authorization(request) + b"\r\n\r\n")
    _close(conn)


def reflect_in_chunk_header(conn: socket.socket, request: bytes, server: Hostile) -> None:
    head = _head("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    conn.sendall(head + _authorization(request) + b"\r\n")
    _close(conn)


@pytest.mark.parametrize("handler", [reflect_in_status_line, reflect_in_chunk_header])
def test_a_token_reflected_into_a_parse_error_reaches_no_exception_chain(
    handler: Handler,
) -> None:
    sync, asynchronous, _, _ = both(handler)
    for error in (sync, asynchronous):
        assert error.__cause__ is not None  # the httpx error is kept, scrubbed
        assert "***" in "".join(traceback.format_exception(error))
        assert_no_token(error)
    assert type(sync) is type(asynchronous)
    assert str(sync) == str(asynchronous)


# -- parity of the words of a transport failure ----------------------------------------------


def reset_after_request(conn: socket.socket, request: bytes, server: Hostile) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(conn)


def test_a_reset_after_the_request_reads_the_same_from_both_clients() -> None:
    sync, asynchronous, sent_sync, sent_async = both(reset_after_request, max_retries=2)
    assert type(sync) is type(asynchronous)
    assert str(sync) == str(asynchronous)
    assert "[Errno 104] Connection reset by peer" in str(sync)
    # Sent whole, then reset: it may have run, so neither client resends it.
    assert (sent_sync, sent_async) == (1, 1)
    assert sync.may_have_been_billed
    assert asynchronous.may_have_been_billed


def test_a_refused_connection_reads_the_same_from_both_clients() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{probe.getsockname()[1]}/client/v4"
    sync, asynchronous = _sync(base_url), _async(base_url)
    assert type(sync) is type(asynchronous)
    assert str(sync) == str(asynchronous)
    assert "Connection refused" in str(sync)
    assert (sync.attempts, asynchronous.attempts) == (0, 0)


# -- hostile callers: every bad option refused before anything is sent ----------------------


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        # A dot segment is normalised away: '..' would send the token to another path.
        ({"account_id": ".."}, ParameterError, "account_id must be a single URL path segment"),
        ({"account_id": "."}, ParameterError, "not '.' or '..'"),
        ({"account_id": "acc\\..\\x"}, ParameterError, "account_id must be a single URL"),
        ({"account_id": 1234}, ParameterError, "account_id must be a string"),
        ({"gateway": ".."}, ParameterError, "gateway must be a single URL path segment"),
        ({"gateway": 7}, ParameterError, "gateway must be a string"),
        ({"base_url": 8787}, ConfigurationError, "base_url must be a string"),
        (
            {"gateway": "g", "gateway_base_url": b"https://x"},
            ConfigurationError,
            "gateway_base_url",
        ),
        # The request paths are appended: after '?' or '#' they are no longer a path.
        ({"base_url": "https://proxy.example/client/v4?x=1"}, ConfigurationError, "no query"),
        ({"base_url": "https://proxy.example/client/v4#top"}, ConfigurationError, "fragment"),
        ({"timeout": httpx.Timeout(-1.0)}, ParameterError, "timeout must be seconds"),
        ({"timeout": httpx.Timeout(5.0, read=math.nan)}, ParameterError, "read=nan"),
        ({"timeout": httpx.Timeout(5.0, connect=math.inf)}, ParameterError, "connect=inf"),
        ({"timeout": httpx.Timeout(0)}, ParameterError, "timeout must be seconds"),
        ({"resize_images": "no"}, ParameterError, "resize_images must be True or False"),
    ],
)
def test_a_bad_option_is_refused_when_the_client_is_made(
    cls: type[WorkersAI] | type[AsyncWorkersAI],
    options: dict[str, object],
    error: type[Exception],
    words: str,
) -> None:
    options = {"account_id": ACCOUNT, "api_token": TOKEN, **options}
    with pytest.raises(error) as info:
        cls(**options)  # type: ignore[arg-type]
    assert type(info.value) is error
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert_no_token(info.value)
    if isinstance(info.value, ParameterError):
        assert info.value.parameter in options


def test_with_options_refuses_the_same_bad_options() -> None:
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN) as client:
        with pytest.raises(ParameterError, match="account_id must be a single URL path segment"):
            client.with_options(account_id="..")
        with pytest.raises(ParameterError, match="read=-1"):
            client.with_options(timeout=httpx.Timeout(5.0, read=-1))


def test_build_request_refuses_a_dot_account_and_a_non_flag_resize() -> None:
    with pytest.raises(ParameterError, match="account_id must be a single URL path segment"):
        build_request("a fox", account_id="..")
    with pytest.raises(ParameterError, match="resize_images must be True or False"):
        build_request("a fox", resize_images="no")  # type: ignore[arg-type]


# -- hostile error answers: one clear line, whatever the server sends ------------------------


def assert_same(sync: APIError, asynchronous: APIError) -> None:
    assert type(sync) is type(asynchronous)
    assert str(sync) == str(asynchronous)
    assert (sync.attempts, sync.may_have_been_billed) == (
        asynchronous.attempts,
        asynchronous.may_have_been_billed,
    )


def envelope(message: object, code: object = 5006, **extra: object) -> bytes:
    error = {"code": code, "message": message, **extra}
    return json.dumps({"success": False, "errors": [error]}).encode()


def test_a_huge_server_message_is_cut_to_a_readable_line() -> None:
    sync, asynchronous, _, _ = both(answer("400 Bad Request", envelope("A" * 900_000)))
    assert_same(sync, asynchronous)
    assert isinstance(sync, InvalidInputError)
    assert len(str(sync)) < 1500
    assert "(899,500 more characters)" in str(sync)
    assert len(sync.body) == 2000  # the start of the body is kept for whoever needs it


def test_a_server_message_on_many_lines_is_shown_on_one() -> None:
    message = "Bad input:\n  width\r\n\t is \x1b[2Jout of range\u202e"
    sync, asynchronous, _, _ = both(answer("400 Bad Request", envelope(message)))
    assert_same(sync, asynchronous)
    text = str(sync)
    assert "\n" not in text
    assert "\r" not in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "Bad input: width is \\x1b[2Jout of range\\u202e" in text


def test_an_object_as_a_message_is_shown_as_json() -> None:
    error = make_status_error(400, {}, envelope({"property": "width", "max": 1920}))
    assert error.message == '{"property": "width", "max": 1920}'


@pytest.mark.parametrize("cut", [6, 12, 25])
def test_a_token_cut_by_the_body_limit_leaves_no_part_of_it(cut: int) -> None:
    # The 2,000 characters of `body` end `cut` characters into the reflected token.
    prefix = b'{"success": false, "errors": [{"code": 5006, "message": "'
    padded = envelope("x" * (2000 - cut - len(prefix)) + TOKEN + " refused")
    assert padded.index(TOKEN.encode()) == 2000 - cut
    sync, asynchronous, _, _ = both(answer("400 Bad Request", padded))
    assert_same(sync, asynchronous)
    for error in (sync, asynchronous):
        assert isinstance(error, APIStatusError)
        assert_no_token(error)
        assert TOKEN[:cut] not in error.body


def test_a_token_cut_by_the_description_of_a_page_leaves_no_part_of_it() -> None:
    # The description quotes 200 characters of the text: it ends inside the token.
    page = ("<p>" + "y" * 170 + " " + TOKEN + " was refused</p>").encode()
    sync, asynchronous, _, _ = both(answer("502 Bad Gateway", page, Content_Type="text/plain"))
    assert_same(sync, asynchronous)
    for error in (sync, asynchronous):
        assert_no_token(error)
        assert TOKEN[:20] not in str(error)
        assert "a non-JSON text/plain body" in str(error)


def test_an_error_body_declared_over_a_mib_is_read_as_far_as_its_first_mib() -> None:
    huge = b'{"success": false, "errors": [{"code": 3003, "message": "' + b"z" * (2 * MiB)
    sync, asynchronous, _, _ = both(answer("400 Bad Request", huge + b'"}]}'))
    assert_same(sync, asynchronous)
    assert "empty body" not in str(sync)
    assert "cut off after 1,048,576 bytes: the body is larger" in str(sync)
    assert sync.body.startswith('{"success": false')


@pytest.mark.parametrize(
    ("chain", "shown"),
    [
        ([{"code": 6111, "message": None}], "(code 6111)"),
        ([{"code": 6111, "message": ""}], "(code 6111)"),
        ([{"code": "6111", "message": "Invalid format"}], "(code 6111: Invalid format)"),
        ([{"message": {"header": "Authorization"}}], '({"header": "Authorization"})'),
        ([5, [], {}, {"code": None}, {"code": 6111, "message": "x"}], "(code 6111: x)"),
        ([{"code": 1, "message": "line\nbreak " + "q" * 400}], "(code 1: line break qqq"),
    ],
)
def test_odd_error_chains_are_shown_plainly(chain: list[object], shown: str) -> None:
    body = envelope("Invalid request headers", 6003, error_chain=chain)
    sync, asynchronous, _, _ = both(answer("400 Bad Request", body))
    assert_same(sync, asynchronous)
    text = str(sync)
    assert shown in text
    assert "(None)" not in text
    assert ": )" not in text
    assert "\n" not in text
    assert len(text) < 1000


def test_a_code_a_proxy_sent_as_a_string_still_picks_the_error() -> None:
    assert isinstance(make_status_error(400, {}, envelope("Bad input", "5006")), InvalidInputError)
    assert isinstance(make_status_error(429, {}, envelope("Capacity", 3040.0)), CapacityError)
    assert make_status_error(400, {}, envelope("m", "50x6")).code is None
    assert make_status_error(400, {}, envelope("m", "9" * 40)).code is None


# -- Retry-After in every form ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["soon", "", "-5", "nan", "inf", "Mon, 99 Foo 2026", "1e3x", "1_0", "0x10"]
)
def test_a_429_without_code_or_usable_retry_after_is_not_retried(
    value: str, no_sleep: list[float]
) -> None:
    sync, asynchronous, sent_sync, sent_async = both(
        answer("429 Too Many Requests", b"{}", Retry_After=value), max_retries=3
    )
    assert_same(sync, asynchronous)
    assert isinstance(sync, RateLimitError)
    assert (sent_sync, sent_async) == (1, 1)
    assert no_sleep == []


@pytest.mark.parametrize("value", ["2", "0", "1.5"])
def test_a_429_without_code_but_with_retry_after_is_retried(
    value: str, no_sleep: list[float]
) -> None:
    _, _, sent_sync, sent_async = both(
        answer("429 Too Many Requests", b"{}", Retry_After=value), max_retries=2
    )
    assert (sent_sync, sent_async) == (3, 3)
    assert no_sleep == [float(value)] * 4


@pytest.mark.parametrize("value", ["9" * 300, "Fri, 31 Dec 9999 23:59:59 GMT", "9" * 30])
def test_a_retry_after_of_centuries_is_not_waited_and_reads_short(
    value: str, no_sleep: list[float]
) -> None:
    sync, asynchronous, sent_sync, sent_async = both(
        answer("503 Service Unavailable", b"{}", Retry_After=value), max_retries=2
    )
    assert_same(sync, asynchronous)
    assert (sent_sync, sent_async) == (1, 1)
    assert no_sleep == []
    assert sync.retry_after_seconds is not None
    assert sync.retry_after_seconds > 1e9
    assert len(str(sync)) < 600
    assert "e+" in str(sync)


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["301 Moved Permanently", "307 Temporary Redirect"])
def test_a_redirect_is_not_followed_and_says_to_fix_the_base_url(status: str) -> None:
    handler = answer(status, b"", Location="https://api.example.net/client/v4/x")
    sync, asynchronous, sent_sync, sent_async = both(handler, max_retries=2)
    assert_same(sync, asynchronous)
    assert (sent_sync, sent_async) == (1, 1)
    assert "redirect to 'https://api.example.net/client/v4/x'" in str(sync)
    assert "set base_url (CLOUDFLARE_BASE_URL)" in str(sync)


# -- a reused connection closed after the server held the request ----------------------------


def held_then_closed(hold: float) -> Handler:
    """Answer the first request (keep-alive); read the second whole, hold it ``hold`` seconds
    (long enough to run a model), then close without a byte; answer later ones."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        if len(server.requests) == 2:
            time.sleep(hold)
            _close(conn)
        answer("200 OK", image_envelope())(conn, request, server)

    return handle


def _twice(cls: type[WorkersAI] | type[AsyncWorkersAI], server: Hostile) -> APIError | None:
    """Generate twice on one client (the second reuses the connection); the second's error."""
    options = {"account_id": ACCOUNT, "api_token": TOKEN, "base_url": server.base_url}
    if cls is WorkersAI:
        with WorkersAI(max_retries=0, **options) as client:
            client.generate("a fox", width=256, height=256)
            try:
                client.generate("a fox", width=256, height=256, seed=2)
            except APIError as exc:
                return exc
        return None

    async def run() -> APIError | None:
        async with AsyncWorkersAI(max_retries=0, **options) as client:
            await client.generate("a fox", width=256, height=256)
            try:
                await client.generate("a fox", width=256, height=256, seed=2)
            except APIError as exc:
                return exc
        return None

    return asyncio.run(run())


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
def test_a_reused_connection_closed_after_holding_the_request_is_not_resent(
    cls: type[WorkersAI] | type[AsyncWorkersAI], no_sleep: list[float]
) -> None:
    # Whole, on a reused connection, then 1 s of silence and a close: the server had the
    # request that long, so the model may have run. Resending it could bill it twice.
    with Hostile(held_then_closed(1.0)) as server:
        error = _twice(cls, server)
        assert len(server.requests) == 2
    assert isinstance(error, PossiblyBilledError)
    assert error.risk == "disconnected"
    assert error.resubmitted == 0
    assert no_sleep == []


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
def test_a_reused_connection_closed_at_once_is_still_resent_once(
    cls: type[WorkersAI] | type[AsyncWorkersAI], no_sleep: list[float]
) -> None:
    with Hostile(held_then_closed(0.0)) as server:
        assert _twice(cls, server) is None
        assert len(server.requests) == 3
    assert no_sleep == []


# -- hostile callers: images Pillow holds but cannot write as they are -----------------------


@pytest.mark.parametrize("mode", ["CMYK", "F", "I", "LAB", "HSV", "YCbCr", "PA", "RGBa"])
@pytest.mark.parametrize("side", [64, 700], ids=["small", "downscaled"])
def test_a_pillow_image_in_any_mode_is_sent_as_a_png(mode: str, side: int) -> None:
    from PIL import Image

    image = build_request("image 0 on a table", images=[Image.new(mode, (side, side))]).images[0]
    assert image.format == "png"
    assert (image.width, image.height) == (min(side, 512),) * 2
    with Image.open(io.BytesIO(image.data)) as sent:
        assert sent.format == "PNG"
        assert sent.size == (image.width, image.height)


def test_a_tiff_in_cmyk_is_sent_as_a_png() -> None:
    from PIL import Image

    tiff = io.BytesIO()
    Image.new("CMYK", (40, 30)).save(tiff, format="TIFF")
    image = build_request("image 0", images=[tiff.getvalue()]).images[0]
    assert (image.format, image.width, image.height) == ("png", 40, 30)


def _cut_png() -> object:
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (700, 700), "teal").save(png, format="PNG")
    return Image.open(io.BytesIO(png.getvalue()[:200]))  # opened lazily: its pixels are cut


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: __import__("PIL.Image").Image.new("RGB", (0, 600)), "is 0x600: an image needs"),
        (lambda: __import__("PIL.Image").Image.new("RGB", (0, 0)), "is 0x0: an image needs"),
        (_cut_png, "could not be encoded as PNG (image file is truncated)"),
    ],
    ids=["zero-width", "empty", "truncated"],
)
def test_a_pillow_image_that_cannot_be_sent_is_refused_before_sending(
    cls: type[WorkersAI] | type[AsyncWorkersAI], make: Callable[[], object], words: str
) -> None:
    with serve(seed=0, token=TOKEN) as emu:
        client = cls(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url)
        with pytest.raises(ImageError) as info:
            generate(client, "image 0", images=[make()])
        assert emu.requests == []
    assert info.value.parameter == "images[0]"
    assert words in str(info.value)


# -- a proxied model's hostile envelope --------------------------------------------------------


def proxied_answer(payload: object) -> Handler:
    return answer("200 OK", json.dumps(payload).encode())


def _proxied_errors(handler: Handler) -> tuple[APIError, APIError]:
    with Hostile(handler) as server:
        errors = []
        for cls in (WorkersAI, AsyncWorkersAI):
            client = cls(
                account_id=ACCOUNT, api_token=TOKEN, base_url=server.base_url, max_retries=0
            )
            with pytest.raises(APIError) as info:
                generate(client, "a fox", model="flex", width=64, height=64)
            errors.append(info.value)
        assert len(server.requests) == 2  # once each: never resent
    return errors[0], errors[1]


def test_a_state_of_any_length_reads_short() -> None:
    sync, asynchronous = _proxied_errors(proxied_answer({"state": "X\n" * 50_000}))
    assert_same(sync, asynchronous)
    assert isinstance(sync, GenerationStateError)
    assert sync.state == "X\n" * 50_000  # kept whole on the error
    assert len(str(sync)) < 600
    assert "\n" not in str(sync)


def test_a_failed_state_shows_what_the_envelope_says_of_it() -> None:
    payload = {"state": "Failed", "errors": [{"message": f"Content moderated for {TOKEN}"}]}
    sync, asynchronous = _proxied_errors(proxied_answer(payload))
    assert_same(sync, asynchronous)
    assert "ended in state 'Failed', not 'Completed' (Content moderated for ***)" in str(sync)
    assert_no_token(sync)


# -- a trickling network: the deadline reads the same from both clients ----------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickle_cut_by_the_deadline_reads_the_same_from_both_clients(
    headers_too: bool,
) -> None:
    sync, asynchronous, sent_sync, sent_async = both(
        trickle(0.05, headers_too=headers_too), deadline=0.6, max_retries=2
    )
    assert_same(sync, asynchronous)
    assert isinstance(sync, PossiblyBilledError)
    assert "within the deadline of 0.6 s" in str(sync)
    assert (sent_sync, sent_async) == (1, 1)


# -- the token reflected into the logs of httpx and httpcore ---------------------------------


def reflect_in_status_and_headers(conn: socket.socket, request: bytes, server: Hostile) -> None:
    # A valid answer whose reason phrase and a header echo the Authorization header: httpx
    # logs the status line at INFO, httpcore the headers at DEBUG.
    auth = _authorization(request)
    body = image_envelope()
    head = b"HTTP/1.1 200 " + auth + b"\r\nX-Echo: " + auth + b"\r\n"
    head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    conn.sendall(head + body)


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
def test_a_token_reflected_in_an_answer_reaches_no_log_of_httpx_or_httpcore(
    cls: type[WorkersAI] | type[AsyncWorkersAI], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Hostile(reflect_in_status_and_headers) as server:
        client = cls(account_id=ACCOUNT, api_token=TOKEN, base_url=server.base_url)
        result = generate(client, "a fox", width=256, height=256)
    assert isinstance(result, ImageResult)
    names = {record.name for record in caplog.records}
    assert {"httpx", "httpcore.http11"} <= names  # they did log the answer
    assert "Bearer ***" in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert TOKEN not in caplog.text


# -- AI Gateway: its options and its own token ---------------------------------------------------


GATEWAY_TOKEN = "gw-SECRET-91c4e0aa-never-print-me"


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"team": "a\ud800b"}, "entry 'team' holds a lone surrogate"),
        ({"\udc80": "x"}, "holds a lone surrogate"),
        ({"n": 10**5000}, "got n=an integer of 16610 bits"),
        ({"n": 2**53}, "integers below 2**53"),
    ],
)
def test_gateway_metadata_the_gateway_cannot_read_is_refused(
    metadata: dict[str, object], words: str
) -> None:
    with pytest.raises(ParameterError) as info:
        GatewayOptions(metadata=metadata)  # type: ignore[arg-type]
    assert info.value.parameter == "gateway_options.metadata"
    assert words in str(info.value)
    assert len(str(info.value)) < 300


def echo_every_header(conn: socket.socket, request: bytes, server: Hostile) -> None:
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    body = json.dumps({"success": False, "errors": [{"code": 10000, "message": head}]})
    answer("401 Unauthorized", body.encode())(conn, request, server)


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
def test_an_echoed_gateway_token_reaches_no_error(
    cls: type[WorkersAI] | type[AsyncWorkersAI],
) -> None:
    options = GatewayOptions(authorization=GATEWAY_TOKEN)
    with Hostile(echo_every_header) as server:
        client = cls(
            account_id=ACCOUNT,
            api_token=TOKEN,
            gateway="images",
            gateway_base_url=f"http://127.0.0.1:{server.port}/v1",
            max_retries=0,
        )
        with pytest.raises(APIStatusError) as info:
            generate(client, "a fox", width=256, height=256, gateway_options=options)
    error = info.value
    assert "cf-aig-authorization: bearer ***" in error.body.lower()
    for text in (str(error), error.body, repr(vars(pickle.loads(pickle.dumps(error))))):
        assert GATEWAY_TOKEN not in text
        assert GATEWAY_TOKEN[3:19] not in text
    assert_no_token(error)


# -- hostile callers: the wrong kind of argument ------------------------------------------------


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
@pytest.mark.parametrize("request_", ["a fox", None, {"prompt": "a fox"}])
def test_send_refuses_anything_but_a_built_request(
    cls: type[WorkersAI] | type[AsyncWorkersAI], request_: object
) -> None:
    with serve(seed=0, token=TOKEN) as emu:
        client = cls(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url)
        with pytest.raises(ParameterError) as info:
            finish(client, client.send(request_))  # type: ignore[arg-type]
        assert emu.requests == []
    assert info.value.parameter == "request"
    assert "send() takes a WorkersAIRequest (from build_request())" in str(info.value)
    assert "call generate()" in str(info.value)


@pytest.mark.parametrize("cls", [WorkersAI, AsyncWorkersAI])
@pytest.mark.parametrize("options", [{"cache_ttl": 60}, 5])
def test_gateway_options_of_the_wrong_type_are_refused_before_sending(
    cls: type[WorkersAI] | type[AsyncWorkersAI], options: object
) -> None:
    with serve(seed=0, token=TOKEN) as emu:
        client = cls(
            account_id=ACCOUNT,
            api_token=TOKEN,
            gateway="images",
            gateway_base_url=emu.gateway_base_url,
        )
        with pytest.raises(ParameterError) as info:
            generate(client, "a fox", gateway_options=options)
        assert emu.requests == []
    assert info.value.parameter == "gateway_options"
    assert "gateway_options must be a GatewayOptions" in str(info.value)


@pytest.mark.parametrize("model", ["dev", "flex", "schnell"])
def test_a_route_that_contradicts_a_known_model_is_refused(model: str) -> None:
    spec = build_request("a fox", model=model, width=None).model
    other = next(r for r in ("multipart", "json", "proxied") if r != spec.route.value)
    with pytest.raises(ParameterError) as info:
        build_request("a fox", model=model, route=other)
    assert info.value.parameter == "route"
    assert f"is called on the {spec.route.value} route, not {other}" in str(info.value)
    # The client's own model (a ModelSpec) is held to its route the same way.
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, model=model) as client:
        with pytest.raises(ParameterError, match="leave route unset"):
            client.build_request("a fox", route=other)
        assert client.build_request("a fox", route=spec.route.value).model is spec


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:47 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:47 GMT",  # RFC 850
        "Sun Nov  6 08:49:47 1994",  # asctime: no zone, and GMT by definition
        "Sun, 06 Nov 1994 08:49:47 -0000",
    ],
)
def test_a_retry_after_date_in_every_form_is_read_as_gmt(value: str) -> None:
    now = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
    assert parse_retry_after(value, now=now) == 10.0


@pytest.mark.parametrize("value", ["1_0", "\u0663", "\uff13", "1e3", "inf", "-1", "+3"])
def test_a_retry_after_is_seconds_only_in_ascii_digits(value: str) -> None:
    assert parse_retry_after(value) is None


# -- a 200 that holds the image itself, not its envelope ---------------------------------------


@pytest.mark.parametrize("content_type", ["image/png", "application/json", "text/plain"])
def test_a_raw_image_answer_is_kept_not_thrown_away(content_type: str) -> None:
    # The model ran and the image is paid for: a body that is the image is the result,
    # whatever the Content-Type says.
    with Hostile(answer("200 OK", PNG, Content_Type=content_type)) as server:
        for cls in (WorkersAI, AsyncWorkersAI):
            client = cls(account_id=ACCOUNT, api_token=TOKEN, base_url=server.base_url)
            result = generate(client, "a fox", width=256, height=256, seed=3)
            assert isinstance(result, ImageResult)
            assert (result.format, result.width, result.height, result.seed) == (
                "png",
                64,
                64,
                3,
            )
            assert result.data == PNG
        assert len(server.requests) == 2


def test_a_raw_body_that_only_looks_like_an_image_is_a_response_error() -> None:
    sync, asynchronous, _, _ = both(answer("200 OK", b"\x89PNG\r\n\x1a\n" + b"junk" * 4))
    assert_same(sync, asynchronous)
    assert isinstance(sync, ResponseError)
    assert "PNG without a readable size" in str(sync)
    assert sync.may_have_been_billed


def test_a_capacity_code_in_a_200_says_it_was_not_retried(no_sleep: list[float]) -> None:
    sync, asynchronous, sent_sync, sent_async = both(
        answer("200 OK", envelope("Capacity temporarily exceeded", 3040)), max_retries=2
    )
    assert_same(sync, asynchronous)
    assert isinstance(sync, CapacityError)
    assert (sent_sync, sent_async) == (1, 1)
    assert "not retried" in sync.hint
    assert "the clients retry it" not in str(sync)
