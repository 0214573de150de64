"""Hostile answers to the Black Forest Labs clients: trickling submits and polls, huge bodies,
a key reflected in the headers.

The loopback server is the one of ``test_transport_hostile.py``: it answers on the raw socket,
here routed by step (submit, poll, the result's image).
"""

from __future__ import annotations

import json
import logging
import pickle
import socket
import time

import pytest

from flux2prompt.transport import (
    BFL,
    APIError,
    APITimeoutError,
    AsyncBFL,
    ParameterError,
    PermissionDeniedError,
    PossiblyBilledError,
    ResponseError,
    ResultDownloadError,
    TooManyActiveTasksError,
)

from .test_transport_hostile import PNG, Handler, Hostile, MiB, answer, endless, trickle

KEY = "bfl-SECRET-4b7e1d2a-never-print-me"


def posts(server: Hostile) -> int:
    return sum(1 for request in server.requests if request.startswith(b"POST "))


def polls(server: Hostile) -> int:
    return sum(1 for request in server.requests if b" /v1/get_result" in request.split(b"\r\n")[0])


def json_answer(status: str, make: object, **headers: str) -> Handler:
    """An answer whose JSON body is ``make(server)`` (it needs the server's port)."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        payload = make(server) if callable(make) else make
        answer(status, json.dumps(payload).encode(), **headers)(conn, request, server)

    return handle


def submitted(**headers: str) -> Handler:
    return json_answer(
        "200 OK",
        lambda server: {
            "id": "task-1",
            "polling_url": f"http://127.0.0.1:{server.port}/v1/get_result?id=task-1",
        },
        **headers,
    )


def ready(**headers: str) -> Handler:
    return json_answer(
        "200 OK",
        lambda server: {
            "id": "task-1",
            "status": "Ready",
            "result": {"sample": f"http://127.0.0.1:{server.port}/delivery/sample.png", "seed": 7},
        },
        **headers,
    )


def task_api(
    *,
    submit: Handler | None = None,
    poll: Handler | None = None,
    image: Handler | None = None,
) -> Handler:
    """Routes each request to its step's handler (a well-behaved one unless given)."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        line = request.split(b"\r\n", 1)[0]
        if line.startswith(b"POST "):
            chosen = submit or submitted()
        elif b" /v1/get_result" in line:
            chosen = poll or ready()
        else:
            chosen = image or answer("200 OK", PNG, Content_Type="image/png")
        chosen(conn, request, server)

    return handle


def client(server: Hostile, **options: object) -> BFL:
    options.setdefault("max_retries", 0)
    return BFL(  # type: ignore[arg-type]
        api_key=KEY, base_url=f"http://127.0.0.1:{server.port}", poll_interval=0.01, **options
    )


def aclient(server: Hostile, **options: object) -> AsyncBFL:
    options.setdefault("max_retries", 0)
    return AsyncBFL(  # type: ignore[arg-type]
        api_key=KEY, base_url=f"http://127.0.0.1:{server.port}", poll_interval=0.01, **options
    )


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert KEY not in text
        assert KEY[4:20] not in text


def assert_error_clean(error: APIError) -> None:
    restored = pickle.loads(pickle.dumps(error))
    assert_clean(str(error), repr(error), repr(vars(error)), str(restored), repr(vars(restored)))


# -- the deadline -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickling_submit_ends_within_the_deadline_and_is_not_resent(headers_too: bool) -> None:
    api_server = Hostile(task_api(submit=trickle(0.4, headers_too=headers_too)))
    with api_server as server, client(server, timeout=1.5, deadline=2.0, max_retries=3) as api:
        started = time.monotonic()
        with pytest.raises(PossiblyBilledError) as caught:
            api.generate("a fox", width=256, height=256)
        elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 4.0, elapsed
    assert "deadline of 2 s" in str(caught.value)
    assert caught.value.may_have_been_billed
    assert posts(server) == 1  # sent whole: the task may exist, so never submitted again
    assert polls(server) == 0


async def test_the_async_client_ends_a_trickling_submit_within_the_deadline() -> None:
    with Hostile(task_api(submit=trickle(0.4))) as server:
        async with aclient(server, timeout=1.5, deadline=2.0, max_retries=3) as api:
            started = time.monotonic()
            with pytest.raises(PossiblyBilledError) as caught:
                await api.generate("a fox", width=256, height=256)
            elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 4.0, elapsed
    assert caught.value.risk in ("read_timeout", "response_broken")
    assert "deadline of 2 s" in str(caught.value)
    assert posts(server) == 1


