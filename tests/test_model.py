"""The frozen pydantic models: fields, wire names, enums, immutability, wire-document reading."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import flux2prompt
from flux2prompt import (
    Camera,
    CameraAngle,
    Composition,
    Focus,
    Lens,
    Position,
    Prompt,
    PromptError,
    ShotDistance,
    Subject,
    TextElement,
    camera,
    load,
    scene,
    subject,
)
from flux2prompt._compile import compile_json, core_document
from flux2prompt._model import (
    KNOWN_KEYS,
    assemble_prompt,
    attach_compiled,
    document_of,
    extras_of,
    plain_part,
)

WIRE_ORDER = (
    "scene",
    "subjects",
    "style",
    "color_palette",
    "lighting",
    "mood",
    "background",
    "composition",
    "camera",
    "effects",
    "text",
)


def test_known_keys_are_the_wire_keys_in_priority_order() -> None:
    assert KNOWN_KEYS == WIRE_ORDER


def test_subject_fields() -> None:
    assert list(Subject.model_fields) == [
        "type",
        "description",
        "pose",
        "action",
        "position",
        "color_palette",
        "colors",
        "color_match",
        "detail_preservation",
    ]


def test_camera_uses_snake_case_in_python_and_the_published_names_on_the_wire() -> None:
    cam = Camera(angle="low angle", lens_mm=85, f_number="f/2.8", iso=200, depth_of_field="deep")
    assert (cam.lens_mm, cam.f_number, cam.iso) == (85, "f/2.8", 200)
    assert cam.to_dict() == {
        "angle": "low angle",
        "lens-mm": 85,
        "f-number": "f/2.8",
        "ISO": 200,
        "depth_of_field": "deep",
    }
    wire = Camera.model_validate({"lens-mm": 50, "f-number": "f/4", "ISO": 100})
    assert (wire.lens_mm, wire.f_number, wire.iso) == (50, "f/4", 100)


def test_text_element_shape() -> None:
    element = TextElement(content="東京", language="ja", font="mincho", size="large", color="#fff")
    assert element.to_dict() == {
        "content": "東京",
        "language": "ja",
        "font": "mincho",
        "size": "large",
        "color": "#FFFFFF",
    }
    with pytest.raises(pydantic.ValidationError):
        TextElement()  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        TextElement(content="")


def test_models_are_frozen_all_the_way_down() -> None:
    prompt = load({"scene": "x", "subjects": [{"description": "a"}], "effects": ["grain"]})
    with pytest.raises(pydantic.ValidationError):
        prompt.scene = "y"  # type: ignore[misc]
    assert isinstance(prompt.subjects, tuple)
    assert isinstance(prompt.effects, tuple)
    assert prompt.subjects is not None
    with pytest.raises(pydantic.ValidationError):
        prompt.subjects[0].description = "b"  # type: ignore[misc]
    # Equal prompts hash equally, so they can be set members and dict keys.
    assert hash(prompt) == hash(load(prompt.to_json()))


def test_text_is_nfc_normalised_and_hex_upper_cased_by_the_model() -> None:
    subject = Subject(description="Cafe\u0301", colors=("#abc",), color_palette=("#def", "teal"))
    assert subject.description == "Café"
    assert subject.colors == ("#AABBCC",)
    assert subject.color_palette == ("#DDEEFF", "teal")


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (Position, ["foreground", "midground", "background"]),
        (
            Composition,
            [
                "rule of thirds",
                "circular arrangement",
                "framed by foreground",
                "minimalist negative space",
                "S-curve",
                "vanishing point center",
                "dynamic off-center",
                "leading leads",
                "golden spiral",
                "diagonal energy",
                "strong verticals",
                "triangular arrangement",
            ],
        ),
        (
            CameraAngle,
            [
                "eye level",
                "low angle",
                "slightly low",
                "bird's-eye",
                "worm's-eye",
                "over-the-shoulder",
                "isometric",
            ],
        ),
        (
            ShotDistance,
            [
                "close-up",
                "medium close-up",
                "medium shot",
                "medium wide",
                "wide shot",
                "extreme wide",
            ],
        ),
        (
            Focus,
            ["deep focus", "macro focus", "selective focus", "sharp on subject", "soft background"],
        ),
        (Lens, ["14mm", "24mm", "35mm", "50mm", "70mm", "85mm"]),
    ],
)
def test_enums_spell_cloudflares_values_exactly(enum: type, values: list[str]) -> None:
    assert [member.value for member in enum] == values  # type: ignore[attr-defined]


def test_enum_members_are_stored_as_plain_strings() -> None:
    subject = Subject(description="a fox", position=Position.FOREGROUND)
    assert type(subject.position) is str
    prompt = (
        scene("x")
        .composition(Composition.LEADING_LINES)
        .camera(angle=CameraAngle.LOW_ANGLE, lens=Lens.MM_85)
        .compile(profile="flux2")
    )
    assert type(prompt.composition) is str
    assert prompt.to_json() == (
        '{"scene":"x","composition":"leading leads","camera":{"angle":"low angle","lens":"85mm"}}'
    )


def test_model_validate_reads_wire_documents_only() -> None:
    # The constructor speaks Python (snake_case, None for unset) ...
    assert Camera(f_number="f/2", iso=None).f_number == "f/2"
    # ... model_validate speaks the wire: published names, no nulls, like the schema.
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        Camera.model_validate({"f_number": "f/2"})
    assert Camera.model_validate({"f_number": "f/2"}, by_name=True).f_number == "f/2"
    with pytest.raises(pydantic.ValidationError) as caught:
        Prompt.model_validate({"scene": "x", "subjects": [{"pose": None}]})
    assert caught.value.errors()[0]["loc"] == ("subjects", 0, "pose")
    assert "leave the key out" in caught.value.errors()[0]["msg"]
    with pytest.raises(pydantic.ValidationError, match="leave the key out"):
        Prompt.model_validate_json('{"scene": null}')
    with pytest.raises(pydantic.ValidationError, match="Invalid JSON"):
        Prompt.model_validate_json("{oops")
    assert Prompt.model_validate_json('{"camera": {"ISO": 64}}').camera == Camera(iso=64)


def test_an_empty_prompt_is_invalid() -> None:
    with pytest.raises(pydantic.ValidationError, match="the prompt is empty"):
        Prompt()
    with pytest.raises(pydantic.ValidationError, match="the prompt is empty"):
        Prompt.model_validate({})


def test_model_copy_validates_updates_and_does_not_keep_a_stale_wire_form() -> None:
    prompt = scene("harbour").mood("calm").compile()
    assert prompt.to_json() == '{"scene":"harbour","mood":"calm"}'
    stormy = prompt.model_copy(update={"mood": "stormy", "color_palette": ("#abc",)})
    assert stormy.to_json() == '{"scene":"harbour","color_palette":["#AABBCC"],"mood":"stormy"}'
    assert stormy.fingerprint != prompt.fingerprint
    assert prompt.mood == "calm"
    with pytest.raises(pydantic.ValidationError):
        prompt.model_copy(update={"mood": 3})
    with_extra = scene("x").extra("seed_hint", 7).compile()
    assert with_extra.model_copy(update={"mood": "calm"}).extras == {"seed_hint": 7}
    assert prompt.model_copy() == prompt


def test_extras_are_exposed_as_data() -> None:
    prompt = scene("x").extra("title", "Water").extra("sections", [{"h": 1}]).compile()
    assert prompt.extras == {"title": "Water", "sections": [{"h": 1}]}
    assert list(prompt.to_dict()) == ["scene", "title", "sections"]
    assert scene("x").compile().extras == {}


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        ({"scene": ""}, "$.scene", "must not be empty"),
        ({"scene": "x", "effects": [""]}, "$.effects[0]", "must not be empty"),
        ({"scene": "x", "subjects": [{}]}, "$.subjects[0]", "is empty"),
        ({"scene": "x", "camera": {}}, "$.camera", "is empty"),
    ],
)
def test_empty_parts_are_refused_by_schema_and_model_alike(
    document: dict[str, object], path: str, words: str
) -> None:
    from pydantic import ValidationError

    from flux2prompt import PromptValidationError, load
    from flux2prompt._schema import find_issues

    issues = find_issues(document, "flux2")
    assert [issue.path for issue in issues] == [path]
    assert words in issues[0].message
    with pytest.raises(PromptValidationError):
        load(document)
    with pytest.raises(ValidationError):
        Prompt.model_validate(document)


def test_the_dsl_refuses_empty_parts_at_the_call() -> None:
    from flux2prompt import PromptError, camera, scene, subject

    with pytest.raises(PromptError, match=r"^mood\(\): must not be empty"):
        scene("x").mood("")
    with pytest.raises(PromptError, match=r"^subject\(\): a subject needs at least one field"):
        subject()
    with pytest.raises(PromptError, match=r"^camera\(\): a camera needs at least one setting"):
        camera()


def test_model_copy_takes_wire_names_too() -> None:
    from flux2prompt import Camera

    camera = Camera(lens="85mm").model_copy(update={"f-number": "f/2", "ISO": 400})
    assert camera.to_dict() == {"lens": "85mm", "f-number": "f/2", "ISO": 400}


@pytest.mark.parametrize("key", ["subjects", "color_palette", "effects", "text"])
def test_empty_lists_are_refused_by_schema_and_model_alike(key: str) -> None:
    from pydantic import ValidationError

    from flux2prompt._schema import find_issues

    document = {"scene": "x", key: []}
    issues = find_issues(document, "flux2")
    assert [(i.path, i.message) for i in issues] == [
        (f"$.{key}", "is empty; leave the key out instead")
    ]
    with pytest.raises(ValidationError):
        Prompt.model_validate(document)


def test_the_compile_cache_is_attached_by_one_helper() -> None:
    prompt = load({"scene": "dunes"})
    assert extras_of(prompt) == ()
    same = attach_compiled(prompt, extras=(("seed_hint", "7"),))
    assert same is prompt
    assert prompt.extras == {"seed_hint": 7}
    assert prompt.to_json() == '{"scene":"dunes","seed_hint":7}'
    # A copy keeps the extras; one with an update is validated and compiled afresh.
    assert prompt.model_copy(update={"mood": "calm"}).to_json() == (
        '{"scene":"dunes","mood":"calm","seed_hint":7}'
    )
    built = scene("dunes").extra("seed_hint", 7).compile()
    assert extras_of(built) == (("seed_hint", "7"),)
    assert built == prompt


def test_only_the_model_writes_pydantic_internals() -> None:
    # The compile cache has one writer (attach_compiled); no other module reaches into pydantic's
    # slots.
    root = Path(flux2prompt.__file__).parent
    pattern = re.compile(r"__pydantic_private__|\"_wire\"|__dict__\[")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).as_posix() != "_model.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_the_dsl_refuses_what_the_models_refuse_in_the_same_words() -> None:
    with pytest.raises(PromptError, match=r"subject\(pose=\.\.\.\): must not be empty"):
        subject("x", pose="")
    with pytest.raises(PromptError, match=r"camera\(iso=\.\.\.\): .*got True"):
        camera(iso=True)
    with pytest.raises(PromptError, match=r"subject\(\): a subject needs at least one field"):
        subject()


def test_assembled_prompts_are_what_model_construct_made() -> None:
    parts = dict.fromkeys(Prompt.model_fields, None) | {"scene": "dunes", "mood": "calm"}
    fast = assemble_prompt(parts, (("seed_hint", "7"),))
    slow = Prompt.model_construct(**parts)
    assert fast.__dict__ == slow.__dict__
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == {"_extras": (("seed_hint", "7"),)}
    assert assemble_prompt(parts, ()).__pydantic_private__ == slow.__pydantic_private__


# -- parts from plain values: plain_part makes exactly what pydantic makes ----------------------

_TEXTS = st.one_of(
    st.sampled_from(
        ["a fox", "", " ", "x" * 300, "東京", "Rau\u0301l", "tab\there", "\u202ex", "a\ud800b"]
    ),
    st.text(st.characters(blacklist_categories=()), max_size=6),  # lone surrogates too
    st.text(max_size=12),
    st.text(st.characters(codec="ascii"), max_size=12),
)
_CODES = st.one_of(
    st.sampled_from(["#fff", "#FFFFFF", "#1f3a5f", "#12345G", "#ffff", "coral", "#FFF\n", ""]),
    st.from_regex(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?", fullmatch=True),
    _TEXTS,
)
_NUMBERS = st.one_of(
    st.integers(-5, 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["85", 2.8, 0, 0.0, -1]),
)
_ANY = st.one_of(
    _TEXTS,
    _CODES,
    _NUMBERS,
    st.lists(_CODES, max_size=3),
    st.lists(_CODES, max_size=3).map(tuple),
    st.sampled_from([Position.FOREGROUND, Lens.MM_85, ["#fff", 1], (), []]),
)
_VALUES = {
    "Text | None": _TEXTS,
    "Annotated[Text, Field(min_length=1)]": _TEXTS,
    "HexColor | None": _CODES,
    "LanguageTag | None": st.sampled_from(["en", "ja", "zh-Hant", "english", "pt_BR", "xx-yy-zz"]),
    "PositiveNumber | None": _NUMBERS,
    "NonEmpty[tuple[ColorText, ...]] | None": st.lists(_CODES, max_size=3),
    "NonEmpty[tuple[HexColor, ...]] | None": st.lists(_CODES, max_size=3),
}


_GOOD = {
    "Text | None": st.from_regex(r"[a-z][ -~]{0,20}", fullmatch=True) | st.just("東京の夜"),
    "HexColor | None": st.from_regex(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?", fullmatch=True),
    "LanguageTag | None": st.sampled_from(["en", "ja", "zh-Hant", "de-CH"]),
    "PositiveNumber | None": st.integers(1, 10**6) | st.floats(0.1, 1e6),
    "NonEmpty[tuple[ColorText, ...]] | None": st.lists(
        st.sampled_from(["#abc", "#A1B2C3", "sea green", "Terracotta"]), min_size=1, max_size=3
    ),
    "NonEmpty[tuple[HexColor, ...]] | None": st.lists(
        st.from_regex(r"#[0-9a-f]{6}", fullmatch=True), min_size=1, max_size=3
    ),
}
_GOOD["Annotated[Text, Field(min_length=1)]"] = _GOOD["Text | None"]


@st.composite
def _part_fields(draw: st.DrawFn) -> tuple[type[Any], dict[str, Any]]:
    cls = draw(st.sampled_from([Subject, Camera, TextElement]))
    fields: dict[str, Any] = {}
    for name in cls.model_fields:
        kind = draw(st.sampled_from(["unset"] * 8 + ["good"] * 8 + ["typed"] * 3 + ["any"]))
        if kind == "unset":
            fields[name] = None
        elif kind == "good":
            fields[name] = draw(_GOOD[cls.__annotations__[name]])
        elif kind == "typed":
            fields[name] = draw(_VALUES[cls.__annotations__[name]])
        else:
            fields[name] = draw(_ANY)
    return cls, fields


def _pydantic_made(cls: type[Any], fields: dict[str, Any]) -> Any:
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if v is not None}
    return cls.__pydantic_validator__.validate_python(data)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_part_fields())
def test_a_plain_part_is_exactly_what_pydantic_makes(
    case: tuple[type[Any], dict[str, Any]],
) -> None:
    cls, fields = case
    made = plain_part(cls, fields)
    if made is None:
        return  # left to pydantic, which decides and words the error
    event(f"plain {cls.__name__}")
    slow = _pydantic_made(cls, fields)  # pydantic accepts what plain_part accepted
    assert made == slow
    assert {k: v for k, v in vars(made).items() if k != "_document"} == vars(slow)
    assert list(vars(slow)) == [k for k in vars(made) if k != "_document"]  # the same order
    assert made.model_fields_set == slow.model_fields_set
    assert made.__pydantic_extra__ == slow.__pydantic_extra__
    assert made.__pydantic_private__ == slow.__pydantic_private__
    assert repr(made) == repr(slow)
    assert document_of(made) == slow.to_dict() == made.to_dict()
    assert made.model_dump_json() == slow.model_dump_json()


def test_plain_values_take_the_plain_path_and_others_are_left_to_pydantic() -> None:
    fields = dict.fromkeys(Subject.model_fields) | {"description": "a fox", "colors": ["#fff"]}
    made = plain_part(Subject, fields)
    assert made is not None
    assert made.colors == ("#FFFFFF",)
    assert plain_part(Subject, fields | {"position": Position.FOREGROUND}) is None  # an enum
    assert plain_part(Subject, fields | {"pose": ""}) is None  # refused: pydantic says why
    assert plain_part(Subject, dict.fromkeys(Subject.model_fields)) is None  # empty part
    assert plain_part(Subject, {"description": "a fox"}) is None  # not every field named
    cam = dict.fromkeys(Camera.model_fields) | {"lens_mm": 85, "iso": 400.0}
    assert document_of(plain_part(Camera, cam)) == {"lens-mm": 85, "ISO": 400.0}
    assert plain_part(Camera, cam | {"iso": True}) is None
    assert plain_part(Camera, cam | {"iso": float("nan")}) is None
    element = dict.fromkeys(TextElement.model_fields) | {"content": "東京", "language": "ja"}
    assert plain_part(TextElement, element) is not None
    assert plain_part(TextElement, element | {"language": "english"}) is None
    assert plain_part(TextElement, element | {"content": None}) is None  # content is required


def test_the_builder_keeps_each_prompt_document_equal_to_what_pydantic_writes() -> None:
    built = (
        scene("a harbour")
        .subject("a boat", colors=[(255, 0, 0)], position=Position.FOREGROUND)
        .subject(subject("a gull", pose="gliding"))
        .palette("#abc", "sea green")
        .camera(lens_mm=85, f_number=2.8)
        .text("港", language="ja", color="#fff")
        .effects("grain")
        .extra("seed_hint", 7)
        .compile()
    )
    assert document_of(built) == core_document(built)
    assert document_of(built) == core_document(load(built.to_json(), extra_keys=["seed_hint"]))
    assert "seed_hint" not in document_of(built)
    # A loaded prompt's document is written by pydantic-core when it is compiled.
    loaded = load(built.to_json(), extra_keys=["seed_hint"])
    assert compile_json(loaded) == built.to_json()
    assert document_of(loaded) == document_of(built)


def test_the_deprecated_copy_with_changes_keeps_nothing_compiled_from_the_original() -> None:
    prompt = scene("x").mood("calm").compile()
    assert prompt.fingerprint.startswith("sha256:")
    with pytest.warns(DeprecationWarning, match="copy"):
        changed = prompt.copy(update={"mood": "tense"})
    assert changed.to_json() == '{"scene":"x","mood":"tense"}'
    assert changed.fingerprint == load('{"scene":"x","mood":"tense"}').fingerprint
    assert compile_json(changed) == changed.to_json()
    with pytest.warns(DeprecationWarning, match="copy"):
        same = prompt.copy()
    assert same.to_json() == prompt.to_json()


def test_the_deprecated_copy_with_changes_validates_them_as_model_copy_does() -> None:
    import warnings

    from pydantic import ValidationError

    from flux2prompt import scene, subject

    prompt = scene("x").mood("calm").extra("seed_hint", 7).compile()
    fox = subject("a fox", colors=["#fff"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValidationError):
            prompt.copy(update={"scene": 5})
        with pytest.raises(ValidationError):
            fox.copy(update={"colors": ("not a hex code",)})
        # A change is normalised as the constructor normalises it; custom keys stay.
        assert fox.copy(update={"colors": ["#abc"]}).colors == ("#AABBCC",)
        assert prompt.copy(update={"mood": "tense"}).to_json() == (
            '{"scene":"x","mood":"tense","seed_hint":7}'
        )
        # A field left out is unset; a plain copy is the same prompt.
        assert prompt.copy(exclude={"mood"}).to_json() == '{"scene":"x","seed_hint":7}'
        assert prompt.copy().fingerprint == prompt.fingerprint
    with pytest.warns(DeprecationWarning, match="model_copy"):
        prompt.copy(update={"mood": "tense"})
