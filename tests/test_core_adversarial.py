"""The prompt core as a hostile caller meets it: every bad value is the library's own error,
naming the call or JSON path, and whatever compiles loads back as the same prompt."""

from __future__ import annotations

import copy
import math
import pickle
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import (
    Camera,
    Composition,
    Flux2PromptError,
    PromptError,
    PromptValidationError,
    color_phrase,
    lint,
    load,
    ref,
    scene,
    schema,
    subject,
    text,
)
from flux2prompt import camera as make_camera
from flux2prompt._model import references_of

# -- numbers no float holds ---------------------------------------------------------------------


@pytest.mark.parametrize("field", ["iso", "lens_mm"])
@pytest.mark.parametrize("number", [10**400, 2**1024])
def test_the_model_refuses_an_integer_no_float_holds(field: str, number: int) -> None:
    # camera() and load() refuse it; the model itself must too, or a Camera made directly (or
    # by model_copy) compiles to wire text that load() refuses and prose cannot write.
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="too large for a JSON number"):
        Camera(**{field: number})
    with pytest.raises(pydantic.ValidationError, match="too large for a JSON number"):
        Camera(lens="85mm").model_copy(update={field: number})
    wire = "ISO" if field == "iso" else "lens-mm"
    with pytest.raises(pydantic.ValidationError, match="too large for a JSON number"):
        Camera.model_validate({wire: number})
    assert Camera(**{field: 2**1023}).to_dict() == {wire: 2**1023}  # the largest that fits


def test_the_largest_integer_a_float_holds_compiles_loads_and_reads_as_prose() -> None:
    prompt = scene("x").camera(Camera(iso=2**1023)).compile()
    assert load(prompt.to_json()) == prompt
    assert "ISO 8.98847e+307" in prompt.to_prose()


def test_an_f_number_of_thousands_of_digits_is_a_prompt_error() -> None:
    # str() of an integer past 4,300 digits raises ValueError; the message must not need it.
    with pytest.raises(PromptError, match=r"^camera\(f_number=\.\.\.\): .*integer of 5001 digits"):
        make_camera(f_number=10**5000)


def test_a_camera_number_too_large_is_named_by_its_json_path() -> None:
    with pytest.raises(PromptValidationError) as caught:
        load({"camera": {"lens-mm": 10**400}})
    assert caught.value.issues[0].path == "$.camera['lens-mm']"


# -- colours given as something that is not a list of colours -----------------------------------


@pytest.mark.parametrize("argument", ["colors", "color_palette"])
@pytest.mark.parametrize("value", [5, 1.5, 1j, 0xFF0000])
def test_a_number_where_colours_are_expected_is_a_prompt_error(argument: str, value: Any) -> None:
    with pytest.raises(PromptError, match=rf"^subject\({argument}\): expected"):
        subject("a mug", **{argument: value})


@pytest.mark.parametrize("argument", ["colors", "color_palette"])
@pytest.mark.parametrize(
    "value",
    [{"#FFFFFF", "#000000"}, frozenset({"#FFFFFF"}), {"#FFFFFF": 1}, b"#fff", bytearray(b"#f")],
)
def test_unordered_or_byte_colours_are_refused_not_read_in_an_arbitrary_order(
    argument: str, value: Any
) -> None:
    # A set's order changes from one process to the next (hash randomisation): the fingerprint
    # of the same call would too. Bytes would be read as their integer values.
    with pytest.raises(PromptError, match=rf"^subject\({argument}\): expected .*list"):
        subject("a mug", **{argument: value})


def test_colours_from_a_generator_or_tuple_still_read_in_order() -> None:
    assert subject("a mug", colors=(c for c in ["#fff", "#000"])).colors == ("#FFFFFF", "#000000")
    assert subject("a mug", color_palette=("red", "#abc")).color_palette == ("red", "#AABBCC")
    assert subject("a mug", colors=(255, 0, 0)).colors == ("#FF0000",)  # one RGB colour


def test_color_phrase_does_not_label_a_hex_code_with_itself() -> None:
    assert color_phrase(" #abc", "the vase") == "the vase in color #AABBCC"
    assert color_phrase(" coral ", "the logo") == "the logo in color #FF7F50 (coral)"


# -- custom keys that are one key once normalised ----------------------------------------------


