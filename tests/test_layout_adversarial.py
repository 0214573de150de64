"""Layout boxes attacked as a stranger would: integers too large to print, image sizes too
large for a float, pixels where the grid was meant, boxes from data (strings, bools, NaN), a
caption holding a Unicode paragraph break, many boxes, RTL and CJK text; each is a box or a
one-line PromptError naming the element, never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, scene, text
from flux2prompt._layout import Box, read_layout_prompt

HUGE = 10**5000  # past Python's limit for turning an int into text (4300 digits)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Box(top=HUGE, left=0, bottom=1, right=1),
        lambda: Box(top=0, left=0, bottom=-HUGE, right=1),
        lambda: Box.from_pixels(left=HUGE, top=0, right=1, bottom=1, image_width=9, image_height=9),
        lambda: Box.from_pixels(
            left=0, top=0, right=1, bottom=1, image_width=-HUGE, image_height=9
        ),
        lambda: Box.from_normalized(x=HUGE, y=0, width=1, height=1),
        lambda: scene().element("mug_1", "a mug", [0, 0, HUGE, 5]),
    ],
)
def test_an_integer_too_long_to_print_is_a_short_prompt_error(build: object) -> None:
    with pytest.raises(PromptError) as caught:
        build()  # type: ignore[operator]
    assert len(str(caught.value)) < 300
    assert "digits" in str(caught.value)


@pytest.mark.parametrize("size", [10**400, 2**1100])
def test_an_image_too_large_for_a_float_still_maps_pixels_to_the_grid(size: int) -> None:
    # Exact arithmetic where a float would overflow: half the image is half the grid.
    box = Box.from_pixels(
        left=0, top=0.0, right=size // 2, bottom=size, image_width=size, image_height=size
    )
    assert box.as_list() == [0, 0, 1000, 500]
    assert Box.region("left half").to_pixels(size, size) == (0, 0, size // 2, size)


@given(
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=999),
)
def test_to_pixels_is_exact_at_any_image_size(width: int, height: int, left: int, top: int) -> None:
    box = Box(top=top, left=left, bottom=1000, right=1000)
    x0, y0, x1, y1 = box.to_pixels(width, height)
    assert (x1, y1) == (width, height)
    assert abs(x0 * 1000 - left * width) <= 500  # within half a pixel, exactly
    assert abs(y0 * 1000 - top * height) <= 500


def test_pixels_given_as_a_grid_box_name_the_element_and_point_at_from_pixels() -> None:
    with pytest.raises(PromptError) as caught:
        scene().element("mug_1", "a mug", [0, 0, 1080, 1920])
    message = str(caught.value)
    assert message.startswith("element('mug_1') box: ")
    assert "Box.from_pixels" in message


@pytest.mark.parametrize(
    ("box", "said"),
    [
        (["0", "0", "500", "500"], "'0'"),
        ([0, 0, 0.5, 0.5], "Box.from_normalized"),
        ([False, False, True, True], "False"),
        ([0, 0, math.nan, 5], "nan"),
        ([-1, 0, 5, 5], "-1"),
        ([5, 0, 5, 5], "no height"),
        ([0, 9, 5, 3], "swap"),
        ("left thrid", "did you mean 'left third'"),
    ],
)
def test_a_bad_box_names_its_element(box: object, said: str) -> None:
    builder = scene().element("lamp_1", "a lamp", "centre")
    with pytest.raises(PromptError) as caught:
        builder.element("mug_2", "a mug", box)  # type: ignore[arg-type]
    assert str(caught.value).startswith("element('mug_2') box: ")
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


@given(
    st.lists(
        st.one_of(
            st.integers(),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
            st.text(max_size=5),
            st.none(),
            st.integers(min_value=10**400, max_value=10**400 + 5),
        ),
        min_size=0,
        max_size=6,
    )
)
def test_any_box_from_data_is_an_element_or_a_prompt_error(values: list[object]) -> None:
    errors: list[PromptError] = []
    try:
        builder = scene().element("mug_1", "a mug", values)  # type: ignore[arg-type]
    except PromptError as error:
        errors.append(error)
    if errors:
        assert str(errors[0]).startswith("element('mug_1') box: ")
        assert len(str(errors[0])) < 400
        return
    box = builder.layout().elements[0].box
    assert 0 <= box.top < box.bottom <= 1000
    assert 0 <= box.left < box.right <= 1000


@pytest.mark.parametrize(
    "caption",
    [
        "A <mug_1> on a desk.\u2029In the morning.",  # PARAGRAPH SEPARATOR
        "A <mug_1> on a desk.\u2028\u2028In the morning.",  # two LINE SEPARATORs
        "A <mug_1> on a desk.\n\u2028In the morning.",
    ],
)
def test_a_unicode_paragraph_break_in_a_flux3_caption_is_refused(caption: str) -> None:
    builder = scene().caption(caption).element("mug_1", "a white mug", "centre")
    with pytest.raises(PromptError, match="one paragraph"):
        builder.compile_flux3()


def test_a_single_unicode_line_separator_keeps_the_caption_one_paragraph() -> None:
    caption = "A <mug_1> on a desk,\u2028in the morning"
    prompt = scene().caption(caption).element("mug_1", "a white mug", "centre").compile_flux3()
    assert prompt.text.startswith(caption)


def test_sixty_boxes_compile_both_ways_with_every_id_cited_once() -> None:
    builder = scene().caption(" ".join(f"<tile_{i}>" for i in range(60)))
    for i in range(60):
        builder = builder.element(f"tile_{i}", f"tile {i}", [i * 16, 0, i * 16 + 16, 20])
    flux3 = builder.compile_flux3()
    read = read_layout_prompt(flux3.text)
    assert read is not None
    assert [row[0] for row in read[1]] == [f"tile_{i}" for i in range(60)]
    assert all(read[0].count(f"<tile_{i}>") == 1 for i in range(60))
    flux2 = builder.compile()
    assert flux2.subjects is not None
    assert len(flux2.subjects) == 60


@pytest.mark.parametrize(
    ("words", "language", "named"),
    [("مرحبا بكم", "ar", "Arabic"), ("שלום", "he", "Hebrew"), ("欢迎光临", "zh", "Chinese")],
)
def test_rtl_and_cjk_text_keeps_its_exact_words_on_both_families(
    words: str, language: str, named: str
) -> None:
    builder = (
        scene()
        .caption("A <sign_1> above a <door_1>")
        .element("sign_1", text(words, language=language), "top third")
        .element("door_1", "a green wooden door", "bottom half")
    )
    flux3 = builder.compile_flux3()
    rows = json.loads(flux3.text.split("\n\n", 1)[1])
    assert f'"{words}"' in rows[0]["desc"]
    assert named in rows[0]["desc"]
    assert words.encode() in flux3.to_bytes()  # raw UTF-8, not \u escapes
    flux2 = builder.compile()
    assert flux2.text is not None
    assert flux2.text[0].content == words
    assert flux2.text[0].placement == "across the top"


def test_behind_names_which_of_two_like_elements_on_both_families() -> None:
    # Two mugs: "behind the mug" would not say which one; the caption's words say "mug 1".
    builder = (
        scene()
        .caption("A <mug_1> in front of a <mug_2> on a <shelf_1>")
        .element("mug_1", "a white mug", [500, 300, 900, 500])
        .element("mug_2", "a black mug", [450, 400, 850, 600], behind="mug_1")
        .element("shelf_1", "an oak shelf", "bottom half", behind="mug_2")
    )
    flux2 = builder.compile()
    assert flux2.scene == "A mug 1 in front of a mug 2 on a shelf"
    assert flux2.subjects is not None
    descriptions = {s.description for s in flux2.subjects}
    assert any(d.endswith("behind the mug 1") for d in descriptions)
    assert any(d.endswith("behind the mug 2") for d in descriptions)
    rows = json.loads(builder.compile_flux3().text.split("\n\n", 1)[1])
    assert rows[1]["desc"].endswith("behind the mug 1")
    assert rows[2]["desc"].endswith("behind the mug 2")
    # A name no other element shares keeps its plain words.
    single = scene().caption("A <cup_1> before a <wall_1>").element("cup_1", "a cup", "centre")
    single = single.element("wall_1", "a wall", "top half", behind="cup_1")
    assert json.loads(single.compile_flux3().text.split("\n\n", 1)[1])[1]["desc"] == (
        "a wall, behind the cup"
    )
