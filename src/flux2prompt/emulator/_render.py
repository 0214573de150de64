"""Deterministic placeholder images drawn from the prompt, so a test can see what it asked for.

A JSON prompt becomes vertical stripes of its palette with the scene on top, one label per
subject and the text elements below; a FLUX 3 layout prompt (a caption and its element table)
shows the caption on top and each element's box outlined where the table puts it, labelled with
its id, so a gallery shows whether the layout is what the code meant; a plain-text prompt shows
its first words. The background
colour comes from a hash of prompt and seed. Identical inputs give identical bytes, and the last
rendered images are cached so that a benchmark measures the client, not the JPEG encoder.

Text is drawn with an installed font whose character map covers it (:func:`face_for`): Noto Sans
and DejaVu Sans for Latin, Greek and Cyrillic, the Noto font of the text's script otherwise
(Debian's ``fonts-noto-core`` and ``fonts-noto-cjk``), shaped with libraqm where Pillow has it,
so Arabic joins and runs right to left and Devanagari's conjuncts form. Text that no installed
font covers falls back to Pillow's own font, with one logged note per script. The fonts used are
recorded in the image (:data:`FONT_METADATA_KEY`) and returned by :func:`rendered_fonts`,
because the same prompt draws differently on machines with different fonts.

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
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, features

from flux2prompt._layout import GRID, read_layout_prompt
from flux2prompt.emulator._config import ImageFormat

__all__ = [
    "FONTS_HEADER",
    "FONT_METADATA_KEY",
    "PILLOW_DEFAULT_FONT",
    "face_for",
    "render_base64",
    "render_image",
    "rendered_fonts",
]

#: The key of the fonts used, in a PNG's text chunk and as the EXIF ImageDescription of a JPEG
#: or WebP: ``"flux2prompt-fonts=NotoSans-Regular,NotoSansCJK-Regular"``.
FONT_METADATA_KEY = "flux2prompt-fonts"
#: The response header in which the emulator names the fonts of the image it answers with.
FONTS_HEADER = "x-flux2prompt-fonts"
#: The name recorded for Pillow's built-in font, used when no installed font covers the text.
PILLOW_DEFAULT_FONT = "pillow-default"
logger = logging.getLogger("flux2prompt.emulator")

_RGB = tuple[int, int, int]
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_CACHE_SIZE = 64
_PLAIN_WORDS = 14
#: The most element boxes a placeholder draws: a table of thousands (a 10 MiB prompt holds
#: some 200,000 rows) would hold the request for minutes, and could not be read anyway.
MAX_DRAWN_BOXES = 100

# FreeType faces are not documented as thread-safe, and rendering is CPU-bound under the GIL
# anyway, so one lock costs nothing and also stops concurrent misses from rendering twice.
_lock = threading.Lock()


def render_image(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    image_format: ImageFormat,
    references: tuple[bytes, ...] = (),
) -> bytes:
    """Return the encoded placeholder image for these inputs (cached, deterministic).

    ``references`` are the request's input images (encoded files): each is drawn as a
    thumbnail along the bottom edge, so a test can see which references a request carried.
    """
    with _lock:
        return _render_cached(prompt, seed, width, height, image_format, references)


def render_base64(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    image_format: ImageFormat,
    references: tuple[bytes, ...] = (),
) -> str:
    """Return :func:`render_image` encoded as base64 text, as it travels in the JSON envelope."""
    with _lock:
        return _base64_cached(prompt, seed, width, height, image_format, references)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _base64_cached(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    image_format: ImageFormat,
    references: tuple[bytes, ...],
) -> str:
    data = _render_cached(prompt, seed, width, height, image_format, references)
    return base64.b64encode(data).decode("ascii")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _render_cached(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    image_format: ImageFormat,
    references: tuple[bytes, ...],
) -> bytes:
    image = Image.new("RGB", (width, height), _background(prompt, seed))
    overlay, fonts = _overlay(prompt, width, height)
    image.paste(overlay, mask=overlay)
    _draw_references(image, references)
    draw = ImageDraw.Draw(image)
    footer = f"seed {seed} | {width}x{height} | flux2prompt emulator"
    small = _font_for(footer, max(10, height // 48))
    _label(draw, (width - 8, height - 8), footer, small, anchor="rb")
    return _encode(image, image_format, _font_names((*fonts, _font_name(footer))))


# -- reference images ---------------------------------------------------------------------------
_REFERENCE_BORDER = (245, 245, 245)


def _draw_references(image: Image.Image, references: tuple[bytes, ...]) -> None:
    """Each reference as a framed thumbnail along the bottom-left edge, in request order."""
    width, height = image.size
    side = max(16, height * 11 // 100)
    x, y = 8, height - side - 8
    for data in references[:4]:
        try:
            with Image.open(io.BytesIO(data)) as reference:
                reference.draft("RGB", (side, side))
                thumb = reference.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            # The request was accepted without decoding its images; one Pillow cannot read
            # shows as a crossed box, still telling that a reference was sent.
            thumb = Image.new("RGB", (side, side), (90, 90, 90))
            cross = ImageDraw.Draw(thumb)
            cross.line((0, 0, side, side), fill=_REFERENCE_BORDER, width=2)
            cross.line((0, side, side, 0), fill=_REFERENCE_BORDER, width=2)
        thumb.thumbnail((side, side))
        frame = ImageDraw.Draw(image)
        top = y + (side - thumb.height)
        frame.rectangle((x - 2, top - 2, x + thumb.width + 1, y + side + 1), fill=_REFERENCE_BORDER)
        image.paste(thumb, (x, top))
        x += thumb.width + 10
        if x + side > width // 2:
            break  # the footer's label takes the right half


def _encode(image: Image.Image, image_format: ImageFormat, fonts: str) -> bytes:
    # The fonts travel in the file, so that two placeholders of one prompt drawn with different
    # fonts differ in their bytes (and sha256) even where the pixels happen to agree.
    note = f"{FONT_METADATA_KEY}={fonts}"
    buffer = io.BytesIO()
    if image_format == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text(FONT_METADATA_KEY, fonts)
        # Level 1: flat colours compress well anyway, and speed matters more than bytes here.
        image.save(buffer, "PNG", compress_level=1, pnginfo=info)
        return buffer.getvalue()
    exif = Image.Exif()
    exif[0x010E] = note  # ImageDescription
    if image_format == "jpeg":
        image.save(buffer, "JPEG", quality=85, exif=exif.tobytes())
    else:
        image.save(buffer, "WEBP", quality=80, method=0, exif=exif.tobytes())
    return buffer.getvalue()


def rendered_fonts(prompt: str, width: int, height: int) -> tuple[str, ...]:
    """The fonts a placeholder of ``prompt`` is drawn with, as recorded in its metadata.

    >>> rendered_fonts('{"scene": "a lighthouse"}', 320, 256)[0] != ""
    True
    """
    with _lock:
        _, fonts = _overlay(prompt, width, height)
    return tuple(sorted({*fonts, _font_name("seed 0 | flux2prompt emulator")}))


# Drawing text costs more than encoding, and requests without a seed each get a new one, so the
# seed-independent part (stripes and labels, on transparency) is cached on its own. Few entries:
# a 1920x1920 RGBA overlay weighs 15 MB.
@functools.lru_cache(maxsize=4)
def _overlay(prompt: str, width: int, height: int) -> tuple[Image.Image, tuple[str, ...]]:
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    document = _json_object(prompt)
    layout = read_layout_prompt(prompt) if document is None else None
    if document is not None:
        texts = _draw_document(draw, document, width, height)
    elif layout is not None:
        texts = _draw_layout(draw, *layout, width, height)
    else:
        texts = _draw_plain(draw, prompt, width, height)
    _note_uncovered(texts)
    return overlay, tuple(sorted({_font_name(text) for text in texts}))


def _background(prompt: str, seed: int) -> _RGB:
    digest = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    # Squeezed into the mid tones, so that both the stripes and the labels stay visible.
    return (48 + digest[0] * 160 // 255, 48 + digest[1] * 160 // 255, 48 + digest[2] * 160 // 255)


# -- fonts ------------------------------------------------------------------------------------
# Where fonts are looked for: $FLUX2PROMPT_FONT_DIRS first (os.pathsep-separated), then the
# usual places on Linux and macOS. Only regular sans faces are candidates: a placeholder wants
# one plain look, and scanning every weight of every family would cost seconds per process.
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
)
_LATIN_FACES = ("NotoSans-Regular", "DejaVuSans")
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
# Scripts whose Noto font is named after something else than the script itself.
_SCRIPT_FACES = {
    "CJK": "NotoSansCJK",
    "HIRAGANA": "NotoSansCJK",
    "KATAKANA": "NotoSansCJK",
    "HANGUL": "NotoSansCJK",
    "BOPOMOFO": "NotoSansCJK",
    "IDEOGRAPHIC": "NotoSansCJK",
    "FULLWIDTH": "NotoSansCJK",
    "HALFWIDTH": "NotoSansCJK",
}
_noted: set[str] = set()


def _font_dirs() -> list[Path]:
    extra = [d for d in os.environ.get("FLUX2PROMPT_FONT_DIRS", "").split(os.pathsep) if d]
    return [Path(d).expanduser() for d in (*extra, *_SYSTEM_FONT_DIRS)]


@functools.lru_cache(maxsize=1)
def _font_files() -> dict[str, Path]:
    """Regular sans faces found, by file stem; the first directory that has a stem wins."""
    found: dict[str, Path] = {}
    for folder in _font_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            stem = path.stem
            if path.suffix.lower() not in _FONT_SUFFIXES or stem in found:
                continue
            if stem in _LATIN_FACES or (stem.startswith("NotoSans") and stem.endswith("-Regular")):
                found[stem] = path
    return found


@functools.lru_cache(maxsize=64)
def _coverage(path: Path) -> frozenset[int]:
    """The code points the font's character map has a glyph for (empty if unreadable)."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        # Without fontTools no font can be checked, so none is used; say why, once.
        if "fontTools" not in _noted:
            _noted.add("fontTools")
            logger.warning(
                "fontTools is not installed (pip install 'flux2-prompt[emulator]'); "
                "placeholders draw text with Pillow's own font"
            )
        return frozenset()
    try:
        with TTFont(path, fontNumber=0, lazy=True) as face:
            return frozenset(face.getBestCmap() or ())
    except Exception:  # a broken or unsupported font file is simply not a candidate
        return frozenset()