def test_two_extra_keys_equal_under_nfc_are_refused_not_written_twice() -> None:
    document = {"scene": "x", "cafe\u0301": 1, "café": 2}
    with pytest.raises(PromptValidationError) as caught:
        load(document, extra_keys=["cafe\u0301", "café"])
    assert caught.value.issues[0].path == "$['café']"
    assert "the same key" in caught.value.issues[0].message
    # One of them alone loads, normalised, as extra() keeps it.
    assert load({"scene": "x", "cafe\u0301": 1}, extra_keys=["cafe\u0301"]).extras == {"café": 1}


def test_the_builder_keeps_one_of_two_extra_keys_equal_under_nfc() -> None:
    prompt = scene("x").extra("café", 1).extra("cafe\u0301", 2).compile()
    assert prompt.to_json() == '{"scene":"x","café":2}'


# -- profiles that are not names ----------------------------------------------------------------


@pytest.mark.parametrize("profile", [["flux2"], {"flux2": 1}, None, 2, b"flux2"])
def test_a_profile_that_is_not_a_name_is_a_prompt_error(profile: Any) -> None:
    with pytest.raises(PromptError, match="unknown profile"):
        scene("x").compile(profile=profile)
    with pytest.raises(PromptError, match="unknown profile"):
        schema(profile)
    with pytest.raises(PromptError, match="unknown profile"):
        load({"scene": "x"}, profile=profile)
    with pytest.raises(PromptError, match="unknown profile"):
        load(scene("x").compile(), profile=profile)


# -- references survive a copy --------------------------------------------------------------------


def test_model_copy_with_changes_keeps_the_references() -> None:
    prompt = scene(f"the mug from {ref('mug')}").reference("mug", b"<png>").compile()
    changed = prompt.model_copy(update={"mood": "calm"})
    assert references_of(changed) == references_of(prompt)
    assert [w.code for w in lint(changed)] == []  # no "cites a reference that is not attached"
    for same in (copy.copy(prompt), copy.deepcopy(prompt), pickle.loads(pickle.dumps(prompt))):
        assert references_of(same) == references_of(prompt)
        assert same == prompt


@pytest.mark.parametrize("source", ["logo\x00.png", "https://example.com/a\nb.png", "a\u202eb"])
def test_a_reference_path_or_url_with_control_characters_is_refused_at_the_call(
    source: str,
) -> None:
    # open() would raise a bare ValueError ("embedded null byte") when the request is built.
    from pathlib import PurePosixPath

    with pytest.raises(PromptError, match=r"^reference\('logo'\): "):
        scene("x").reference("logo", source)
    if "\x00" in source:
        with pytest.raises(PromptError, match=r"^reference\('logo'\): "):
            scene("x").reference("logo", PurePosixPath(source))  # type: ignore[arg-type]


# -- hostile nesting in load() and extra() ------------------------------------------------------


def _nested(depth: int, *, lists: bool = False) -> Any:
    node: Any = "leaf"
    for _ in range(depth):
        node = [node] if lists else {"a": node}
    return node


@pytest.mark.parametrize("lists", [False, True])
def test_ten_thousand_levels_are_one_prompt_error_never_a_recursion_error(lists: bool) -> None:
    deep = _nested(10_000, lists=lists)
    assert sys.getrecursionlimit() < 10_000
    for call in (
        lambda: load({"scene": deep}),
        lambda: load({"scene": "x", "k": deep}, extra_keys=["k"]),
        lambda: load({"subjects": [{"description": deep}]}, profile="cloudflare"),
        lambda: scene("x").extra("k", deep),
    ):
        with pytest.raises(PromptError, match="nested deeper than 64 levels"):
            call()


# -- properties ---------------------------------------------------------------------------------

