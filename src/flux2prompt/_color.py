"""Colours: hex parsing and normalising, CSS names, palettes, harmonies and contrast.

FLUX.2 follows hex codes best when they are exact and bound to an object, so every hex code is
normalised to upper-case ``#RRGGBB``. Palettes also accept CSS colour names, descriptive phrases
("matte black ceramic") and RGB tuples.

Example:
    >>> normalize_hex("#abc")
    '#AABBCC'
    >>> color_value((255, 87, 51))
    '#FF5733'
    >>> harmony("#FF5733", "complementary")
    ('#FF5733', '#20AAC3')
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypeAlias

from flux2prompt._errors import PromptError
from flux2prompt._text import clean_text, quoted

__all__ = [
    "ColorInput",
    "HarmonyKind",
    "color_phrase",
    "color_value",
    "contrast_ratio",
    "css_name_to_hex",
    "harmony",
    "is_hex",
    "normalize_hex",
]

ColorInput: TypeAlias = str | tuple[int, int, int]
HarmonyKind: TypeAlias = Literal["complementary", "analogous", "triadic", "split-complementary"]

# Used with fullmatch: a pattern's "$" would also accept a trailing newline ("#ABC\n").
_HEX = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_NORMAL_HEX = re.compile(r"#[0-9A-F]{6}")
_HEX_ALPHA = re.compile(r"#(?:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})")


def is_hex(value: str) -> bool:
    """True when ``value`` is ``#RGB`` or ``#RRGGBB``.

    >>> is_hex("#FFF"), is_hex("#FFFF")
    (True, False)
    """
    return _HEX.fullmatch(value) is not None


def normalize_hex(value: str, *, where: str | None = "colour") -> str:
    """Return ``value`` as upper-case ``#RRGGBB``, or raise :class:`PromptError` naming ``where``.

    >>> normalize_hex("#1a2b3c")
    '#1A2B3C'
    >>> try:
    ...     normalize_hex("#12345G", where="palette() colour 2")
    ... except PromptError as exc:
    ...     print(exc)
    palette() colour 2: '#12345G' is not a hex colour; write #RGB or #RRGGBB with digits 0-9 and A-F
    """
    if isinstance(value, str):
        if _NORMAL_HEX.fullmatch(value):
            return value  # already normal: the usual case when the model re-checks a code
        if _HEX.fullmatch(value):
            digits = value[1:].upper()
            if len(digits) == 3:
                digits = digits[0] * 2 + digits[1] * 2 + digits[2] * 2
            return "#" + digits
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise PromptError(f"{prefix}expected a hex code such as '#FF5733', got {quoted(value)}")
    if _HEX_ALPHA.fullmatch(value):
        raise PromptError(
            f"{prefix}{quoted(value)} has an alpha channel; FLUX.2 reads colours, not "
            "transparency. "
            f"Use #RRGGBB (for example {value[:7] if len(value) == 9 else value[:4]!r}) and "
            "describe transparency in words ('translucent', 'frosted glass')"
        )
    raise PromptError(
        f"{prefix}{quoted(value)} is not a hex colour; write #RGB or #RRGGBB with digits 0-9 "
        "and A-F"
    )


def css_name_to_hex(name: str) -> str | None:
    """The hex code of a CSS colour name (CSS Color Level 4), or ``None`` for anything else.

    >>> css_name_to_hex("Dark Orange")
    '#FF8C00'
    >>> css_name_to_hex("neon yellow")
    """
    import webcolors

    key = name.strip().lower().replace(" ", "")
    if key == "rebeccapurple":  # the one name Level 4 added to webcolors' CSS3 list
        return "#663399"
    try:
        return str(webcolors.name_to_hex(key)).upper()
    except ValueError:
        return None


def color_value(value: object, *, where: str = "colour", resolve_names: bool = False) -> str:
    """Coerce one palette entry to its wire form.

    Hex is normalised; an RGB tuple becomes hex; a CSS name stays a name unless
    ``resolve_names`` is true; any other phrase ("matte black ceramic") is kept as text.

    >>> color_value("coral", resolve_names=True)
    '#FF7F50'
    >>> color_value("matte black ceramic")
    'matte black ceramic'
    """
    if type(value) is str and value[:1] == "#" and _HEX.fullmatch(value):
        return normalize_hex(value)  # a hex code as it is usually written: clean ASCII already
    if isinstance(value, tuple | list) and len(value) == 3 and not isinstance(value[0], str):
        if _is_rgb(value):
            return "#{:02X}{:02X}{:02X}".format(*value)
        raise PromptError(
            f"{where}: RGB tuple {quoted(value)} needs three whole numbers from 0 to 255"
        )
    if not isinstance(value, str):
        raise PromptError(
            f"{where}: expected a hex code, a colour name or an (r, g, b) tuple, "
            f"got {quoted(value)}"
        )
    text = clean_text(value, where=where).strip()
    if not text:
        raise PromptError(f"{where}: a colour cannot be empty")
    if text.startswith("#"):
        return normalize_hex(text, where=where)
    if resolve_names:
        resolved = css_name_to_hex(text)
        if resolved is not None:
            return resolved
    return text


def _hex_of(value: ColorInput, where: str) -> str:
    """A hex code, a CSS colour name or an RGB tuple, as ``#RRGGBB``; phrases are an error."""
    code = color_value(value, where=where, resolve_names=True)
    if not code.startswith("#"):
        raise PromptError(
            f"{where}: {quoted(value)} is not a hex code, CSS colour name or RGB tuple"
        )
    return code


