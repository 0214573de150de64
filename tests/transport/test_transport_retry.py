"""Retry policy and timing, with httpx.MockTransport and a patched delay: no network, no sleep."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from flux2prompt.transport import (
    APIConnectionError,
    APITimeoutError,
    AsyncWorkersAI,
    AuthenticationError,
    BadRequestError,
    ChainedError,
    ContentModeratedError,
    InternalServerError,
    InvalidInputError,
    InvalidRequestHeadersError,
    NotFoundError,
    PossiblyBilledError,
    QuotaExceededError,
    RateLimitError,
    RequestTooLargeError,
    ResponseError,
    WorkersAI,
    _retry,
)
from flux2prompt.transport._errors import make_status_error
from flux2prompt.transport._retry import is_retryable, parse_retry_after, retry_delay

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
OK = {"result": {"image": base64.b64encode(PNG_1x1).decode()}, "success": True, "errors": []}


def error(
    status: int, code: int | None, message: str = "AiError: x", **headers: str
) -> httpx.Response:
    body = {"success": False, "errors": [{"code": code, "message": message}] if code else []}
    return httpx.Response(status, json=body, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=OK, headers={"cf-ray": "ray-ok"})


Step = httpx.Response | Exception


def scripted(steps: list[Step]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers each request with the next step (a response or an exception)."""
    seen: list[httpx.Request] = []
    queue: Iterator[Step] = iter(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = next(queue)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(handler), seen


@pytest.fixture
def delays(
    monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]
) -> list[tuple[int, float | None]]:
    """Record every call of the patched delay function; it answers 0.01 * (attempt + 1)."""
    calls: list[tuple[int, float | None]] = []

    def fake(attempt: int, retry_after: float | None, rng: object = None) -> float:
        calls.append((attempt, retry_after))
        return 0.01 * (attempt + 1)

    monkeypatch.setattr(_retry, "retry_delay", fake)
    return calls


def client_for(transport: httpx.MockTransport, **options: object) -> WorkersAI:
    http = httpx.Client(transport=transport)
    return WorkersAI(account_id="acc", api_token="tok", http_client=http, **options)  # type: ignore[arg-type]


