"""The catalogue as routes: each model's route, fields and limits as data, its request body, its
fingerprint, and its price (klein-9b's checked by hand)."""

from __future__ import annotations

import base64
import json
import warnings

import pytest

from flux2prompt import scene
from flux2prompt.transport import (
    MODELS,
    ParameterError,
    RequestAdviceWarning,
    Route,
    build_request,
    estimate_cost,
    resolve_model,
)

PNG_8x8 = (
    bytes.fromhex("89504e470d0a1a0a0000000d49484452")
    + (8).to_bytes(4, "big")
    + (8).to_bytes(4, "big")
    + bytes(5)
)

# -- the catalogue -------------------------------------------------------------------------------


def test_every_model_has_a_route_and_the_proxied_ones_go_to_ai_run() -> None:
    routes = {spec.id: spec.route for spec in MODELS}
    assert routes == {
        "@cf/black-forest-labs/flux-2-dev": Route.MULTIPART,
        "@cf/black-forest-labs/flux-2-klein-4b": Route.MULTIPART,
        "@cf/black-forest-labs/flux-2-klein-9b": Route.MULTIPART,
        "@cf/black-forest-labs/flux-1-schnell": Route.JSON,
        "black-forest-labs/flux-2-flex": Route.PROXIED,
        "black-forest-labs/flux-2-pro-preview": Route.PROXIED,
        "black-forest-labs/flux-2-max": Route.PROXIED,
        "black-forest-labs/flux-2-klein-9b": Route.PROXIED,
    }
    for spec in MODELS:
        url = build_request("a fox", model=spec, **_small(spec)).url
        if spec.route is Route.PROXIED:
            assert url == "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/run"
        else:
            assert url.endswith(f"/ai/run/{spec.id}")


def _small(spec: object) -> dict[str, int]:
    assert hasattr(spec, "fields")
    return {"width": 256, "height": 256} if "width" in spec.fields else {}


def test_the_three_klein_9b_are_told_apart_by_their_entry() -> None:
    assert resolve_model("klein-9b").id == "@cf/black-forest-labs/flux-2-klein-9b"
    assert resolve_model("black-forest-labs/flux-2-klein-9b").route is Route.PROXIED
    assert resolve_model("klein-9b-proxied").wire_name("steps") == "num_steps"
    assert resolve_model("klein-9b").wire_name("steps") == "steps"


# -- klein-9b pricing, three cases checked by hand -----------------------------------------------


def test_klein_9b_first_megapixel_is_exactly_the_published_price() -> None:
    assert estimate_cost("klein-9b", width=1024, height=1024) == 0.015


def test_klein_9b_counts_further_output_megapixels_fractionally() -> None:
    # 1920 x 1080 = 2,073,600 px = 1.9775390625 MP of 1,048,576 px;
    # 0.015 + 0.9775390625 * 0.002 = 0.016955078125
    assert estimate_cost("klein-9b", 1920, 1080) == pytest.approx(0.016955078125, abs=1e-15)


def test_klein_9b_sums_input_megapixels_fractionally() -> None:
    # two 512x512 inputs = 2 * 262,144 px = 0.5 MP; 0.015 + 0.5 * 0.002 = 0.016
    cost = estimate_cost("klein-9b", 1024, 1024, input_images=[(512, 512), (512, 512)])
    assert cost == pytest.approx(0.016, abs=1e-15)


def test_a_smaller_klein_9b_image_still_pays_the_first_megapixel() -> None:
    assert estimate_cost("klein-9b", 512, 512) == 0.015


@pytest.mark.parametrize("model", ["flex", "pro-preview", "max", "klein-9b-proxied"])
def test_proxied_cost_estimates_point_to_unified_billing(model: str) -> None:
    with pytest.raises(ParameterError, match="billed in credits through Unified Billing, see"):
        estimate_cost(model, 1024, 1024)


# -- the request bodies ----------------------------------------------------------------------------


def test_flex_sends_a_json_envelope_with_its_own_limits() -> None:
    request = build_request("a fox", model="flex", width=64, height=80, steps=30, guidance=2)
    assert request.route is Route.PROXIED
    assert request.payload is not None
    body = json.loads(request.content or b"")
    assert body == {
        "model": "black-forest-labs/flux-2-flex",
        "input": {"prompt": "a fox", "width": 64, "height": 80, "steps": 30, "guidance": 2.0},
    }


