"""Layout boxes: the Box and its constructors (by property), ids, citations checked both ways, the
element table, the ``flux3`` target, the FLUX.2 degradation, and the F2P5xx lint rules."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import Prompt, PromptBuilder, PromptError, load, scene, subject, text
from flux2prompt._layout import (
    GRID,
    MIN_SIDE,
    Box,
    Flux3Prompt,
    Layout,
    LayoutElement,
    check_id,
    citations,
    element_table,
    position_phrase,
)
from flux2prompt._lint import lint


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    top = draw(st.integers(0, GRID - 1))
    left = draw(st.integers(0, GRID - 1))
    bottom = draw(st.integers(top + 1, GRID))
    right = draw(st.integers(left + 1, GRID))
    return Box(top=top, left=left, bottom=bottom, right=right)


# -- Box -----------------------------------------------------------------------------------------
def test_box_is_frozen_and_reads_top_left_bottom_right() -> None:
    box = Box(top=0, left=0, bottom=500, right=500)
    assert box.as_list() == [0, 0, 500, 500]
    assert (box.width, box.height) == (500, 500)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.top = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"top": -1, "left": 0, "bottom": 10, "right": 10}, r"Box\(top=\.\.\.\): -1 is outside"),
        ({"top": 0, "left": 0, "bottom": 1001, "right": 10}, r"bottom=\.\.\.\): 1001 is outside"),
        ({"top": 600, "left": 0, "bottom": 400, "right": 10}, r"top < bottom\); swap them"),
        ({"top": 0, "left": 90, "bottom": 10, "right": 10}, r"left < right\); swap them"),
        ({"top": 5, "left": 0, "bottom": 5, "right": 10}, "the box has no height"),
        ({"top": 0, "left": 0.5, "bottom": 10, "right": 10}, "expected an integer from 0 to 1000"),
        ({"top": True, "left": 0, "bottom": 10, "right": 10}, "expected an integer"),
    ],
)
def test_box_refuses_out_of_range_inverted_and_non_integer_edges(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(PromptError, match=message):
        Box(**fields)  # type: ignore[arg-type]


@given(boxes())
def test_normalised_round_trip_is_exact(box: Box) -> None:
    x, y, width, height = box.to_normalized()
    assert Box.from_normalized(x=x, y=y, width=width, height=height) == box


@given(
    st.integers(1000, 8192),
    st.integers(1000, 8192),
    boxes(),
)
def test_pixels_round_trip_is_exact_when_a_grid_unit_is_at_least_a_pixel(
    image_width: int, image_height: int, box: Box
) -> None:
    left, top, right, bottom = box.to_pixels(image_width, image_height)
    back = Box.from_pixels(
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        image_width=image_width,
        image_height=image_height,
    )
    assert back == box


@given(st.data(), st.integers(16, 4096), st.integers(16, 4096))
def test_pixels_land_within_one_grid_unit_and_inside_the_grid(
    data: st.DataObject, image_width: int, image_height: int
) -> None:
    x0 = data.draw(st.floats(0, image_width - 4, allow_nan=False))
    x1 = data.draw(st.floats(x0 + 4, image_width, allow_nan=False))
    y0 = data.draw(st.floats(0, image_height - 4, allow_nan=False))
    y1 = data.draw(st.floats(y0 + 4, image_height, allow_nan=False))
    edges = {"left": x0, "top": y0, "right": x1, "bottom": y1, "image_width": image_width}
    grid = [round(v * GRID / image_width) for v in (x0, x1)]
    grid += [round(v * GRID / image_height) for v in (y0, y1)]
    if grid[0] >= grid[1] or grid[2] >= grid[3]:
        # Only a box thinner than a grid unit may be refused, and it says so.
        assert min((x1 - x0) * GRID / image_width, (y1 - y0) * GRID / image_height) < 1
        with pytest.raises(PromptError, match="rounds to"):
            Box.from_pixels(**edges, image_height=image_height)
        return
    box = Box.from_pixels(**edges, image_height=image_height)
    assert all(0 <= edge <= GRID for edge in box.as_list())
    for edge, pixels, size in (
        (box.left, x0, image_width),
        (box.right, x1, image_width),
        (box.top, y0, image_height),
        (box.bottom, y1, image_height),
    ):
        assert abs(edge - pixels * GRID / size) <= 0.5 + 1e-9


@given(
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)
def test_normalised_boxes_stay_on_the_grid_or_are_refused_clearly(
    x: float, y: float, width: float, height: float
) -> None:
    past = x + width > 1 + 1e-9 or y + height > 1 + 1e-9
    empty = round(x * GRID) >= round((x + width) * GRID) or round(y * GRID) >= round(
        (y + height) * GRID
    )
    if past or empty:
        with pytest.raises(PromptError, match="goes past the image" if past else "rounds to"):
            Box.from_normalized(x=x, y=y, width=width, height=height)
        return
    box = Box.from_normalized(x=x, y=y, width=width, height=height)
    assert 0 <= box.top < box.bottom <= GRID
    assert 0 <= box.left < box.right <= GRID
    assert abs(box.left - x * GRID) <= 0.5
    assert abs(box.bottom - (y + height) * GRID) <= 0.5 + 1e-6


def test_pixel_and_normalised_constructors_name_the_bad_argument() -> None:
    with pytest.raises(
        PromptError, match=r"from_pixels\(right=\.\.\.\): 2000 is outside the image"
    ):
        Box.from_pixels(left=0, top=0, right=2000, bottom=10, image_width=1920, image_height=1080)
    with pytest.raises(PromptError, match=r"from_pixels\(image_height=\.\.\.\): expected pixels"):
        Box.from_pixels(left=0, top=0, right=10, bottom=10, image_width=10, image_height=0)
    with pytest.raises(PromptError, match=r"from_normalized\(x=\.\.\., width=\.\.\.\)"):
        Box.from_normalized(x=0.7, y=0, width=0.5, height=0.5)
    with pytest.raises(PromptError, match="rounds to"):
        Box.from_pixels(left=0, top=0, right=1, bottom=1, image_width=4000, image_height=4000)
    # 0.7 + 0.3 is not exactly 1 in binary floating point, and is still the right edge.
    assert Box.from_normalized(x=0.7, y=0, width=0.3, height=1).right == GRID


# -- named regions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("left third", [0, 0, 1000, 333]),
        ("centre third", [0, 333, 1000, 667]),
        ("right third", [0, 667, 1000, 1000]),
        ("top third", [0, 0, 333, 1000]),
        ("middle third", [333, 0, 667, 1000]),
        ("bottom third", [667, 0, 1000, 1000]),
        ("top half", [0, 0, 500, 1000]),
        ("bottom half", [500, 0, 1000, 1000]),
        ("left half", [0, 0, 1000, 500]),
        ("right half", [0, 500, 1000, 1000]),
        ("top-left quadrant", [0, 0, 500, 500]),
        ("upper right", [0, 500, 500, 1000]),
        ("Lower Left Quarter", [500, 0, 1000, 500]),
        ("bottom-right quadrant", [500, 500, 1000, 1000]),
        ("center", [250, 250, 750, 750]),
    ],
)
def test_named_regions(name: str, expected: list[int]) -> None:
    assert Box.region(name).as_list() == expected


def test_regions_tile_the_grid() -> None:
    area = GRID * GRID
    for names in (
        ("left half", "right half"),
        ("top half", "bottom half"),
        ("left third", "centre third", "right third"),
        ("top third", "middle third", "bottom third"),
        ("top left", "top right", "bottom left", "bottom right"),
    ):
        parts = [Box.region(name) for name in names]
        assert sum(p.width * p.height for p in parts) == area
        assert all(a.overlap(b) == 0 for i, a in enumerate(parts) for b in parts[i + 1 :])


@given(st.sampled_from(sorted(__import__("flux2prompt._layout")._layout._REGIONS)))
def test_every_region_is_on_the_grid_and_spelt_any_way(name: str) -> None:
    box = Box.region(name)
    assert 0 <= box.top < box.bottom <= GRID
    assert 0 <= box.left < box.right <= GRID
    assert Box.region(name.upper().replace(" ", "-")) == box


def test_an_unknown_region_gets_a_did_you_mean() -> None:
    with pytest.raises(PromptError, match="unknown region 'left thrid'; did you mean 'left third'"):
        Box.region("left thrid")
    with pytest.raises(PromptError, match="use one of 'left half'"):
        Box.region("somewhere nice")


# -- ids and citations ----------------------------------------------------------------------------
@pytest.mark.parametrize("good", ["mug_1", "coffee_mug_12", "a_0"])
def test_valid_ids(good: str) -> None:
    assert check_id(good, "element()") == good


@pytest.mark.parametrize(
    ("bad", "suggestion"),
    [("Mug_1", "mug_1"), ("mug", "mug_1"), ("coffee mug 2", "coffee_mug_2"), ("mug1", "mug_1")],
)
def test_invalid_ids_suggest_a_fix(bad: str, suggestion: str) -> None:
    with pytest.raises(PromptError, match=f"{bad!r} is not an element id.*try {suggestion!r}"):
        check_id(bad, "element()")


def test_citations_are_checked_both_ways() -> None:
    base = scene().element("mug_1", "a mug", "centre").element("lamp_1", "a lamp", "right third")
    with pytest.raises(PromptError, match=r"cites <vase_1>, which no element defines"):
        base.caption("A <mug_1>, a <lamp_1> and a <vase_1>").compile_flux3()
    with pytest.raises(PromptError, match=r"element\('lamp_1'\): defined but the caption never"):
        base.caption("A <mug_1> on a table").compile_flux3()
    with pytest.raises(PromptError, match=r"<Mug> is not an element id.*try <mug_1>"):
        base.caption("A <Mug> and <mug_1> and <lamp_1>").compile()
    # The FLUX.2 target checks the same way: one scene, one set of rules.
    with pytest.raises(PromptError, match="defined but the caption never cites it"):
        base.caption("A <mug_1> on a table").compile()
    with pytest.raises(PromptError, match="a FLUX 3 prompt needs a caption citing each element"):
        base.compile_flux3()


def test_depth_order_names_existing_elements_without_loops() -> None:
    b = scene().caption("<a_1> <b_1>").element("a_1", "a", "centre", behind="b_1")
    with pytest.raises(PromptError, match=r"element\('a_1', behind=\.\.\.\): 'b_1' is not an"):
        b.compile_flux3()
    loop = b.element("b_1", "b", "centre", behind="a_1")
    with pytest.raises(PromptError, match=r"the depth order loops \(a_1 behind b_1 behind a_1\)"):
        loop.compile()
    with pytest.raises(PromptError, match="cannot stand behind itself"):
        scene().element("a_1", "a", "centre", behind="a_1")


# -- the element table and the flux3 target -------------------------------------------------------
CAFE = (
    scene()
    .caption("A <barista_1> behind a <counter_1>, a neon <sign_1> in the window")
    .element(
        "barista_1", "a barista in a green apron", "left third", behind="counter_1", pose="pouring"
    )
    .element("counter_1", "a walnut counter", "bottom half", colors=["#6F4E37"], pose="standing")
    .element("sign_1", text("OPEN", language="en", font="neon script"), [50, 600, 250, 950])
    .palette("#6F4E37", "#F5F5DC", "#2E8B57")
    .style("photorealistic")
)


def _table(prompt: Flux3Prompt) -> list[dict[str, object]]:
    caption, table = prompt.text.split("\n\n", 1)
    assert caption == prompt.caption
    rows: list[dict[str, object]] = json.loads(table)
    return rows


def test_flux3_cites_every_id_once_and_its_table_holds_integer_boxes() -> None:
    prompt = CAFE.compile_flux3()
    rows = _table(prompt)
    ids = [row["id"] for row in rows]
    assert sorted(citations(prompt.caption)) == sorted(ids)
    assert len(set(citations(prompt.caption))) == len(citations(prompt.caption))
    for row in rows:
        box = row["bbox"]
        assert isinstance(box, list)
        assert len(box) == 4
        assert all(type(v) is int and 0 <= v <= GRID for v in box)
        top, left, bottom, right = box
        assert top < bottom
        assert left < right
    assert prompt.fingerprint.startswith("sha256:")
    assert prompt.to_bytes() == prompt.text.encode("utf-8")


def test_flux3_moves_palette_colours_into_the_descriptions_they_bind_to() -> None:
    prompt = CAFE.compile_flux3()
    rows = {row["id"]: row["desc"] for row in _table(prompt)}
    assert rows["counter_1"] == "a walnut counter, standing, in color #6F4E37"
    assert "#F5F5DC" in prompt.caption  # bound to no element: said in the caption
    assert "#6F4E37" not in prompt.caption
    assert prompt.moved_colors == (("#6F4E37", "counter_1"), ("#F5F5DC", None), ("#2E8B57", None))
    (warning,) = [w for w in lint(prompt) if w.code == "F2P503"]
    assert "#6F4E37 -> counter_1" in warning.message
    assert "#F5F5DC -> the caption" in warning.message


def test_flux3_text_elements_keep_their_exact_quoted_words() -> None:
    words = 'Say "hi" — 東京'
    prompt = (
        scene()
        .caption("A <sign_1>")
        .element("sign_1", text(words, language="ja"), "top third")
        .compile_flux3()
    )
    (row,) = _table(prompt)
    assert f"“{words}”" in str(row["desc"])
    assert "東京".encode() in prompt.to_bytes()  # raw UTF-8, not \\u escapes
    assert b"\\u" not in prompt.to_bytes()


def test_flux3_refuses_what_has_no_box() -> None:
    base = scene().caption("A <mug_1>").element("mug_1", "a mug", "centre")
    with pytest.raises(PromptError, match=r"subjects without a box.*\.element\('name_1'"):
        base.subject("a cat").compile_flux3()
    with pytest.raises(PromptError, match="text without a box"):
        base.text("SALE").compile_flux3()


def test_an_element_added_again_replaces_its_box_in_place() -> None:
    moved = CAFE.element("counter_1", "a walnut counter", "bottom third", colors=["#6F4E37"])
    before, after = _table(CAFE.compile_flux3()), _table(moved.compile_flux3())
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert after[1]["bbox"] == [667, 0, 1000, 1000]
    assert after[0] == before[0]
    assert after[2] == before[2]


@given(st.lists(boxes(), min_size=1, max_size=6), st.data())
def test_element_table_round_trips_through_json(boxes_: list[Box], data: st.DataObject) -> None:
    descriptions = st.text(
        st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
    ).filter(str.strip)
    elements = [
        LayoutElement(f"thing_{i + 1}", box, description=data.draw(descriptions))
        for i, box in enumerate(boxes_)
    ]
    rows = json.loads(element_table(elements))
    assert [row["id"] for row in rows] == [e.id for e in elements]
    assert [row["bbox"] for row in rows] == [e.box.as_list() for e in elements]
    assert [row["desc"] for row in rows] == [e.description for e in elements]
    assert element_table(elements).count("\n") == len(elements) + 1  # one row per line


# -- FLUX.2: position prose -----------------------------------------------------------------------
def test_flux2_gets_one_subject_per_element_with_position_prose() -> None:
    prompt = CAFE.compile()
    assert isinstance(prompt, Prompt)
    assert prompt.scene == "A barista behind a counter, a neon sign in the window"
    subjects = prompt.subjects or ()
    assert [(s.type, s.description, s.position) for s in subjects] == [
        (
            "barista",
            "a barista in a green apron, on the left side, behind the counter",
            "midground",
        ),
        ("counter", "a walnut counter, across the bottom", "foreground"),
    ]
    assert subjects[1].colors == ("#6F4E37",)
    (sign,) = prompt.text or ()
    assert (sign.content, sign.placement) == ("OPEN", "in the upper-right third")
    assert prompt.color_palette == ("#6F4E37", "#F5F5DC", "#2E8B57")  # FLUX.2 keeps its palette
    # Still an ordinary prompt for both profiles, and it loads back to the same bytes.
    assert CAFE.compile(profile="cloudflare").to_bytes() == prompt.to_bytes()
    assert load(prompt.to_dict()).to_bytes() == prompt.to_bytes()


def test_flux2_keeps_a_set_scene_and_an_explicit_position() -> None:
    b = (
        scene("a cafe at dawn")
        .subject(subject("a cat", position="background"))
        .caption("A <mug_1>")
        .element("mug_1", "a mug", "top-left quadrant", position="background")
    )
    prompt = b.compile()
    assert prompt.scene == "a cafe at dawn"
    assert [s.description for s in prompt.subjects or ()] == [
        "a cat",
        "a mug, in the upper-left third",
    ]
    assert (prompt.subjects or ())[1].position == "background"


def test_a_builder_without_layout_compiles_as_before() -> None:
    b = scene("dunes").subject("a nomad", position="midground")
    assert b.compile().to_json() == (
        '{"scene":"dunes","subjects":[{"description":"a nomad","position":"midground"}]}'
    )
    assert lint(b) == lint(b.compile())


@given(boxes())
def test_position_prose_names_a_place_for_every_box(box: Box) -> None:
    phrase = position_phrase(box)
    assert re.fullmatch(
        r"filling the frame|in the centre|on the (left|right) side|down the centre|"
        r"across the (top|middle|bottom)|in the (upper|middle|lower)-(left|centre|right) third",
        phrase,
    )


# -- lint -----------------------------------------------------------------------------------------
def test_overlap_without_depth_order_is_reported_with_a_fix() -> None:
    b = (
        scene()
        .caption("A <cat_1> and a <dog_1>")
        .element("cat_1", "a cat", [0, 0, 600, 600])
        .element("dog_1", "a dog", [400, 400, 1000, 1000])
    )
    (info, f2) = lint(b)  # document order: $.subjects, then $.subjects[0]
    assert (f2.code, f2.path) == ("F2P501", "$.subjects[0]")
    assert "behind='cat_1'" in f2.fix
    assert (info.code, info.severity) == ("F2P504", "info")
    (f3,) = lint(b.compile_flux3())
    assert (f3.code, f3.path) == ("F2P501", "$.elements[0]")
    ordered = b.element("dog_1", "a dog", [400, 400, 1000, 1000], behind="cat_1")
    assert [w.code for w in lint(ordered.compile_flux3())] == []
    assert [w.code for w in lint(ordered)] == ["F2P504"]


def test_tiny_elements_are_reported() -> None:
    b = scene().caption("A <ant_1>").element("ant_1", "an ant", [500, 500, 510, 700])
    (warning,) = lint(b.compile_flux3())
    assert warning.code == "F2P502"
    assert f"under {MIN_SIDE} units" in warning.message
    assert lint(b.compile_flux3(), ignore="F2P502") == []


def test_the_layout_is_public_through_the_builder() -> None:
    layout = CAFE.layout()
    assert isinstance(layout, Layout)
    assert layout.ids == ("barista_1", "counter_1", "sign_1")
    assert layout.depth_rank() == {"barista_1": 1, "counter_1": 0, "sign_1": 0}


@given(st.lists(boxes(), min_size=1, max_size=5))
def test_a_flux3_prompt_reads_back_to_its_caption_and_rows(boxes_: list[Box]) -> None:
    from flux2prompt._layout import read_layout_prompt

    ids = [f"item_{i + 1}" for i in range(len(boxes_))]
    b = scene().caption(" ".join(f"<{item}>" for item in ids))
    for item, box in zip(ids, boxes_, strict=True):
        b = b.element(item, f"the {item}", box)
    prompt = b.compile_flux3()
    read = read_layout_prompt(prompt.text)
    assert read is not None
    caption, rows = read
    assert caption == prompt.caption
    assert rows == [(e.id, e.box.as_list(), e.desc()) for e in prompt.elements]


def test_an_element_table_nested_past_any_depth_reads_as_no_table() -> None:
    from flux2prompt._layout import TABLE_SEPARATOR, read_layout_prompt

    deep = "[" * 100_000 + "]" * 100_000
    assert read_layout_prompt(f"A <mug_1> on a counter{TABLE_SEPARATOR}{deep}") is None


def test_without_layout_removes_the_caption_and_every_element() -> None:
    plain = CAFE.without("layout")
    assert plain.layout() == Layout(None, ())
    assert plain.compile().subjects is None
    assert CAFE.layout().ids == ("barista_1", "counter_1", "sign_1")  # the original is unchanged


@st.composite
def layouts(draw: st.DrawFn) -> tuple[PromptBuilder, list[str]]:
    """A builder with 1-6 elements, a caption citing each once, and a loop-free depth order."""
    count = draw(st.integers(1, 6))
    names = draw(
        st.lists(
            st.sampled_from(["cat", "lamp", "coffee_mug", "sign"]), min_size=count, max_size=count
        )
    )
    ids = [f"{name}_{i + 1}" for i, name in enumerate(names)]
    b = scene().caption(", ".join(f"a <{item}>" for item in ids))
    for i, item in enumerate(ids):
        # Only an earlier element can be stood behind, so the order never loops.
        behind = draw(st.none() | st.sampled_from(ids[:i])) if i else None
        if draw(st.booleans()):
            b = b.element(item, text(item.upper()[:4], language="en"), draw(boxes()), behind=behind)
        else:
            b = b.element(item, f"the {item}", draw(boxes()), behind=behind, pose="still")
    return b, ids


@given(layouts())
def test_any_layout_compiles_to_both_families(case: tuple[PromptBuilder, list[str]]) -> None:
    b, ids = case
    flux3 = b.compile_flux3()
    assert sorted(citations(flux3.caption)) == sorted(ids)  # every id cited exactly once
    assert [row["id"] for row in _table(flux3)] == ids
    flux2 = b.compile()
    texts = [e for e in b.layout().elements if e.text is not None]
    subjects = flux2.subjects or ()
    assert len(subjects) == len(ids) - len(texts)  # one subject per described element
    assert len(flux2.text or ()) == len(texts)
    assert {s.position for s in subjects} <= {"foreground", "midground", "background"}
    for item in subjects:
        assert position_phrase_pattern.search(item.description or "")
    assert load(flux2.to_dict()).to_bytes() == flux2.to_bytes()


position_phrase_pattern = re.compile(
    r"filling the frame|in the centre|on the (left|right) side|down the centre|"
    r"across the (top|middle|bottom)|in the (upper|middle|lower)-(left|centre|right) third"
)


def test_a_text_elements_bound_colour_becomes_its_text_colour_on_flux2() -> None:
    b = scene().caption("A <sign_1>").element("sign_1", text("SALE"), "top third", colors=["#f00"])
    (sign,) = b.compile().text or ()
    assert sign.color == "#FF0000"
    assert b.compile_flux3().elements[0].desc() == 'the text "SALE", in color #FF0000'


def test_a_repeated_citation_is_reported_on_flux3_only() -> None:
    b = (
        scene()
        .caption("A <mug_1>; steam rises from the <mug_1>")
        .element("mug_1", "a mug", "centre")
    )
    (warning,) = lint(b.compile_flux3())
    assert (warning.code, warning.path) == ("F2P505", "$.caption")
    assert "<mug_1> 2 times" in warning.message
    assert b.compile().scene == "A mug; steam rises from the mug"
    assert [w.code for w in lint(b)] == ["F2P504"]