# -- the pure functions ----------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_to_eight_with_jitter() -> None:
    class Fixed:
        def __init__(self, value: float) -> None:
            self.value = value

        def random(self) -> float:
            return self.value

    assert [retry_delay(n, None, Fixed(0.0)) for n in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert [retry_delay(n, None, Fixed(1.0)) for n in range(5)] == [0.375, 0.75, 1.5, 3, 6]
    rng = random.Random(42)
    for attempt in range(10):
        base = min(0.5 * 2**attempt, 8.0)
        assert 0.75 * base <= retry_delay(attempt, None, rng) <= base


def test_retry_after_is_honoured_up_to_sixty_seconds() -> None:
    assert retry_delay(0, 3.0) == 3.0
    assert retry_delay(5, 0.0) == 0.0
    assert retry_delay(0, 600.0) == 60.0


def test_parse_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("in a while") is None
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0


@pytest.mark.parametrize(
    ("status", "code", "headers", "retried"),
    [
        (408, 3007, {}, True),
        (408, 3046, {}, True),
        (429, 3040, {}, True),
        (429, None, {"retry-after": "1"}, True),
        (429, None, {}, False),
        (429, 3036, {"retry-after": "1"}, False),
        (429, 4006, {}, False),
        (502, None, {}, True),
        (503, None, {}, True),
        (504, None, {}, True),
        (500, None, {}, False),
        (500, 7000, {}, False),
        (400, 5006, {}, False),
        (400, 8007, {}, False),
        (400, 5007, {}, False),
        (401, 10000, {}, False),
        (403, 5016, {}, False),
        (404, 3042, {}, False),
        (413, 3006, {}, False),
    ],
)
def test_retry_set(status: int, code: int | None, headers: dict[str, str], retried: bool) -> None:
    body = json.dumps({"errors": [{"code": code, "message": "m"}] if code else []}).encode()
    assert is_retryable(make_status_error(status, headers, body)) is retried


def test_connection_errors_and_timeouts_are_retried_broken_bodies_are_not() -> None:
    assert is_retryable(APIConnectionError("refused"))
    assert is_retryable(APITimeoutError("slow"))
    assert not is_retryable(ResponseError("malformed JSON"))


# -- the loop, with MockTransport ---------------------------------------------------------------


def test_capacity_429_with_retry_after_is_retried_then_succeeds(
    delays: list[tuple[int, float | None]],
) -> None:
    transport, seen = scripted(
        [error(429, 3040, "Capacity temporarily exceeded", **{"Retry-After": "3"}), ok()]
    )
    with client_for(transport) as client:
        result = client.generate("a fox")
    assert len(seen) == 2
    assert delays == [(0, 3.0)]
    assert result.attempts == 2
    assert result.format == "png"


def test_retry_after_http_date_is_passed_to_the_delay_function(
    delays: list[tuple[int, float | None]],
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    transport, _ = scripted([error(429, 3040, **{"Retry-After": when}), ok()])
    with client_for(transport) as client:
        client.generate("a fox")
    ((attempt, retry_after),) = delays
    assert attempt == 0
    assert retry_after is not None
    assert 17 <= retry_after <= 20


def test_backoff_attempt_numbers_count_up_and_stop_at_max_retries(
    delays: list[tuple[int, float | None]], no_sleep: list[float]
) -> None:
    transport, seen = scripted([error(503, None)] * 4)
    with client_for(transport, max_retries=3) as client, pytest.raises(InternalServerError) as info:
        client.generate("a fox")
    assert len(seen) == 4
    assert [attempt for attempt, _ in delays] == [0, 1, 2]
    assert no_sleep == [0.01, 0.02, 0.03]
    assert info.value.attempts == 4


def test_real_delay_function_drives_the_sleeps(no_sleep: list[float]) -> None:
    transport, _ = scripted([error(502, None), error(504, None), ok()])
    with client_for(transport) as client:
        client._rng = random.Random(0)
        client.generate("a fox")
    first, second = no_sleep
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


def test_max_retries_zero_sends_once(delays: list[tuple[int, float | None]]) -> None:
    transport, seen = scripted([error(503, None)])
    with client_for(transport, max_retries=0) as client, pytest.raises(InternalServerError):
        client.generate("a fox")
    assert len(seen) == 1
    assert delays == []


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (lambda: error(429, 3036, "Account limited"), QuotaExceededError),
        (lambda: error(429, 4006, "daily free allocation"), QuotaExceededError),
        (lambda: error(400, 5006, "Bad input"), InvalidInputError),
        (lambda: error(400, 8007, "Input prompt contains NSFW content."), ContentModeratedError),
        (lambda: error(400, 5007, "No such model"), BadRequestError),
        (lambda: error(401, 10000, "Authentication error"), AuthenticationError),
        (lambda: error(404, 3042, "Invalid model ID"), NotFoundError),
        (lambda: error(413, 3006, "Request is too large"), RequestTooLargeError),
        (lambda: error(500, None, "AiError: Unknown internal error"), InternalServerError),
        (lambda: error(429, None, "Too many requests"), RateLimitError),
        (lambda: httpx.Response(200, content=b'{"result": {"ima'), ResponseError),
    ],
)
def test_never_retried(
    response: Callable[[], httpx.Response],
    cls: type[Exception],
    delays: list[tuple[int, float | None]],
) -> None:
    transport, seen = scripted([response(), ok()])
    with client_for(transport) as client, pytest.raises(cls) as info:
        client.generate("a fox")
    assert type(info.value) is cls
    assert len(seen) == 1
    assert delays == []


@pytest.mark.parametrize(
    ("failure", "cls", "reached"),
    [
        # A mock transport reports no trace events: the exception class alone decides.
        (httpx.ConnectError("connection refused"), APIConnectionError, 0),
        (httpx.ConnectTimeout("timed out"), APITimeoutError, 0),
        (httpx.PoolTimeout("no connection free"), APITimeoutError, 0),
        (httpx.WriteError("broken pipe"), APIConnectionError, 3),
        (httpx.WriteTimeout("timed out"), APITimeoutError, 3),
    ],
)
def test_failures_before_the_request_was_sent_whole_are_retried_then_raised(
    failure: Exception, cls: type[Exception], reached: int, delays: list[tuple[int, float | None]]
) -> None:
    transport, seen = scripted([failure, failure, failure])
    with client_for(transport) as client, pytest.raises(cls) as info:
        client.generate("a fox")
    assert len(seen) == 3
    assert type(info.value) is cls
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert info.value.hint
    # Only requests that reached the network count: a refused connection bills nothing.
    assert info.value.attempts == reached


