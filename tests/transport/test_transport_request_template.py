"""A request template (one per batch) gives the requests build_request gives, field for field."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import scene, subject
from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt._templates import matrix, template
from flux2prompt._versioning._requests import variant_requests
from flux2prompt.transport import ParameterError, RequestAdviceWarning, build_request
from flux2prompt.transport._request import RequestTemplate


def _prompt(word: str) -> Any:
    return (
        scene(f"a {word} mug on a table")
        .subject(subject(f"a {word} mug", type="mug", position="foreground"))
        .palette("#1A1A1A", "#F4F1EA")
        .lighting("soft window light")
        .compile()
    )


def _identity_fingerprint(request: Any) -> str:
    """The request fingerprint as its docstring defines it, written out in full."""
    params = dict(sorted(request.params.items()))
    if request.model.prompt_upsampling_default is not None:
        structured = request.prompt_format in ("json", "layout")
        ours = False if structured else request.model.prompt_upsampling_default
        if params.get("prompt_upsampling", ours) == ours:
            params.pop("prompt_upsampling", None)
    identity: dict[str, Any] = {
        "model": request.model.id,
        "prompt": request.prompt_fingerprint,
        "params": params,
        "images": [image.sha256 for image in request.images],
    }
    if request.prompt_format not in ("json", "text"):
        identity["form"] = request.prompt_format
    return sha256_fingerprint(canonical_json(identity))


_OPTIONS = st.one_of(
    st.fixed_dictionaries(
        {"model": st.just("klein-4b")},
        optional={
            "width": st.integers(256, 1920),
            "height": st.integers(256, 1920),
            "guidance": st.floats(0, 20),
            "prompt_format": st.sampled_from(["auto", "json", "prose"]),
        },
    ),
    st.fixed_dictionaries(
        {"model": st.just("flex")},
        optional={
            "width": st.integers(4, 64).map(lambda n: n * 16),
            "steps": st.integers(1, 50),
            "guidance": st.floats(1.5, 10.0),
            "prompt_upsampling": st.booleans(),
            "safety_tolerance": st.integers(0, 5),
            "output_format": st.sampled_from(["jpeg", "png", "jpg", "WEBP"]),
            "prompt_format": st.sampled_from(["auto", "json", "prose"]),
        },
    ),
)


@given(
    options=_OPTIONS,
    seeds=st.lists(st.one_of(st.none(), st.integers(0, 2**53 - 1)), min_size=1, max_size=4),
    words=st.lists(st.sampled_from(["teal", "rust", "東京"]), min_size=1, max_size=4),
)
def test_a_template_builds_what_build_request_builds(
    options: dict[str, Any], seeds: list[int | None], words: list[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = RequestTemplate(**options)
        for seed, word in zip(seeds, words, strict=False):
            prompt = _prompt(word)
            built = shared.build(prompt, seed=seed)
            alone = build_request(prompt, seed=seed, **options)
            assert built == alone
            assert dict(built.fields) == dict(alone.fields)
            assert list(built.fields) == list(alone.fields) == ["prompt", *built.params]
            assert built.content == alone.content
            assert built.fingerprint == _identity_fingerprint(built)
            planned = shared.plan(prompt, seed=seed)
            assert planned.fingerprint == alone.fingerprint
            assert planned.prompt_fingerprint == alone.prompt_fingerprint
            assert planned.seed == alone.seed
            assert planned.model is alone.model
            if alone.model.pricing is not None:
                assert planned.estimated_cost == alone.estimated_cost
            assert planned.request == alone
            assert planned.request is planned.request


def test_a_prose_prompt_reads_as_the_prose_it_sends() -> None:
    prompt = _prompt("teal")
    request = RequestTemplate(model="klein-4b").build(prompt, seed=3)
    assert request.prompt_format == "prose"
    assert request.prompt == prompt.to_prose()
    assert dict(request.fields) == {
        "prompt": prompt.to_prose(),
        "width": "1024",
        "height": "768",
        "seed": "3",
    }
    assert "prompt" in request.fields
    assert len(request.fields) == 4
    eager = build_request(prompt, model="klein-4b", seed=3, prompt_format="prose")
    assert request.fields.copy() == dict(eager.fields)
    assert request.fields | {"seed": "4"} == dict(eager.fields) | {"seed": "4"}
    assert list(reversed(request.fields)) == list(reversed(dict(eager.fields)))
    assert request.files[0] == ("prompt", (None, prompt.to_prose().encode("utf-8")))


def test_the_first_error_is_the_one_build_request_gives() -> None:
    # A seed is checked after the size and before the output format, on every build.
    shared = RequestTemplate(model="flex", output_format="gif")
    for _ in range(2):
        with pytest.raises(ParameterError, match="seed must be 0-"):
            shared.build("a fox", seed=-1)
        with pytest.raises(ParameterError, match="output_format must be one of"):
            shared.build("a fox", seed=1)
    sized = RequestTemplate(model="klein-4b", width=100)
    with pytest.raises(ParameterError, match="width must be 256-1920"):
        sized.build("a fox", seed=-1)
    with pytest.raises(ParameterError, match="prompt is empty"):
        sized.build("", seed=1)


def test_a_batch_without_variants_checks_nothing() -> None:
    tpl = template(lambda color: scene(f"a {color} mug"))
    assert list(variant_requests(tpl, [], model="no-such-model")) == []
    with pytest.raises(ParameterError, match="no-such-model"):
        list(variant_requests(tpl, matrix(color=["teal"]), model="no-such-model"))


def test_per_item_images_are_each_items_own(make_image: Any) -> None:
    red, blue = make_image(64, 64), make_image(96, 64)
    tpl = template(lambda color: scene(f"a {color} mug"))
    pairs = list(
        variant_requests(
            tpl,
            matrix(color=["red", "blue", "red"]),
            seeds=1,
            model="klein-4b",
            images=lambda variant: [red if variant.variables["color"] == "red" else blue],
        )
    )
    for variant, request in pairs:
        image = red if variant.variables["color"] == "red" else blue
        alone = build_request(variant.prompt, model="klein-4b", seed=1, images=[image])
        assert request == alone
        planned = RequestTemplate(model="klein-4b").plan(variant.prompt, seed=1, images=[image])
        assert planned.estimated_cost == alone.estimated_cost
        assert planned.request == alone
    assert pairs[0][1].fingerprint == pairs[2][1].fingerprint != pairs[1][1].fingerprint


def test_planning_gives_the_advice_and_errors_building_gives() -> None:
    prompt = _prompt("teal")
    shared = RequestTemplate(model="flex", prompt_upsampling=True, prompt_format="json")
    with pytest.warns(RequestAdviceWarning, match="F2R101"):
        planned = shared.plan(prompt, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = build_request(
            prompt, model="flex", prompt_upsampling=True, prompt_format="json", seed=1
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading the request gives no second warning
        assert planned.request == alone
        assert planned.request.advice == alone.advice != ()
    with pytest.raises(ParameterError, match="seed must be 0-"):
        RequestTemplate(model="flex").plan(prompt, seed=-1)
