"""Lint: every rule fires on a concrete input with an exact code and path, and stays quiet on its
positive counterpart; ignoring; extras; lint never raises on any buildable prompt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import PromptError, load, scene, subject, text
from flux2prompt._lint import LINT_CODES, LintWarning, lint
from flux2prompt._schema import json_path


def found(prompt_or_builder: object, code: str | None = None) -> list[tuple[str, str]]:
    """(code, path) of every warning, optionally only one code."""
    warnings = lint(prompt_or_builder)  # type: ignore[arg-type]
    return [(w.code, w.path) for w in warnings if code is None or w.code == code]


CLEAN = (
    scene("an empty cobblestone street at dawn")
    .subject(subject("a tabby cat", pose="stretching", position="foreground"))
    .style("lifestyle photo")
    .palette("#1A1A1A", "#F2EFE9", "#C8A27A")
    .lighting("soft golden light")
    .background("a wall in color #F2EFE9")
    .camera(angle="eye level", lens="50mm", f_number=2.8, iso=200)
    .text("OPEN", language="en", color="#1A1A1A", placement="on the door")
)


def test_a_good_prompt_has_no_warnings() -> None:
    assert lint(CLEAN) == []


def test_warning_shape_and_str() -> None:
    (warning,) = lint(scene("x").camera(iso=50))
    assert warning == LintWarning(
        code="F2P402",
        path="$.camera.ISO",
        message="ISO 50 is outside the usual 100-6400",
        fix="use 100-200 for bright light, 400-800 indoors, 1600-6400 for night scenes",
        severity="warning",
    )
    assert str(warning) == "$.camera.ISO: F2P402 ISO 50 is outside the usual 100-6400"
    with pytest.raises(dataclasses.FrozenInstanceError):
        warning.code = "F2P401"  # type: ignore[misc]


def test_codes_table_is_stable_and_complete() -> None:
    assert list(LINT_CODES) == [
        "F2P101",
        "F2P102",
        "F2P103",
        "F2P104",
        "F2P201",
        "F2P202",
        "F2P203",
        "F2P301",
        "F2P302",
        "F2P303",
        "F2P401",
        "F2P402",
        "F2P501",
        "F2P502",
        "F2P503",
        "F2P504",
        "F2P505",
        "F2P601",
        "F2P602",
    ]
    assert all(summary and "\n" not in summary for summary in LINT_CODES.values())
    with pytest.raises(TypeError):
        LINT_CODES["F2P999"] = "new"  # type: ignore[index]


# -- F2P101 negative phrasing -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("builder", "path", "phrase"),
    [
        (scene("a busy market, no people"), "$.scene", "'no people'"),
        (scene("x").mood("calm, without clouds"), "$.mood", "'without clouds'"),
        (scene("x").subject("a man", pose="don't show his face"), "$.subjects[0].pose", None),
        (scene("x").background("Do not add any text"), "$.background", "'Do not add any text'"),
        (scene("x").effects("grain", "avoid lens flare"), "$.effects[1]", "'avoid lens flare'"),
        (scene("x").camera(focus="never blurry"), "$.camera.focus", "'never blurry'"),
        (scene("x").text("SALE", language="en", font="no serifs"), "$.text[0].font", None),
    ],
)
def test_negative_phrasing(builder: object, path: str, phrase: str | None) -> None:
    warnings = [w for w in lint(builder) if w.code == "F2P101"]  # type: ignore[arg-type]
    assert [w.path for w in warnings] == [path]
    assert "FLUX.2 has no negative prompts" in warnings[0].message
    if phrase:
        assert phrase in warnings[0].message


def test_negative_phrasing_suggests_positive_forms() -> None:
    (warning,) = lint(scene("a plaza with no people in it and no text on the walls"))
    assert warning.message.startswith("negative phrasing 'no people', 'no text':")
    assert warning.fix == (
        "say what is there instead of what is not: 'no people' -> 'empty street', "
        "'deserted square'; 'no text' -> 'clean, unmarked surfaces'"
    )
    (other,) = lint(scene("without hesitation"))
    assert other.fix == "say what is there instead of what is not ('no people' -> 'empty street')"


@pytest.mark.parametrize(
    "value",
    [
        "an empty street",
        "a never-ending staircase",
        "a yes or no question.",
        "coffee with or without milk",
        "no-man's land",
        "room no 5",
        "snow, nothing else",
        "a notebook on a nook",
    ],
)
def test_no_negative_phrasing(value: str) -> None:
    assert found(scene(value), "F2P101") == []


def test_text_to_render_may_say_no() -> None:
    # The exact words of a sign are not an instruction to the model.
    assert found(scene("x").text("No entry", language="en"), "F2P101") == []


# -- F2P102 vague quality words -----------------------------------------------------------------
def test_vague_quality_words() -> None:
    b = scene("x").style("masterpiece, best quality, 8K, ultra-detailed, trending on ArtStation")
    (warning,) = lint(b)
    assert (warning.code, warning.path) == ("F2P102", "$.style")
    assert warning.message == (
        "vague quality words 'masterpiece', 'best quality', '8K', 'ultra-detailed', "
        "'trending on ArtStation': they describe nothing FLUX.2 can draw"
    )
    assert found(scene("highly detailed 4k"), "F2P102") == [("F2P102", "$.scene")]


@pytest.mark.parametrize("value", ["a detailed map", "a 48k gold ring", "an 8-bit game", "kayak"])
def test_no_vague_quality_words(value: str) -> None:
    assert found(scene(value), "F2P102") == []


# -- F2P103 zero-width characters ---------------------------------------------------------------
def test_zero_width_in_any_field() -> None:
    b = (
        scene("dunes\u200b at noon")
        .subject("a\u2060 camel")
        .text("SA\ufeffLE", language="en")
        .palette("matte\u200b black", "#000", "#fff")
    )
    assert found(b, "F2P103") == [
        ("F2P103", "$.scene"),
        ("F2P103", "$.subjects[0].description"),
        ("F2P103", "$.color_palette[0]"),
        ("F2P103", "$.text[0].content"),
    ]
    (first, *_) = lint(b)
    assert first.message.startswith("contains U+200B ZERO WIDTH SPACE at index 5;")


def test_zero_width_counts_more() -> None:
    (warning,) = lint(scene("a\u200bb\u200bc"))
    assert "at index 1 and 1 more;" in warning.message


def test_meant_joiners_are_not_reported() -> None:
    persian = text("می\u200cخواهم", language="fa")  # ZWNJ is part of Persian spelling
    hindi = text("क्\u200dष", language="hi")
    family = text("👨\u200d👩\u200d👧", language="en")
    assert found(scene("x").text(persian).text(hindi).text(family), "F2P103") == []
    # ...but a joiner between Latin letters or at the end of a string is stray.
    assert found(scene("ab\u200dc").mood("calm\u200c"), "F2P103") == [
        ("F2P103", "$.scene"),
        ("F2P103", "$.mood"),
    ]


# -- F2P104 long prompts ------------------------------------------------------------------------
def test_long_prompt() -> None:
    long_scene = " ".join(["word"] * 301)
    (warning,) = lint(scene(long_scene))
    assert (warning.code, warning.path) == ("F2P104", "$")
    assert warning.message.startswith("the prompt has 301 words")
    # Words are counted across every string value, extras included.
    b = scene(" ".join(["w"] * 200)).extra("notes", [" ".join(["w"] * 101)])
    assert found(b, "F2P104") == [("F2P104", "$")]


def test_not_a_long_prompt() -> None:
    assert found(scene(" ".join(["word"] * 300)), "F2P104") == []


# -- F2P201 hex codes not bound to an object ----------------------------------------------------
@pytest.mark.parametrize(
    ("builder", "path", "codes"),
    [
        (scene("a vase, use #ff0000 somewhere"), "$.scene", "hex code #FF0000 "),
        (scene("x").lighting("#abc rim light and #123456 fill"), "$.lighting", "#AABBCC, #123456"),
        (scene("x").subject("a scarf #C0392B"), "$.subjects[0].description", "#C0392B"),
        (scene("x").extra("title", "Logo #FF5733"), "$.title", "#FF5733"),
    ],
)
def test_unbound_hex(builder: object, path: str, codes: str) -> None:
    warnings = [w for w in lint(builder) if w.code == "F2P201"]  # type: ignore[arg-type]
    assert [w.path for w in warnings] == [path]
    assert codes in warnings[0].message


@pytest.mark.parametrize(
    "value",
    [
        "the vase has color #02EB3C",
        "logo text in colour #ff5733",
        "a wall, hex #FFF",
        "gradient starting with color #02EB3C and finishing with color #EDFA3C",
        "paint with color code: #123456",
        "stripes in colors #FF0000",
        "#F2EFE9",  # the whole field is the colour: bound by its key
        "issue #123 of the magazine, #hashtag, #bad1, #C0FFEE1",
    ],
)
def test_bound_or_not_hex(value: str) -> None:
    assert found(scene("x").background(value), "F2P201") == []


def test_hex_in_palettes_and_text_fields_is_fine() -> None:
    b = (
        scene("x")
        .palette("#111111", "#222222", "#333333")
        .subject("a bird", colors=["#444444"])
        .text("#1 DEAL", language="en", color="#FFFFFF")
    )
    assert found(b, "F2P201") == []


# -- F2P202 palettes ----------------------------------------------------------------------------
def test_palette_too_large() -> None:
    six = ["#111111", "#222222", "#333333", "#444444", "#555555", "coral"]
    b = scene("x").palette(*six).subject("a bird", colors=six[:5], color_palette=six)
    # Document order: subjects come before the top-level palette on the wire.
    assert found(b, "F2P202") == [
        ("F2P202", "$.subjects[0].color_palette"),
        ("F2P202", "$.color_palette"),
    ]
    (warning, *_) = lint(scene("x").palette(*six))
    assert warning.message == "6 colours in the palette; FLUX.2 follows 3-5 main colours best"


def test_five_colours_are_fine() -> None:
    assert found(scene("x").palette("#111", "#222", "#333", "#444", "#555"), "F2P202") == []


# -- F2P203 contrast ----------------------------------------------------------------------------
def test_low_contrast_against_background_colour() -> None:
    b = scene("x").background("a wall in color #808080").text("SALE", language="en", color="#888")
    (warning,) = lint(b)
    assert (warning.code, warning.path) == ("F2P203", "$.text[0].color")
    assert warning.message == (
        "text colour #888888 on background #808080 has contrast 1.11:1, below 3:1; "
        "the text will be hard to read"
    )
    assert warning.fix == "use a colour with at least 3:1 against #808080, e.g. #363636 (3.1:1)"


def test_contrast_suggestion_goes_lighter_when_that_is_closer() -> None:
    b = scene("x").background("#202020").text("GO", language="en", color="#303030")
    (warning,) = lint(b)
    assert warning.fix.startswith("use a colour with at least 3:1 against #202020, e.g. #")
    suggested = warning.fix.split("e.g. ")[1][:7]
    assert int(suggested[1:3], 16) > 0x30


def test_good_contrast_or_no_background_colour() -> None:
    good = scene("x").background("color #FFFFFF").text("SALE", language="en", color="#000")
    assert found(good, "F2P203") == []
    # No hex in the background: the palette does not say what is behind the text, so no check.
    no_bg = scene("x").palette("#888888", "#111", "#222").text("SALE", language="en", color="#888")
    assert found(no_bg, "F2P203") == []
    no_color = scene("x").background("color #808080").text("SALE", language="en")
    assert found(no_color, "F2P203") == []


# -- F2P301 long text ---------------------------------------------------------------------------
def test_text_over_four_words() -> None:
    b = scene("x").text("Grand opening this Saturday only", language="en")
    (warning,) = lint(b)
    assert (warning.code, warning.path) == ("F2P301", "$.text[0].content")
    assert warning.message == "5 words of text to render; 1-4 words render most reliably"


def test_long_unspaced_text() -> None:
    b = scene("x").text("東京へようこそ東京へようこそ", language="ja")
    assert found(b) == [("F2P301", "$.text[0].content")]
    assert "14 characters of Japanese" in lint(b)[0].message


@pytest.mark.parametrize(
    ("content", "language"),
    [("Grand opening this Saturday", "en"), ("東京へようこそ", "ja"), ("สวัสดีครับ", "th")],
)
def test_short_text_is_fine(content: str, language: str) -> None:
    assert found(scene("x").text(content, language=language), "F2P301") == []


# -- F2P302 script mismatch ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "language", "detail"),
    [
        (
            "Hello",
            "ja",
            "content is written in Latin script but language 'ja' is written in Japanese",
        ),
        (
            "مرحبا",
            "he",
            "content is written in Arabic script but language 'he' is written in Hebrew",
        ),
        (
            "ようこそ",
            "zh-Hans",
            "written in Japanese (kana and kanji) script but language 'zh-Hans'",
        ),
        ("Привет", "el", "Cyrillic script but language 'el' is written in Greek"),
        ("नमस्ते", "th", "Devanagari script but language 'th' is written in Thai"),
        ("안녕", "ja", "Hangul script but language 'ja'"),
    ],
)
def test_script_mismatch(content: str, language: str, detail: str) -> None:
    (warning,) = lint(scene("x").text(content, language=language))
    assert (warning.code, warning.path) == ("F2P302", "$.text[0].content")
    assert detail in warning.message


def test_script_mismatch_fix_names_a_tag() -> None:
    (warning,) = lint(scene("x").text("Hello", language="ja"))
    assert warning.fix == (
        "write the words in Japanese (kana and kanji), or set the language to one written in "
        "Latin (for example 'en')"
    )


@pytest.mark.parametrize(
    ("content", "language"),
    [
        ("東京", "ja"),  # kanji alone is Japanese too
        ("東京へようこそ", "ja"),
        ("你好", "zh"),
        ("學校", "zh-Hant"),
        ("안녕하세요", "ko"),
        ("大韓民國 만세", "ko"),  # Hanja are Korean too
        ("漢字", "ko"),
        ("مرحبا", "ar"),
        ("שלום", "he"),
        ("नमस्ते", "hi"),
        ("สวัสดี", "th"),
        ("Привет", "ru"),
        ("Γειά", "el"),
        ("Zdravo", "sr-Latn"),
        ("Café", "fr"),
        ("2025!", "ja"),  # no letters: nothing to compare
    ],
)
def test_script_matches(content: str, language: str) -> None:
    assert found(scene("x").text(content, language=language), "F2P302") == []


# -- F2P303 text without language ---------------------------------------------------------------
def test_text_without_language_is_info() -> None:
    (warning,) = lint(scene("x").text("東京"))
    assert (warning.code, warning.path, warning.severity) == (
        "F2P303",
        "$.text[0].language",
        "info",
    )
    assert warning.fix == "add a BCP 47 tag, e.g. language='zh'"
    assert lint(scene("x").text("SALE"))[0].fix == "add a BCP 47 tag, e.g. language='en'"


# -- F2P401 / F2P402 camera ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f_number", "fix"),
    [
        ("2.8", "write it as 'f/2.8'"),
        ("F/4", "write it as 'f/4'"),
        ("wide open", "write it as 'f/2.8'"),
    ],
)
def test_f_number_form(f_number: str, fix: str) -> None:
    (warning,) = lint(scene("x").camera(f_number=f_number))
    assert (warning.code, warning.path, warning.fix) == ("F2P401", "$.camera['f-number']", fix)


@pytest.mark.parametrize("f_number", ["f/2.8", "f/16", 5.6])
def test_f_number_ok(f_number: str | float) -> None:
    assert found(scene("x").camera(f_number=f_number)) == []


@pytest.mark.parametrize("iso", [50, 99, 6401, 12800.5])
def test_iso_out_of_range(iso: float) -> None:
    assert found(scene("x").camera(iso=iso)) == [("F2P402", "$.camera.ISO")]


@pytest.mark.parametrize("iso", [100, 200, 6400, 3200.0])
def test_iso_in_range(iso: float) -> None:
    assert found(scene("x").camera(iso=iso)) == []


def test_loaded_bfl_camera_keys() -> None:
    p = load({"scene": "x", "camera": {"f-number": "5.6", "ISO": 25600, "lens-mm": 85}})
    assert found(p) == [("F2P401", "$.camera['f-number']"), ("F2P402", "$.camera.ISO")]


# -- extras -------------------------------------------------------------------------------------
def test_extras_are_linted_like_free_text() -> None:
    b = (
        scene("infographic")
        .extra("title", "Water cycle, no clutter")
        .extra("sections", [{"heading": "Rain 8k", "visual": "drops in #0000FF"}])
        .extra("odd\u200bkey", 1)
        .extra("count", 3)
    )
    assert found(b) == [
        ("F2P101", "$.title"),
        ("F2P102", "$.sections[0].heading"),
        ("F2P201", "$.sections[0].visual"),
        ("F2P103", json_path(["odd\u200bkey"])),
    ]


def test_extras_loaded_from_a_document() -> None:
    p = load({"scene": "x", "subtitle": "without words\u200b"}, extra_keys=["subtitle"])
    assert found(p) == [("F2P101", "$.subtitle"), ("F2P103", "$.subtitle")]


# -- order, ignore ------------------------------------------------------------------------------
def test_warnings_come_in_document_order() -> None:
    b = (
        scene(" ".join(["w"] * 301) + " no people, 8k")
        .subject("a man #FF0000")
        .camera(iso=10)
        .text("one two three four five", language="ja")
    )
    assert found(b) == [
        ("F2P104", "$"),
        ("F2P101", "$.scene"),
        ("F2P102", "$.scene"),
        ("F2P201", "$.subjects[0].description"),
        ("F2P402", "$.camera.ISO"),
        ("F2P301", "$.text[0].content"),
        ("F2P302", "$.text[0].content"),
    ]


def test_ignore_by_code() -> None:
    b = scene("no people, 8k").camera(iso=10)
    assert found(b) == [("F2P101", "$.scene"), ("F2P102", "$.scene"), ("F2P402", "$.camera.ISO")]
    assert lint(b, ignore=["F2P101", "F2P402"])[0].code == "F2P102"
    assert lint(b, ignore=("f2p101", " F2P102 ", "F2P402")) == []
    # One comma-separated string, as the CLI's --ignore passes it.
    assert [w.code for w in lint(b, ignore="F2P101,F2P102")] == ["F2P402"]


def test_unknown_ignore_code_raises_with_suggestion() -> None:
    with pytest.raises(PromptError, match=r"unknown code 'F2P1O1'; did you mean 'F2P101'\?"):
        lint(scene("x"), ignore=["F2P1O1"])
    with pytest.raises(PromptError, match=r"unknown code 'negative'; known codes: F2P101, F2P102"):
        lint(scene("x"), ignore=["negative"])
    with pytest.raises(PromptError, match="codes are strings"):
        lint(scene("x"), ignore=[101])  # type: ignore[list-item]


def test_lint_accepts_builders_and_prompts() -> None:
    b = scene("x").camera(iso=10)
    assert lint(b) == lint(b.compile())
    with pytest.raises(PromptError, match="expected a Prompt or a builder, got dict"):
        lint({"scene": "x"})  # type: ignore[arg-type]


# -- property: lint never raises ----------------------------------------------------------------
_texts = st.text(max_size=60)


@st.composite
def built_prompts(draw: st.DrawFn) -> object:
    try:
        b = scene(draw(_texts))
    except PromptError:
        b = scene()
    steps = draw(st.lists(st.integers(0, 8), max_size=6))
    for step in steps:
        value = draw(_texts)
        try:
            if step == 0:
                b = b.subject(value, pose=draw(_texts), position=draw(_texts))
            elif step == 1:
                b = b.style(value)
            elif step == 2:
                b = b.palette(*draw(st.lists(_texts, max_size=7)))
            elif step == 3:
                b = b.background(value)
            elif step == 4:
                b = b.text(
                    value,
                    language=draw(st.sampled_from([None, "en", "ja", "zh-Hant", "ar", "hi"])),
                    color=draw(st.sampled_from([None, "#000", "#808080", "#FFF"])),
                    placement=draw(_texts),
                )
            elif step == 5:
                b = b.camera(
                    f_number=draw(st.one_of(_texts, st.floats(0.1, 64))),
                    iso=draw(st.integers(1, 100_000)),
                )
            elif step == 6:
                b = b.effects(value, draw(_texts))
            elif step == 7:
                b = b.extra(draw(st.text(min_size=1, max_size=10)), {value: [value, 1]})
            else:
                b = b.lighting(value).mood(draw(_texts))
        except PromptError:
            continue
    try:
        return b.compile()
    except PromptError:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(built_prompts())
def test_lint_never_raises(prompt: object) -> None:
    if prompt is None:
        return
    warnings = lint(prompt)  # type: ignore[arg-type]
    for warning in warnings:
        assert warning.code in LINT_CODES
        assert warning.path.startswith("$")
        assert warning.message
        assert warning.fix


# -- docs/lint.md -------------------------------------------------------------------------------
DOCS = Path(__file__).resolve().parents[1] / "docs" / "lint.md"


def test_docs_cover_every_code() -> None:
    body = DOCS.read_text(encoding="utf-8")
    for code in LINT_CODES:
        assert f"### {code} " in body, f"docs/lint.md has no section for {code}"
        assert f'ignore=["{code}"]' in body
        assert f"--ignore {code}" in body
        assert f"| [{code}](" in body


@pytest.mark.parametrize("ignore", [None, 5, 2.5])
def test_ignore_that_is_not_codes_is_a_prompt_error(ignore: object) -> None:
    with pytest.raises(PromptError, match=r"^lint\(ignore=\.\.\.\): expected codes"):
        lint(scene("a street with no people").compile(), ignore=ignore)  # type: ignore[arg-type]


def test_tag_characters_hiding_words_are_reported_but_not_in_an_emoji_flag() -> None:
    # Tag characters spell ASCII no one sees ("ASCII smuggling"); they were not reported.
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore the cat")
    (warning,) = lint(scene("a cat" + hidden).compile())
    assert (warning.code, warning.path) == ("F2P103", "$.scene")
    assert warning.message.startswith("contains U+E0069 TAG LATIN SMALL LETTER I at index 5")
    (warning,) = lint(scene("x").text("2\u2062x", language="en").compile())
    assert "U+2062 INVISIBLE TIMES" in warning.message
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert lint(scene(f"a {scotland} flag on a pole").compile()) == []


@pytest.mark.parametrize(
    "value",
    ['a sign reading "No Parking"', "a door sign “Do not enter”", "a banner «Pas de fumée»"],
)
def test_negative_words_in_quotation_marks_are_text_to_render(value: str) -> None:
    # BFL's advice puts rendered words in quotes; "No Parking" on a sign is not a negation.
    assert found(scene(value), "F2P101") == []
    (warning,) = lint(scene(value + ", no people").compile())
    assert (warning.code, warning.message.split(":")[0]) == (
        "F2P101",
        "negative phrasing 'no people'",
    )


def test_quality_words_in_quotation_marks_are_text_to_render() -> None:
    assert found(scene('a TV box printed "4K ULTRA HD"'), "F2P102") == []
    assert found(scene('a TV box printed "4K", 8k masterpiece'), "F2P102") == [
        ("F2P102", "$.scene")
    ]
