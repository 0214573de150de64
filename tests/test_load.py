"""Loading prompts: BFL and Cloudflare shapes, byte-for-byte round trips, errors, fuzzing."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import (
    Flux2PromptError,
    Prompt,
    PromptError,
    PromptValidationError,
    SourceError,
    load,
    scene,
)

# Shapes from BFL's JSON prompting examples: colour names per subject, exact hex colours,
# colour matching, detail preservation, and the camera's lens-mm, f-number and ISO.
BFL_PRODUCT: dict[str, Any] = {
    "scene": "Professional studio product photography setup with polished concrete surface",
    "subjects": [
        {
            "description": "Minimalist ceramic coffee mug with steam rising from hot coffee",
            "pose": "Stationary on surface",
            "position": "Center foreground on polished concrete surface",
            "color_palette": ["matte black ceramic"],
        }
    ],
    "style": "Ultra-realistic product photography with commercial quality",
    "color_palette": ["matte black", "concrete gray", "soft white highlights"],
    "lighting": "Three-point softbox setup creating soft, diffused highlights",
    "mood": "Clean, professional, minimalist",
    "background": "Polished concrete surface with studio backdrop",
    "composition": "rule of thirds",
    "camera": {
        "angle": "High angle",
        "distance": "Medium shot",
        "focus": "Sharp focus on steam rising from coffee and mug details",
        "lens-mm": 85,
        "f-number": "f/5.6",
        "ISO": 200,
    },
}
BFL_BRAND: dict[str, Any] = {
    "scene": "Sneaker on a floating plinth, seamless backdrop",
    "subjects": [
        {
            "type": "sneaker",
            "description": "Low-top running shoe, knit upper, translucent sole",
            "position": "center",
            "colors": ["#86E04A", "#1A1A1A"],
            "color_match": "exact",
            "detail_preservation": "high",
        },
        {
            "type": "plinth",
            "description": "Concrete cylinder",
            "color_palette": ["concrete gray", "warm white"],
        },
    ],
    "color_palette": ["#86E04A", "#1A1A1A", "#F5F5F0", "#C0C0C0", "#FF5733", "#004E89"],
    "camera": {"lens-mm": 100, "f-number": "f/8", "ISO": 100, "depth_of_field": "deep"},
}


@pytest.mark.parametrize("document", [BFL_PRODUCT, BFL_BRAND], ids=["product", "brand"])
def test_bfl_shaped_documents_load_and_compile_without_loss(document: dict[str, Any]) -> None:
    prompt = load(document)
    assert prompt.to_dict() == document
    assert json.loads(prompt.to_json()) == document
    assert load(json.dumps(document)) == prompt
    assert prompt.camera is not None
    assert prompt.camera.f_number == document["camera"]["f-number"]
    assert prompt.camera.iso == document["camera"]["ISO"]
    assert prompt.camera.lens_mm == document["camera"]["lens-mm"]


def test_bfl_subject_fields_are_attributes() -> None:
    subjects = load(BFL_BRAND).subjects
    assert subjects is not None
    assert subjects[0].colors == ("#86E04A", "#1A1A1A")
    assert subjects[0].color_match == "exact"
    assert subjects[0].detail_preservation == "high"
    assert subjects[1].color_palette == ("concrete gray", "warm white")


@pytest.mark.parametrize("document", [BFL_PRODUCT, BFL_BRAND], ids=["product", "brand"])
def test_a_document_already_in_wire_order_compiles_back_byte_for_byte(
    document: dict[str, Any],
) -> None:
    wire = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert load(wire).to_bytes() == wire
    assert load(wire.decode()).to_bytes() == wire


def test_sources_text_bytes_bom_dict_path_builder_and_prompt(tmp_path: Path) -> None:
    document = {"scene": "東京の夜", "mood": "calm"}
    text = json.dumps(document, ensure_ascii=False)
    expected = load(document)
    assert load(text) == expected
    assert load(text.encode("utf-8")) == expected
    assert load(b"\xef\xbb\xbf" + text.encode("utf-8")) == expected
    path = tmp_path / "night.json"
    path.write_text(text, encoding="utf-8")
    assert load(path) == expected
    assert load(scene("東京の夜").mood("calm")) == expected
    assert load(expected) is expected


def test_a_prompt_source_is_checked_under_the_requested_profile() -> None:
    prompt = load({"scene": "x", "title": "T"}, extra_keys=["title"])
    with pytest.raises(PromptValidationError) as caught:
        load(prompt, profile="cloudflare")
    # Extras are not the profile's business; the missing subjects are.
    assert [issue.path for issue in caught.value.issues] == ["$"]


def test_unknown_key_gets_a_did_you_mean() -> None:
    with pytest.raises(PromptValidationError) as caught:
        load('{"scene": "harbour", "lightning": "golden hour"}')
    assert str(caught.value.issues[0]) == (
        "$.lightning: unknown key 'lightning'; did you mean 'lighting'?"
    )


def test_extras_are_kept_in_order_when_asked_for() -> None:
    source = '{"type": "infographic", "scene": "x", "title": "Water", "sections": [1, 2]}'
    prompt = load(source, extra_keys=["sections", "type", "title"])
    assert prompt.to_json() == '{"scene":"x","type":"infographic","title":"Water","sections":[1,2]}'
    assert prompt.extras == {"type": "infographic", "title": "Water", "sections": [1, 2]}
    assert load(prompt.to_json(), extra_keys=prompt.extras) == prompt


def test_extras_keep_unicode_hygiene() -> None:
    prompt = load({"scene": "x", "title": "Cafe\u0301"}, extra_keys=["title"])
    assert prompt.extras == {"title": "Café"}
    with pytest.raises(PromptValidationError, match=r"\$\.title\[0\]: contains U\+202E"):
        load({"scene": "x", "title": ["\u202e"]}, extra_keys=["title"])
    with pytest.raises(PromptError, match="'scene' is a known key"):
        load({"scene": "x"}, extra_keys=["scene"])


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ('{\n  "scene": "x",\n}', 3, "invalid JSON at column 1"),
        ('{\n  "scene": "x"\n  "mood": "y"\n}', 3, "Expecting ',' delimiter"),
        ('{"scene": "x",\n "scene": "y"}', 2, "duplicate key 'scene'"),
        ('{"subjects": [\n {"pose": 1,\n  "pose": 2}]}', 3, "duplicate key 'pose'"),
        ('{"camera": {\n "ISO": NaN}}', 2, "NaN is not valid JSON"),
        ('{"camera": {"ISO": -Infinity}}', 1, "-Infinity is not valid JSON"),
    ],
)
def test_json_errors_give_line_and_reason(source: str, line: int, words: str) -> None:
    with pytest.raises(SourceError) as caught:
        load(source)
    assert caught.value.line == line
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"<json>:{line}: ")


def test_duplicate_keys_in_different_objects_are_fine() -> None:
    source = '{"subjects": [{"pose": "a"}, {"pose": "b"}], "scene": "x"}'
    assert load(source).subjects is not None


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "scene": "x",\n  "scene": "y"\n}', encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}:3: duplicate key 'scene': a later value would silently replace it"
    )
    with pytest.raises(SourceError, match="no such file"):
        load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("prompt.json", "pass pathlib.Path"),
        ("a fox in the snow", "must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ("[1, 2]", "a prompt must be a JSON object, got an array"),
        ("{}", "the prompt is empty"),
        ('{"scene": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than 64 levels deep"),
        ('{"scene": 1' + "0" * 5000 + "}", "too many digits"),
    ],
)
def test_unusable_sources_give_one_line_reasons(source: str | bytes, words: str) -> None:
    with pytest.raises(Flux2PromptError) as caught:
        load(source)
    assert words in str(caught.value)


def test_loading_something_that_is_not_a_source_says_what_to_pass() -> None:
    with pytest.raises(PromptError, match="cannot load a prompt from int"):
        load(42)  # type: ignore[arg-type]


# -- properties ------------------------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs", "Cf"]), min_size=1, max_size=12)
HEX = st.from_regex(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?", fullmatch=True)
# A colour name: text starting with "#" is held to the hex rule, so it is not a name.
COLOR_NAME = SAFE_TEXT.filter(lambda value: not value.lstrip().startswith("#"))
POSITIVE = st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6))


def _documents() -> st.SearchStrategy[dict[str, Any]]:
    subject_ = st.fixed_dictionaries(
        {},
        optional={
            "type": SAFE_TEXT,
            "description": SAFE_TEXT,
            "pose": SAFE_TEXT,
            "position": SAFE_TEXT,
            "color_palette": st.lists(st.one_of(COLOR_NAME, HEX), min_size=1, max_size=3),
            "colors": st.lists(HEX, min_size=1, max_size=3),
            "color_match": SAFE_TEXT,
        },
    ).filter(bool)  # an empty subject is refused
    camera_ = st.fixed_dictionaries(
        {},
        optional={"angle": SAFE_TEXT, "lens-mm": POSITIVE, "f-number": SAFE_TEXT, "ISO": POSITIVE},
    ).filter(bool)  # an empty camera is refused
    element = st.fixed_dictionaries(
        {"content": SAFE_TEXT},
        optional={
            "language": st.sampled_from(["en", "ja", "ar", "hi", "zh-Hant"]),
            "placement": SAFE_TEXT,
            "color": HEX,
        },
    )
    return st.fixed_dictionaries(
        {"scene": SAFE_TEXT},
        optional={
            "subjects": st.lists(subject_, min_size=1, max_size=3),
            "style": SAFE_TEXT,
            "color_palette": st.lists(st.one_of(HEX, COLOR_NAME), min_size=1, max_size=5),
            "mood": SAFE_TEXT,
            "camera": camera_,
            "effects": st.lists(SAFE_TEXT, min_size=1, max_size=2),
            "text": st.lists(element, min_size=1, max_size=2),
        },
    )


EXTRAS = st.dictionaries(
    st.sampled_from(["title", "subtitle", "sections", "seed_hint"]),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), SAFE_TEXT),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SAFE_TEXT, inner, max_size=3),
        max_leaves=6,
    ),
    max_size=2,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(), EXTRAS)
def test_load_of_the_wire_form_gives_back_the_same_prompt(
    document: dict[str, Any], extras: dict[str, Any]
) -> None:
    prompt = load({**document, **extras}, extra_keys=extras)
    wire = prompt.to_json()
    again = load(wire, extra_keys=extras)
    assert again == prompt
    assert again.to_json() == wire
    assert again.fingerprint == prompt.fingerprint
    # And through bytes, as the transport sends it.
    assert load(prompt.to_bytes(), extra_keys=extras).to_bytes() == prompt.to_bytes()


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),  # NaN and infinities included: a dict can hold them even if JSON cannot
        st.text(max_size=8),
        st.sampled_from(["scene", "#abc", "\u202e", "\ud800", "e\u0301"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.one_of(st.sampled_from(["scene", "subjects", "camera", "ISO", "text"]), st.text()),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def _load_or_project_error(source: Any) -> None:
    try:
        result = load(source)
    except Flux2PromptError as exc:
        reason = str(exc)
    else:
        assert isinstance(result, Prompt)
        reason = result.to_bytes().decode()  # whatever loads can be sent
    assert reason


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_loading_any_json_value_raises_only_project_errors(value: Any) -> None:
    if isinstance(value, dict):
        _load_or_project_error(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (ValueError, UnicodeError):  # pragma: no cover - json.dumps accepts all of these
        return
    _load_or_project_error(text)
    _load_or_project_error(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=200)
@given(st.text(st.characters(exclude_categories=[])))
def test_loading_arbitrary_text_raises_only_project_errors(value: str) -> None:
    _load_or_project_error(value)
    _load_or_project_error("{" + value)
    _load_or_project_error('{"scene": "' + value + '"}')


@settings(max_examples=200)
@given(st.binary())
def test_loading_arbitrary_bytes_raises_only_project_errors(value: bytes) -> None:
    _load_or_project_error(value)
    _load_or_project_error(b'{"scene": "' + value + b'"}')


def test_non_finite_numbers_in_a_dict_are_reported_not_raised() -> None:
    with pytest.raises(PromptValidationError, match="NaN is not a JSON number"):
        load({"camera": {"ISO": math.nan}})


def test_json_text_with_a_byte_order_mark_loads_as_bytes_do() -> None:
    # Path.read_text(encoding="utf-8") keeps a BOM that the bytes' utf-8-sig reading drops.
    expected = load(b'\xef\xbb\xbf{"scene": "x"}')
    assert load('\ufeff{"scene": "x"}') == expected
    assert load('\ufeff  {"scene": "x"}') == expected


def test_an_extra_that_compiles_also_loads() -> None:
    # 10**400 is valid JSON text, but load() refuses an integer no float holds: so must the
    # builder and a dict's extras, or a compiled prompt would not load back.
    with pytest.raises(PromptError, match=r"extra\('n'\): \$\.n\[0\]: the number is too large"):
        scene("x").extra("n", [10**400])
    with pytest.raises(PromptValidationError, match=r"\$\.n: the number is too large"):
        load({"scene": "x", "n": 10**400}, extra_keys=["n"])
    prompt = scene("x").extra("n", 10**300).compile()
    assert load(prompt.to_json(), extra_keys=["n"]) == prompt


def test_a_plain_prompt_file_with_a_wrong_value_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hero.json"
    path.write_text('{\n  "scene": "a harbour",\n  "mood": 5\n}\n', encoding="utf-8")
    with pytest.raises(PromptValidationError) as caught:
        load(path)
    assert str(caught.value).splitlines() == [
        f"{path}: prompt is invalid under profile 'flux2' (1 problem):",
        "$.mood: expected a string, got integer 5",
    ]
    assert caught.value.issues[0].path == "$.mood"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(PromptValidationError, match=rf"^{path}: .*\n\$: a prompt must be"):
        load(path)


def test_extra_keys_mean_the_same_for_a_path_as_for_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "info.prompt.toml"
    path.write_text('name = "info"\n[prompt]\nscene = "x"\ntitle = "T"\n', encoding="utf-8")
    assert load(path, extra_keys="title") == load({"scene": "x", "title": "T"}, extra_keys="title")
    assert load(path, extra_keys="title").extras == {"title": "T"}
    for bad in (None, 5):
        with pytest.raises(PromptError, match="extra_keys: expected a list of key names"):
            load(path, extra_keys=bad)  # type: ignore[arg-type]
        with pytest.raises(PromptError, match="extra_keys: expected a list of key names"):
            load({"scene": "x"}, extra_keys=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["name", "tags", "version", "prompt"])
def test_a_saved_prompt_with_a_custom_key_named_like_prompt_file_metadata_loads_back(
    tmp_path: Path, key: str
) -> None:
    # An infographic's "name", saved from compile(): the key is the prompt's own, not metadata.
    prompt = scene("an infographic").extra(key, "Water").compile()
    path = tmp_path / "info.json"
    path.write_text(prompt.to_json(), encoding="utf-8")
    assert load(path, extra_keys=[key]) == prompt
    assert load(path, extra_keys=iter([key])) == prompt  # any iterable, read once
    assert load(prompt.to_json(), extra_keys=[key]) == prompt


def test_without_a_part_that_is_not_a_string_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match=r"^without\(\): a part is named by a string, got 5"):
        scene("x").mood("calm").without(5)  # type: ignore[arg-type]


def _escape_dollars(value: Any) -> Any:
    """A prompt document written into a prompt file: every literal $ as $$ (files are templates)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(item) for item in value]
    return value


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(), EXTRAS, st.sampled_from(["", "$", "$$", "${x}", "$5"]))
def test_a_prompt_saved_to_a_file_loads_back_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    document: dict[str, Any],
    extras: dict[str, Any],
    dollars: str,
) -> None:
    document = {**document, "scene": document["scene"] + dollars}
    prompt = load({**document, **extras}, extra_keys=extras)
    folder = tmp_path_factory.mktemp("saved")
    # As a plain document (compact or pretty): read as it is, "$" and all.
    plain = folder / "p.json"
    for text in (prompt.to_json(), prompt.to_json(pretty=True)):
        plain.write_text(text, encoding="utf-8")
        assert load(plain, extra_keys=extras).to_bytes() == prompt.to_bytes()
    # As a prompt file: its strings are templates, so a literal $ is written $$.
    wrapped = {"name": "saved", "prompt": _escape_dollars(prompt.to_dict())}
    prompt_file = folder / "p.prompt.json"
    prompt_file.write_text(json.dumps(wrapped, ensure_ascii=False), encoding="utf-8")
    assert load(prompt_file, extra_keys=extras).to_bytes() == prompt.to_bytes()


def test_int_and_float_subclasses_load_like_the_numbers_they_are() -> None:
    # The compiled validator refused them without saying why: "$: the document is not plain
    # JSON data", with no path and no fix.
    class Count(int):
        pass

    class Reading(float):
        pass

    prompt = load({"scene": "x", "camera": {"ISO": Count(200), "lens-mm": Reading(85.5)}})
    assert prompt.to_json() == '{"scene":"x","camera":{"lens-mm":85.5,"ISO":200}}'
    assert load(prompt.to_json()) == prompt
    with pytest.raises(PromptValidationError, match=r"\$\.camera\.ISO: must be greater than 0"):
        load({"scene": "x", "camera": {"ISO": Count(-1)}})
