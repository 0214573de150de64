"""Text hygiene, language tags and script detection."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError
from flux2prompt._text import (
    FORBIDDEN_CHARS,
    check_language_tag,
    clean_text,
    dominant_script,
    expected_script,
    forbidden_char_problem,
    printable,
)

C0 = [chr(c) for c in range(0x20) if c != 0x0A]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def test_text_is_nfc_normalised() -> None:
    decomposed = "Cafe\u0301"
    assert len(decomposed) == 5
    assert clean_text(decomposed, where="scene()") == "Café"
    assert clean_text("e\u0301", where="x") == "\u00e9"
    # Hangul jamo compose too.
    assert clean_text("\u1100\u1161", where="x") == "\uac00"


def test_newline_is_allowed() -> None:
    assert clean_text("line one\nline two", where="x") == "line one\nline two"


@pytest.mark.parametrize("char", [*C0, *C1], ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_are_rejected(char: str) -> None:
    with pytest.raises(PromptError) as caught:
        clean_text(f"ab{char}cd", where="lighting()")
    message = str(caught.value)
    assert message.startswith("lighting(): ")
    assert f"U+{ord(char):04X}" in message
    assert "index 2" in message


@pytest.mark.parametrize("char", BIDI, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_override_and_isolate_controls_are_rejected_by_codepoint(char: str) -> None:
    with pytest.raises(PromptError) as caught:
        clean_text(f"abc{char}", where="text(content=...)")
    message = str(caught.value)
    assert f"U+{ord(char):04X} {unicodedata.name(char)}" in message
    assert "bidi" in message


def test_lone_surrogates_are_rejected() -> None:
    problem = forbidden_char_problem("ok\ud83d")
    assert problem is not None
    assert "U+D83D" in problem
    assert "surrogate" in problem


@pytest.mark.parametrize(
    "allowed", ["\u200f", "\u200e", "\u061c", "\u00ad", "\u200b", "zero\u200dwidth"]
)
def test_marks_and_zero_width_characters_pass_hygiene(allowed: str) -> None:
    # RLM/LRM/ALM are ordinary marks used in RTL text, and zero-width characters only draw a
    # lint warning; neither is an error.
    assert clean_text(allowed, where="x") == unicodedata.normalize("NFC", allowed)


def test_non_text_is_rejected_with_its_type() -> None:
    with pytest.raises(PromptError, match=r"mood\(\): expected text, got int 3"):
        clean_text(3, where="mood()")  # type: ignore[arg-type]


def test_clean_text_refuses_empty_text() -> None:
    with pytest.raises(PromptError, match=r"mood\(\): must not be empty"):
        clean_text("", where="mood()")


@given(st.text(min_size=1))
def test_clean_text_either_normalises_or_names_the_first_forbidden_character(value: str) -> None:
    match = FORBIDDEN_CHARS.search(value)
    if match is None:
        assert clean_text(value, where="x") == unicodedata.normalize("NFC", value)
    else:
        with pytest.raises(PromptError, match=f"U\\+{ord(match.group()):04X}"):
            clean_text(value, where="x")


@pytest.mark.parametrize(
    "tag",
    [
        *("en", "en-GB", "ja", "ja-JP", "zh-Hans", "zh-Hant", "zh-TW", "ko", "ar", "ar-EG"),
        *("he", "hi", "th", "ru", "el", "sr-Latn", "sr-Cyrl-RS", "pt-BR", "es-419", "yue"),
        "de-CH-1996",
    ],
)
def test_registered_language_tags_are_valid(tag: str) -> None:
    assert check_language_tag(tag) is None


@pytest.mark.parametrize(
    ("tag", "hint"),
    [
        ("english", "did you mean 'en'?"),
        ("Japanese", "did you mean 'ja'?"),
        ("pt_BR", "did you mean 'pt-BR'?"),
        ("", "use a code such as"),
        ("e", "use a code such as"),
        ("en-", "use a code such as"),
        ("en--US", "use a code such as"),
        ("x-private", "use a code such as"),
        ("en\n", "use a code such as"),
        ("123", "use a code such as"),
        ("qq-ZZ-verylongsubtag", "use a code such as"),
    ],
)
def test_invalid_language_tags_are_explained(tag: str, hint: str) -> None:
    problem = check_language_tag(tag)
    assert problem is not None
    assert problem.startswith(f"{tag!r} is not a valid BCP 47 language tag; ")
    assert hint in problem


@pytest.mark.parametrize(
    ("tag", "content", "script"),
    [
        ("ja", "東京へようこそ", "Jpan"),
        ("ja", "カタカナとひらがな", "Jpan"),
        ("zh-Hans", "欢迎来到北京", "Hani"),
        ("zh-Hant", "歡迎來到臺北", "Hani"),
        ("ko", "서울에 오신 것을 환영합니다", "Hang"),
        ("ar", "مرحبا بكم في القاهرة", "Arab"),
        ("he", "ברוכים הבאים לירושלים", "Hebr"),
        ("hi", "दिल्ली में आपका स्वागत है", "Deva"),
        ("th", "ยินดีต้อนรับสู่กรุงเทพ", "Thai"),
        ("ru", "Добро пожаловать в Москву", "Cyrl"),
        ("el", "Καλώς ήρθατε στην Αθήνα", "Grek"),
        ("en", "Welcome to Lisbon", "Latn"),
    ],
)
def test_dominant_script_matches_the_languages_expected_script(
    tag: str, content: str, script: str
) -> None:
    assert dominant_script(content) == script
    assert expected_script(tag) == script


def test_script_detection_edge_cases() -> None:
    # Kanji with a little kana is Japanese; digits and punctuation have no script.
    assert dominant_script("東京タワー 2025") == "Jpan"
    assert dominant_script("123 !?") is None
    assert dominant_script("") is None
    # Halfwidth katakana and fullwidth Latin count as their scripts.
    assert dominant_script("ｶﾀｶﾅ") == "Jpan"
    assert dominant_script("ＡＢＣ") == "Latn"
    # A mismatch is detectable: Latin text tagged as Japanese.
    assert dominant_script("Tokyo") != expected_script("ja")


@pytest.mark.parametrize(
    ("tag", "script"),
    [
        *(("zh", "Hani"), ("zh-TW", "Hani"), ("ko-KR", "Hang"), ("ko-Kore", "Hang")),
        *(("ja-Hira", "Jpan"), ("sr-Latn", "Latn"), ("sr", "Cyrl"), ("iw", "Hebr")),
    ],
)
def test_expected_script_aliases(tag: str, script: str) -> None:
    assert expected_script(tag) == script


@given(st.text(st.characters(codec="ascii")))
def test_printable_ascii_is_escaped_exactly_as_the_pattern_says(text: str) -> None:
    # The fast path (printable ASCII is returned as it is) agrees with the pattern it skips.
    from flux2prompt._text import _UNPRINTABLE, _escaped

    assert printable(text) == re.compile(_UNPRINTABLE.pattern).sub(_escaped, text)


def test_a_lazy_pattern_is_compiled_once_on_first_use() -> None:
    from flux2prompt._text import lazy_pattern

    pattern = lazy_pattern("[a-c]+")
    assert "search" not in vars(pattern)  # nothing compiled yet
    assert pattern.search("xxabc").group() == "abc"  # type: ignore[union-attr]
    assert vars(pattern)["search"].__self__ is re.compile("[a-c]+")  # kept, from re's cache
    assert pattern.sub("-", "abcd") == "-d"


def test_a_lazy_pattern_copies_and_pickles_as_the_pattern_it_stands_for() -> None:
    import copy
    import pickle

    from flux2prompt._text import FORBIDDEN_CHARS, lazy_pattern

    for pattern in (lazy_pattern("[a-c]+"), FORBIDDEN_CHARS):
        for twin in (copy.copy(pattern), pickle.loads(pickle.dumps(pattern))):
            assert twin.pattern == pattern.pattern
            assert twin.search("x\x00abc") is not None
    assert repr(lazy_pattern("a")) == "lazy_pattern('a')"
