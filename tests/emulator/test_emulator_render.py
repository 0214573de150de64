"""Placeholder images: deterministic bytes, sizes, formats, and what the prompt draws."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from flux2prompt.emulator._render import render_base64, render_image

DOCUMENT = json.dumps(
    {
        "scene": "a harbour at dusk",
        "subjects": [{"type": "boat", "colors": ["#00FF00"]}, {"description": "a gull"}, "rope"],
        "color_palette": ["#FF0000", "#0000ff", "not a colour", {"hex": "#FFF"}],
        "text": [{"content": "OPEN"}, {"content": "Café 日本"}],
    }
)


@pytest.mark.parametrize(
    ("image_format", "pil_format"), [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")]
)
def test_format_size_and_determinism(image_format: str, pil_format: str) -> None:
    first = render_image(DOCUMENT, 7, 320, 256, image_format)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(first))
    assert image.format == pil_format
    assert image.size == (320, 256)
    # A fresh render (cache cleared) gives the same bytes, not just the cached object.
    from flux2prompt.emulator import _render

    _render._render_cached.cache_clear()
    _render._base64_cached.cache_clear()
    assert render_image(DOCUMENT, 7, 320, 256, image_format) == first  # type: ignore[arg-type]


def test_palette_stripes_are_drawn() -> None:
    data = render_image(DOCUMENT, 1, 400, 300, "png")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    # Four valid colours: red, blue, white (#FFF) and the subject's green, in that order.
    row = 300 * 80 // 100
    colours = [image.getpixel((x, row)) for x in (10, 110, 210, 310)]
    assert colours == [(255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 255, 0)]


def test_background_depends_on_prompt_and_seed() -> None:
    def corner(prompt: str, seed: int) -> object:
        return Image.open(io.BytesIO(render_image(prompt, seed, 256, 256, "png"))).getpixel((2, 2))

    assert corner("a fox", 1) == corner("a fox", 1)
    assert corner("a fox", 1) != corner("a fox", 2)
    assert corner("a fox", 1) != corner("a wolf", 1)


def test_base64_matches_the_bytes() -> None:
    import base64

    encoded = render_base64("plain words here", 3, 256, 256, "jpeg")
    assert base64.b64decode(encoded) == render_image("plain words here", 3, 256, 256, "jpeg")


@settings(max_examples=30, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["scene", "subjects", "color_palette", "text", "colors", "type"]
                    ),
                    children,
                    max_size=4,
                )
            ),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_any_prompt_renders(prompt: str) -> None:
    assert render_image(prompt, 0, 256, 256, "png").startswith(b"\x89PNG")


# -- FLUX 3 layout prompts: the boxes and their ids are drawn --------------------------------------
def _layout_prompt() -> str:
    from flux2prompt import scene

    return (
        scene()
        .caption("A <cat_1> beside a <lamp_1>")
        .element("cat_1", "a grey cat", "left half")
        .element("lamp_1", "a brass lamp", [500, 750, 1000, 1000])
        .compile_flux3()
        .text
    )


def test_a_layout_prompt_draws_each_box_where_its_table_puts_it() -> None:
    from flux2prompt.emulator._render import _BOX_COLOURS

    image = Image.open(io.BytesIO(render_image(_layout_prompt(), 3, 400, 200, "png")))
    image = image.convert("RGB")
    cat, lamp = _BOX_COLOURS[0], _BOX_COLOURS[1]
    # The outline of cat_1 runs down the left edge, its right side at x = 199 (half of 400).
    assert image.getpixel((1, 150)) == cat
    assert image.getpixel((198, 150)) == cat
    # lamp_1 spans x 300-399, y 100-199; its top edge is at y = 100.
    assert image.getpixel((350, 101)) == lamp
    # Inside a box the background shows through a light tint; outside, it is untouched.
    from flux2prompt.emulator._render import _background

    background = _background(_layout_prompt(), 3)
    assert image.getpixel((250, 150)) == background
    assert image.getpixel((100, 150)) not in (background, cat)


def test_a_layout_prompt_renders_differently_from_its_words_alone() -> None:
    text = _layout_prompt()
    caption = text.split("\n\n", 1)[0]
    assert render_image(text, 1, 256, 256, "png") != render_image(caption, 1, 256, 256, "png")
    assert render_image(text, 1, 256, 256, "png") == render_image(text, 1, 256, 256, "png")


@pytest.mark.parametrize(
    "table",
    [
        '[\n{"id":"a_1","bbox":[0,0,2000,-5],"desc":"out of range"}\n]',  # clipped, still drawn
        '[\n{"id":"a_1","bbox":[1,2,3],"desc":"three numbers"}\n]',  # not a table: plain text
        "[not json",
    ],
)
def test_a_malformed_table_never_breaks_rendering(table: str) -> None:
    data = render_image(f"A <a_1>\n\n{table}", 1, 128, 128, "png")
    assert data.startswith(b"\x89PNG")