def _is_rgb(value: object) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    )


def _rgb(code: str) -> tuple[float, float, float]:
    """Channels of a normalised ``#RRGGBB`` code, from 0.0 to 1.0."""
    return int(code[1:3], 16) / 255, int(code[3:5], 16) / 255, int(code[5:7], 16) / 255


def _linear(channel: float) -> float:
    if channel <= 0.04045:
        return channel / 12.92
    return math.pow((channel + 0.055) / 1.055, 2.4)


def _gamma(channel: float) -> float:
    if channel <= 0.0031308:
        return 12.92 * channel
    return 1.055 * math.pow(channel, 1 / 2.4) - 0.055


def contrast_ratio(first: ColorInput, second: ColorInput) -> float:
    """WCAG 2 contrast ratio of two colours (hex, CSS names or RGB tuples), from 1.0 to 21.0.

    3:1 is the WCAG minimum for large text, 4.5:1 for body text.

    >>> round(contrast_ratio("#000000", "#FFFFFF"), 1)
    21.0
    >>> round(contrast_ratio("white", (119, 119, 119)), 2)
    4.48
    """

    def luminance(code: str) -> float:
        r, g, b = (_linear(c) for c in _rgb(code))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted(
        (luminance(_hex_of(first, "contrast_ratio")), luminance(_hex_of(second, "contrast_ratio"))),
        reverse=True,
    )
    return (light + 0.05) / (dark + 0.05)


def _to_oklch(code: str) -> tuple[float, float, float]:
    r, g, b = (_linear(c) for c in _rgb(code))
    lms = (
        0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b,
        0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b,
        0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b,
    )
    l_, m_, s_ = (math.copysign(abs(v) ** (1 / 3), v) for v in lms)
    lightness = 0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_
    a = 1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_
    b2 = 0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_
    return lightness, math.hypot(a, b2), math.degrees(math.atan2(b2, a)) % 360


def _from_oklab(lightness: float, a: float, b: float) -> tuple[float, float, float]:
    l_ = lightness + 0.3963377774 * a + 0.2158037573 * b
    m_ = lightness - 0.1055613458 * a - 0.0638541728 * b
    s_ = lightness - 0.0894841775 * a - 1.2914855480 * b
    l3, m3, s3 = l_**3, m_**3, s_**3
    return (
        4.0767416621 * l3 - 3.3077115913 * m3 + 0.2309699292 * s3,
        -1.2684380046 * l3 + 2.6097574011 * m3 - 0.3413193965 * s3,
        -0.0041960863 * l3 - 0.7034186147 * m3 + 1.7076147010 * s3,
    )