def _script(char: str) -> str:
    """The first word of the character's Unicode name: LATIN, ARABIC, DEVANAGARI, CJK..."""
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]


#: The most characters of one label whose glyphs choose its font: more than a placeholder can
#: show (see _wrap and _fit), so a label of megabytes costs no more than one that fills it.
_MEASURED_CHARS = 4 * 1920


def _needed(text: str) -> set[int]:
    # Spaces and controls need no glyph; marks and letters do.
    return {
        ord(ch)
        for ch in text[:_MEASURED_CHARS]
        if not ch.isspace() and unicodedata.category(ch)[0] != "C"
    }


def _candidates(text: str) -> list[str]:
    """Font stems to try for ``text``: those named after its scripts, then the Latin faces."""
    files = _font_files()
    scripts = {_script(ch) for ch in text[:_MEASURED_CHARS] if ord(ch) > 0x7F and not ch.isspace()}
    named: list[str] = []
    for script in sorted(scripts):
        spelled = "".join(word.title() for word in script.split("-"))
        prefix = _SCRIPT_FACES.get(script, "NotoSans" + spelled)
        named += [stem for stem in files if stem.startswith(prefix) and stem not in named]
    return [*named, *(stem for stem in _LATIN_FACES if stem in files)]


@functools.lru_cache(maxsize=512)
def face_for(text: str) -> Path | None:
    """The installed font file that covers every character of ``text`` (or else the most of
    them); ``None`` when none covers any, and Pillow's own font draws it.

    >>> face_for("") is None or face_for("").suffix in (".ttf", ".otf", ".ttc")
    True
    """
    needed = _needed(text)
    best: tuple[int, Path] | None = None
    for stem in _candidates(text):
        path = _font_files()[stem]
        covered = len(needed & _coverage(path))
        if covered == len(needed):
            return path
        if covered and (best is None or covered > best[0]):
            best = (covered, path)
    return best[1] if best is not None else None


