"""The fluent DSL: immutability, reuse, derivation, merge rules, errors at the user's call."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import (
    Camera,
    CameraAngle,
    Composition,
    Lens,
    Position,
    Prompt,
    PromptBuilder,
    PromptError,
    PromptValidationError,
    camera,
    load,
    palette,
    scene,
    subject,
    text,
)
from flux2prompt._compile import core_document
from flux2prompt._schema import _fast_validator, find_issues

FALCON = subject("peregrine falcon, wings spread", type="falcon", pose="diving")
LOW_85 = camera(angle=CameraAngle.LOW_ANGLE, lens=Lens.MM_85, f_number=2.8, iso=200)


def test_every_method_returns_a_new_builder_and_leaves_the_old_one_alone() -> None:
    base = scene("a desert canyon at noon").style("photorealistic")
    before = base.compile().to_json()
    derived = (
        base.subject(FALCON)
        .palette("#C2B280", "sienna", (20, 20, 20))
        .lighting("harsh overhead sun")
        .mood("lonely")
        .background("red rock walls")
        .composition(Composition.RULE_OF_THIRDS)
        .camera(LOW_85)
        .effects("heat haze")
        .text("CANYON", language="en")
        .extra("seed_hint", 7)
    )
    assert derived is not base
    assert base.compile().to_json() == before
    assert derived.compile().to_json() != before


def test_a_subject_and_a_camera_defined_once_are_reused_across_scenes() -> None:
    cliff = scene("a sea cliff in fog").subject(FALCON).camera(LOW_85).compile()
    city = scene("a glass skyscraper at dusk").subject(FALCON).camera(LOW_85).compile()
    assert cliff.subjects == city.subjects == (FALCON,)
    assert cliff.camera == city.camera == LOW_85
    assert cliff.scene != city.scene
    # The shared parts are the same immutable objects, never copies to keep in sync.
    assert cliff.subjects is not None
    assert cliff.subjects[0] is FALCON


def test_a_scene_is_derived_by_overriding_one_part() -> None:
    day = (
        scene("a harbour")
        .subject("a red fishing boat", position=Position.FOREGROUND)
        .lighting("bright morning sun")
        .camera(angle="eye level", lens="35mm")
    )
    night = day.lighting("sodium street lamps, night")
    tele = day.camera(lens="85mm")
    day_doc, night_doc, tele_doc = (b.compile().to_dict() for b in (day, night, tele))
    assert {k for k in day_doc if day_doc[k] != night_doc[k]} == {"lighting"}
    assert {k for k in day_doc if day_doc[k] != tele_doc[k]} == {"camera"}
    assert tele_doc["camera"] == {"angle": "eye level", "lens": "85mm"}
    assert day.scene("a fjord").compile().subjects == day.compile().subjects


def test_subject_and_text_are_appended_in_order() -> None:
    prompt = (
        scene("x")
        .subject("first")
        .subject("second", position="background")
        .text("ONE")
        .text("TWO")
        .compile()
    )
    assert prompt.subjects is not None
    assert prompt.text is not None
    assert [s.description for s in prompt.subjects] == ["first", "second"]
    assert [t.content for t in prompt.text] == ["ONE", "TWO"]
    assert scene("x").subject("a").subjects(FALCON).compile().subjects == (FALCON,)


def test_a_given_subject_or_text_can_be_varied_by_keyword() -> None:
    prompt = (
        scene("x")
        .subject(FALCON, pose="perched", position="midground")
        .text(text("SALE", color="#ff0000"), placement="top left")
        .compile()
    )
    assert prompt.subjects is not None
    assert prompt.subjects[0].to_dict() == {
        "type": "falcon",
        "description": "peregrine falcon, wings spread",
        "pose": "perched",
        "position": "midground",
    }
    assert prompt.text is not None
    assert prompt.text[0].to_dict() == {
        "content": "SALE",
        "placement": "top left",
        "color": "#FF0000",
    }
    assert FALCON.pose == "diving"


def test_camera_keywords_merge_into_the_current_camera() -> None:
    b = scene("x").camera(angle="low angle", lens="35mm").camera(lens="85mm", iso=400)
    assert b.compile().camera == Camera(angle="low angle", lens="85mm", iso=400)
    # A Camera replaces the current one; keywords then adjust it; None removes a setting.
    replaced = b.camera(LOW_85, iso=100)
    assert replaced.compile().camera == Camera(
        angle="low angle", lens="85mm", f_number="f/2.8", iso=100
    )
    assert b.camera(angle=None).compile().camera == Camera(lens="85mm", iso=400)


def test_text_colour_takes_hex_css_names_and_rgb() -> None:
    assert text("A", color="#abc").color == "#AABBCC"
    assert text("A", color="white").color == "#FFFFFF"
    assert text("A", color=(255, 87, 51)).color == "#FF5733"


def test_missing_text_content_says_it_is_required() -> None:
    # pydantic's "Field required, got {}" named neither the argument nor the problem clearly.
    with pytest.raises(PromptError) as info:
        text(None)  # type: ignore[arg-type]
    assert str(info.value) == "text(content=...): is required"
    with pytest.raises(PromptError, match=r"^text\(content=\.\.\.\): is required$"):
        scene("poster").text(None)  # type: ignore[arg-type]


def test_camera_f_number_accepts_a_number() -> None:
    assert camera(f_number=2.8).f_number == "f/2.8"
    assert camera(f_number=16).f_number == "f/16"
    assert camera(f_number="f/4").f_number == "f/4"


def test_without_removes_parts_and_extras() -> None:
    full = (
        scene("x")
        .subject("a")
        .palette("#fff")
        .mood("calm")
        .camera(lens="35mm")
        .text("HI")
        .extra("title", "T")
    )
    trimmed = full.without("subjects", "color_palette", "camera", "text", "title")
    assert trimmed.compile().to_json() == '{"scene":"x","mood":"calm"}'
    assert full.compile().extras == {"title": "T"}
    with pytest.raises(
        PromptError, match="without\\(\\): unknown part 'moood'; did you mean 'mood'"
    ):
        full.without("moood")


def test_extra_adds_custom_keys_as_clean_json_data() -> None:
    prompt = scene("x").extra("sections", ({"heading": "Cafe\u0301"},)).compile()
    assert prompt.to_json() == '{"scene":"x","sections":[{"heading":"Café"}]}'
    with pytest.raises(PromptError, match=r"extra\(\): 'mood' is a known key; use \.mood"):
        scene("x").extra("mood", "calm")
    with pytest.raises(PromptError, match=r"use \.palette\(\.\.\.\)"):
        scene("x").extra("color_palette", [])
    with pytest.raises(PromptError, match=r"extra\('seed'\): \$\.seed: NaN is not a JSON number"):
        scene("x").extra("seed", float("nan"))
    with pytest.raises(PromptError, match=r"\$\.note\[0\]: contains U\+202E"):
        scene("x").extra("note", ["\u202e"])
    with pytest.raises(PromptError, match="a set is not JSON data"):
        scene("x").extra("tags", {"a"})
    with pytest.raises(PromptError, match="non-empty string"):
        scene("x").extra("", 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: subject("a fox", positon="left"),
            "subject(): unknown argument 'positon'; did you mean 'position'?",
        ),
        (
            lambda: scene("x").subject("a fox", positon="left"),
            "subject(): unknown argument 'positon'; did you mean 'position'?",
        ),
        (lambda: camera(lense="85mm"), "camera(): unknown argument 'lense'; did you mean 'lens'?"),
        (
            lambda: scene("x").camera(fnumber="f/2"),
            "camera(): unknown argument 'fnumber'; did you mean 'f_number'?",
        ),
        (lambda: text("HI", colour="#fff"), "text(): unknown argument 'colour'; did you mean"),
        (lambda: camera(iso=-100), "camera(iso=...): must be greater than 0, got -100"),
        (lambda: camera(iso="high"), "camera(iso=...): expected a number, got 'high'"),
        (lambda: subject(pose=3), "subject(pose=...): expected text, got 3"),
        (lambda: text(""), "text(content=...): must not be empty"),
        (lambda: text("HI", language="english"), "text(language=...): 'english' is not a valid"),
        (lambda: text("HI", color="sunset"), "text(color=...): 'sunset' is not a hex code, CSS"),
        (lambda: subject(colors=["#12"]), "subject(colors)[0]: '#12' is not a hex colour"),
        (lambda: subject(colors=["red"]), "subject(colors)[0]: 'red' is not a hex code"),
        (lambda: scene("x").palette("#GGG"), "palette() colour 0: '#GGG' is not a hex colour"),
        (lambda: scene("x").palette("red", "#abcd"), "palette() colour 1: '#abcd' has an alpha"),
        (lambda: scene("x").mood("a\u202eb"), "mood(): contains U+202E RIGHT-TO-LEFT OVERRIDE"),
        (lambda: scene("a\x00"), "scene(): contains control character U+0000"),
        (lambda: scene("x").effects("grain", 3), "effects() item 1: expected text, got int 3"),
        (lambda: scene("x").subjects("a fox"), "subjects(): argument 0 is str, not a Subject"),
        (lambda: scene("x").camera("85mm"), "camera(): expected a Camera or keyword settings"),
    ],
)
def test_errors_name_the_call_and_the_argument(call: Any, message: str) -> None:
    with pytest.raises(PromptError) as caught:
        call()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iso": float("nan")}, "camera(iso=...): must be a finite number, got nan"),
        ({"lens_mm": float("inf")}, "camera(lens_mm=...): must be a finite number, got inf"),
        ({"iso": -1.5}, "camera(iso=...): must be greater than 0, got -1.5"),
        ({"iso": "high"}, "camera(iso=...): expected a number, got 'high'"),
    ],
)
def test_a_number_argument_gives_one_message(kwargs: dict[str, Any], message: str) -> None:
    for call in (lambda: camera(**kwargs), lambda: scene("x").camera(**kwargs)):
        with pytest.raises(PromptError) as caught:
            call()
        assert str(caught.value) == message


def test_compile_checks_the_profile() -> None:
    with pytest.raises(PromptValidationError) as caught:
        scene("x").subject("a fox", position="left").compile(profile="cloudflare")
    paths = [issue.path for issue in caught.value.issues]
    assert "$.subjects[0].position" in paths
    assert "$.subjects[0]" in paths


def test_an_empty_builder_does_not_compile() -> None:
    with pytest.raises(PromptValidationError, match="the prompt is empty"):
        scene().compile()
    assert scene().scene("late start").compile().scene == "late start"


def test_builders_compare_and_show_their_parts() -> None:
    assert scene("x").mood("calm") == scene("x").mood("calm")
    assert scene("x").mood("calm") != scene("x").mood("tense")
    assert repr(scene("x").mood("calm")) == "<PromptBuilder scene='x' parts=['scene', 'mood']>"
    assert isinstance(scene("x"), PromptBuilder)


# -- properties ------------------------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs", "Cf"]), min_size=1, max_size=10)
COLOURS = st.one_of(
    st.from_regex(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?", fullmatch=True),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.sampled_from(["coral", "teal", "matte black ceramic", "neon yellow"]),
)
SUBJECT_ARGS = st.fixed_dictionaries(
    {"description": SAFE_TEXT},
    optional={
        "type": SAFE_TEXT,
        "pose": SAFE_TEXT,
        "position": st.sampled_from([*Position, "upper left"]),
        "colors": st.lists(
            st.one_of(COLOURS.filter(lambda c: not isinstance(c, str) or c.startswith("#"))),
            min_size=1,
            max_size=2,
        ),
        "color_palette": st.lists(COLOURS, min_size=1, max_size=3),
    },
)
CAMERA_ARGS = st.fixed_dictionaries(
    {},
    optional={
        "angle": st.sampled_from([*CameraAngle, "dutch angle"]),
        "lens": st.sampled_from([*Lens, "100mm"]),
        "lens_mm": st.integers(8, 800),
        "f_number": st.one_of(st.sampled_from([1.4, 2.8, 8, 16]), st.just("f/5.6")),
        "iso": st.integers(50, 12800),
    },
).filter(bool)  # a camera needs at least one setting
TEXT_ARGS = st.fixed_dictionaries(
    {"content": SAFE_TEXT},
    optional={
        "language": st.sampled_from(["en", "ja", "ar", "he", "hi", "th", "zh-Hant", "ko"]),
        "placement": SAFE_TEXT,
        "color": COLOURS.filter(lambda c: not isinstance(c, str) or c.startswith("#")),
    },
)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), SAFE_TEXT)
OPERATIONS = st.one_of(
    st.tuples(st.sampled_from(["scene", "style", "lighting", "mood", "background"]), SAFE_TEXT),
    st.tuples(st.just("composition"), st.one_of(st.sampled_from(list(Composition)), SAFE_TEXT)),
    st.tuples(st.just("subject"), SUBJECT_ARGS),
    st.tuples(st.just("palette"), st.lists(COLOURS, min_size=1, max_size=5)),
    st.tuples(st.just("camera"), CAMERA_ARGS),
    st.tuples(st.just("effects"), st.lists(SAFE_TEXT, min_size=1, max_size=3)),
    st.tuples(st.just("text"), TEXT_ARGS),
    st.tuples(st.just("extra"), st.tuples(st.sampled_from(["title", "seed_hint"]), JSON_LEAVES)),
    st.tuples(
        st.just("without"),
        st.sampled_from(["subjects", "style", "color_palette", "camera", "text", "title"]),
    ),
)


def _apply(builder: PromptBuilder, operation: tuple[str, Any]) -> PromptBuilder:
    name, argument = operation
    method = getattr(builder, name)
    if name in ("subject", "camera", "text"):
        return method(**argument)  # type: ignore[no-any-return]
    if name in ("palette", "effects"):
        return method(*argument)  # type: ignore[no-any-return]
    if name == "extra":
        return method(*argument)  # type: ignore[no-any-return]
    if name == "without" and argument == "title":
        return builder.extra("title", "x").without("title")
    return method(argument)  # type: ignore[no-any-return]


BUILDERS = st.builds(
    lambda start, operations: _build(scene(start), operations),
    SAFE_TEXT,
    st.lists(OPERATIONS, max_size=8),
)


def _build(builder: PromptBuilder, operations: list[tuple[str, Any]]) -> PromptBuilder:
    for operation in operations:
        builder = _apply(builder, operation)
    return builder


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(BUILDERS, OPERATIONS)
def test_any_builder_method_leaves_the_original_unchanged(
    builder: PromptBuilder, operation: tuple[str, Any]
) -> None:
    state = copy.copy(vars(builder))
    wire = builder.compile().to_json()
    _apply(builder, operation)
    assert vars(builder) == state
    assert builder.compile().to_json() == wire


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(BUILDERS)
def test_every_dsl_built_prompt_validates(builder: PromptBuilder) -> None:
    prompt = builder.compile()
    core = core_document(prompt)
    assert find_issues(core, "flux2") == []
    assert _fast_validator("flux2").is_valid(core)
    # The model agrees, and the wire form reads back as the same prompt.
    assert core_document(Prompt.model_validate(core)) == core
    assert load(prompt.to_json(), extra_keys=prompt.extras) == prompt
    assert json.loads(prompt.to_json()) == prompt.to_dict()


def test_a_misspelt_method_names_the_right_one() -> None:
    from flux2prompt import PromptError, scene

    with pytest.raises(PromptError, match=r"did you mean \.lighting\(\)"):
        scene("x").lightning("soft")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        scene("x").lightning  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(scene("x"), "nope")


def test_empty_lists_are_refused_at_the_call() -> None:
    from flux2prompt import PromptError, scene, subject

    with pytest.raises(PromptError, match=r"palette\(\): give at least one; .*without\("):
        scene("x").palette()
    with pytest.raises(PromptError, match=r"effects\(\): give at least one"):
        scene("x").effects()
    with pytest.raises(PromptError, match=r"subjects\(\): give at least one"):
        scene("x").subjects()
    with pytest.raises(PromptError, match=r"subject\(colors=\.\.\.\): must not be empty"):
        subject("a mug", colors=[])


def test_palette_of_one_rgb_list_is_one_colour_as_the_palette_function_says() -> None:
    # [255, 87, 51] (an RGB colour read from JSON) was taken for a list of three colours.
    assert scene("x").palette([255, 87, 51]).compile().color_palette == ("#FF5733",)
    assert palette([255, 87, 51]) == ("#FF5733",)
    assert scene("x").palette(["#fff", [1, 2, 3]]).compile().color_palette == ("#FFFFFF", "#010203")


def test_subject_colors_of_one_rgb_list_is_one_colour() -> None:
    assert subject("a mug", colors=[134, 224, 74]).colors == ("#86E04A",)
    assert subject("a mug", colors=["#fff", [1, 2, 3]]).colors == ("#FFFFFF", "#010203")
    with pytest.raises(PromptError, match=r"RGB tuple \[256, 0, 0\] needs three whole numbers"):
        subject("a mug", colors=[256, 0, 0])


def test_effects_of_one_list_as_palette_takes_one() -> None:
    # A list from a JSON document was refused: "effects() item 0: expected text, got list".
    built = scene("x").effects(["soft bloom", "god rays"]).compile()
    assert built.effects == scene("x").effects("soft bloom", "god rays").compile().effects
    with pytest.raises(PromptError, match=r"give at least one"):
        scene("x").effects([])


def test_a_misspelt_required_argument_gets_its_did_you_mean_too() -> None:
    # Python refuses the call for the missing `content` before any body runs: only the
    # factory's wrapper sees the misspelt name.
    with pytest.raises(PromptError, match=r"text\(\): unknown argument 'contnet'; did you mean"):
        text(contnet="Hi")  # type: ignore[call-arg]