_WORDS = st.text(
    st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="\u202a\u202b\u202c"),
    min_size=1,
    max_size=12,
).filter(
    lambda s: (
        s.strip()
        and not s.strip().startswith("#")
        and not set(s) & set("\u202d\u202e\u2066\u2067\u2068\u2069")
    )
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_WORDS, inner, max_size=3),
    max_leaves=10,
)
_NUMBER = st.integers(1, 2**1023) | st.floats(min_value=5e-324, max_value=1.7e308)
_HEX = st.from_regex(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?", fullmatch=True)


@st.composite
def _builders(draw: st.DrawFn) -> Any:
    builder = scene(draw(_WORDS))
    for _ in range(draw(st.integers(0, 2))):
        builder = builder.subject(
            draw(_WORDS),
            position=draw(st.none() | _WORDS),
            colors=draw(st.none() | st.lists(_HEX, min_size=1, max_size=3)),
            color_palette=draw(st.none() | st.lists(_WORDS | _HEX, min_size=1, max_size=3)),
        )
    if draw(st.booleans()):
        builder = builder.camera(
            lens_mm=draw(st.none() | _NUMBER),
            iso=draw(st.none() | _NUMBER),
            angle=draw(_WORDS),
        )
    if draw(st.booleans()):
        builder = builder.text(
            draw(_WORDS), language=draw(st.sampled_from([None, "en", "ja", "ar"]))
        )
    if draw(st.booleans()):
        builder = builder.palette(*draw(st.lists(_HEX | _WORDS, min_size=1, max_size=6)))
    for key in draw(st.lists(st.sampled_from(["title", "sections", "ünï", "a b"]), max_size=2)):
        builder = builder.extra(key, draw(_JSON))
    return builder


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_builders())
def test_every_built_prompt_round_trips_through_its_text_and_its_dict(builder: Any) -> None:
    prompt = builder.compile()
    keys = list(prompt.extras)
    again = load(prompt.to_json(), extra_keys=keys)
    assert again == prompt
    assert again.to_json() == prompt.to_json()
    assert again.fingerprint == prompt.fingerprint
    assert load(prompt.to_dict(), extra_keys=keys) == prompt
    assert load(prompt.to_bytes(), extra_keys=keys).to_json() == prompt.to_json()
    assert load(prompt.to_json(pretty=True), extra_keys=keys).to_json() == prompt.to_json()
    assert pickle.loads(pickle.dumps(prompt)).to_json() == prompt.to_json()
    assert copy.deepcopy(prompt) == prompt
    assert hash(again) == hash(prompt)
    assert isinstance(prompt.to_prose(), str)