def _uncovered_scripts(text: str) -> set[str]:
    """The scripts of the characters of ``text`` that its font has no glyph for."""
    path = face_for(text)
    # Pillow's own font (Aileron) has ASCII; nothing else can be counted on there.
    covered = _coverage(path) if path is not None else frozenset(range(0x80))
    return {_script(chr(c)) for c in _needed(text) - covered}


def _note_uncovered(texts: Iterable[str]) -> None:
    # One note per render that meets a new script, never one per label or per request.
    missing = sorted(set().union(*map(_uncovered_scripts, texts)) - _noted)
    if missing:
        _noted.update(missing)
        logger.warning(
            "no installed font covers %s text; placeholders draw it as missing-glyph boxes "
            "(install fonts-noto-core and fonts-noto-cjk, or set FLUX2PROMPT_FONT_DIRS)",
            ", ".join(missing),
        )


def _font_name(text: str) -> str:
    path = face_for(text)
    return PILLOW_DEFAULT_FONT if path is None else path.stem


def _font_names(names: Iterable[str]) -> str:
    return ",".join(sorted(set(names)))


@functools.lru_cache(maxsize=64)
def _face(path: Path | None, size: int) -> _Font:
    if path is None:
        return ImageFont.load_default(size=size)
    # libraqm (in Pillow's wheels) shapes: Arabic joins and runs right to left, Indic conjuncts
    # form. Without it Pillow's basic layout still draws every glyph, unshaped.
    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(str(path), size=size, layout_engine=engine)
    except OSError:
        return ImageFont.load_default(size=size)


def _font_for(text: str, size: int) -> _Font:
    """The font to draw ``text`` at ``size`` pixels with."""
    return _face(face_for(text), size)