@pytest.mark.parametrize(
    ("failure", "risk"),
    [
        (httpx.ReadTimeout("timed out"), "read_timeout"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "disconnected",
        ),
        (httpx.ReadError("connection reset by peer"), "disconnected"),
    ],
)
def test_failures_after_the_request_may_have_run_are_not_resubmitted(
    failure: Exception, risk: str, delays: list[tuple[int, float | None]]
) -> None:
    transport, seen = scripted([failure, ok()])
    with client_for(transport) as client, pytest.raises(PossiblyBilledError) as info:
        client.generate("a fox")
    assert len(seen) == 1
    assert delays == []
    assert (info.value.risk, info.value.resubmitted, info.value.attempts) == (risk, 0, 1)
    assert info.value.may_have_been_billed
    assert "may have been billed, so it was not resubmitted" in str(info.value)
    assert "retry_possibly_billed=True" in str(info.value)


def test_the_opt_in_resends_a_request_that_may_have_run(
    delays: list[tuple[int, float | None]],
) -> None:
    transport, seen = scripted([httpx.ReadTimeout("timed out"), ok()])
    with client_for(transport, retry_possibly_billed=True) as client:
        result = client.generate("a fox")
    assert len(seen) == 2
    assert result.attempts == 2
    transport, seen = scripted([httpx.ReadTimeout("timed out")] * 3)
    with (
        client_for(transport, retry_possibly_billed=True) as client,
        pytest.raises(PossiblyBilledError) as info,
    ):
        client.generate("a fox")
    assert len(seen) == 3
    assert info.value.resubmitted == 2
    assert "resubmitted 2 times" in str(info.value)


def test_a_later_error_after_a_resend_says_an_earlier_attempt_may_have_been_billed(
    delays: list[tuple[int, float | None]],
) -> None:
    transport, seen = scripted([httpx.ReadTimeout("timed out"), error(400, 5006, "Bad input")])
    with (
        client_for(transport, retry_possibly_billed=True) as client,
        pytest.raises(InvalidInputError) as info,
    ):
        client.generate("a fox")
    assert len(seen) == 2
    assert info.value.may_have_been_billed
    assert "An earlier attempt may have been billed" in str(info.value)


def test_a_failure_then_success_returns_the_image(delays: list[tuple[int, float | None]]) -> None:
    transport, seen = scripted([httpx.ConnectError("reset"), error(408, 3046), ok()])
    with client_for(transport) as client:
        result = client.generate("a fox", seed=1)
    assert len(seen) == 3
    # The refused connection never reached the network: two requests did.
    assert result.attempts == 2
    assert result.request_id == "ray-ok"
    assert result.elapsed >= 0


def test_each_attempt_sends_the_same_body(delays: list[tuple[int, float | None]]) -> None:
    transport, seen = scripted([error(502, None), ok()])
    with client_for(transport) as client:
        client.generate("a fox", seed=9)
    first, second = (request.read() for request in seen)
    boundary = seen[0].headers["content-type"].split("boundary=")[1]
    assert first.replace(boundary.encode(), b"B") == second.replace(
        seen[1].headers["content-type"].split("boundary=")[1].encode(), b"B"
    )


async def test_async_client_runs_the_same_loop(delays: list[tuple[int, float | None]]) -> None:
    seen: list[httpx.Request] = []
    steps: Iterator[httpx.Response] = iter(
        [error(429, 3040, **{"Retry-After": "1"}), error(502, None), ok()]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(steps)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncWorkersAI(account_id="acc", api_token="tok", http_client=http) as client:
        result = await client.generate("a fox")
    await http.aclose()
    assert len(seen) == 3
    assert delays == [(0, 1.0), (1, None)]
    assert result.attempts == 3


async def test_async_quota_is_not_retried(delays: list[tuple[int, float | None]]) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: error(429, 3036)))
    async with AsyncWorkersAI(account_id="acc", api_token="tok", http_client=http) as client:
        with pytest.raises(QuotaExceededError):
            await client.generate("a fox")
    await http.aclose()
    assert delays == []


def test_errors_survive_pickling() -> None:
    import pickle

    body = b'{"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}'
    for error in (
        make_status_error(429, {"cf-ray": "r1", "retry-after": "2"}, body, url="http://x"),
        ResponseError("malformed JSON", request_id="r2"),
        APITimeoutError("slow", url="http://x"),
    ):
        error.attempts = 3
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.__dict__ == error.__dict__


def test_code_7000_hint_names_the_gateway_caveat_only_for_a_500() -> None:
    body = b'{"errors":[{"code":7000,"message":"x"}]}'
    assert "AI Gateway" in make_status_error(500, {}, body).hint
    assert "AI Gateway" not in make_status_error(404, {}, body).hint


