"""Black Forest Labs' endpoint tables, request building and prices: pure, nothing is sent."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flux2prompt
from flux2prompt.transport import (
    BFL,
    BFL_MODELS,
    AsyncBFL,
    ParameterError,
    Provider,
    build_bfl_request,
    estimate_bfl_cost,
    resolve_bfl_model,
)

FLUX2 = [spec.id for spec in BFL_MODELS if spec.family == "flux2"]
FLUX3 = [spec.id for spec in BFL_MODELS if spec.family == "flux3"]


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def test_the_catalogue_holds_every_endpoint_of_the_reference() -> None:
    assert [spec.id for spec in BFL_MODELS] == [
        "flux-2-pro",
        "flux-2-pro-preview",
        "flux-2-max",
        "flux-2-flex",
        "flux-2-klein-4b",
        "flux-2-klein-9b",
        "flux-3-image",
        "flux-3-image-klein",
    ]
    assert all(spec.provider is Provider.BFL for spec in BFL_MODELS)
    assert {resolve_bfl_model(n).max_references for n in ("pro", "max", "flex")} == {8}
    assert {resolve_bfl_model(n).max_references for n in ("klein-4b", "klein-9b")} == {4}
    assert {resolve_bfl_model(n).result_validity for n in FLUX2} == {600.0}
    assert {resolve_bfl_model(n).result_validity for n in FLUX3} == {3600.0}


def test_workers_ai_spellings_name_the_same_endpoint() -> None:
    assert resolve_bfl_model("black-forest-labs/flux-2-flex").id == "flux-2-flex"
    assert resolve_bfl_model("@cf/black-forest-labs/flux-2-klein-4b").id == "flux-2-klein-4b"
    with pytest.raises(ParameterError, match="did you mean 'flux-2-max'"):
        resolve_bfl_model("flux-2-maxx")


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("flux-3-image", "seed", 1),
        ("flux-3-image", "width", 1024),
        ("flux-3-image", "prompt_upsampling", True),
        ("flux-3-image-klein", "steps", 4),
        ("flux-2-pro", "steps", 20),
        ("flux-2-max", "guidance", 3.0),
        ("flux-2-klein-4b", "aspect_ratio", "16:9"),
        ("flux-2-flex", "grounding", True),
        ("flux-2-pro", "resolution", "2k"),
    ],
)
def test_a_field_the_endpoint_would_422_is_refused_with_the_allowed_list(
    model: str, field: str, value: object
) -> None:
    spec = resolve_bfl_model(model)
    with pytest.raises(ParameterError) as caught:
        build_bfl_request("a fox", model=model, **{field: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"does not take {field!r}" in message
    assert message.endswith(", ".join(spec.allowed_fields))
    assert caught.value.parameter == field


def test_extra_fields_are_checked_against_the_same_table() -> None:
    req = build_bfl_request("a fox", model="flux-3-image", extra={"version": "latest"})
    assert req.payload["version"] == "latest"
    with pytest.raises(ParameterError, match="does not take 'transparent_bg'"):
        build_bfl_request("a fox", model="pro", extra={"transparent_bg": True})
    with pytest.raises(ParameterError, match="images="):
        build_bfl_request("a fox", model="pro", extra={"input_image": "x"})


@given(st.integers(min_value=64, max_value=2048), st.integers(min_value=64, max_value=2048))
def test_sizes_are_multiples_of_16_and_at_most_4_megapixels(width: int, height: int) -> None:
    ok = width % 16 == 0 and height % 16 == 0 and width * height <= 4 * 1024 * 1024
    if ok:
        req = build_bfl_request("a fox", model="klein-9b", width=width, height=height)
        assert (req.payload["width"], req.payload["height"]) == (width, height)
    else:
        with pytest.raises(ParameterError):
            build_bfl_request("a fox", model="klein-9b", width=width, height=height)


def test_flex_limits_steps_and_guidance() -> None:
    assert build_bfl_request("x", model="flex", steps=50, guidance=10).params["guidance"] == 10.0
    for bad in ({"steps": 0}, {"steps": 51}, {"guidance": 1.4}, {"guidance": float("nan")}):
        with pytest.raises(ParameterError):
            build_bfl_request("x", model="flex", **bad)  # type: ignore[arg-type]


def test_safety_tolerance_output_format_and_flux3_choices() -> None:
    assert build_bfl_request("x", model="pro", safety_tolerance=5).params["safety_tolerance"] == 5
    with pytest.raises(ParameterError, match="0-4 for flux-3-image"):
        build_bfl_request("x", model="flux-3-image", safety_tolerance=5)
    assert build_bfl_request("x", model="max", output_format="JPG").params["output_format"] == (
        "jpeg"
    )
    with pytest.raises(ParameterError, match="one of jpeg, png"):
        build_bfl_request("x", model="max", output_format="webp")
    with pytest.raises(ParameterError, match="one of auto, 21:9"):
        build_bfl_request("x", model="flux-3-image", aspect_ratio="17:9")
    with pytest.raises(ParameterError, match="768sq, 1k"):
        build_bfl_request("x", model="flux-3-image", resolution="8k")


def test_reference_images_take_the_fields_of_each_family() -> None:
    image = png(300, 300)
    flux2 = build_bfl_request("image 1 and image 2", model="max", images=[image, image])
    assert [k for k in flux2.payload if k.startswith("input_image")] == [
        "input_image",
        "input_image_2",
    ]
    flux3 = build_bfl_request("image 1", model="flux-3-image", images=[image, "https://x.test/a"])
    assert len(flux3.payload["images"]) == 2
    assert flux3.payload["images"][1] == "https://x.test/a"
    with pytest.raises(ParameterError, match="at most 4 reference images"):
        build_bfl_request("x", model="klein-4b", images=[image] * 5)
    with pytest.raises(ParameterError, match="at least 256x256"):
        build_bfl_request("x", model="flux-3-image", images=[png(100, 100)])
    # References enter the fingerprint by content.
    other = build_bfl_request("image 1 and image 2", model="max", images=[image, png(310, 300)])
    assert other.fingerprint != flux2.fingerprint


def test_webhooks_are_sent_but_stay_out_of_the_fingerprint_and_the_repr() -> None:
    plain = build_bfl_request("a fox", model="pro", seed=1)
    hooked = build_bfl_request(
        "a fox",
        model="pro",
        seed=1,
        webhook_url="https://hooks.example/bfl",
        webhook_secret="whsec-do-not-show",
    )
    assert hooked.payload["webhook_secret"] == "whsec-do-not-show"
    assert hooked.fingerprint == plain.fingerprint
    assert "whsec" not in repr(hooked)
    with pytest.raises(ParameterError, match="webhook_secret without webhook_url"):
        build_bfl_request("a fox", webhook_secret="s")


def test_the_fingerprint_differs_from_the_workers_ai_one_and_by_endpoint() -> None:
    bfl = build_bfl_request("a fox", model="klein-4b", seed=1)
    workers = flux2prompt.transport.build_request("a fox", model="klein-4b", seed=1)
    assert bfl.fingerprint != workers.fingerprint
    assert bfl.prompt_fingerprint == workers.prompt_fingerprint
    assert bfl.fingerprint != build_bfl_request("a fox", model="klein-9b", seed=1).fingerprint


def test_a_flux3_prompt_is_refused_on_flux2_with_the_fix() -> None:
    compiled = flux2prompt.scene().caption("A <mug_1>").element("mug_1", "a mug", "centre")
    with pytest.raises(ParameterError, match="pass the builder instead"):
        build_bfl_request(compiled.compile_flux3(), model="pro")
    assert build_bfl_request(compiled.compile_flux3(), model="flux-3-image").boxed


def test_costs_come_from_the_from_prices_or_say_none_is_published() -> None:
    assert estimate_bfl_cost("klein-4b") == 0.014
    assert estimate_bfl_cost("klein-9b") == 0.015
    assert estimate_bfl_cost("pro") == 0.03
    assert estimate_bfl_cost("pro", input_images=2) == 0.045
    assert estimate_bfl_cost("max") == 0.07
    assert estimate_bfl_cost("flex") == 0.05
    assert estimate_bfl_cost("max", 2048, 2048) == pytest.approx(0.28)
    for model in ("flux-3-image", "flux-3-image-klein", "pro-preview"):
        with pytest.raises(ParameterError, match="no published price"):
            estimate_bfl_cost(model)
    with pytest.raises(ParameterError, match="no published price"):
        _ = build_bfl_request("x", model="flux-3-image").estimated_cost


def test_the_client_reads_its_key_and_region_and_refuses_bad_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    with pytest.raises(flux2prompt.ConfigurationError, match="BFL_API_KEY"):
        BFL()
    monkeypatch.setenv("BFL_API_KEY", "key-from-env-0123456789")
    with BFL(region="us") as client:
        assert client.base_url == "https://api.us.bfl.ai"
        assert client.redact("key-from-env-0123456789") == "***"
    with pytest.raises(flux2prompt.ConfigurationError, match="stray newline"):
        BFL(api_key="abc\n")
    with pytest.raises(ParameterError, match="region must be one of global, eu, us"):
        BFL(region="asia")


def test_a_submit_read_timeout_is_not_resent_mock_transport() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        BFL(api_key="k", http_client=http, max_retries=5) as client,
        pytest.raises(flux2prompt.transport.PossiblyBilledError, match="not resubmitted"),
    ):
        client.generate("a fox")
    assert calls == ["POST"]


def test_a_submit_connect_error_is_retried_mock_transport() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": "t-1", "polling_url": "https://api.bfl.ai/x"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with BFL(api_key="k", http_client=http) as client:
        client._sleep = lambda seconds: None  # type: ignore[method-assign]
        task = client.submit(client.build_request("a fox"))
    assert calls == ["POST", "POST"]
    assert task.id == "t-1"


def test_a_422_answer_becomes_an_unprocessable_request_error_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        detail = [{"loc": ["body", "colour"], "msg": "Extra inputs are not permitted"}]
        return httpx.Response(422, json={"detail": detail})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        BFL(api_key="k", http_client=http) as client,
        pytest.raises(flux2prompt.transport.UnprocessableRequestError, match=r"body\.colour"),
    ):
        client.generate("a fox")


def test_each_bfl_endpoint_gets_its_own_form_by_default() -> None:
    prompt = flux2prompt.scene("a red fox in fresh snow").style("watercolour").compile()
    klein = build_bfl_request(prompt, model="klein-4b")
    assert (klein.prompt_format, klein.prompt) == ("prose", prompt.to_prose())
    pro = build_bfl_request(prompt, model="pro")
    assert (pro.prompt_format, pro.prompt) == ("json", prompt.to_json())
    asked = build_bfl_request(prompt, model="klein-4b", prompt_format="json")
    assert asked.prompt == prompt.to_json()
    # One prompt fingerprint in every form; the form a request is sent in is part of its own.
    assert klein.prompt_fingerprint == asked.prompt_fingerprint == prompt.fingerprint
    assert klein.fingerprint != asked.fingerprint
    with pytest.raises(ParameterError, match="prompt_format must be one of"):
        build_bfl_request(prompt, model="pro", prompt_format="yaml")


def test_a_layout_goes_to_flux_3_as_caption_and_boxes_and_to_flux_2_as_json() -> None:
    builder = (
        flux2prompt.scene()
        .caption("A <mug_1> beside a <lamp_1>")
        .element("mug_1", "a teal mug", "left third")
        .element("lamp_1", "a brass lamp", "right third")
    )
    flux3 = build_bfl_request(builder, model="flux-3-image")
    assert flux3.prompt_format == "layout"
    assert flux3.boxed
    assert flux3.prompt.startswith("A <mug_1> beside a <lamp_1>")
    flux2 = build_bfl_request(builder, model="pro")
    assert flux2.prompt_format == "json"
    assert not flux2.boxed
    subjects = json.loads(flux2.prompt)["subjects"]  # the boxes as position prose
    assert [s["description"] for s in subjects] == [
        "a teal mug, on the left side",
        "a brass lamp, on the right side",
    ]


def _slow_polls(request: httpx.Request) -> httpx.Response:
    # A submit that is accepted, then polls answered 429 with a Retry-After of a minute.
    if request.method == "POST":
        return httpx.Response(200, json={"id": "t-1", "polling_url": "https://api.bfl.ai/v1/get"})
    return httpx.Response(429, headers={"Retry-After": "60"}, json={"detail": "slow down"})


def test_a_long_retry_after_of_a_poll_never_waits_past_poll_timeout_mock_transport() -> None:
    slept: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(_slow_polls))
    with BFL(api_key="k", http_client=http, poll_timeout=2, max_retries=3) as client:
        client._sleep = slept.append  # type: ignore[method-assign]
        task = client.submit(client.build_request("a fox"))
        with pytest.raises(flux2prompt.transport.RateLimitError):
            client.result(task)
        assert slept, "the poll was retried"
        assert max(slept) <= 2, f"a wait past poll_timeout: {slept}"
        slept.clear()
        with pytest.raises(flux2prompt.transport.RateLimitError):
            client.poll(task)  # poll() on its own has no deadline: it honours Retry-After
        assert len(slept) == 3
        assert min(slept) >= 60


def test_a_long_retry_after_of_an_async_poll_never_waits_past_poll_timeout() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(_slow_polls))
        async with AsyncBFL(api_key="k", http_client=http, poll_timeout=2, max_retries=3) as c:
            c._sleep = sleep  # type: ignore[method-assign]
            task = await c.submit(c.build_request("a fox"))
            with pytest.raises(flux2prompt.transport.RateLimitError):
                await c.result(task)

    asyncio.run(main())
    assert slept
    assert max(slept) <= 2, f"a wait past poll_timeout: {slept}"
