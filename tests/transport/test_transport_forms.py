"""The form a prompt is sent in: the model's own by default, asked for, and fingerprinted."""

from __future__ import annotations

import warnings

import pytest

from flux2prompt import ParameterError, load, scene
from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt.transport import build_request, resolve_model
from flux2prompt.transport._advice import RequestAdviceWarning

PROMPT = load({"scene": "a red fox in the snow", "lighting": "low winter sun"})


@pytest.mark.parametrize(
    ("model", "form"),
    [
        ("dev", "json"),
        ("flex", "json"),
        ("max", "json"),
        ("pro-preview", "json"),
        ("klein-4b", "prose"),
        ("klein-9b", "prose"),
        ("klein-9b-proxied", "prose"),
    ],
)
def test_each_model_names_its_form_and_auto_sends_it(model: str, form: str) -> None:
    assert resolve_model(model).prompt_form == form
    request = build_request(PROMPT, model=model, width=512, height=512)
    assert request.prompt_format == form
    expected = PROMPT.to_prose() if form == "prose" else PROMPT.to_json()
    assert request.prompt == expected
    assert request.prompt_json == PROMPT.to_json()
    assert request.document == PROMPT.to_dict()


def test_klein_sends_prose_by_default_and_json_when_asked() -> None:
    prose = build_request(PROMPT, model="klein-4b")
    as_json = build_request(PROMPT, model="klein-4b", prompt_format="json")
    assert prose.prompt == "A red fox in the snow. Lit by low winter sun."
    assert as_json.prompt == PROMPT.to_json()
    assert build_request(PROMPT, model="dev", prompt_format="prose").prompt == prose.prompt
    # One prompt, one prompt fingerprint, in every form; the form is the request's.
    assert prose.prompt_fingerprint == as_json.prompt_fingerprint == PROMPT.fingerprint
    assert prose.fingerprint != as_json.fingerprint


def test_a_json_request_keeps_the_fingerprint_it_had_before_forms() -> None:
    request = build_request(PROMPT, model="klein-4b", seed=7, prompt_format="json")
    before_forms = canonical_json(
        {
            "model": "@cf/black-forest-labs/flux-2-klein-4b",
            "prompt": PROMPT.fingerprint,
            "params": {"height": 768, "seed": 7, "width": 1024},
            "images": [],
        }
    )
    assert request.fingerprint == sha256_fingerprint(before_forms)
    prose = build_request(PROMPT, model="klein-4b", seed=7)
    with_form = canonical_json(
        {
            "model": "@cf/black-forest-labs/flux-2-klein-4b",
            "prompt": PROMPT.fingerprint,
            "params": {"height": 768, "seed": 7, "width": 1024},
            "images": [],
            "form": "prose",
        }
    )
    assert prose.fingerprint == sha256_fingerprint(with_form)


def test_a_builder_and_a_dict_are_sent_in_the_models_form() -> None:
    builder = scene("a red fox in the snow").lighting("low winter sun")
    assert build_request(builder, model="klein-4b").prompt == PROMPT.to_prose()
    assert build_request(PROMPT.to_dict(), model="klein-9b").prompt == PROMPT.to_prose()


def test_extras_reach_the_prose() -> None:
    prompt = scene("an infographic").extra("title", "Water cycle").compile()
    assert build_request(prompt, model="klein-4b").prompt == "An infographic. Title: Water cycle."


def test_a_str_is_sent_as_written() -> None:
    plain = build_request("a fox at dusk", model="klein-4b")
    assert (plain.prompt, plain.prompt_format, plain.prompt_json) == ("a fox at dusk", "text", None)
    hand_written = '{"scene": "a fox"}'
    as_written = build_request(hand_written, model="klein-4b")
    assert as_written.prompt == hand_written
    assert as_written.fingerprint == build_request(hand_written, model="klein-4b").fingerprint
    asked = build_request(hand_written, model="klein-4b", prompt_format="prose")
    assert (asked.prompt, asked.prompt_format) == ("A fox.", "prose")
    assert build_request("a fox", prompt_format="prose").prompt == "a fox"


def test_bad_forms_are_refused_with_the_choices() -> None:
    with pytest.raises(ParameterError, match="prompt_format must be one of auto, json, prose"):
        build_request(PROMPT, prompt_format="yaml")
    with pytest.raises(ParameterError, match="this prompt is plain text, not a JSON prompt"):
        build_request("a fox", prompt_format="json")
    with pytest.raises(ParameterError, match="the JSON text is not a prompt"):
        build_request('{"scene": 7}', prompt_format="prose")


def _cafe() -> object:
    return (
        scene()
        .caption("A <mug_1> on a <counter_1>")
        .element("mug_1", "a white mug", [400, 400, 700, 600])
        .element("counter_1", "a walnut counter", "bottom half", behind="mug_1")
    )


def test_a_layout_prompt_is_sent_as_written_and_json_or_prose_need_the_builder() -> None:
    flux3 = _cafe().compile_flux3()  # type: ignore[attr-defined]
    request = build_request(flux3, model="klein-4b")
    assert (request.prompt, request.prompt_format) == (flux3.text, "layout")
    assert request.prompt_fingerprint == flux3.fingerprint
    with pytest.raises(ParameterError, match="pass the builder instead"):
        build_request(flux3, prompt_format="prose")
    # The builder itself goes in the model's form: its layout as position prose on FLUX.2.
    prose = build_request(_cafe(), model="klein-4b")  # type: ignore[arg-type]
    assert prose.prompt_format == "prose"
    assert "in the upper" in prose.prompt or "across the bottom" in prose.prompt


def test_upsampling_a_boxed_prompt_is_advised_against() -> None:
    flux3 = _cafe().compile_flux3()  # type: ignore[attr-defined]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        request = build_request(flux3, model="flex", width=512, height=512, prompt_upsampling=True)
    assert [a.code for a in request.advice] == ["F2R102"]
    assert [w.category for w in caught] == [RequestAdviceWarning]
    assert "boxes of a FLUX 3 layout prompt" in str(caught[0].message)
    quiet = build_request(flux3, model="flex", width=512, height=512)
    assert quiet.advice == ()
    assert quiet.params["prompt_upsampling"] is False  # a boxed prompt is sent as written


def test_prose_on_flex_leaves_upsampling_to_the_host() -> None:
    request = build_request(PROMPT, model="flex", width=512, height=512, prompt_format="prose")
    assert "prompt_upsampling" not in request.params
    assert request.payload is not None
    assert request.payload["input"]["prompt"] == PROMPT.to_prose()