def _json_object(prompt: str) -> dict[str, Any] | None:
    if not prompt.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(prompt)
    except (ValueError, RecursionError):  # not a JSON prompt: drawn as text
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


#: How much of a text is measured: more than any label's width can show (a glyph is at least
#: a pixel wide, a line at most 1920), so a megabyte-long scene costs no more than a sentence.
_MEASURED_CHARS = 4 * 1920
_MEASURED_WORDS = 1000


def _fit(text: str, font: _Font, max_width: float) -> str:
    text = " ".join(text.split())
    cut = len(text) > _MEASURED_CHARS  # then it cannot show whole: the search adds "..."
    text = text[:_MEASURED_CHARS]
    if not cut and font.getlength(text) <= max_width:
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
    words = text.split()
    if len(words) > _MEASURED_WORDS:  # the rest could never show: the last line ends in "..."
        words = [*words[:_MEASURED_WORDS], "..."]
    for word in words:
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
) -> list[str]:
    """Draw the document's stripes and labels; return the texts drawn (for their fonts)."""
    band_top, band_bottom = height * 18 // 100, height * 88 // 100
    # At most one stripe per column of pixels: more colours than the image is wide would give
    # stripes of no width (which Pillow refuses to draw).
    palette = _palette(document)[:width]
    for index, colour in enumerate(palette):
        left = index * width // len(palette)
        right = (index + 1) * width // len(palette)
        draw.rectangle((left, band_top, right - 1, band_bottom), fill=colour)

    big_size, medium_size = max(12, height // 22), max(11, height // 30)
    margin = width * 4 // 100
    drawn: list[str] = []
    scene = _scalar_text(document.get("scene"))
    if scene:
        big = _font_for(scene, big_size)
        lines = _wrap(scene, big, width - 2 * margin, max_lines=2)
        line_height = (band_top - 8) / max(1, len(lines))
        for row, line in enumerate(lines):
            _label(draw, (width / 2, 4 + line_height * (row + 0.5)), line, big)
        drawn.append(scene)

    labels = list(_subject_labels(document))[:8]
    for index, label in enumerate(labels):
        medium = _font_for(label, medium_size)
        column_width = width / len(labels)
        x = column_width * (index + 0.5)
        y = band_top + (band_bottom - band_top) * (0.3 if index % 2 == 0 else 0.42)
        _label(draw, (x, y), _fit(label, medium, column_width - 12), medium)
        drawn.append(label)

    texts = list(_text_contents(document))[:4]
    for index, content in enumerate(texts):
        quoted = f'"{content}"'  # the quotes need glyphs too: a script's font may lack them
        medium = _font_for(quoted, medium_size)
        y = band_top + (band_bottom - band_top) * (0.62 + 0.1 * index)
        _label(draw, (width / 2, y), _fit(quoted, medium, width - 2 * margin), medium)
        drawn.append(quoted)
    return drawn


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
) -> list[str]:
    """Draw each element's box, tinted and labelled with its id, and the caption on top; return
    the texts drawn (for their fonts)."""
    small_size = max(10, height // 40)
    line = max(3, min(width, height) // 120)
    drawn: list[str] = []
    for index, (element_id, (top, left, bottom, right), _desc) in enumerate(rows[:MAX_DRAWN_BOXES]):
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
        small = _font_for(element_id, small_size)
        _label(draw, (left + line + 6, top + line + 6), element_id, small, anchor="lt")
        drawn.append(element_id)
    if len(rows) > MAX_DRAWN_BOXES:
        more = f"+{len(rows) - MAX_DRAWN_BOXES} more elements"
        _label(draw, (width - 8, height - 8), more, _font_for(more, small_size), anchor="rb")
        drawn.append(more)
    big = _font_for(caption, max(12, height // 30))
    step = big.size * 1.4 if isinstance(big, ImageFont.FreeTypeFont) else 16
    for row, text in enumerate(_wrap(caption, big, width * 0.9, max_lines=2)):
        _label(draw, (width / 2, 8 + row * step), text, big, anchor="mt")
    drawn.append(caption)
    return drawn


def _draw_plain(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> list[str]:
    words = prompt.split()
    text = " ".join(words[:_PLAIN_WORDS]) + (" ..." if len(words) > _PLAIN_WORDS else "")
    font = _font_for(text, max(12, height // 18))
    lines = _wrap(text, font, width * 0.9, max_lines=3)
    line_height = font.size * 1.5 if isinstance(font, ImageFont.FreeTypeFont) else 16
    first = height / 2 - line_height * (len(lines) - 1) / 2
    for row, line in enumerate(lines):
        _label(draw, (width / 2, first + row * line_height), line, font)
    return [text]