@pytest.mark.parametrize(
    ("kwargs", "parameter", "needle"),
    [
        ({"width": 48}, "width", "width must be at least 64"),
        ({"width": 100}, "width", "multiple of 16 for flux-2-flex, got 100 (try 96 or 112)"),
        ({"width": 4096, "height": 2048}, "width", "at most 4,194,304 pixels"),
        ({"steps": 51}, "steps", "steps must be 1-50"),
        ({"guidance": 1.0}, "guidance", "1.5-10"),
        ({"seed": 2**53}, "seed", "seed must be 0-9007199254740991"),
        ({"safety_tolerance": 6}, "safety_tolerance", "0-5"),
        ({"output_format": "gif"}, "output_format", "jpeg, png, webp"),
        ({"images": ["https://x.example/a.png"] * 9}, "images", "at most 8 input images"),
    ],
)
def test_flex_limits_are_data(kwargs: dict[str, object], parameter: str, needle: str) -> None:
    with pytest.raises(ParameterError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
        build_request("a fox", model="flex", **kwargs)  # type: ignore[arg-type]
    assert e.value.parameter == parameter


def test_proxied_klein_names_its_step_field_num_steps() -> None:
    request = build_request("a fox", model="klein-9b-proxied", width=512, height=512, steps=4)
    assert request.payload is not None
    assert request.payload["input"]["num_steps"] == 4
    assert "steps" not in request.payload["input"]
    with pytest.raises(ParameterError, match="at most 4 input images"):
        build_request("a fox", model="klein-9b-proxied", images=[PNG_8x8] * 5)


def test_proxied_input_images_are_urls_or_data_uris_in_order() -> None:
    request = build_request(
        "a fox",
        model="flex",
        width=512,
        height=512,
        images=["https://cdn.example/ref.png", PNG_8x8],
    )
    assert request.payload is not None
    refs = request.payload["input"]["input_images"]
    assert refs[0] == "https://cdn.example/ref.png"
    assert refs[1] == "data:image/png;base64," + base64.b64encode(PNG_8x8).decode()
    assert len(request.images) == 1  # only the local one is an InputImage
    other = build_request(
        "a fox", model="flex", width=512, height=512, images=["https://cdn.example/other.png"]
    )
    assert other.fingerprint != request.fingerprint


def test_a_url_reference_on_a_multipart_model_is_refused_with_the_way_out() -> None:
    with pytest.raises(ParameterError, match="takes input images as files") as info:
        build_request("a fox", model="dev", images=["https://cdn.example/ref.png"])
    assert info.value.parameter == "images[0]"


def test_schnell_takes_a_json_body_of_prompt_and_steps_only() -> None:
    request = build_request("a fox", model="schnell", steps=8)
    assert request.content == b'{"prompt":"a fox","steps":8}'
    assert request.url.endswith("/ai/run/@cf/black-forest-labs/flux-1-schnell")
    with pytest.raises(ParameterError, match="steps must be 1-8"):
        build_request("a fox", model="schnell", steps=9)
    with pytest.raises(ParameterError, match="at most 2048 characters, got 2049"):
        build_request("x" * 2049, model="schnell")
    for name in ("width", "seed", "guidance"):
        with pytest.raises(ParameterError, match=f"does not take {name}|does not take a {name}"):
            build_request("a fox", model="schnell", **{name: 512})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="takes no input images"):
        build_request("a fox", model="schnell", images=[PNG_8x8])


def test_gateway_becomes_a_header_on_the_proxied_route() -> None:
    request = build_request("a fox", model="flex", width=64, height=64, gateway="images")
    assert dict(request.headers) == {"cf-aig-gateway-id": "images"}
    assert request.url.endswith("/ai/run")


# -- prompt_upsampling -----------------------------------------------------------------------------


def test_a_json_prompt_on_flex_is_sent_without_upsampling() -> None:
    request = build_request(scene("a tea house"), model="flex", width=64, height=64)
    assert request.payload is not None
    assert request.payload["input"]["prompt_upsampling"] is False
    assert request.advice == ()
    # A JSON object written by hand is a structured prompt as well.
    by_hand = build_request('{"scene": "a tea house"}', model="flex", width=64, height=64)
    assert by_hand.params["prompt_upsampling"] is False


def test_a_text_prompt_on_flex_keeps_the_hosts_default() -> None:
    request = build_request("a tea house", model="flex", width=64, height=64)
    assert request.payload is not None
    assert "prompt_upsampling" not in request.payload["input"]


def test_asking_for_upsampling_on_a_json_prompt_draws_advice_f2r101() -> None:
    with pytest.warns(RequestAdviceWarning, match="F2R101 prompt_upsampling") as caught:
        request = build_request(
            scene("a tea house"), model="flex", width=64, height=64, prompt_upsampling=True
        )
    assert caught[0].message.advice.code == "F2R101"  # type: ignore[union-attr]
    assert [advice.code for advice in request.advice] == ["F2R101"]
    assert request.params["prompt_upsampling"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_request("a tea house", model="flex", width=64, height=64, prompt_upsampling=True)


def test_prompt_upsampling_is_typed_and_per_model() -> None:
    with pytest.raises(ParameterError, match="True or False"):
        build_request("a fox", model="flex", width=64, height=64, prompt_upsampling="yes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="does not take prompt_upsampling"):
        build_request("a fox", model="dev", prompt_upsampling=False)


def test_prompt_upsampling_enters_the_fingerprint_only_off_its_default() -> None:
    prompt = scene("a tea house")
    base = build_request(prompt, model="flex", width=64, height=64)
    explicit = build_request(prompt, model="flex", width=64, height=64, prompt_upsampling=False)
    assert base.fingerprint == explicit.fingerprint
    with pytest.warns(RequestAdviceWarning):
        upsampled = build_request(prompt, model="flex", width=64, height=64, prompt_upsampling=True)
    assert upsampled.fingerprint != base.fingerprint
    text = build_request("a tea house", model="flex", width=64, height=64)
    text_on = build_request(
        "a tea house", model="flex", width=64, height=64, prompt_upsampling=True
    )
    text_off = build_request(
        "a tea house", model="flex", width=64, height=64, prompt_upsampling=False
    )
    assert text.fingerprint == text_on.fingerprint != text_off.fingerprint


def test_an_unchanged_multipart_request_has_no_new_fields() -> None:
    request = build_request(scene("a tea house"), model="dev", seed=7)
    assert request.payload is None
    assert request.content is None
    assert list(request.fields) == ["prompt", "width", "height", "seed"]
