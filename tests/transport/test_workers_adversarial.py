"""A second adversarial pass over the Workers AI clients: numbers no parameter check expects,
answers that hold a paid image in an unusual shape, waits no clock can express, and a client
used after its pool or its event loop is gone.

The answers come over real HTTP on loopback: the raw-socket server of
``test_transport_hostile.py``, or the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest

from flux2prompt.emulator import serve
from flux2prompt.transport import (
    APIError,
    AsyncWorkersAI,
    ConfigurationError,
    GatewayOptions,
    InternalServerError,
    ParameterError,
    RateLimitError,
    WorkersAI,
    build_request,
    estimate_cost,
)
from flux2prompt.transport._errors import parse_retry_after

from .test_transport_adversarial import both
from .test_transport_hostile import PNG, TOKEN, Hostile, answer, client

ACCOUNT = "0123456789abcdef0123456789abcdef"


# -- parameters: numbers too large for the checks' own arithmetic -------------------------------


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        # As 10 to the power of the number given (pytest itself cannot name the value).
        ("guidance", 400),  # an int float() cannot hold
        ("guidance", -400),
        ("steps", 5000),  # more digits than str() converts
        ("width", 5000),
        ("height", -5000),
        ("seed", 5000),
    ],
)
def test_a_huge_number_is_a_parameter_error_that_reads_short(parameter: str, value: int) -> None:
    value = 10 ** abs(value) * (1 if value > 0 else -1)
    with pytest.raises(ParameterError) as caught:
        build_request("a fox", model="dev", **{parameter: value})  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    assert len(str(caught.value)) < 300
    assert "digits" in str(caught.value)


@pytest.mark.parametrize("model", ["flex", "klein-9b-proxied", "schnell"])
def test_a_huge_step_count_on_a_bounded_model_says_its_range(model: str) -> None:
    with pytest.raises(ParameterError, match=r"steps must be 1-\d+") as caught:
        build_request("a fox", model=model, steps=10**5000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("field", ["request_timeout_ms", "cache_ttl", "max_attempts"])
def test_a_huge_gateway_option_is_a_parameter_error_that_reads_short(field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        GatewayOptions(**{field: 10**5000}).headers()  # type: ignore[arg-type]
    assert caught.value.parameter == f"gateway_options.{field}"
    assert "5,001 digits" in str(caught.value)


# -- Retry-After: a wait too long for a float --------------------------------------------------


def test_a_retry_after_past_the_largest_float_is_a_long_wait_not_no_wait() -> None:
    seconds = parse_retry_after("9" * 400)
    assert seconds is not None
    assert seconds > 1e300


def test_a_503_asking_for_longer_than_a_float_holds_is_not_retried(
    no_sleep: list[float],
) -> None:
    sync, asynchronous, sent_sync, sent_async = both(
        answer("503 Service Unavailable", b"{}", Retry_After="9" * 400), max_retries=2
    )
    for error in (sync, asynchronous):
        assert isinstance(error, InternalServerError)
        assert error.retry_after_seconds is not None
        assert error.retry_after_seconds > 1e300
        assert "not retried" in str(error)
        assert len(str(error)) < 600
    assert (sent_sync, sent_async) == (1, 1)
    assert no_sleep == []


def test_a_429_asking_for_longer_than_a_float_holds_is_not_retried(
    no_sleep: list[float],
) -> None:
    sync, _, sent_sync, sent_async = both(
        answer("429 Too Many Requests", b"{}", Retry_After="1" + "0" * 400), max_retries=2
    )
    assert isinstance(sync, RateLimitError)
    assert (sent_sync, sent_async) == (1, 1)
    assert no_sleep == []


# -- a paid image in an envelope of an unusual shape -------------------------------------------


def _envelope(image: str, **extra: object) -> bytes:
    return json.dumps({"success": True, "result": {"image": image}, **extra}).encode()


B64 = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    "body",
    [
        # base64 wrapped in lines, as MIME writes it (RFC 2045): still the image.
        _envelope("\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))),
        _envelope("\r\n".join(B64[i : i + 20] for i in range(0, len(B64), 20)) + "\r\n"),
        _envelope(B64 + "\n"),
        # A field beside the image with a number Python refuses to convert by default.
        _envelope(B64).replace(b'"success"', b'"neurons": ' + b"9" * 5000 + b', "success"'),
    ],
)
def test_an_image_in_an_unusual_envelope_is_kept(body: bytes) -> None:
    with Hostile(answer("200 OK", body)) as server, client(server) as api:
        result = api.generate("a fox", width=256, height=256)
    assert result.data == PNG


def test_garbage_in_result_image_is_still_a_response_error() -> None:
    with (
        Hostile(answer("200 OK", _envelope("not base64 at all!"))) as server,
        client(server) as api,
        pytest.raises(APIError, match="not valid base64") as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert caught.value.may_have_been_billed


# -- a client used after its pool, or its event loop, is gone ----------------------------------


def test_a_closed_client_says_it_is_closed() -> None:
    with serve() as emu:
        api = WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url)
        clone = api.with_options(max_retries=0)
        api.close()
        for closed in (api, clone):
            with pytest.raises(ConfigurationError, match="closed") as caught:
                closed.generate("a fox", width=256, height=256)
            assert "new client" in str(caught.value)
        assert emu.requests == []


def test_a_closed_async_client_says_it_is_closed() -> None:
    async def run(base_url: str) -> None:
        api = AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=base_url)
        await api.aclose()
        with pytest.raises(ConfigurationError, match="closed"):
            await api.generate("a fox", width=256, height=256)

    with serve() as emu:
        asyncio.run(run(emu.base_url))
        assert emu.requests == []


def test_an_async_client_with_its_own_pool_runs_in_one_event_loop_after_another() -> None:
    with serve() as emu:
        api = AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url)

        async def one(seed: int) -> int | None:
            return (await api.generate("a fox", seed=seed, width=256, height=256)).seed

        # Each asyncio.run() is a new event loop (a notebook cell, a script calling it twice);
        # the connections kept alive from the last one belong to a closed loop.
        assert [asyncio.run(one(seed)) for seed in range(3)] == [0, 1, 2]
        asyncio.run(api.aclose())
        assert len(emu.requests) == 3


def test_an_async_client_on_a_pool_of_a_closed_loop_says_what_to_do() -> None:
    with serve() as emu:
        http = httpx.AsyncClient()
        api = AsyncWorkersAI(
            account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url, http_client=http
        )

        async def one() -> int:
            return (await api.generate("a fox", width=256, height=256)).width

        assert asyncio.run(one()) == 256
        with pytest.raises(ConfigurationError, match="event loop") as caught:
            asyncio.run(one())
        assert "http_client" in str(caught.value)
        assert len(emu.requests) == 1


# -- cost estimates of impossible requests -----------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"width": -512}, "width"),
        ({"width": 0}, "width"),
        ({"height": float("nan")}, "height"),
        ({"width": "512"}, "width"),
        ({"width": True}, "width"),
        ({"width": 2**200}, "width"),
        ({"steps": -3}, "steps"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"input_images": [(512,)]}, "input_images"),
        ({"input_images": [("a", "b")]}, "input_images"),
        ({"input_images": [(-1024, 1024)]}, "input_images"),
        ({"input_images": 5}, "input_images"),
    ],
)
@pytest.mark.parametrize("model", ["dev", "klein-4b", "klein-9b"])
def test_a_cost_estimate_of_an_impossible_request_is_a_parameter_error(
    model: str, arguments: dict[str, object], parameter: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        estimate_cost(model, **arguments)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    assert len(str(caught.value)) < 300


def test_a_copy_of_an_async_client_on_a_pool_of_an_ended_loop_says_what_to_do() -> None:
    with serve() as emu:
        api = AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url)

        async def one(client: AsyncWorkersAI) -> int:
            return (await client.generate("a fox", width=256, height=256)).width

        assert asyncio.run(one(api)) == 256
        copy = api.with_options(max_retries=0)
        with pytest.raises(ConfigurationError, match="with_options"):
            asyncio.run(one(copy))
        assert asyncio.run(one(api)) == 256  # the original makes itself a fresh pool
        asyncio.run(api.aclose())
