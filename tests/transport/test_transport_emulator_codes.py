"""Every code the emulator produces, over real HTTP, and the class the client maps it to.

One test per row of the table in docs/emulator.md that a client branches on: the status, the
Cloudflare code, the error_chain where the platform sends one, the class, and whether it was
retried (how many requests the emulator received).
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest

from flux2prompt.emulator import Emulator, serve
from flux2prompt.transport import (
    APIStatusError,
    BadRequestError,
    ContentModeratedError,
    InternalServerError,
    InvalidRequestHeadersError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestTimeoutError,
    UnknownModelWarning,
    WorkersAI,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def client_for(emu: Emulator, **options: Any) -> WorkersAI:
    options.setdefault("base_url", emu.base_url)
    return WorkersAI(account_id=ACCOUNT, api_token="tok-0123456789", **options)


@pytest.mark.parametrize(
    ("config", "status", "code", "cls", "sent"),
    [
        ({"error_ratios": {408: 1.0}}, 408, 3046, RequestTimeoutError, 3),
        ({"error_ratios": {504: 1.0}}, 504, None, InternalServerError, 3),
        ({"code_ratios": {4006: 1.0}}, 429, 4006, QuotaExceededError, 1),
        ({"code_ratios": {8007: 1.0}}, 400, 8007, ContentModeratedError, 1),
        ({"code_ratios": {5016: 1.0}}, 403, 5016, PermissionDeniedError, 1),
    ],
)
def test_injected_codes_map_to_their_class(
    config: dict[str, Any],
    status: int,
    code: int | None,
    cls: type[APIStatusError],
    sent: int,
    no_sleep: list[float],
) -> None:
    with serve(seed=0, **config) as emu:
        with client_for(emu) as client, pytest.raises(cls) as info:
            client.generate("a fox", model="klein-4b", width=256, height=256)
        assert posts(emu) == sent, "retried as the policy says (408 and 504: yes; the rest: no)"
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.code) == (status, code)
    assert error.attempts == sent
    assert str(error.request_id).endswith("-EMU")


def test_a_504_is_the_edges_html_page(no_sleep: list[float]) -> None:
    with (
        serve(error_ratios={504: 1.0}) as emu,
        client_for(emu, max_retries=0) as client,
        pytest.raises(InternalServerError) as info,
    ):
        client.generate("a fox", width=256, height=256)
    assert "504 Gateway Time-out" in info.value.message
    assert "retried" in info.value.hint


def test_the_nsfw_and_quota_messages_are_the_platforms(no_sleep: list[float]) -> None:
    with (
        serve(code_ratios={8007: 1.0}) as emu,
        client_for(emu) as client,
        pytest.raises(ContentModeratedError) as info,
    ):
        client.generate("a fox", width=256, height=256)
    assert info.value.message == "Input prompt contains NSFW content."
    assert "Rephrase" in str(info.value)


def test_unknown_model_is_400_5007(no_sleep: list[float]) -> None:
    with serve() as emu, client_for(emu) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        with pytest.raises(BadRequestError) as info:
            # Refused before sending unless the caller says how a newer model is called.
            client.generate(
                "a fox",
                model="@cf/black-forest-labs/flux-9-ultra",
                allow_unknown_model=True,
                route="multipart",
            )
        assert posts(emu) == 1
    assert type(info.value) is BadRequestError
    assert (info.value.status_code, info.value.code) == (400, 5007)
    assert "flux-9-ultra" in info.value.message


def test_a_malformed_authorization_header_is_400_6003_and_says_so(no_sleep: list[float]) -> None:
    # The client never sends such a header itself (it refuses a token with whitespace); a proxy
    # or a hook that rewrites it does, and the client must then say what the platform said.
    def mangle(request: httpx.Request) -> None:
        request.headers["Authorization"] = "Token tok-0123456789"

    with serve() as emu, httpx.Client(event_hooks={"request": [mangle]}) as http:
        client = client_for(emu, http_client=http)
        with pytest.raises(InvalidRequestHeadersError) as info:
            client.generate("a fox", width=256, height=256)
        assert posts(emu) == 1
    error = info.value
    assert (error.status_code, error.code) == (400, 6003)
    assert [(c.code, c.message) for c in error.error_chain] == [
        (6111, "Invalid format for Authorization header")
    ]
    assert "Invalid format for Authorization header" in str(error)
    assert "Bearer <token>" in error.hint
    assert "model id" not in str(error)
    assert "tok-0123456789" not in str(error)


def test_a_missing_or_wrong_token_stays_401(no_sleep: list[float]) -> None:
    from flux2prompt.transport import AuthenticationError

    with (
        serve(token="right-token-0123") as emu,
        client_for(emu) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.generate("a fox", width=256, height=256)
    assert (info.value.status_code, info.value.code) == (401, 10000)


def test_an_unknown_route_is_400_7000_with_a_hint_about_the_base_url(
    no_sleep: list[float],
) -> None:
    with serve() as emu:
        wrong = emu.base_url.removesuffix("/client/v4") + "/api/v4"
        with client_for(emu, base_url=wrong) as client, pytest.raises(BadRequestError) as info:
            client.generate("a fox", width=256, height=256)
        assert posts(emu) == 1
    assert (info.value.status_code, info.value.code) == (400, 7000)
    assert info.value.message == "No route for that URI"
    assert "base_url" in info.value.hint
    assert "gateway=" not in info.value.hint


def test_the_gateway_route_injects_500_7000(no_sleep: list[float]) -> None:
    with serve(code_ratios={7000: 1.0}) as emu:
        client = client_for(emu, gateway="images", gateway_base_url=emu.gateway_base_url)
        with client, pytest.raises(InternalServerError) as info:
            client.generate("a fox", width=256, height=256)
        assert posts(emu) == 1, "a 500 is not retried"
        # The gateway's failure only: a direct call with the same configuration succeeds.
        with client_for(emu) as direct:
            assert direct.generate("a fox", width=256, height=256).format == "jpeg"
    assert (info.value.status_code, info.value.code) == (500, 7000)
    assert "call Workers AI directly" in info.value.hint