_HOSTILE = st.one_of(
    st.text(max_size=6),
    st.sampled_from(
        ["", " ", "a\x00b", "\ud800", "x\u202ey", "#abcd", "#GGG", "e\u0301", "\u0301", "\n"]
    ),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=3),
    st.lists(st.integers(-300, 300), min_size=3, max_size=3).map(tuple),
    st.sampled_from([math.inf, -0.0, 10**400, 1j, {"a": 1}, {"x"}, [], ()]),
)
_PARTS = st.sampled_from(["camera", "subjects", "color_palette", "text", "mood", "scene"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(
        [
            ("subject", "description"),
            ("subject", "colors"),
            ("subject", "color_palette"),
            ("subject", "position"),
            ("camera", "iso"),
            ("camera", "lens_mm"),
            ("camera", "f_number"),
            ("camera", "angle"),
            ("text", "language"),
            ("text", "color"),
            ("text", "content"),
        ]
    ),
    value=_HOSTILE,
)
def test_a_hostile_value_in_any_factory_is_accepted_or_a_prompt_error(
    field: tuple[str, str], value: Any
) -> None:
    factory, argument = field
    refused: PromptError | None = None
    try:
        if factory == "subject":
            part: Any = subject(**({"description": "a mug"} | {argument: value}))
            prompt = scene("x").subject(part).compile()
        elif factory == "camera":
            part = make_camera(**{argument: value})
            prompt = scene("x").camera(part).compile()
        else:
            kwargs = {argument: value} if argument != "content" else {}
            part = text(value if argument == "content" else "hi", **kwargs)
            prompt = scene("x").text(part).compile()
    except PromptError as exc:
        refused = exc
    if refused is not None:
        assert str(refused).startswith(f"{factory}(")  # the error names the call
        return
    assert load(prompt.to_json()) == prompt
    prompt.to_prose()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(part=_PARTS, value=_HOSTILE)
def test_model_copy_never_makes_a_prompt_that_compiles_invalid(part: str, value: Any) -> None:
    import pydantic

    base = scene("x").subject("a fox").camera(lens="85mm").text("hi").compile()
    try:
        changed = base.model_copy(update={part: value})
    except pydantic.ValidationError:
        return  # pydantic's own error, as the models document
    try:
        wire = changed.to_json()
    except Flux2PromptError:
        return
    assert load(wire) == changed


def test_keys_equal_under_nfc_inside_a_custom_value_are_refused_not_merged() -> None:
    # Normalising both to "café" kept the last one and dropped the other without a word.
    value = {"cafe\u0301": 1, "café": 2}
    with pytest.raises(PromptError, match=r"^extra\('k'\): \$\.k\['café'\]: two keys .* NFC"):
        scene("x").extra("k", value)
    with pytest.raises(PromptValidationError, match=r"\$\.k\['café'\]: two keys"):
        load({"scene": "x", "k": value}, extra_keys=["k"])
    assert scene("x").extra("k", {"cafe\u0301": 1}).compile().extras == {"k": {"café": 1}}


def test_palette_takes_one_tuple_of_colours_as_it_takes_one_list() -> None:
    assert scene("x").palette(("#fff", "coral")).compile().color_palette == ("#FFFFFF", "coral")
    both = ((255, 0, 0), (0, 0, 0))
    assert scene("x").palette(both).compile().color_palette == ("#FF0000", "#000000")
    assert scene("x").palette((255, 0, 0)).compile().color_palette == ("#FF0000",)
    with pytest.raises(PromptError, match=r"RGB tuple \(1\.5, 0, 0\) needs three whole numbers"):
        scene("x").palette((1.5, 0, 0))


def test_extra_keys_name_a_custom_key_whether_it_is_written_composed_or_decomposed() -> None:
    # The prompt keeps 'café' composed (NFC); a file saved decomposed still has that key.
    decomposed = {"scene": "x", "cafe\u0301": 1}
    assert load(decomposed, extra_keys=["café"]).extras == {"café": 1}
    assert load({"scene": "x", "café": 1}, extra_keys=["cafe\u0301"]).extras == {"café": 1}
    assert load('{"scene":"x","cafe\u0301":1}', extra_keys="café").to_json() == (
        '{"scene":"x","café":1}'
    )


@pytest.mark.parametrize(
    "value",
    [None, 3, True, 10**5000, ["rule of thirds"]],
    ids=["none", "3", "true", "huge", "list"],
)
def test_composition_and_an_elements_position_take_text_not_anything_str_can_write(
    value: Any,
) -> None:
    # str() made composition(None) the composition "None", and raised ValueError on 10**5000.
    with pytest.raises(PromptError, match=r"^composition\(\): expected text, got "):
        scene("x").composition(value)
    if value is not None:  # None: no position given, the layout's own
        with pytest.raises(PromptError, match=r"position=\.\.\.: expected text, got "):
            scene().element("mug_1", "a mug", "centre", position=value)
    assert scene("x").composition(Composition.S_CURVE).compile().composition == "S-curve"


@pytest.mark.parametrize(
    "call",
    [
        lambda: scene(10**5000),
        lambda: scene("x").mood(10**5000),
        lambda: subject("a mug", pose=10**5000),
        lambda: subject("a mug", colors=[10**5000]),
        lambda: subject("a mug", colors=(10**5000, 0, 0)),
        lambda: make_camera(angle=10**5000),
        lambda: text("hi", color=(10**5000, 0, 0)),
        lambda: scene("x").palette(10**5000),
        lambda: scene("x").extra(10**5000, 1),
        lambda: scene("x").without(10**5000),
        lambda: scene("x").reference(10**5000, b"x"),
        lambda: lint(scene("x").compile(), ignore=[10**5000]),
        lambda: load({"scene": "x", 10**5000: 1}),
        lambda: load({"scene": "x"}, extra_keys=[10**5000]),
    ],
)
def test_an_integer_of_thousands_of_digits_is_quoted_by_its_size(call: Any) -> None:
    # repr() of it raises ValueError (more than 4,300 digits): the message must not need it.
    with pytest.raises(PromptError, match="integer"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda value: text("hi", language=value),
        lambda value: scene("x").palette("#" + value),
        lambda value: load({"text": [{"content": "hi", "language": value}]}),
        lambda value: scene("x").without(value),
        lambda value: scene("x").reference(value, b"x"),
    ],
)
def test_a_long_bad_value_gives_a_short_message_and_quickly(call: Any) -> None:
    # A 100,000-character "language tag" took seconds in langcodes' name search, and every
    # message quoted the whole value.
    value = "abcd" * 25_000
    with pytest.raises(PromptError) as caught:
        call(value)
    assert len(str(caught.value)) < 1_000


@pytest.mark.parametrize("value", [{"red", "blue"}, frozenset({"red"}), b"#fff", {"red": 1}])
def test_the_palette_helper_refuses_unordered_or_byte_colours(value: Any) -> None:
    from flux2prompt import palette

    with pytest.raises(PromptError, match=r"^palette\(\): expected colours"):
        palette(value)
    assert palette(iter(["red", "#abc"])) == ("red", "#AABBCC")
