"""End to end over loopback HTTP against the emulator: every error class and retry path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pickle
import time
import warnings
from collections.abc import Callable
from types import MappingProxyType

import httpx
import pytest

import flux2prompt
from flux2prompt.emulator import Emulator, serve
from flux2prompt.transport import (
    AsyncWorkersAI,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    GatewayOptions,
    InternalServerError,
    InvalidInputError,
    PossiblyBilledError,
    QuotaExceededError,
    ResponseError,
    ResultDownloadError,
    UnknownModelWarning,
    WorkersAI,
    _retry,
    resolve_model,
)

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"


def client_for(emu: Emulator, **options: object) -> WorkersAI:
    return WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url, **options)  # type: ignore[arg-type]


def async_client_for(emu: Emulator, **options: object) -> AsyncWorkersAI:
    return AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url, **options)  # type: ignore[arg-type]


def faults(**config: object) -> dict[str, str]:
    """The per-request header that sets emulator faults for one request."""
    return {"x-emulator-config": json.dumps(config)}


def test_success_returns_a_real_image_and_records_the_request(emu: Emulator) -> None:
    prompt = (
        flux2prompt.scene("a night market").text("夜市", language="ja").text("سوق", language="ar")
    )
    with client_for(emu) as client:
        result = client.generate(prompt, width=512, height=384, seed=11)
    assert (result.format, result.width, result.height, result.seed) == ("jpeg", 512, 384, 11)
    assert result.prompt_fingerprint == prompt.compile().fingerprint
    assert result.request_id
    assert result.request_id.endswith("-EMU")
    assert result.attempts == 1
    (recorded,) = emu.requests
    assert recorded.fields["prompt"] == prompt.compile().to_json()
    assert recorded.fields["seed"] == "11"
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"


def test_same_prompt_and_seed_give_the_same_bytes(emu: Emulator) -> None:
    with client_for(emu) as client:
        first = client.generate("a fox", seed=3, width=256, height=256)
        second = client.generate("a fox", seed=3, width=256, height=256)
    assert first.data == second.data
    assert first.request_fingerprint == second.request_fingerprint


def test_every_model_and_input_images(emu: Emulator, make_image: Callable[..., bytes]) -> None:
    refs = [make_image(512, 512, "png"), make_image(900, 300, "jpeg")]
    with client_for(emu) as client:
        for model in ("flux-2-dev", "klein-4b", "klein-9b"):
            result = client.generate("a fox", model=model, width=256, height=256, images=refs)
            assert result.model == resolve_model(model).id
    for recorded in emu.requests:
        assert sorted(recorded.files) == ["input_image_0", "input_image_1"]
        assert recorded.files["input_image_1"].content_type == "image/jpeg"


def test_capacity_429_with_retry_after_is_retried_and_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 600 per minute with a burst of 1: the second request in a row gets 429 / 3040 with
    # Retry-After: 1. The client must honour it; the test sleeps only the 0.15 s the bucket needs.
    asked: list[float | None] = []
    real = _retry.retry_delay

    def spy(attempt: int, retry_after: float | None, rng: object = None) -> float:
        asked.append(retry_after)
        return real(attempt, retry_after, rng)  # type: ignore[arg-type]

    monkeypatch.setattr(_retry, "retry_delay", spy)
    monkeypatch.setattr(WorkersAI, "_sleep", lambda self, seconds: time.sleep(0.15))
    with serve(seed=0, token=TOKEN, rate_limit_per_minute=600, rate_limit_burst=1) as emu:
        with client_for(emu) as client:
            client.generate("a fox", width=256, height=256)
            result = client.generate("a fox", width=256, height=256)
        statuses = [r.status for r in emu.requests]
    assert statuses == [200, 429, 200]
    assert asked == [1.0]
    assert result.attempts == 2


def test_capacity_errors_are_reported_after_the_retries(no_sleep: list[float]) -> None:
    with serve(seed=0, rate_limit_per_minute=1, rate_limit_burst=1) as limited:
        with client_for(limited, max_retries=2) as client:
            client.generate("a fox", width=256, height=256)
            with pytest.raises(CapacityError) as info:
                client.generate("a fox", width=256, height=256)
        assert len(limited.requests) == 4
    exc = info.value
    assert (exc.status_code, exc.code, exc.attempts) == (429, 3040, 3)
    assert exc.retry_after is not None
    assert no_sleep == [float(exc.retry_after)] * 2
    assert "Capacity temporarily exceeded" in str(exc)


def test_daily_quota_is_not_retried(no_sleep: list[float]) -> None:
    with serve(seed=0, token=TOKEN, daily_quota=1) as emu:
        with client_for(emu) as client:
            client.generate("a fox", width=256, height=256)
            with pytest.raises(QuotaExceededError) as info:
                client.generate("a fox", width=256, height=256)
        assert [r.status for r in emu.requests] == [200, 429]
    assert info.value.code == 3036
    assert no_sleep == []
    assert "00:00 UTC" in str(info.value)


def test_bad_input_explains_the_problem(emu: Emulator, no_sleep: list[float]) -> None:
    with client_for(emu) as client:
        request = client.build_request("a fox")
        # Past the client's own checks, as a hand-edited request would be.
        broken = dataclasses.replace(
            request, fields=MappingProxyType({**request.fields, "width": "4000"})
        )
        with pytest.raises(InvalidInputError) as info:
            client.send(broken)
    exc = info.value
    assert (exc.status_code, exc.code) == (400, 5006)
    assert "width" in exc.message
    assert "retrying will not help" in str(exc)
    assert len(emu.requests) == 1
    assert no_sleep == []


def test_html_502_is_retried_then_reported_clearly(no_sleep: list[float]) -> None:
    with serve(seed=0, token=TOKEN, html_502_ratio=1.0) as emu:
        with client_for(emu, max_retries=3) as client, pytest.raises(InternalServerError) as info:
            client.generate("a fox", width=256, height=256)
        assert [r.status for r in emu.requests] == [502] * 4
    exc = info.value
    assert exc.status_code == 502
    assert exc.code is None
    assert "502 Bad Gateway" in exc.message
    assert "<html>" not in str(exc)
    assert exc.attempts == 4
    assert len(no_sleep) == 3


def test_html_502_then_success(emu: Emulator, no_sleep: list[float]) -> None:
    # Fault only on the first request, through the per-request header of an injected client.
    sent: list[int] = []

    def first_fails(request: httpx.Request) -> None:
        if not sent:
            request.headers.update(faults(html_502_ratio=1.0))
        sent.append(1)

    http = httpx.Client(event_hooks={"request": [first_fails]}, timeout=10)
    with WorkersAI(
        account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url, http_client=http
    ) as c:
        result = c.generate("a fox", width=256, height=256)
    http.close()
    assert result.attempts == 2
    assert [r.status for r in emu.requests] == [502, 200]


@pytest.mark.parametrize(("status", "retried"), [(502, True), (503, True), (500, False)])
def test_injected_5xx(status: int, retried: bool, no_sleep: list[float]) -> None:
    with serve(seed=0, error_ratios={status: 1.0}) as emu:
        with client_for(emu) as client, pytest.raises(InternalServerError) as info:
            client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == (3 if retried else 1)
    assert info.value.status_code == status
    assert info.value.code is not None


def test_wrong_token_is_an_authentication_error(emu: Emulator, no_sleep: list[float]) -> None:
    client = WorkersAI(account_id=ACCOUNT, api_token="wrong", base_url=emu.base_url)
    with client, pytest.raises(AuthenticationError) as info:
        client.generate("a fox")
    assert (info.value.status_code, info.value.code) == (401, 10000)
    assert "CLOUDFLARE_API_TOKEN" in str(info.value)
    assert len(emu.requests) == 1


def test_unknown_model_warns_then_400_5007(emu: Emulator, no_sleep: list[float]) -> None:
    with client_for(emu) as client:
        with pytest.warns(UnknownModelWarning):
            request = client.build_request(
                "a fox",
                model="@cf/black-forest-labs/flux-9-ultra",
                allow_unknown_model=True,
                route="multipart",
            )
        with pytest.raises(BadRequestError) as info:
            client.send(request)
    assert (info.value.status_code, info.value.code) == (400, 5007)
    assert "model id" in info.value.hint
    assert len(emu.requests) == 1


def test_a_dropped_connection_may_have_been_billed_and_is_not_resent(
    no_sleep: list[float],
) -> None:
    # The emulator read the whole request, then closed without a word: from the client's side,
    # the model may have run.
    with serve(seed=0, drop_ratio=1.0) as emu:
        with client_for(emu) as client, pytest.raises(PossiblyBilledError) as info:
            client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 1
    assert (info.value.risk, info.value.attempts) == ("disconnected", 1)


def test_dropped_connections_are_resent_with_the_opt_in(no_sleep: list[float]) -> None:
    with serve(seed=0, drop_ratio=1.0) as emu:
        client = client_for(emu, retry_possibly_billed=True)
        with client, pytest.raises(PossiblyBilledError) as info:
            client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 3
    assert (info.value.attempts, info.value.resubmitted) == (3, 2)


def test_a_read_timeout_is_not_resent(no_sleep: list[float]) -> None:
    with (
        serve(seed=0, latency_ms=400) as emu,
        client_for(emu, timeout=0.1, max_retries=1) as client,
        pytest.raises(PossiblyBilledError) as info,
    ):
        client.generate("a fox", width=256, height=256)
    assert info.value.attempts == 1
    assert info.value.risk == "read_timeout"
    assert "read timeout" in str(info.value)


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [("malformed_json_ratio", "not JSON"), ("invalid_base64_ratio", "base64")],
)
def test_broken_success_bodies_are_response_errors(
    fault: str, fragment: str, no_sleep: list[float]
) -> None:
    with serve(seed=0, **{fault: 1.0}) as emu:  # type: ignore[arg-type]
        with client_for(emu) as client, pytest.raises(ResponseError, match=fragment) as info:
            client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 1
    assert info.value.request_id


def test_gateway_route_through_the_emulator(emu: Emulator) -> None:
    with client_for(emu, gateway="my-gateway", gateway_base_url=emu.gateway_base_url) as client:
        result = client.generate(
            "a fox", width=256, height=256, gateway_options=GatewayOptions(skip_cache=True)
        )
    assert result.format == "jpeg"
    (recorded,) = emu.requests
    assert recorded.path.startswith(f"/gateway/v1/{ACCOUNT}/my-gateway/workers-ai/@cf/")
    assert recorded.headers["cf-aig-skip-cache"] == "true"


def test_formats_follow_the_emulator(make_image: Callable[..., bytes]) -> None:
    for fmt in ("png", "webp"):
        with serve(seed=0, image_format=fmt) as emu, client_for(emu) as client:
            result = client.generate("a fox", width=300, height=260)
        assert (result.format, result.width, result.height) == (fmt, 300, 260)


# -- async ---------------------------------------------------------------------------------------


async def test_async_success_and_concurrency(emu: Emulator) -> None:
    async with async_client_for(emu) as client:
        results = await asyncio.gather(
            *(client.generate("a fox", seed=seed, width=256, height=256) for seed in range(8))
        )
    assert sorted(r.seed for r in results if r.seed is not None) == list(range(8))
    assert len({r.data for r in results}) == 8
    assert len(emu.requests) == 8


async def test_async_retries_html_502_and_does_not_retry_quota(no_sleep: list[float]) -> None:
    with serve(seed=0, html_502_ratio=1.0) as emu:
        async with async_client_for(emu, max_retries=1) as client:
            with pytest.raises(InternalServerError) as info:
                await client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 2
    assert "502 Bad Gateway" in info.value.message
    with serve(seed=0, daily_quota=0) as emu:
        async with async_client_for(emu) as client:
            with pytest.raises(QuotaExceededError):
                await client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 1


async def test_async_capacity_retry_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def short_sleep(self: object, seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0.15)

    monkeypatch.setattr(AsyncWorkersAI, "_sleep", short_sleep)
    with serve(seed=0, rate_limit_per_minute=600, rate_limit_burst=1) as emu:
        async with async_client_for(emu) as client:
            await client.generate("a fox", width=256, height=256)
            result = await client.generate("a fox", width=256, height=256)
        assert [r.status for r in emu.requests] == [200, 429, 200]
    assert slept == [1.0]
    assert result.attempts == 2


async def test_async_errors_match_the_sync_ones(emu: Emulator, no_sleep: list[float]) -> None:
    async with AsyncWorkersAI(account_id=ACCOUNT, api_token="nope", base_url=emu.base_url) as c:
        with pytest.raises(AuthenticationError):
            await c.generate("a fox")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        unknown = resolve_model("@cf/x/unknown", allow_unknown_model=True, route="multipart")
        async with async_client_for(emu, model=unknown) as client:
            with pytest.raises(BadRequestError):
                await client.generate("a fox")


def test_a_success_that_is_no_image_read_here_keeps_its_bytes(no_sleep: list[float]) -> None:
    with serve(seed=0, not_an_image_ratio=1.0) as emu:
        with client_for(emu) as client, pytest.raises(ResponseError, match="GIF") as info:
            client.generate("a fox", width=256, height=256)
        assert len(emu.requests) == 1  # the model ran: never resent
    error = info.value
    assert error.may_have_been_billed is True
    assert error.data is not None
    assert error.data.startswith(b"GIF89a")
    assert "the image is GIF, not JPEG, PNG or WebP (43 bytes)" in str(error)
    assert "look at what it answered" in error.hint
    assert pickle.loads(pickle.dumps(error)).data == error.data  # crosses processes whole


def test_a_success_that_is_no_image_keeps_its_bytes_in_the_async_client_too() -> None:
    async def main() -> ResponseError:
        with serve(seed=0, not_an_image_ratio=1.0) as emu:
            async with async_client_for(emu) as client:
                try:
                    await client.generate("a fox", width=256, height=256)
                except ResponseError as exc:
                    return exc
        raise AssertionError("a GIF was taken for an image")

    error = asyncio.run(main())
    assert error.data is not None
    assert error.data.startswith(b"GIF89a")


def test_a_proxied_result_url_that_holds_no_image_keeps_its_bytes() -> None:
    with (
        serve(seed=0, not_an_image_ratio=1.0) as emu,
        client_for(emu) as client,
        pytest.raises(ResultDownloadError) as info,
    ):
        client.generate("a fox", model="flex", width=256, height=256)
    error = info.value
    assert error.reason == "not_an_image"
    assert error.data is not None
    assert error.data.startswith(b"GIF89a")
    assert "did not hold an image" in str(error)


def test_errors_with_nothing_to_keep_have_no_data(no_sleep: list[float]) -> None:
    with (
        serve(seed=0, invalid_base64_ratio=1.0) as emu,
        client_for(emu) as client,
        pytest.raises(ResponseError) as info,
    ):
        client.generate("a fox", width=256, height=256)
    assert info.value.data is None