def trickle_once() -> Handler:
    """The first poll trickles; the next ones answer Ready."""
    slow, fine = trickle(0.3), ready()

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        (slow if polls(server) == 1 else fine)(conn, request, server)

    return handle


def test_a_trickling_poll_is_cut_off_and_polled_again() -> None:
    with (
        Hostile(task_api(poll=trickle_once())) as server,
        client(server, timeout=1.0, deadline=1.0, max_retries=2) as api,
    ):
        api._sleep = lambda seconds: None  # type: ignore[method-assign]
        result = api.generate("a fox", width=256, height=256)
    assert result.request_id == "task-1"
    assert posts(server) == 1
    assert polls(server) == 2  # a GET is safe to repeat


async def test_the_async_client_polls_again_after_a_trickling_poll() -> None:
    with Hostile(task_api(poll=trickle_once())) as server:
        async with aclient(server, timeout=1.0, deadline=1.0, max_retries=2) as api:
            result = await api.generate("a fox", width=256, height=256)
    assert result.request_id == "task-1"
    assert (posts(server), polls(server)) == (1, 2)


def test_a_poll_that_always_trickles_ends_as_a_timeout_after_its_retries() -> None:
    with (
        Hostile(task_api(poll=trickle(0.3))) as server,
        client(server, timeout=1.0, deadline=1.0, max_retries=1) as api,
    ):
        api._sleep = lambda seconds: None  # type: ignore[method-assign]
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            api.generate("a fox", width=256, height=256)
        elapsed = time.monotonic() - started
    assert elapsed < 4.0, elapsed
    assert "deadline of 1 s" in str(caught.value)
    assert (posts(server), polls(server)) == (1, 2)


def test_the_default_deadline_follows_the_timeout() -> None:
    with BFL(api_key=KEY, timeout=1.5) as api:
        assert api.deadline == 6.0
        assert api.max_response_bytes == 64 * MiB
    with BFL(api_key=KEY) as api:
        assert api.deadline == 380.0
    with BFL(api_key=KEY, deadline=9, max_response_bytes=MiB) as api:
        assert (api.deadline, api.max_response_bytes) == (9.0, MiB)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("deadline", 0),
        ("deadline", float("inf")),
        ("deadline", True),
        ("max_response_bytes", 0),
        ("max_response_bytes", 1.5),
    ],
)
def test_the_bounds_are_checked(option: str, value: object) -> None:
    with pytest.raises(ParameterError, match=option):
        BFL(api_key=KEY, **{option: value})  # type: ignore[arg-type]


# -- the body size ----------------------------------------------------------------------------


