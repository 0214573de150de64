"""Deterministic placeholder images drawn from the prompt, so a test can see what it asked for.

A JSON prompt becomes vertical stripes of its palette with the scene on top, one label per
subject and the text elements below; a FLUX 3 layout prompt (a caption and its element table)
shows the caption on top and each element's box outlined where the table puts it, labelled with
its id, so a gallery shows whether the layout is what the code meant; a plain-text prompt shows
its first words. The background
colour comes from a hash of prompt and seed. Identical inputs give identical bytes, and the last
rendered images are cached so that a benchmark measures the client, not the JPEG encoder.

Example:
    >>> data = render_image('{"scene": "a lighthouse"}', 1, 320, 256, "png")
    >>> data[:4] == b"\\x89PNG"
    True
    >>> render_image('{"scene": "a lighthouse"}', 1, 320, 256, "png") == data
    True
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from flux2prompt._layout import GRID, read_layout_prompt
from flux2prompt.emulator._config import ImageFormat

__all__ = ["render_base64", "render_image"]

_RGB = tuple[int, int, int]
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_CACHE_SIZE = 64
_PLAIN_WORDS = 14

# FreeType faces are not documented as thread-safe, and rendering is CPU-bound under the GIL
# anyway, so one lock costs nothing and also stops concurrent misses from rendering twice.
_lock = threading.Lock()


def render_image(
    prompt: str, seed: int, width: int, height: int, image_format: ImageFormat
) -> bytes:
    """Return the encoded placeholder image for these inputs (cached, deterministic)."""
    with _lock:
        return _render_cached(prompt, seed, width, height, image_format)


def render_base64(
    prompt: str, seed: int, width: int, height: int, image_format: ImageFormat
) -> str:
    """Return :func:`render_image` encoded as base64 text, as it travels in the JSON envelope."""
    with _lock:
        return _base64_cached(prompt, seed, width, height, image_format)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _base64_cached(
    prompt: str, seed: int, width: int, height: int, image_format: ImageFormat
) -> str:
    data = _render_cached(prompt, seed, width, height, image_format)
    return base64.b64encode(data).decode("ascii")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _render_cached(
    prompt: str, seed: int, width: int, height: int, image_format: ImageFormat
) -> bytes:
    image = Image.new("RGB", (width, height), _background(prompt, seed))
    overlay = _overlay(prompt, width, height)
    image.paste(overlay, mask=overlay)
    draw = ImageDraw.Draw(image)
    small = _font(max(10, height // 48))
    footer = f"seed {seed} | {width}x{height} | flux2prompt emulator"
    _label(draw, (width - 8, height - 8), footer, small, anchor="rb")
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.save(buffer, "JPEG", quality=85)
    elif image_format == "png":
        # Level 1: flat colours compress well anyway, and speed matters more than bytes here.
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "WEBP", quality=80, method=0)
    return buffer.getvalue()


# Drawing text costs more than encoding, and requests without a seed each get a new one, so the
# seed-independent part (stripes and labels, on transparency) is cached on its own. Few entries:
# a 1920x1920 RGBA overlay weighs 15 MB.
@functools.lru_cache(maxsize=4)
def _overlay(prompt: str, width: int, height: int) -> Image.Image:
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    document = _json_object(prompt)
    layout = read_layout_prompt(prompt) if document is None else None
    if document is not None:
        _draw_document(draw, document, width, height)
    elif layout is not None:
        _draw_layout(draw, *layout, width, height)
    else:
        _draw_plain(draw, prompt, width, height)
    return overlay


def _background(prompt: str, seed: int) -> _RGB:
    digest = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    # Squeezed into the mid tones, so that both the stripes and the labels stay visible.
    return (48 + digest[0] * 160 // 255, 48 + digest[1] * 160 // 255, 48 + digest[2] * 160 // 255)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> _Font:
    return ImageFont.load_default(size=size)


def _json_object(prompt: str) -> dict[str, Any] | None:
    if not prompt.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(prompt)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _parse_hex(value: object) -> _RGB | None:
    if isinstance(value, dict):
        value = value.get("hex", value.get("color"))
    if not isinstance(value, str):
        return None
    match = _HEX.fullmatch(value.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _palette(document: dict[str, Any]) -> list[_RGB]:
    colours = [_parse_hex(entry) for entry in _as_list(document.get("color_palette"))]
    for subject in _as_list(document.get("subjects")):
        if isinstance(subject, dict):
            for key in ("colors", "color_palette"):
                colours += [_parse_hex(entry) for entry in _as_list(subject.get(key))]
    return [colour for colour in colours if colour is not None]


def _subject_labels(document: dict[str, Any]) -> Iterator[str]:
    for subject in _as_list(document.get("subjects")):
        if isinstance(subject, dict):
            label = _scalar_text(subject.get("type")) or _scalar_text(subject.get("description"))
        else:
            label = _scalar_text(subject)
        if label:
            yield label


def _text_contents(document: dict[str, Any]) -> Iterator[str]:
    value = document.get("text")
    for entry in value if isinstance(value, list) else [value]:
        content = _scalar_text(entry.get("content")) if isinstance(entry, dict) else None
        content = content or _scalar_text(entry)
        if content:
            yield content


def _fit(text: str, font: _Font, max_width: float) -> str:
    text = " ".join(text.split())
    if font.getlength(text) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that still fits with the ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "...") <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."


def _wrap(text: str, font: _Font, max_width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [_fit(line, font, max_width) for line in lines]


def _label(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: _Font,
    anchor: str = "mm",
) -> None:
    # A dark box behind light text reads on any stripe colour, which matters for screenshots.
    left, top, right, bottom = draw.textbbox(xy, text, font=font, anchor=anchor)
    pad = 4
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(20, 20, 20, 255))
    draw.text(xy, text, font=font, fill=(245, 245, 245, 255), anchor=anchor)


def _draw_document(
    draw: ImageDraw.ImageDraw, document: dict[str, Any], width: int, height: int
) -> None:
    band_top, band_bottom = height * 18 // 100, height * 88 // 100
    palette = _palette(document)
    for index, colour in enumerate(palette):
        left = index * width // len(palette)
        right = (index + 1) * width // len(palette)
        draw.rectangle((left, band_top, right - 1, band_bottom), fill=colour)

    big = _font(max(12, height // 22))
    medium = _font(max(11, height // 30))
    margin = width * 4 // 100
    scene = _scalar_text(document.get("scene"))
    if scene:
        lines = _wrap(scene, big, width - 2 * margin, max_lines=2)
        line_height = (band_top - 8) / max(1, len(lines))
        for row, line in enumerate(lines):
            _label(draw, (width / 2, 4 + line_height * (row + 0.5)), line, big)

    labels = list(_subject_labels(document))[:8]
    for index, label in enumerate(labels):
        column_width = width / len(labels)
        x = column_width * (index + 0.5)
        y = band_top + (band_bottom - band_top) * (0.3 if index % 2 == 0 else 0.42)
        _label(draw, (x, y), _fit(label, medium, column_width - 12), medium)

    texts = list(_text_contents(document))[:4]
    for index, content in enumerate(texts):
        y = band_top + (band_bottom - band_top) * (0.62 + 0.1 * index)
        _label(draw, (width / 2, y), _fit(f'"{content}"', medium, width - 2 * margin), medium)


# Saturated outline colours, handed out in table order: up to eight boxes never share one.
_BOX_COLOURS: tuple[_RGB, ...] = (
    (255, 59, 48),
    (255, 204, 0),
    (52, 199, 89),
    (0, 122, 255),
    (175, 82, 222),
    (255, 149, 0),
    (90, 200, 250),
    (255, 45, 85),
)


def _draw_layout(
    draw: ImageDraw.ImageDraw,
    caption: str,
    rows: list[tuple[str, list[int], str]],
    width: int,
    height: int,
) -> None:
    small = _font(max(10, height // 40))
    line = max(3, min(width, height) // 120)
    for index, (element_id, (top, left, bottom, right), _desc) in enumerate(rows):
        # Clipped to the grid: a box written out of range is still shown where it points.
        top, bottom = (min(GRID, max(0, v)) * height // GRID for v in (top, bottom))
        left, right = (min(GRID, max(0, v)) * width // GRID for v in (left, right))
        colour = _BOX_COLOURS[index % len(_BOX_COLOURS)]
        draw.rectangle(
            (left, top, max(left, right - 1), max(top, bottom - 1)),
            fill=(*colour, 56),
            outline=(*colour, 255),
            width=line,
        )
        _label(draw, (left + line + 6, top + line + 6), element_id, small, anchor="lt")
    big = _font(max(12, height // 30))
    step = big.size * 1.4 if isinstance(big, ImageFont.FreeTypeFont) else 16
    for row, text in enumerate(_wrap(caption, big, width * 0.9, max_lines=2)):
        _label(draw, (width / 2, 8 + row * step), text, big, anchor="mt")


def _draw_plain(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> None:
    words = prompt.split()
    text = " ".join(words[:_PLAIN_WORDS]) + (" ..." if len(words) > _PLAIN_WORDS else "")
    font = _font(max(12, height // 18))
    lines = _wrap(text, font, width * 0.9, max_lines=3)
    line_height = font.size * 1.5 if isinstance(font, ImageFont.FreeTypeFont) else 16
    first = height / 2 - line_height * (len(lines) - 1) / 2
    for row, line in enumerate(lines):
        _label(draw, (width / 2, first + row * line_height), line, font)
