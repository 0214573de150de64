"""Request building: catalogue checks, prompt coercion, fingerprints, gateway route, multipart."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable

import httpx
import pytest

import flux2prompt
from flux2prompt.transport import (
    MODELS,
    ConfigurationError,
    GatewayOptions,
    ImageError,
    ParameterError,
    Route,
    UnknownModelWarning,
    WorkersAI,
    build_request,
    estimate_cost,
    resolve_model,
)
from flux2prompt.transport._request import coerce_prompt, endpoint_url

DEV = "@cf/black-forest-labs/flux-2-dev"
KLEIN_4B = "@cf/black-forest-labs/flux-2-klein-4b"
KLEIN_9B = "@cf/black-forest-labs/flux-2-klein-9b"


# -- the catalogue -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("flux-2-dev", DEV),
        ("dev", DEV),
        (DEV, DEV),
        ("klein-4b", KLEIN_4B),
        ("flux-2-klein-4b", KLEIN_4B),
        ("klein-9b", KLEIN_9B),
        ("KLEIN-9B", KLEIN_9B),
    ],
)
def test_short_names_resolve_to_full_ids(name: str, model_id: str) -> None:
    assert resolve_model(name).id == model_id


def test_catalogue_matches_the_reference() -> None:
    for spec in MODELS:
        if spec.route is not Route.MULTIPART:
            continue
        assert (spec.min_side, spec.max_side) == (256, 1920)
        assert (spec.default_width, spec.default_height) == (1024, 768)
        assert (spec.max_input_images, spec.max_input_side) == (4, 512)
    assert resolve_model("dev").fixed_steps is None
    assert "steps" in resolve_model("dev").fields
    for klein in ("klein-4b", "klein-9b"):
        assert resolve_model(klein).fixed_steps == 4
        assert "steps" not in resolve_model(klein).fields


def test_an_unknown_full_id_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="allow_unknown_model=True") as info:
        build_request("a fox", model="@cf/black-forest-labs/flux-3-dev", steps=30)
    message = str(info.value)
    assert "did you mean '@cf/black-forest-labs/flux-2-dev'" in message
    for spec in MODELS:
        assert spec.id in message
    assert info.value.parameter == "model"


def test_allow_unknown_model_needs_a_route() -> None:
    with pytest.raises(ParameterError, match="route='multipart'") as info:
        build_request("a fox", model="@cf/black-forest-labs/flux-3-dev", allow_unknown_model=True)
    assert info.value.parameter == "route"
    with pytest.raises(ParameterError, match="route must be"):
        resolve_model("@cf/x/y", allow_unknown_model=True, route="grpc")


def test_allow_unknown_model_with_a_route_sends_with_generic_limits() -> None:
    with pytest.warns(UnknownModelWarning, match="not in flux2prompt's catalogue"):
        request = build_request(
            "a fox",
            model="@cf/black-forest-labs/flux-3-dev",
            steps=30,
            allow_unknown_model=True,
            route="multipart",
        )
    assert request.url.endswith("/ai/run/@cf/black-forest-labs/flux-3-dev")
    assert request.params["steps"] == 30
    assert request.payload is None
    with pytest.warns(UnknownModelWarning):
        proxied = build_request(
            "a fox",
            model="black-forest-labs/flux-3-pro",
            width=64,
            height=64,
            allow_unknown_model=True,
            route=Route.PROXIED,
        )
    assert proxied.url.endswith("/ai/run")
    assert proxied.payload is not None
    assert proxied.payload["model"] == "black-forest-labs/flux-3-pro"
    assert issubclass(UnknownModelWarning, UserWarning)


def test_an_unknown_short_name_is_a_typo() -> None:
    with pytest.raises(ParameterError, match="did you mean 'klein-4b' or") as info:
        resolve_model("klien-4b")
    assert info.value.parameter == "model"


@pytest.mark.parametrize(
    ("model", "size", "steps", "inputs", "expected"),
    [
        # 1024x768: 2x2 = 4 tiles; 25 steps * 4 * 0.00041
        ("flux-2-dev", (1024, 768), 25, [], 0.041),
        # + one 512x512 input tile: 25 * 1 * 0.00021
        ("flux-2-dev", (1024, 768), 25, [(512, 512)], 0.041 + 0.00525),
        # steps default to 25 for the estimate
        ("dev", (512, 512), None, [], 25 * 0.00041),
        # 1920x1920: 4x4 = 16 tiles
        ("dev", (1920, 1920), 4, [], 4 * 16 * 0.00041),
        ("klein-4b", (1024, 1024), None, [(512, 512), (300, 600)], 4 * 0.000287 + 3 * 0.000059),
        # klein-9b: the first megapixel (1024x1024) is charged whole, even for 1024x768
        ("klein-9b", (1024, 768), None, [], 0.015),
        # 1920x1920 = 3,686,400 px = 3.515625 MP of 1,048,576 px: 2.515625 further MP;
        # one 512x512 input = 0.25 MP
        ("klein-9b", (1920, 1920), None, [(512, 512)], 0.015 + 2.515625 * 0.002 + 0.25 * 0.002),
    ],
)
def test_estimate_cost(
    model: str,
    size: tuple[int, int],
    steps: int | None,
    inputs: list[tuple[int, int]],
    expected: float,
) -> None:
    assert estimate_cost(model, *size, steps=steps, input_images=inputs) == pytest.approx(expected)


def test_estimate_cost_defaults_to_the_default_size() -> None:
    assert estimate_cost("klein-4b") == pytest.approx(4 * 0.000287)


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("dev", {}),
        ("dev", {"width": 1920, "height": 1080, "steps": 8}),
        ("klein-4b", {"width": 512, "height": 512}),
        ("klein-9b", {"width": 1920, "height": 1920}),
    ],
)
def test_a_request_estimates_its_own_cost(
    model: str, kwargs: dict[str, int], make_image: Callable[..., bytes]
) -> None:
    # The input image is downscaled to 512x384 before it is sent: the estimate prices that.
    request = build_request("a fox", model=model, images=[make_image(1024, 768)], **kwargs)
    expected = estimate_cost(
        model,
        int(request.params["width"]),
        int(request.params["height"]),
        kwargs.get("steps"),
        [(512, 384)],
    )
    assert request.estimated_cost == pytest.approx(expected)


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter", "fragment"),
    [
        ({"width": 255}, "width", "256-1920"),
        ({"height": 1921}, "height", "256-1920"),
        ({"width": 512.0}, "width", "integer"),
        ({"width": True}, "width", "integer"),
        ({"model": "klein-4b", "steps": 4}, "steps", "fixed at 4"),
        ({"model": "klein-9b", "steps": 25}, "steps", "leave steps unset"),
        ({"steps": 0}, "steps", "at least 1"),
        ({"guidance": float("nan")}, "guidance", "finite"),
        ({"guidance": -1}, "guidance", ">= 0"),
        ({"guidance": "3"}, "guidance", "number"),
        ({"seed": -1}, "seed", "0-"),
        ({"seed": 2**64}, "seed", "0-"),
        ({"account_id": "a/b"}, "account_id", "path segment"),
        ({"gateway": "my gateway"}, "gateway", "path segment"),
        ({"gateway_options": GatewayOptions(cache_ttl=60)}, "gateway_options", "gateway="),
    ],
)
def test_parameters_are_checked_before_sending(
    kwargs: dict[str, object], parameter: str, fragment: str
) -> None:
    with pytest.raises(ParameterError, match=fragment) as info:
        build_request("a fox", **kwargs)  # type: ignore[arg-type]
    assert info.value.parameter == parameter
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, flux2prompt.Flux2PromptError)


def test_at_most_four_input_images(make_image: Callable[..., bytes]) -> None:
    png = make_image(32, 32)
    assert len(build_request("a fox", images=[png] * 4).images) == 4
    with pytest.raises(ParameterError, match="at most 4 input images"):
        build_request("a fox", images=[png] * 5)


def test_width_and_height_are_always_sent_other_parameters_only_when_given() -> None:
    request = build_request("a fox")
    assert dict(request.fields) == {"prompt": "a fox", "width": "1024", "height": "768"}
    request = build_request("a fox", width=512, height=1920, steps=28, guidance=3, seed=0)
    assert dict(request.fields) == {
        "prompt": "a fox",
        "width": "512",
        "height": "1920",
        "steps": "28",
        "guidance": "3.0",
        "seed": "0",
    }
    assert request.seed == 0


# -- prompts -------------------------------------------------------------------------------------


def test_plain_text_prompt_is_sent_as_is_and_fingerprinted_over_its_utf8_bytes() -> None:
    text = "夜の東京、ネオンの看板 «مرحبا»"
    wire, fingerprint = coerce_prompt(text)
    assert wire == text
    assert fingerprint == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_builder_prompt_dict_and_json_all_send_the_compiled_wire_json() -> None:
    builder = (
        flux2prompt.scene("a tea house at dusk")
        .text("東京", language="ja")
        .text("مرحبا", language="ar")
    )
    prompt = builder.compile()
    expected = (prompt.to_json(), prompt.fingerprint)
    assert coerce_prompt(builder) == expected
    assert coerce_prompt(prompt) == expected
    assert coerce_prompt(json.loads(prompt.to_json())) == expected
    assert "東京" in expected[0]
    assert "مرحبا" in expected[0]
    assert build_request(builder).prompt == prompt.to_json()


def test_prompt_errors_from_the_core_pass_through() -> None:
    with pytest.raises(flux2prompt.PromptError):
        coerce_prompt({"scene": 3})


@pytest.mark.parametrize("bad", ["", "   ", 42, None, "\ud800 lone surrogate"])
def test_unusable_prompts_are_refused(bad: object) -> None:
    with pytest.raises(ParameterError) as info:
        coerce_prompt(bad)
    assert info.value.parameter == "prompt"


# -- fingerprints --------------------------------------------------------------------------------


def test_request_fingerprint_is_stable_and_covers_what_changes_the_image(
    make_image: Callable[..., bytes],
) -> None:
    png, other = make_image(32, 32), make_image(48, 32)
    base = build_request("a fox", seed=1, images=[png]).fingerprint
    assert base == build_request("a fox", seed=1, images=[png]).fingerprint
    assert base == build_request("a fox", seed=1, images=[png], account_id="acc").fingerprint
    assert base == build_request("a fox", seed=1, images=[png], gateway="gw").fingerprint
    for changed in (
        build_request("a fox!", seed=1, images=[png]),
        build_request("a fox", seed=2, images=[png]),
        build_request("a fox", seed=1, images=[other]),
        build_request("a fox", seed=1, images=[png, png]),
        build_request("a fox", seed=1),
        build_request("a fox", seed=1, images=[png], model="klein-4b"),
        build_request("a fox", seed=1, images=[png], width=512),
    ):
        assert changed.fingerprint != base
    # 3 and 3.0 are the same guidance
    assert (
        build_request("a fox", guidance=3).fingerprint
        == build_request("a fox", guidance=3.0).fingerprint
    )


def test_fingerprint_is_sha256_over_canonical_json(make_image: Callable[..., bytes]) -> None:
    png = make_image(16, 16)
    request = build_request("a fox", seed=5, guidance=2.5, images=[png])
    canonical = json.dumps(
        {
            "images": [hashlib.sha256(png).hexdigest()],
            "model": DEV,
            "params": {"guidance": 2.5, "height": 768, "seed": 5, "width": 1024},
            "prompt": "sha256:" + hashlib.sha256(b"a fox").hexdigest(),
        },
        separators=(",", ":"),
    )
    assert request.fingerprint == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# -- URLs and the gateway ------------------------------------------------------------------------


def test_direct_url() -> None:
    request = build_request("a fox", account_id="acc123", base_url="http://127.0.0.1:1/client/v4/")
    assert request.url == f"http://127.0.0.1:1/client/v4/accounts/acc123/ai/run/{DEV}"
    assert "{account_id}" in build_request("a fox").url


@pytest.mark.parametrize("gateway", [None, "images"])
def test_the_client_sends_to_the_url_its_requests_carry(gateway: str | None) -> None:
    # One source of truth for the endpoint: a request the client builds names the URL it is sent
    # to, and a dry-run request (no account id) is sent to the client's endpoint.
    with WorkersAI(
        account_id="acc", api_token="tok", gateway=gateway, base_url="http://127.0.0.1:1/v4/"
    ) as client:
        own = client.build_request("a fox", model="klein-4b")
        dry = build_request("a fox", model="klein-4b")
        assert client._url_for(own) == own.url == client._url_for(dry)
        assert own.url == endpoint_url(
            "klein-4b", account_id="acc", base_url="http://127.0.0.1:1/v4", gateway=gateway
        )


def test_gateway_url_and_headers() -> None:
    options = GatewayOptions(
        skip_cache=False,
        cache_ttl=3600,
        cache_key="hero-v2",
        collect_log=True,
        request_timeout_ms=120_000,
        max_attempts=3,
        retry_delay_ms=500,
        backoff="linear",
        metadata={"team": "design", "run": 7, "draft": True},
        authorization="gw-secret",
    )
    request = build_request(
        "a fox", account_id="acc", gateway="images", model="klein-4b", gateway_options=options
    )
    assert request.url == f"https://gateway.ai.cloudflare.com/v1/acc/images/workers-ai/{KLEIN_4B}"
    assert dict(request.headers) == {
        "cf-aig-skip-cache": "false",
        "cf-aig-cache-ttl": "3600",
        "cf-aig-cache-key": "hero-v2",
        "cf-aig-collect-log": "true",
        "cf-aig-request-timeout": "120000",
        "cf-aig-max-attempts": "3",
        "cf-aig-retry-delay": "500",
        "cf-aig-backoff": "linear",
        "cf-aig-metadata": '{"team":"design","run":7,"draft":true}',
        "cf-aig-authorization": "Bearer gw-secret",
    }
    assert "gw-secret" not in repr(options)
    assert "gw-secret" not in repr(request)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cache_ttl": 59}, "between 60 and 2,592,000"),
        ({"cache_ttl": 2_592_001}, "between 60 and 2,592,000"),
        ({"max_attempts": 6}, "between 1 and 5"),
        ({"max_attempts": 0}, "between 1 and 5"),
        ({"retry_delay_ms": 5001}, "between 0 and 5,000"),
        ({"request_timeout_ms": 0}, "at least 1"),
        ({"backoff": "random"}, "constant, linear, exponential"),
        ({"metadata": {str(i): i for i in range(6)}}, "at most 5"),
        ({"metadata": {"k": [1]}}, "strings, numbers or booleans"),
        ({"skip_cache": "yes"}, "True, False or None"),
        ({"cache_key": "clé"}, "ASCII"),
    ],
)
def test_gateway_options_are_validated(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        GatewayOptions(**kwargs)  # type: ignore[arg-type]


def test_gateway_metadata_is_copied() -> None:
    metadata = {"a": 1}
    options = GatewayOptions(metadata=metadata)
    metadata["b"] = 2
    assert options.headers()["cf-aig-metadata"] == '{"a":1}'


# -- the client's configuration ------------------------------------------------------------------


def test_missing_credentials_name_the_environment_variables() -> None:
    with pytest.raises(ConfigurationError) as info:
        WorkersAI()
    assert "CLOUDFLARE_ACCOUNT_ID" in str(info.value)
    assert "CLOUDFLARE_API_TOKEN" in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        WorkersAI(account_id="acc")
    assert "CLOUDFLARE_API_TOKEN" in str(info.value)
    assert "account id" not in str(info.value).split("needs")[1].split(".")[0]


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "env-acc")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-tok")
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:9/client/v4")
    monkeypatch.setenv("CLOUDFLARE_GATEWAY_BASE_URL", "http://127.0.0.1:9/gateway/v1")
    with WorkersAI() as client:
        assert client.build_request("x").url.startswith(
            "http://127.0.0.1:9/client/v4/accounts/env-acc/"
        )
        assert (
            client.with_options(gateway="gw")
            .build_request("x")
            .url.startswith("http://127.0.0.1:9/gateway/v1/env-acc/gw/workers-ai/")
        )
    with WorkersAI(account_id="arg-acc", api_token="arg-tok", base_url="http://x/v4") as client:
        assert client.account_id == "arg-acc"
        assert client.base_url == "http://x/v4"


def test_with_options_returns_a_new_client_sharing_the_pool() -> None:
    with WorkersAI(account_id="acc", api_token="tok", timeout=5) as client:
        other = client.with_options(model="klein-9b", max_retries=0, gateway="gw")
        assert other is not client
        assert (other.model.id, other.max_retries, other.gateway) == (KLEIN_9B, 0, "gw")
        assert (client.model.id, client.max_retries, client.gateway) == (DEV, 2, None)
        assert other.timeout == httpx.Timeout(5.0)
        assert other._client is client._client
        assert other.with_options(gateway=None).gateway is None
        other.close()  # does not close the shared pool
        assert not client._client.is_closed
    assert client._client.is_closed


def test_default_timeout_is_generous_and_injected_clients_keep_theirs() -> None:
    with WorkersAI(account_id="acc", api_token="tok") as client:
        assert client.timeout is not None
        assert client.timeout.read == 180.0
        assert client.timeout.connect == 10.0
    http = httpx.Client(timeout=3.0)
    with WorkersAI(account_id="acc", api_token="tok", http_client=http) as client:
        assert client.timeout is None
        assert client._to_httpx(client.build_request("x")).extensions["timeout"]["read"] == 3.0
    assert not http.is_closed  # not ours to close
    http.close()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_max_retries_is_checked(bad: object) -> None:
    with pytest.raises(ParameterError):
        WorkersAI(account_id="acc", api_token="tok", max_retries=bad)  # type: ignore[arg-type]


def test_the_body_is_multipart_even_for_a_prompt_alone() -> None:
    with WorkersAI(account_id="acc", api_token="tok") as client:
        http_request = client._to_httpx(client.build_request("a fox"))
    assert http_request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert http_request.headers["authorization"] == "Bearer tok"
    body = http_request.read()
    assert b'Content-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n' in body
    assert b"filename" not in body


def test_send_targets_the_clients_endpoint(make_image: Callable[..., bytes]) -> None:
    dry = build_request("a fox", images=[make_image(8, 8)])
    with WorkersAI(account_id="acc", api_token="tok", base_url="http://127.0.0.1:1/v4") as client:
        assert client._to_httpx(dry).url == f"http://127.0.0.1:1/v4/accounts/acc/ai/run/{DEV}"
        gateway_dry = build_request(
            "a fox", gateway="gw", gateway_options=GatewayOptions(skip_cache=True)
        )
        with pytest.raises(ParameterError, match="no gateway"):
            client._to_httpx(gateway_dry)


def test_image_errors_are_parameter_errors() -> None:
    with pytest.raises(ImageError):
        build_request("a fox", images=[b"definitely not an image"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_request("a fox", images=()).images == ()


@pytest.mark.parametrize("token", ["s3cr3t\n", "s3 cr3t", "s3cr3tö", "s3cr3t\x00"])
def test_a_token_no_header_can_carry_is_refused_up_front(token: str) -> None:
    # Otherwise httpx fails on every attempt (retried as a connection error) or raises
    # UnicodeEncodeError; the message must not quote the token.
    with pytest.raises(ConfigurationError, match="CLOUDFLARE_API_TOKEN") as info:
        WorkersAI(account_id="acc", api_token=token)
    assert token.strip() not in str(info.value)


@pytest.mark.parametrize("url", ["notaurl", "ftp://example.com/v4", "localhost:8787", "http://"])
def test_a_base_url_that_is_not_http_is_refused_up_front(url: str) -> None:
    with pytest.raises(ConfigurationError, match="CLOUDFLARE_BASE_URL"):
        WorkersAI(account_id="acc", api_token="tok", base_url=url)
    with pytest.raises(ConfigurationError, match="CLOUDFLARE_GATEWAY_BASE_URL"):
        WorkersAI(account_id="acc", api_token="tok", gateway="gw", gateway_base_url=url)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_a_timeout_must_be_positive_seconds(timeout: float) -> None:
    with pytest.raises(ParameterError, match="timeout must be seconds"):
        WorkersAI(account_id="acc", api_token="tok", timeout=timeout)


@pytest.mark.parametrize(
    "model_id",
    [
        "@cf/black-forest-labs/flux-2-dev#fragment",
        "@cf/black-forest-labs/flux-2-dev?x=1",
        "@cf/black-forest-labs/flux 2",
        "@cf/black-forest-labs/flux\n-2-dev",
        "@cf/black-forest-labs/\x00dev",
        "@cf/../../accounts/other/ai/run/x",
        "@cf/black-forest-labs/./flux-2-dev",
        "@cf//flux-2-dev",
        "@cf/black-forest-labs/flux-2-dev/",
        "@cf/black-forest-labs/flux%2F2",
    ],
)
def test_a_model_id_that_would_change_the_url_is_refused_before_sending(model_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        with pytest.raises(ParameterError, match="would change the URL") as info:
            build_request("a fox", model=model_id)
    assert info.value.parameter == "model"


def test_a_client_refuses_such_a_model_id_without_sending(no_sleep: list[float]) -> None:
    import httpx

    from flux2prompt.transport import WorkersAI

    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(500))
    with (
        WorkersAI(
            account_id="acc", api_token="tok", http_client=httpx.Client(transport=transport)
        ) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UnknownModelWarning)
        with pytest.raises(ParameterError):
            client.generate("a fox", model="@cf/black-forest-labs/flux-2-dev#x")
    assert seen == []


def test_a_text_prompt_nested_past_any_depth_is_sent_and_recorded_as_text() -> None:
    from flux2prompt.transport import build_bfl_request

    text = '{"scene": ' + "[" * 100_000 + "]" * 100_000 + "}"
    request = build_request(text)
    assert (request.prompt, request.document) == (text, text)
    bfl = build_bfl_request(text, prompt_upsampling=True)
    assert bfl.document == text