def test_a_300_mib_poll_body_is_refused_without_reading_it() -> None:
    with (
        Hostile(task_api(poll=endless(300 * MiB))) as server,
        client(server) as api,
        pytest.raises(ResponseError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert "larger than the limit of 67,108,864 bytes (Content-Length 314,572,800)" in str(
        caught.value
    )
    assert server.sent < 300 * MiB
    assert posts(server) == 1


@pytest.mark.parametrize("declare", [None, 300 * MiB], ids=["undeclared", "declared"])
async def test_the_async_client_refuses_an_oversized_poll_body(declare: int | None) -> None:
    with Hostile(task_api(poll=endless(declare))) as server:
        async with aclient(server, max_response_bytes=2 * MiB) as api:
            with pytest.raises(ResponseError, match="larger than the limit of 2,097,152 bytes"):
                await api.generate("a fox", width=256, height=256)
    assert posts(server) == 1


def test_an_oversized_submit_answer_is_refused_and_not_resent() -> None:
    with (
        Hostile(task_api(submit=endless(None))) as server,
        client(server, max_response_bytes=MiB, max_retries=3) as api,
        pytest.raises(ResponseError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert "larger than the limit of 1,048,576 bytes (more arrived)" in str(caught.value)
    assert "not resubmitted" in str(caught.value)
    assert posts(server) == 1


def test_a_huge_result_image_is_bounded_by_max_response_bytes() -> None:
    with (
        Hostile(task_api(image=endless(None))) as server,
        client(server, max_response_bytes=MiB) as api,
        pytest.raises(ResultDownloadError),
    ):
        api.generate("a fox", width=256, height=256)
    assert server.sent < 64 * MiB


# -- a key reflected in the headers -------------------------------------------------------------


def reflected() -> dict[str, str]:
    return {
        "x_request_id": f"req-{KEY}",
        "cf_ray": f"8f1e-{KEY}",
        "Retry_After": f"1 {KEY}",
        "Content_Type": f"application/json; k={KEY}",
    }


def test_a_key_reflected_in_a_429_reaches_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flux2prompt")
    refused = json_answer("429 Too Many Requests", {"detail": "Too many"}, **reflected())
    with (
        Hostile(task_api(submit=refused)) as server,
        client(server, slot_timeout=0.01) as api,
        pytest.raises(TooManyActiveTasksError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    error = caught.value
    assert error.request_id == "req-***"
    assert error.retry_after == "1 ***"
    assert_error_clean(error)
    assert_clean(caplog.text)


def test_a_key_reflected_in_a_poll_error_reaches_no_error() -> None:
    denied = json_answer("403 Forbidden", {"detail": "Not authenticated"}, **reflected())
    with (
        Hostile(task_api(poll=denied)) as server,
        client(server) as api,
        pytest.raises(PermissionDeniedError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert caught.value.request_id == "req-***"
    assert_error_clean(caught.value)


def test_a_key_reflected_with_a_broken_body_reaches_no_error() -> None:
    with (
        Hostile(task_api(poll=answer("200 OK", b"not json", **reflected()))) as server,
        client(server) as api,
        pytest.raises(ResponseError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert caught.value.request_id == "req-***"
    assert_error_clean(caught.value)


async def test_a_key_reflected_in_every_answer_reaches_no_task_or_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="flux2prompt")
    image = answer("200 OK", PNG, **{**reflected(), "Content_Type": f"image/png; k={KEY}"})
    api_server = Hostile(
        task_api(submit=submitted(**reflected()), poll=ready(**reflected()), image=image)
    )
    with api_server as server:
        async with aclient(server) as api:
            task = await api.submit(api.build_request("a fox", width=256, height=256))
            result = await api.result(task)
    assert result.request_id == "task-1"
    assert_clean(repr(task), json.dumps(task.to_dict()), repr(result), caplog.text)
    assert (posts(server), polls(server)) == (1, 1)


# -- bodies nested past any parser's depth ------------------------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize("status", ["422 Unprocessable Entity", "500 Internal Server Error"])
def test_an_error_body_nested_past_any_depth_is_an_api_error(status: str) -> None:
    handler = answer(status, DEEP, Content_Type="application/json")
    with (
        Hostile(task_api(submit=handler)) as server,
        client(server) as api,
        pytest.raises(APIError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert f"HTTP {status.split()[0]}" in str(caught.value)
    assert "JSON" in str(caught.value)
    assert posts(server) == 1  # a paid submit is not sent again after a 5xx


def test_a_poll_answer_nested_past_any_depth_is_a_response_error() -> None:
    handler = answer("200 OK", DEEP, Content_Type="application/json")
    with (
        Hostile(task_api(poll=handler)) as server,
        client(server) as api,
        pytest.raises(ResponseError, match="not a JSON object"),
    ):
        api.generate("a fox", width=256, height=256)


def ready_at(sample: str) -> Handler:
    return json_answer(
        "200 OK", {"id": "task-1", "status": "Ready", "result": {"sample": sample, "seed": 7}}
    )


# Addresses that are not private in ipaddress's sense yet reach no public host: the shared
# (carrier-grade NAT) space, where some clouds serve instance metadata (100.100.100.200), and
# 6to4 wrapping a private address.
NOT_PUBLIC = [
    "https://100.100.100.200/latest/meta-data/sample.png",
    "https://100.64.0.1/sample.png",
    "https://[2002:a00:1::1]/sample.png",
]


@pytest.mark.parametrize("sample", NOT_PUBLIC)
def test_a_sample_url_at_a_non_public_address_is_refused(sample: str) -> None:
    with (
        Hostile(task_api(poll=ready_at(sample))) as server,
        pytest.raises(ResultDownloadError, match="private address") as info,
    ):
        client(server).generate("a red fox", model="flex", width=64, height=64)
    assert info.value.reason == "unsafe"
    assert posts(server) == 1


@pytest.mark.parametrize("sample", NOT_PUBLIC)
async def test_the_async_client_refuses_a_non_public_sample_url(sample: str) -> None:
    with Hostile(task_api(poll=ready_at(sample))) as server:
        async with aclient(server) as bfl:
            with pytest.raises(ResultDownloadError, match="private address") as info:
                await bfl.generate("a red fox", model="flex", width=64, height=64)
    assert info.value.reason == "unsafe"
    assert posts(server) == 1


# -- a body whose Content-Encoding does not decode ----------------------------------------------

NOT_GZIP = answer("200 OK", b"this is not gzip at all", Content_Encoding="gzip")


def test_an_undecodable_submit_answer_is_not_resent() -> None:
    with (
        Hostile(task_api(submit=NOT_GZIP)) as server,
        client(server, max_retries=2) as api,
        pytest.raises(PossiblyBilledError, match="decod"),
    ):
        api.generate("a fox", width=256, height=256)
    assert posts(server) == 1


def undecodable_once() -> Handler:
    calls = {"n": 0}

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        calls["n"] += 1
        (NOT_GZIP if calls["n"] == 1 else ready())(conn, request, server)

    return handle


def test_an_undecodable_poll_is_polled_again() -> None:
    with Hostile(task_api(poll=undecodable_once())) as server, client(server, max_retries=2) as api:
        result = api.generate("a fox", width=256, height=256)
    assert result.data == PNG
    assert posts(server) == 1
    assert polls(server) == 2


async def test_the_async_client_polls_again_after_an_undecodable_poll() -> None:
    with Hostile(task_api(poll=undecodable_once())) as server:
        async with aclient(server, max_retries=2) as api:
            result = await api.generate("a fox", width=256, height=256)
    assert result.data == PNG
    assert posts(server) == 1


def test_an_undecodable_result_image_is_a_download_error() -> None:
    bad_image = answer("200 OK", b"not gzip", Content_Type="image/png", Content_Encoding="gzip")
    with (
        Hostile(task_api(image=bad_image)) as server,
        client(server, max_retries=2) as api,
        pytest.raises(ResultDownloadError, match="decod"),
    ):
        api.generate("a fox", width=256, height=256)
    assert posts(server) == 1


# -- a 429 whose Retry-After asks for no wait at all --------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", "Wed, 21 Oct 2015 07:28:10 GMT", "0.01"])
def test_a_429_asking_for_no_wait_does_not_hammer_the_submit(retry_after: str) -> None:
    busy = answer("429 Too Many Requests", b'{"detail": "busy"}', Retry_After=retry_after)
    slept: list[float] = []
    with Hostile(task_api(submit=busy)) as server, client(server, slot_timeout=1.5) as api:
        original = api._sleep

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            original(seconds)

        api._sleep = sleep  # type: ignore[method-assign]
        with pytest.raises(TooManyActiveTasksError, match="slot_timeout"):
            api.generate("a fox", width=256, height=256)
    # The backoff schedule (0.5 s doubling), not a busy loop of submits within the slot wait.
    assert slept
    assert min(slept) >= 0.5
    assert posts(server) <= 3


async def test_the_async_client_does_not_hammer_a_429_asking_for_no_wait() -> None:
    busy = answer("429 Too Many Requests", b'{"detail": "busy"}', Retry_After="0")
    with Hostile(task_api(submit=busy)) as server:
        async with aclient(server, slot_timeout=1.5) as api:
            with pytest.raises(TooManyActiveTasksError):
                await api.generate("a fox", width=256, height=256)
    assert posts(server) <= 3


def _key_header(request: bytes) -> bytes:
    line = next(x for x in request.split(b"\r\n") if x.lower().startswith(b"x-key:"))
    return line.partition(b":")[2].strip()


def reflect_key_in_status_line(conn: socket.socket, request: bytes, server: Hostile) -> None:
    # A status line httpx cannot parse: h11 quotes the bytes it refused in its message.
    conn.sendall(b"XTTP/1.1 200 " + _key_header(request) + b"\r\n\r\n")
    conn.close()


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop()
        if not any(link is s for s in seen):
            seen.append(link)
            todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    return seen


@pytest.mark.parametrize("step", ["submit", "poll"])
def test_a_key_reflected_into_a_parse_error_reaches_no_exception_chain(step: str) -> None:
    import asyncio
    import traceback

    hostile = task_api(**{step: reflect_key_in_status_line})  # type: ignore[arg-type]
    errors: list[APIError] = []
    with Hostile(hostile) as server:
        with client(server) as api, pytest.raises(APIError) as caught:
            api.generate("a fox", width=256, height=256)
        errors.append(caught.value)

        async def run() -> None:
            async with aclient(server) as api:
                await api.generate("a fox", width=256, height=256)

        with pytest.raises(APIError) as caught_async:
            asyncio.run(run())
        errors.append(caught_async.value)
    sync, asynchronous = errors
    assert type(sync) is type(asynchronous)
    assert str(sync) == str(asynchronous)
    for error in errors:
        assert error.__cause__ is not None  # the httpx error is kept, scrubbed
        shown = "".join(traceback.format_exception(error))
        assert "***" in shown
        texts = [shown] + [repr(link.args) for link in _chain(error)]
        assert_clean(*texts)
        assert_error_clean(error)
