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
