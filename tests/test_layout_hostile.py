"""Hostile layout input: every bad value is a PromptError naming its argument, never a
dependency's exception; a FLUX 3 caption stays one paragraph."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, scene
from flux2prompt._layout import Box, read_layout_prompt


@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_pixels_too_large_for_a_float_are_outside_the_image(huge: int) -> None:
    with pytest.raises(PromptError, match=r"Box.from_pixels\(right=...\).*outside the image"):
        Box.from_pixels(left=0, top=0, right=huge, bottom=5, image_width=10, image_height=10)
    with pytest.raises(PromptError, match=r"Box.from_normalized\(width=...\).*not a fraction"):
        Box.from_normalized(x=0, y=0, width=huge, height=0.5)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_number_is_a_box_or_a_prompt_error(value: float) -> None:
    for build in (
        lambda: Box.from_pixels(
            left=0, top=0, right=value, bottom=5, image_width=10, image_height=10
        ),
        lambda: Box.from_normalized(x=0, y=0, width=value, height=0.5),
    ):
        try:
            box = build()
        except PromptError:
            continue
        assert 0 <= box.left < box.right <= 1000


@pytest.mark.parametrize("caption", ["A <mug_1>.\n\nOn a desk.", "A <mug_1>.\n  \nOn a desk."])
def test_a_flux3_caption_with_a_blank_line_is_refused(caption: str) -> None:
    builder = scene().caption(caption).element("mug_1", "a white mug", "centre")
    with pytest.raises(PromptError, match="one paragraph"):
        builder.compile_flux3()
    # FLUX.2 has no table to run into: the same scene compiles there.
    assert builder.compile().scene is not None


def test_a_caption_with_single_line_breaks_reads_back_whole() -> None:
    caption = "A <mug_1> on a desk,\nin the morning"
    prompt = scene().caption(caption).element("mug_1", "a white mug", "centre").compile_flux3()
    read = read_layout_prompt(prompt.text)
    assert read is not None
    assert read[0] == caption + "."
    assert [row[0] for row in read[1]] == ["mug_1"]


@pytest.mark.parametrize("size", [0, -10, 1.5, True, "1920"])
def test_to_pixels_needs_an_image_size_in_pixels(size: object) -> None:
    with pytest.raises(PromptError, match=r"Box.to_pixels\(image_width=...\): expected pixels > 0"):
        Box.region("centre").to_pixels(size, 1080)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Box.region("x" * 1_000_000),
        lambda: scene().element("X" * 1_000_000, "a mug", "centre"),
        lambda: scene().caption("A <" + "x" * 100_000 + ">").element("mug_1", "a", "centre"),
        lambda: scene().caption("A <mug_" + "1" * 100_000 + ">").element("mug_1", "a", "left half"),
        lambda: Box.from_pixels(
            left=0, top=0, right=10**400, bottom=1, image_width=5, image_height=5
        ),
        lambda: Box.coerce(["x" * 100_000, 0, 1, 1]),
    ],
)
def test_a_huge_value_is_quoted_short(build: object) -> None:
    def run() -> None:
        build().compile_flux3()  # type: ignore[operator]

    with pytest.raises(PromptError) as caught:
        run()
    assert len(str(caught.value)) < 400
    assert "..." in str(caught.value)


@pytest.mark.parametrize("tag", ["und", "zxx", "qaa"])
def test_a_text_element_in_no_language_is_said_in_none(tag: str) -> None:
    from flux2prompt import scene, text

    prompt = (
        scene()
        .caption("A <sign_1> on a wall")
        .element("sign_1", text("OPEN", language=tag), "centre")
        .compile_flux3()
    )
    phrase = prompt.elements[0].desc()
    assert "Unknown" not in phrase
    assert phrase.startswith('the text "OPEN"')
    english = (
        scene()
        .caption("A <sign_1> on a wall")
        .element("sign_1", text("OPEN", language="en"), "centre")
        .compile_flux3()
    )
    assert "in English" in english.elements[0].desc()
