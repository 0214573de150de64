"""Colours: hex normalising, RGB tuples, CSS names, phrases, harmonies, contrast, phrases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, color_phrase, contrast_ratio, harmony, normalize_hex, palette
from flux2prompt._color import _to_oklch, color_value, css_name_to_hex, is_hex


@pytest.mark.parametrize(
    ("given_hex", "expected"),
    [
        ("#abc", "#AABBCC"),
        ("#ABC", "#AABBCC"),
        ("#1a2b3c", "#1A2B3C"),
        ("#FfFfFf", "#FFFFFF"),
        ("#000", "#000000"),
    ],
)
def test_hex_is_normalised_to_upper_case_rrggbb(given_hex: str, expected: str) -> None:
    assert normalize_hex(given_hex) == expected


@pytest.mark.parametrize("value", ["#ABCD", "#aabbccdd", "#FF000080"])
def test_alpha_is_rejected_with_an_explanation(value: str) -> None:
    with pytest.raises(PromptError) as caught:
        normalize_hex(value, where="palette() colour 1")
    message = str(caught.value)
    assert message.startswith("palette() colour 1: ")
    assert repr(value) in message
    assert "alpha" in message
    assert "#RRGGBB" in message


@pytest.mark.parametrize("value", ["#12", "#1234G6", "#GGG", "#", "#12345", "#1234567", "# abc"])
def test_hex_like_values_that_are_not_hex_name_the_value_and_the_place(value: str) -> None:
    with pytest.raises(PromptError) as caught:
        color_value(value, where="subject(colors)[2]")
    message = str(caught.value)
    assert message.startswith("subject(colors)[2]: ")
    assert repr(value.strip()) in message
    assert "#RGB or #RRGGBB" in message


def test_a_trailing_newline_does_not_pass_as_hex() -> None:
    # A regex "$" also matches before a final newline; the check must not.
    assert not is_hex("#ABC\n")
    with pytest.raises(PromptError):
        normalize_hex("#ABC\n")


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [((255, 87, 51), "#FF5733"), ((0, 0, 0), "#000000"), ([255, 255, 255], "#FFFFFF")],
)
def test_rgb_tuples_become_hex(rgb: tuple[int, int, int], expected: str) -> None:
    assert color_value(rgb) == expected


@pytest.mark.parametrize("rgb", [(256, 0, 0), (-1, 0, 0), (1.5, 0, 0), (True, 0, 0)])
def test_rgb_tuples_out_of_range_are_rejected(rgb: tuple[object, ...]) -> None:
    with pytest.raises(PromptError, match="three whole numbers from 0 to 255"):
        color_value(rgb, where="palette() colour 0")


def test_css_names_stay_names_unless_resolution_is_asked_for() -> None:
    assert color_value("coral") == "coral"
    assert color_value("coral", resolve_names=True) == "#FF7F50"
    assert css_name_to_hex("Dark Orange") == "#FF8C00"
    assert css_name_to_hex("rebeccapurple") == "#663399"
    assert css_name_to_hex("neon yellow") is None


def test_descriptive_phrases_are_kept_as_text() -> None:
    assert color_value("  matte black ceramic ") == "matte black ceramic"
    assert color_value("neon yellow", resolve_names=True) == "neon yellow"


@pytest.mark.parametrize("value", ["", "   ", 3, None, ("a", "b")])
def test_unusable_colours_are_rejected(value: object) -> None:
    with pytest.raises(PromptError):
        color_value(value, where="palette() colour 0")


def test_palette_mixes_hex_names_phrases_and_tuples() -> None:
    assert palette(["#fff", "coral", (0, 0, 0), "sun-bleached linen"]) == (
        "#FFFFFF",
        "coral",
        "#000000",
        "sun-bleached linen",
    )
    assert palette(["#fff", "coral"], resolve_names=True) == ("#FFFFFF", "#FF7F50")
    # One colour on its own is a palette of one, not a sequence of characters or channels.
    assert palette("#abc") == ("#AABBCC",)
    assert palette((1, 2, 3)) == ("#010203",)


def _hue(code: str) -> float:
    return _to_oklch(code)[2]


def _hue_offset(base: str, other: str) -> float:
    return (_hue(other) - _hue(base)) % 360


@pytest.mark.parametrize("base", ["#FF5733", "#3366FF", "#86E04A", "#C81E5A", "#008080"])
@pytest.mark.parametrize(
    ("kind", "offsets"),
    [
        ("complementary", [180]),
        ("analogous", [330, 30]),
        ("triadic", [120, 240]),
        ("split-complementary", [150, 210]),
    ],
)
def test_harmonies_rotate_hue_in_oklch_with_the_base_first(
    base: str, kind: str, offsets: list[float]
) -> None:
    colours = harmony(base, kind)  # type: ignore[arg-type]
    assert colours[0] == base
    assert len(colours) == 1 + len(offsets)
    assert all(is_hex(c) and c == c.upper() and len(c) == 7 for c in colours)
    for colour, offset in zip(colours[1:], offsets, strict=True):
        assert _hue_offset(base, colour) == pytest.approx(offset, abs=2.0)
        # Lightness is kept, so the colours feel equally bright.
        assert _to_oklch(colour)[0] == pytest.approx(_to_oklch(base)[0], abs=0.03)


def test_harmony_accepts_names_and_tuples_and_rejects_the_rest() -> None:
    assert harmony("teal", "complementary")[0] == "#008080"
    assert harmony((255, 87, 51), "complementary")[0] == "#FF5733"
    with pytest.raises(PromptError, match="unknown kind 'tetradic'"):
        harmony("#FF5733", "tetradic")  # type: ignore[arg-type]
    with pytest.raises(PromptError, match="not a hex code, CSS colour name or RGB tuple"):
        harmony("sunset haze", "triadic")


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    # The well-known borderline grey: just under 4.5:1 on white.
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("white", (0, 0, 0)) == pytest.approx(21.0)


@given(st.tuples(*[st.integers(0, 255)] * 3), st.tuples(*[st.integers(0, 255)] * 3))
def test_contrast_ratio_is_symmetric_and_bounded(
    first: tuple[int, int, int], second: tuple[int, int, int]
) -> None:
    ratio = contrast_ratio(first, second)
    assert 1.0 <= ratio <= 21.0 + 1e-9
    assert ratio == pytest.approx(contrast_ratio(second, first))


def test_color_phrase_binds_a_colour_to_an_object() -> None:
    assert color_phrase("#86e04a", "the vase", name="lime green") == (
        "the vase in color #86E04A (lime green)"
    )
    assert color_phrase("coral", "the logo text") == "the logo text in color #FF7F50 (coral)"
    assert color_phrase((2, 235, 60), "the ribbon") == "the ribbon in color #02EB3C"
    with pytest.raises(PromptError):
        color_phrase("misty dawn", "the sky")


@pytest.mark.parametrize("colors", [None, 5, {"a": 1}, 2.5])
def test_palette_of_something_that_holds_no_colours_is_a_prompt_error(colors: object) -> None:
    with pytest.raises(PromptError, match=r"^palette\(\): expected colours"):
        palette(colors)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [["triadic"], {"triadic": 1}, 3])
def test_harmony_of_an_unhashable_or_odd_kind_is_a_prompt_error(kind: object) -> None:
    with pytest.raises(PromptError, match="harmony: unknown kind"):
        harmony("#FF5733", kind)  # type: ignore[arg-type]


def test_color_phrase_holds_its_words_to_the_text_rules() -> None:
    assert color_phrase("coral", " the vase ") == "the vase in color #FF7F50 (coral)"
    assert color_phrase("#fff", "the logo", name="") == "the logo in color #FFFFFF"
    for subject in ("", "   "):
        with pytest.raises(PromptError, match=r"^color_phrase\(subject\)"):
            color_phrase("#fff", subject)
    with pytest.raises(PromptError, match=r"^color_phrase\(subject\): expected text"):
        color_phrase("#fff", 5)  # type: ignore[arg-type]
    with pytest.raises(PromptError, match=r"^color_phrase\(subject\): contains U\+202E"):
        color_phrase("#fff", "the \u202elogo")
    with pytest.raises(PromptError, match=r"^color_phrase\(name\): contains control"):
        color_phrase("#fff", "the logo", name="lime\x07")