@pytest.mark.parametrize("status", [500, 520])
def test_a_500_hint_says_it_was_not_retried_and_what_to_do(status: int) -> None:
    body = b'{"errors":[{"code":3043,"message":"AiError: Unknown internal error"}]}'
    exc = make_status_error(status, {"cf-ray": "8f1e-AMS"}, body)
    assert isinstance(exc, InternalServerError)
    assert "not retried" in exc.hint
    assert "Retry later" in exc.hint
    assert "report it to Cloudflare with the request id (cf-ray)" in exc.hint
    assert "502" not in exc.hint
    assert "request id 8f1e-AMS" in str(exc)
    import pickle

    copy = pickle.loads(pickle.dumps(exc))
    assert str(copy) == str(exc)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_502_hint_says_it_is_retried(status: int) -> None:
    exc = make_status_error(status, {}, b"<html><title>Bad gateway</title></html>")
    assert isinstance(exc, InternalServerError)
    assert "retried" in exc.hint
    assert "not retried" not in exc.hint


# -- Retry-After longer than the cap, error_chain -------------------------------------------


def test_a_retry_after_longer_than_the_cap_is_not_slept_but_carried(
    delays: list[tuple[int, float | None]],
) -> None:
    transport, seen = scripted([error(503, None, **{"retry-after": "900"}), ok()])
    with client_for(transport) as client, pytest.raises(InternalServerError) as info:
        client.generate("a fox")
    assert len(seen) == 1
    assert delays == []
    assert info.value.retry_after_seconds == 900.0
    assert "asks to wait 900 s" in str(info.value)
    assert _retry.long_retry_after(info.value) == 900.0
    assert _retry.retry_wait(info.value) is None


def test_long_retry_after_is_only_for_errors_worth_retrying() -> None:
    quota = b'{"errors":[{"code":3036,"message":"x"}]}'
    assert _retry.long_retry_after(make_status_error(429, {"retry-after": "900"}, quota)) is None
    assert _retry.long_retry_after(make_status_error(503, {"retry-after": "60"}, b"")) is None
    capacity = b'{"errors":[{"code":3040,"message":"x"}]}'
    assert _retry.long_retry_after(make_status_error(429, {"retry-after": "61"}, capacity)) == 61


def test_error_chain_is_parsed_and_shown() -> None:
    body = json.dumps(
        {
            "success": False,
            "errors": [
                {
                    "code": 6003,
                    "message": "Invalid request headers",
                    "error_chain": [
                        {"code": 6111, "message": "Invalid format for Authorization header"}
                    ],
                }
            ],
        }
    ).encode()
    exc = make_status_error(400, {}, body)
    assert isinstance(exc, InvalidRequestHeadersError)
    assert exc.error_chain == (ChainedError(6111, "Invalid format for Authorization header"),)
    assert "Invalid request headers (code 6111: Invalid format for Authorization header)" in str(
        exc
    )
    assert "Bearer <token>" in exc.hint
    assert "model id" not in str(exc)


def test_a_top_level_error_chain_is_read_and_secrets_in_it_are_scrubbed() -> None:
    body = json.dumps(
        {
            "errors": [{"code": 6003, "message": "Invalid request headers"}],
            "error_chain": [{"code": 6111, "message": "bad header: tok-0123456789"}],
        }
    ).encode()
    exc = make_status_error(400, {}, body, secrets=["tok-0123456789"])
    assert exc.error_chain == (ChainedError(6111, "bad header: ***"),)
    assert "tok-0123456789" not in str(exc)


def test_classification_table() -> None:
    from flux2prompt.transport._retry import Delivery, SendProgress, classify_failure

    sent = SendProgress(traced=True, request_started=True, request_sent=True)
    fresh = SendProgress(traced=True, new_connection=True, request_started=True, request_sent=True)
    answered = SendProgress(
        traced=True, request_started=True, request_sent=True, response_started=True
    )
    half = SendProgress(traced=True, new_connection=True, request_started=True)
    assert classify_failure("pool", SendProgress()) is Delivery.NOT_SENT
    assert classify_failure("connect", SendProgress()) is Delivery.NOT_SENT
    assert classify_failure("read", half) is Delivery.NOT_SENT  # closed mid-upload
    assert classify_failure("write", half) is Delivery.NOT_SENT
    assert classify_failure("read", SendProgress(traced=True)) is Delivery.NOT_SENT
    assert classify_failure("read", sent) is Delivery.STALE_CONNECTION
    assert classify_failure("read_timeout", sent) is Delivery.MAY_HAVE_RUN
    assert classify_failure("read", fresh) is Delivery.MAY_HAVE_RUN
    assert classify_failure("read", answered) is Delivery.MAY_HAVE_RUN
    assert classify_failure("read_timeout", SendProgress()) is Delivery.MAY_HAVE_RUN
    assert classify_failure("write", SendProgress()) is Delivery.NOT_SENT
