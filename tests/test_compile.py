"""Compiling to the wire: key order, compact JSON, raw UTF-8, fingerprints, extras."""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from typing import Any

import pytest

from flux2prompt import PromptValidationError, load, scene, subject, text
from flux2prompt._compile import compile_json, dumps_compact, fingerprint_of

FULL_DOCUMENT: dict[str, Any] = {
    "scene": "a quiet harbour at dawn",
    "subjects": [
        {
            "type": "fishing boat",
            "description": "weathered red hull",
            "pose": "moored",
            "action": "rocking gently",
            "position": "foreground",
            "color_palette": ["rust red", "#F2EFE9"],
            "colors": ["#8B1A1A"],
            "color_match": "exact",
            "detail_preservation": "high",
        }
    ],
    "style": "photorealistic",
    "color_palette": ["#1A1A1A", "#F2EFE9", "#C8A27A"],
    "lighting": "soft golden light from the east",
    "mood": "calm",
    "background": "mist over the water",
    "composition": "rule of thirds",
    "camera": {
        "angle": "eye level",
        "distance": "wide shot",
        "focus": "deep focus",
        "lens": "35mm",
        "lens-mm": 35,
        "f-number": "f/8",
        "ISO": 100,
        "depth_of_field": "deep",
    },
    "effects": ["subtle film grain"],
    "text": [
        {
            "content": "HARBOUR",
            "language": "en",
            "font": "bold serif",
            "size": "large headline",
            "placement": "top centre",
            "color": "#FFFFFF",
        }
    ],
}

WIRE_ORDER = [
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
]


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def test_keys_travel_in_flux2_priority_order_whatever_the_source_order() -> None:
    reversed_document = dict(reversed(list(FULL_DOCUMENT.items())))
    wire = load(reversed_document).to_json()
    assert list(json.loads(wire)) == WIRE_ORDER
    assert wire == dumps_compact(FULL_DOCUMENT)
    nested = json.loads(wire)
    assert list(nested["camera"]) == list(FULL_DOCUMENT["camera"])
    assert list(nested["subjects"][0]) == list(FULL_DOCUMENT["subjects"][0])
    assert list(nested["text"][0]) == list(FULL_DOCUMENT["text"][0])


def test_wire_json_is_compact_and_omits_unset_keys() -> None:
    prompt = scene("a b").mood("c d").compile()
    assert prompt.to_json() == '{"scene":"a b","mood":"c d"}'
    wire = load(FULL_DOCUMENT).to_json()
    assert wire == json.dumps(FULL_DOCUMENT, ensure_ascii=False, separators=(",", ":"))
    assert ": " not in wire
    assert ", " not in wire
    assert "null" not in wire


def test_pretty_form_is_indented_for_humans() -> None:
    prompt = load(FULL_DOCUMENT)
    pretty = prompt.to_json(pretty=True)
    assert pretty == json.dumps(FULL_DOCUMENT, ensure_ascii=False, indent=2)
    assert json.loads(pretty) == json.loads(prompt.to_json())


SAMPLES = {
    "latin with diacritics": "Crème brûlée à São Paulo, Ærøskøbing, Łódź",
    "japanese": "東京の夜市へようこそ",
    "chinese": "欢迎光临 歡迎光臨",
    "korean": "서울의 밤",
    "arabic": "مرحبا بكم في القاهرة",
    "hebrew": "ברוכים הבאים",
    "devanagari": "नमस्ते दिल्ली",
    "thai": "ยินดีต้อนรับ",
    "emoji": "🌊🏮 family: 👨‍👩‍👧",
    "combining marks": "Z̤͔ͧ a\u0308\u0301",
}


@pytest.mark.parametrize("content", SAMPLES.values(), ids=SAMPLES.keys())
def test_every_character_travels_as_itself_in_utf8(content: str) -> None:
    prompt = scene(content).text(content).compile()
    wire = prompt.to_json()
    composed = unicodedata.normalize("NFC", content)
    assert "\\u" not in wire
    assert f'"{composed}"' in wire
    assert json.loads(wire)["scene"] == composed
    assert prompt.to_bytes() == wire.encode("utf-8")
    assert json.loads(prompt.to_bytes().decode("utf-8"))["text"][0]["content"] == prompt.scene
    again = load(prompt.to_bytes())
    assert again == prompt
    assert again.to_bytes() == prompt.to_bytes()


def test_japanese_and_arabic_compile_to_raw_characters() -> None:
    prompt = (
        scene("poster")
        .text("東京", language="ja")
        .text("مرحبا", language="ar", placement="bottom")
        .compile()
    )
    assert (
        prompt.to_bytes()
        == (
            '{"scene":"poster","text":[{"content":"東京","language":"ja"},'
            '{"content":"مرحبا","language":"ar","placement":"bottom"}]}'
        ).encode()
    )


