"""The frozen pydantic models: fields, wire names, enums, immutability, wire-document reading."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

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
from flux2prompt._model import KNOWN_KEYS, assemble_prompt, attach_compiled, extras_of

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
