"""Lint rules on the edge of what they read: text without spaces in several chunks, phrases
that end at a quotation mark, spacing that is not one plain space."""

from __future__ import annotations

import pytest

from flux2prompt import lint, scene


def codes(builder: object) -> list[tuple[str, str]]:
    return [(w.code, w.path) for w in lint(builder)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "language"),
    [
        # Two or three chunks of Chinese or Japanese are as long to render as one: the letters
        # count, not the spaces. One chunk of 15 was reported, two chunks of 10 were not.
        ("欢迎光临我们的新店铺 欢迎光临我们的新店铺", "zh"),
        ("東京へようこそ東京 へようこそ東京へよう こそ", "ja"),
    ],
)
def test_long_text_without_spaces_is_reported_in_several_chunks_too(
    content: str, language: str
) -> None:
    (warning,) = lint(scene("x").text(content, language=language).compile())
    assert (warning.code, warning.path) == ("F2P301", "$.text[0].content")
    letters = sum(char.isalpha() for char in content)
    assert warning.message.startswith(f"{letters} characters of ")


def test_short_chunks_without_spaces_are_not_reported() -> None:
    assert codes(scene("x").text("東京 大阪", language="ja")) == []


@pytest.mark.parametrize("quote", ["'", "\u2019"])
def test_a_negative_phrase_ends_before_a_closing_quotation_mark(quote: str) -> None:
    opening = "\u2018" if quote == "\u2019" else "'"
    (warning,) = lint(scene(f"a sign reading {opening}No Parking{quote} by the road").compile())
    assert warning.code == "F2P101"
    assert "'No Parking'" in warning.message, warning.message
    assert f"Parking{quote}'" not in warning.message


@pytest.mark.parametrize("text", ["yes or  no questions", "with or\nwithout sugar", "Yes  or   no"])
def test_yes_or_no_is_not_a_negation_whatever_the_spacing(text: str) -> None:
    assert codes(scene(text)) == []


def test_possessives_inside_a_negative_phrase_are_kept() -> None:
    (warning,) = lint(scene("a street with no people's belongings").compile())
    assert '"no people\'s belongings"' in warning.message


def test_many_quotations_and_negations_in_one_string_lint_in_linear_time() -> None:
    # Each negation was checked against every quotation: 131,072 characters of them took
    # about half a minute, and a document holds many such strings.
    import time

    text = ('"x" no y ' * 15_000)[:131_072]
    prompt = scene(text).compile()
    started = time.perf_counter()
    lint(prompt)
    assert time.perf_counter() - started < 3.0


def test_a_repeated_negative_phrase_is_listed_once() -> None:
    (warning,) = lint(scene("no people, " * 50 + "a square").compile())
    assert warning.message.count("no people") == 1, warning.message


def test_the_phrases_and_codes_a_message_lists_are_bounded() -> None:
    many = ", ".join(f"no thing{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(300))
    codes_text = " ".join(f"#{i:06X}" for i in range(300))
    found = {w.code: w for w in lint(scene(many).style(codes_text).compile())}
    assert len(found["F2P101"].message) < 500
    assert "and 295 more" in found["F2P101"].message
    assert len(found["F2P201"].message) < 500
    assert "and 295 more" in found["F2P201"].message