def test_decomposed_e_acute_comes_out_composed() -> None:
    prompt = scene("cafe\u0301").text("e\u0301").compile()
    assert prompt.to_bytes() == '{"scene":"café","text":[{"content":"é"}]}'.encode()
    assert "\u0301" not in prompt.to_json()
    assert load('{"scene": "cafe\\u0301"}').to_json() == '{"scene":"café"}'


def test_control_characters_that_are_allowed_are_escaped_as_json_requires() -> None:
    wire = scene("line one\nline two").compile().to_json()
    assert wire == '{"scene":"line one\\nline two"}'


def test_fingerprint_is_sha256_of_the_compiled_bytes() -> None:
    prompt = load(FULL_DOCUMENT)
    digest = hashlib.sha256(prompt.to_bytes()).hexdigest()
    assert prompt.fingerprint == f"sha256:{digest}"
    assert len(prompt.fingerprint) == len("sha256:") + 64
    assert fingerprint_of(prompt.to_json()) == prompt.fingerprint


def test_fingerprints_are_stable_across_source_key_order() -> None:
    rng = random.Random(20251125)
    fingerprints = {load(_shuffled(FULL_DOCUMENT, rng)).fingerprint for _ in range(20)}
    assert len(fingerprints) == 1
    built = scene(FULL_DOCUMENT["scene"]).mood("calm").style("photorealistic").compile().fingerprint
    loaded = load({"mood": "calm", "style": "photorealistic", "scene": FULL_DOCUMENT["scene"]})
    assert built == loaded.fingerprint


def test_fingerprint_changes_with_any_content_change() -> None:
    base = load(FULL_DOCUMENT)
    changed = load({**FULL_DOCUMENT, "mood": "calm."})
    assert base.fingerprint != changed.fingerprint


def test_extras_come_last_in_the_order_added() -> None:
    prompt = (
        scene("infographic")
        .extra("title", "The water cycle")
        .extra("sections", [{"heading": "Evaporation", "visual": "sun over sea"}])
        .style("flat vector")
        .extra("subtitle", "in four steps")
        .compile()
    )
    assert prompt.to_json() == (
        '{"scene":"infographic","style":"flat vector","title":"The water cycle",'
        '"sections":[{"heading":"Evaporation","visual":"sun over sea"}],'
        '"subtitle":"in four steps"}'
    )
    assert prompt.fingerprint == fingerprint_of(prompt.to_json())
    # Replacing an extra moves it to the end, as a new assignment would.
    again = scene("x").extra("a", 1).extra("b", 2).extra("a", 3).compile()
    assert again.to_json() == '{"scene":"x","b":2,"a":3}'


def test_compile_json_validates_under_the_profile_every_time() -> None:
    prompt = scene("x").palette("#111", "#222").compile()
    assert compile_json(prompt, "flux2") == prompt.to_json()
    with pytest.raises(PromptValidationError) as caught:
        compile_json(prompt, "cloudflare")
    assert [issue.path for issue in caught.value.issues] == ["$", "$.color_palette"]


def test_numbers_keep_their_json_form() -> None:
    prompt = load({"camera": {"lens-mm": 85, "ISO": 6400.0, "f-number": "f/1.4"}})
    assert prompt.to_json() == '{"camera":{"lens-mm":85,"f-number":"f/1.4","ISO":6400.0}}'
    big = load({"camera": {"ISO": 10**30}})
    assert big.to_json() == '{"camera":{"ISO":1000000000000000000000000000000}}'


def test_compiled_prompt_text_is_what_the_subject_and_text_factories_made() -> None:
    mug = subject("matte white mug", type="product", position="foreground", colors=[(0, 0, 0)])
    label = text("ACME", color="#ff5733", placement="on the mug")
    prompt = scene("studio").subject(mug).text(label).compile()
    assert prompt.to_json() == (
        '{"scene":"studio","subjects":[{"type":"product","description":"matte white mug",'
        '"position":"foreground","colors":["#000000"]}],'
        '"text":[{"content":"ACME","placement":"on the mug","color":"#FF5733"}]}'
    )


def test_an_invalid_part_is_still_refused_when_compiled() -> None:
    # Parts built past the model (model_construct) are still held to the schema as a whole.
    from flux2prompt import Prompt, Subject

    bad = Prompt.model_construct(scene="x", subjects=(Subject.model_construct(pose=""),))
    with pytest.raises(PromptValidationError, match=r"\$\.subjects\[0\]\.pose"):
        compile_json(bad)