def _from_oklch(lightness: float, chroma: float, hue: float) -> str:
    # Reduce chroma until the colour fits in sRGB, so the hue and lightness stay as computed.
    rad = math.radians(hue)
    for _ in range(40):
        rgb = _from_oklab(lightness, chroma * math.cos(rad), chroma * math.sin(rad))
        if all(-1e-6 <= c <= 1 + 1e-6 for c in rgb):
            break
        chroma *= 0.95
    channels = (round(min(1.0, max(0.0, _gamma(max(0.0, c)))) * 255) for c in rgb)
    return "#{:02X}{:02X}{:02X}".format(*channels)


_HARMONY_OFFSETS: dict[str, tuple[float, ...]] = {
    "complementary": (180.0,),
    "analogous": (-30.0, 30.0),
    "triadic": (120.0, 240.0),
    "split-complementary": (150.0, 210.0),
}


def harmony(base: ColorInput, kind: HarmonyKind) -> tuple[str, ...]:
    """Colours in harmony with ``base``, computed by rotating hue in OKLCH (a perceptual space).

    The base comes first; lightness and chroma are kept, so the colours feel equally bright.

    >>> harmony("#3366FF", "triadic")
    ('#3366FF', '#DD1929', '#13912D')
    """
    if not isinstance(kind, str) or kind not in _HARMONY_OFFSETS:
        raise PromptError(
            f"harmony: unknown kind {quoted(kind)}; choose one of {', '.join(_HARMONY_OFFSETS)}"
        )
    code = _hex_of(base, "harmony base")
    lightness, chroma, hue = _to_oklch(code)
    turned = (_from_oklch(lightness, chroma, (hue + o) % 360) for o in _HARMONY_OFFSETS[kind])
    return (code, *turned)


def color_phrase(color: ColorInput, subject: str, *, name: str | None = None) -> str:
    """Bind a colour to an object the way BFL recommends.

    >>> color_phrase("#86e04a", "the vase", name="lime green")
    'the vase in color #86E04A (lime green)'
    >>> color_phrase("coral", "the logo text")
    'the logo text in color #FF7F50 (coral)'
    """
    code = _hex_of(color, "color_phrase")
    subject = clean_text(subject, where="color_phrase(subject)").strip()
    if not subject:
        raise PromptError("color_phrase(subject): name the object the colour is bound to")
    if name is not None and name != "":
        name = clean_text(name, where="color_phrase(name)").strip()
    label = name
    if label is None and isinstance(color, str) and not color.strip().startswith("#"):
        label = color.strip()  # a name the code was resolved from; a hex code is not one
    return f"{subject} in color {code}" + (f" ({label})" if label else "")


def palette(
    colors: Sequence[ColorInput] | ColorInput, *, resolve_names: bool = False
) -> tuple[str, ...]:
    """Coerce a sequence of colours to their wire forms (a single colour is a palette of one).

    >>> palette(["#fff", "coral", (0, 0, 0)])
    ('#FFFFFF', 'coral', '#000000')
    >>> palette(["#fff", "coral"], resolve_names=True)
    ('#FFFFFF', '#FF7F50')
    """
    if isinstance(colors, str) or _is_rgb(colors):
        colors = [colors]  # type: ignore[list-item]
    elif not isinstance(colors, Iterable) or isinstance(
        colors, Mapping | set | frozenset | bytes | bytearray | memoryview
    ):
        # A set's order (and so the palette's) changes from one run to the next; bytes would
        # be read as their integer values.
        unordered = isinstance(colors, Mapping | set | frozenset)
        raise PromptError(
            "palette(): expected colours (a list of hex codes, colour names or (r, g, b) "
            f"tuples) or one colour, got {type(colors).__name__} {quoted(colors)}"
            + ("; a set or mapping has no order a palette can keep" if unordered else "")
        )
    return tuple(
        color_value(c, where=f"color_palette[{i}]", resolve_names=resolve_names)
        for i, c in enumerate(colors)
    )
