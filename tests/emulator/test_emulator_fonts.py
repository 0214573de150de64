"""Placeholder text in the fonts of its scripts: real glyphs, shaped, recorded in the image.

The script tests need Noto (Debian's fonts-noto-core and fonts-noto-cjk, which .ci/run
installs); without them they are skipped, saying so, and the fallback test still runs.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw, ImageFont

from flux2prompt.emulator import _render
from flux2prompt.emulator._render import (
    FONT_METADATA_KEY,
    FONTS_HEADER,
    PILLOW_DEFAULT_FONT,
    face_for,
    render_image,
    rendered_fonts,
)

JAPANESE = "東京へようこそ"
ARABIC = "مرحبا بالعالم"
HINDI = "नमस्ते दुनिया"
SAMPLES = {"ja": JAPANESE, "ar": ARABIC, "hi": HINDI}
DOCUMENT = json.dumps(
    {
        "scene": "a poster in three scripts",
        "color_palette": ["#223344", "#556677"],
        "text": [{"content": text, "language": tag} for tag, text in SAMPLES.items()],
    },
    ensure_ascii=False,
)

NOTO = all(
    face_for(text) is not None and "Noto" in face_for(text).name for text in SAMPLES.values()
)  # type: ignore[union-attr]
needs_noto = pytest.mark.skipif(
    not NOTO,
    reason="Noto fonts for Japanese, Arabic and Devanagari are not installed "
    "(apt-get install fonts-noto-core fonts-noto-cjk; .ci/run installs them in CI)",
)


CACHES = (
    _render._font_files,
    _render.face_for,
    _render._overlay,
    _render._render_cached,
    _render._base64_cached,
)


def ink(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    """``text`` drawn black on white, cropped to a fixed canvas (for pixel comparisons)."""
    canvas = Image.new("L", (font.size * (len(text) + 2), font.size * 3), 255)
    ImageDraw.Draw(canvas).text((font.size, font.size), text, font=font, fill=0)
    return canvas


@needs_noto
@pytest.mark.parametrize("tag", sorted(SAMPLES))
def test_every_character_is_in_the_chosen_fonts_cmap(tag: str) -> None:
    text = SAMPLES[tag]
    path = face_for(text)
    assert path is not None
    with TTFont(path, fontNumber=0, lazy=True) as face:
        cmap = face.getBestCmap()
    assert [ch for ch in text if not ch.isspace() and ord(ch) not in cmap] == []


@needs_noto
@pytest.mark.parametrize("tag", sorted(SAMPLES))
def test_each_glyph_differs_from_the_missing_glyph_box(tag: str) -> None:
    # Drawn in the chosen font, each character must differ from that font's .notdef box, which
    # is what a character outside the cmap (a noncharacter) draws.
    path = face_for(SAMPLES[tag])
    assert path is not None
    font = ImageFont.truetype(str(path), 40)
    box = ink(font, "\ufdd0")
    assert ImageChops.difference(box, ink(font, " ")).getbbox() is not None  # the box has ink
    for char in set(SAMPLES[tag].replace(" ", "")):
        if _render.unicodedata.category(char) == "Mn":
            continue  # a combining mark alone sits on a dotted circle; it is checked in words
        assert ImageChops.difference(ink(font, char), box).getbbox() is not None, char


@needs_noto
def test_the_placeholder_draws_real_glyphs_not_boxes(tmp_path: Path) -> None:
    # The same document with every character swapped for U+FFFD: where the real render drew
    # boxes, both would draw the same pixels in the text band.
    data = render_image(DOCUMENT, 3, 640, 480, "png")
    boxes = json.loads(DOCUMENT)
    for element in boxes["text"]:
        element["content"] = "".join(" " if c == " " else "\ufffd" for c in element["content"])
    fallback = render_image(json.dumps(boxes, ensure_ascii=False), 3, 640, 480, "png")
    real, fake = (Image.open(io.BytesIO(d)).convert("RGB") for d in (data, fallback))
    band = (0, 480 * 55 // 100, 640, 480 * 88 // 100)  # where the text elements are drawn
    assert ImageChops.difference(real.crop(band), fake.crop(band)).getbbox() is not None
    # And each sample's font is named in the image itself.
    fonts = Image.open(io.BytesIO(data)).text[FONT_METADATA_KEY].split(",")  # type: ignore[attr-defined]
    for text in SAMPLES.values():
        path = face_for(f'"{text}"')
        assert path is not None
        assert path.stem in fonts
    (tmp_path / "three-scripts.png").write_bytes(data)


@needs_noto
def test_arabic_is_shaped_right_to_left() -> None:
    from PIL import features

    if not features.check("raqm"):
        pytest.skip("Pillow was built without libraqm: Arabic is drawn unshaped")
    path = face_for(ARABIC)
    assert path is not None
    shaped = ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.RAQM)
    basic = ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.BASIC)
    # Joined letters take their connected forms: the shaped word is narrower than the letters
    # set one after another in logical order, and draws different pixels.
    assert ImageChops.difference(ink(shaped, ARABIC), ink(basic, ARABIC)).getbbox() is not None
    assert shaped.getlength(ARABIC) != basic.getlength(ARABIC)
    assert _render._font_for(ARABIC, 40).layout_engine == ImageFont.Layout.RAQM  # type: ignore[union-attr]


@pytest.mark.parametrize(("image_format", "pil_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_fonts_are_recorded_in_jpeg_and_webp(image_format: str, pil_format: str) -> None:
    data = render_image(DOCUMENT, 1, 256, 256, image_format)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(data))
    assert image.format == pil_format
    description = image.getexif().get(0x010E)
    expected = ",".join(rendered_fonts(DOCUMENT, 256, 256))
    assert description == f"{FONT_METADATA_KEY}={expected}"


def test_without_a_covering_font_one_note_and_pillows_font(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No font directory at all: every text falls back to Pillow's font, and says so once.
    monkeypatch.setattr(_render, "_SYSTEM_FONT_DIRS", ())
    monkeypatch.setenv("FLUX2PROMPT_FONT_DIRS", str(tmp_path / "none"))
    monkeypatch.setattr(_render, "_noted", set())
    for cached in CACHES:
        cached.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="flux2prompt.emulator"):
            first = render_image(DOCUMENT, 1, 256, 256, "png")
            render_image(DOCUMENT, 2, 256, 256, "png")
            render_image(json.dumps({"scene": HINDI}, ensure_ascii=False), 1, 256, 256, "png")
        notes = [r.getMessage() for r in caplog.records if "no installed font" in r.getMessage()]
        assert len(notes) == 1, notes
        assert "ARABIC" in notes[0]
        assert "DEVANAGARI" in notes[0]
        assert Image.open(io.BytesIO(first)).text[FONT_METADATA_KEY] == PILLOW_DEFAULT_FONT  # type: ignore[attr-defined]
    finally:
        for cached in CACHES:
            cached.cache_clear()


@needs_noto
def test_images_drawn_with_other_fonts_differ_in_their_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A cache keyed by the image's sha256 keeps them apart: the font is in the bytes.
    with_noto = render_image(DOCUMENT, 5, 256, 256, "png")
    monkeypatch.setattr(_render, "_SYSTEM_FONT_DIRS", ())
    monkeypatch.setenv("FLUX2PROMPT_FONT_DIRS", str(tmp_path / "none"))
    for cached in CACHES:
        cached.cache_clear()
    try:
        without = render_image(DOCUMENT, 5, 256, 256, "png")
    finally:
        for cached in CACHES:
            cached.cache_clear()
    assert with_noto != without
    assert Image.open(io.BytesIO(with_noto)).text != Image.open(io.BytesIO(without)).text  # type: ignore[attr-defined]


# -- the emulator's answer, and reference images -----------------------------------------------
def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_answer_names_the_fonts_of_its_image(post: Callable[..., httpx.Response]) -> None:
    response = post(prompt=DOCUMENT, width="256", height="256", seed="4")
    assert response.status_code == 200
    image = base64.b64decode(response.json()["result"]["image"])
    recorded = Image.open(io.BytesIO(image)).getexif().get(0x010E)
    assert recorded == f"{FONT_METADATA_KEY}={response.headers[FONTS_HEADER]}"
    assert response.headers[FONTS_HEADER] == ",".join(rendered_fonts(DOCUMENT, 256, 256))


def test_reference_images_are_drawn_as_thumbnails(post: Callable[..., httpx.Response]) -> None:
    red, blue = (220, 20, 20), (20, 40, 220)
    files = {
        "input_image_0": ("red.png", solid_png(red), "image/png"),
        "input_image_1": ("blue.png", solid_png(blue, (40, 80)), "image/png"),
    }
    with_refs = post(prompt="a fox", width="512", height="512", seed="1", files=files)
    without = post(prompt="a fox", width="512", height="512", seed="1")
    assert with_refs.status_code == without.status_code == 200
    drawn = Image.open(io.BytesIO(base64.b64decode(with_refs.json()["result"]["image"])))
    plain = Image.open(io.BytesIO(base64.b64decode(without.json()["result"]["image"])))
    drawn, plain = drawn.convert("RGB"), plain.convert("RGB")
    changed = ImageChops.difference(drawn, plain).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    assert left < 20
    assert 512 - top < 512 // 4  # a strip along the bottom, not the picture
    assert bottom > 512 - 20
    assert right < 256  # the bottom-left corner; the footer is on the right
    # Each reference's colour is there, red first (field order), then blue to its right.
    side = 512 * 11 // 100
    y = 512 - 8 - side // 2
    red_at = [x for x in range(right) if _close(drawn.getpixel((x, y)), red)]
    blue_at = [x for x in range(right) if _close(drawn.getpixel((x, y)), blue)]
    assert red_at
    assert blue_at
    assert max(red_at) < min(blue_at)


def _close(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= 24 for a, b in zip(pixel[:3], colour, strict=True))


def test_an_unreadable_reference_is_a_crossed_box() -> None:
    data = render_image("a fox", 1, 256, 256, "png", (b"not an image",))
    plain = render_image("a fox", 1, 256, 256, "png")
    changed = ImageChops.difference(
        Image.open(io.BytesIO(data)).convert("RGB"), Image.open(io.BytesIO(plain)).convert("RGB")
    ).getbbox()
    assert changed is not None
    assert changed[0] < 16


def test_without_fonttools_pillows_font_and_a_note_saying_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "fontTools.ttLib", None)  # import fails, as if absent
    monkeypatch.setattr(_render, "_noted", set())
    for cached in (*CACHES, _render._coverage):
        cached.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="flux2prompt.emulator"):
            data = render_image('{"scene": "a fox"}', 1, 128, 128, "png")
            render_image('{"scene": "a wolf"}', 1, 128, 128, "png")
        notes = [r.getMessage() for r in caplog.records if "fontTools" in r.getMessage()]
        assert len(notes) == 1
        assert "flux2-prompt[emulator]" in notes[0]
        assert Image.open(io.BytesIO(data)).text[FONT_METADATA_KEY] == PILLOW_DEFAULT_FONT  # type: ignore[attr-defined]
    finally:
        for cached in (*CACHES, _render._coverage):
            cached.cache_clear()
