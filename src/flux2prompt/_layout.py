"""Layout: elements placed by boxes, for FLUX 3 Image, and their FLUX.2 position prose.

FLUX 3 Image places elements by bounding boxes written into the prompt itself: a caption (one
paragraph describing the whole image) that cites each element by an id in angle brackets
(``<mug_1>``), followed by an element table with one row per id: its box and its description.
A box is ``[top, left, bottom, right]``, integers from 0 to 1000 measured from the top-left
corner whatever the image's size or aspect ratio, so ``[0, 0, 500, 500]`` is the top-left quarter.

This module is pure (no I/O). It holds:

- :class:`Box` and its constructors (pixels, normalised x/y/width/height, named grid regions);
- :class:`LayoutElement` (a validated id, a description or a text element, a box, colours, an
  optional depth order) and :class:`Layout` (a caption and its elements, checked both ways);
- :func:`element_table`, the **one** serialiser of the element table (see its docstring for what
  is and is not confirmed about the exact text);
- :class:`Flux3Prompt`, what the ``flux3`` target compiles to, and the degradation of a layout to
  FLUX.2 subjects with position prose;
- :func:`layout_findings`, the geometric lint rules (``F2P5xx``) that :func:`flux2prompt.lint`
  reports.

Example:
    >>> box = Box.region("left third")
    >>> box.as_list()
    [0, 0, 1000, 333]
    >>> position_phrase(Box(top=0, left=0, bottom=333, right=333))
    'in the upper-left third'
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeAlias

from pydantic_core import to_json

from flux2prompt._digest import sha256_fingerprint
from flux2prompt._errors import PromptError
from flux2prompt._model import Position, TextElement
from flux2prompt._text import language_name

__all__ = [
    "GRID",
    "MIN_SIDE",
    "Box",
    "Flux3Prompt",
    "Layout",
    "LayoutElement",
    "citations",
    "element_table",
    "flux2_paths",
    "layout_findings",
    "position_phrase",
    "read_layout_prompt",
    "uncited",
]

#: The side of FLUX 3's grid: boxes are integers from 0 to ``GRID``.
GRID = 1000
#: The shortest side (in grid units) below which an element is too small to draw reliably:
#: 20 units is 2% of the image, about 20 pixels at one megapixel.
MIN_SIDE = 20

# A lowercase name (words joined by underscores, no digits) plus a number: ``mug_1``,
# ``coffee_mug_2``. FLUX 3's published examples all have this shape (``<silhouette_1>``).
_ID = re.compile(r"[a-z]+(?:_[a-z]+)*_[0-9]+")
# Anything between angle brackets in a caption is meant as a citation, valid id or not.
_CITATION = re.compile(r"<([^<>\s]*)>")
# Two line breaks (a newline or U+2028 LINE SEPARATOR) with only blanks between them, or a
# U+2029 PARAGRAPH SEPARATOR: the end of a paragraph.
_BLANK_LINE = re.compile("[\n\u2028][^\\S\n\u2028\u2029]*[\n\u2028]|\u2029")

Found: TypeAlias = tuple[str, tuple[str | int, ...], str, str]  # code, path parts, message, fix


def _quote(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters: a value can be megabytes.

    >>> _quote("mug"), _quote("x" * 100)[-6:], _quote(10**100)[-5:], _quote(-(10**5000))
    ("'mug'", "xx...'", '00...', 'a negative integer of 5001 digits')
    """
    if isinstance(value, str) and len(value) > limit:
        return repr(_cut(value, limit))
    try:
        shown = repr(value)
    except ValueError:  # an int past Python's limit on turning one into text (4300 digits)
        if not isinstance(value, int):
            raise
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of {_digit_count(value)} digits"
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _digit_count(value: int) -> int:
    """How many decimal digits ``abs(value)`` has, without turning it into text.

    >>> _digit_count(10**5000), _digit_count(-999)
    (5001, 3)
    """
    magnitude = abs(value)
    estimate = max(1, int(magnitude.bit_length() * math.log10(2)))
    while 10**estimate <= magnitude:
        estimate += 1
    while estimate > 1 and 10 ** (estimate - 1) > magnitude:
        estimate -= 1
    return estimate


def _cut(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, ``...`` marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _grid_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PromptError(
            f"{where}: expected an integer from 0 to {GRID}, got {_quote(value)}; "
            "round a fraction of the image with Box.from_normalized(...)"
        )
    if not 0 <= value <= GRID:
        pixels = (
            "; if these are pixels, use Box.from_pixels(..., image_width=, image_height=)"
            if value > GRID
            else ""
        )
        raise PromptError(f"{where}: {_quote(value)} is outside the grid 0-{GRID}{pixels}")
    return value


def _check_image_size(where: str, **sizes: object) -> None:
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise PromptError(f"{where}({name}=...): expected pixels > 0, got {_quote(size)}")


@dataclass(frozen=True, slots=True)
class Box:
    """Where an element sits: ``top``, ``left``, ``bottom``, ``right`` on FLUX 3's 0-1000 grid.

    Integers only, ``top < bottom`` and ``left < right``; measured from the top-left corner, the
    same for every image size and aspect ratio. Construction refuses anything else, naming the
    argument.

    >>> Box(top=0, left=0, bottom=500, right=500).as_list()
    [0, 0, 500, 500]
    >>> Box(top=600, left=0, bottom=400, right=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flux2prompt.PromptError: Box(top=600, bottom=400): top must be above bottom ...; swap them
    """

    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self) -> None:
        for name in ("top", "left", "bottom", "right"):
            _grid_int(getattr(self, name), f"Box({name}=...)")
        if self.top >= self.bottom:
            raise PromptError(
                f"Box(top={self.top}, bottom={self.bottom}): top must be above bottom "
                "(top < bottom); swap them"
                if self.top > self.bottom
                else f"Box(top={self.top}, bottom={self.bottom}): the box has no height"
            )
        if self.left >= self.right:
            raise PromptError(
                f"Box(left={self.left}, right={self.right}): left must be before right "
                "(left < right); swap them"
                if self.left > self.right
                else f"Box(left={self.left}, right={self.right}): the box has no width"
            )

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def coerce(cls, value: Box | str | Sequence[int], *, where: str = "box") -> Box:
        """A :class:`Box` from a box, a region name or ``[top, left, bottom, right]``.

        >>> Box.coerce([100, 200, 300, 400]).left, Box.coerce("top half").bottom
        (200, 500)
        """
        if isinstance(value, Box):
            return value
        if isinstance(value, str):
            try:
                return cls.region(value)
            except PromptError as error:
                raise PromptError(f"{where}: {error}") from None
        try:
            if isinstance(value, list | tuple) and len(value) == 4:
                return cls(top=value[0], left=value[1], bottom=value[2], right=value[3])
        except PromptError as error:
            # Which element's box: a layout built from data has many.
            raise PromptError(f"{where}: {error}") from None
        raise PromptError(
            f"{where}: expected a Box, a region name such as 'left third', or "
            f"[top, left, bottom, right] on the 0-{GRID} grid, got {_quote(value)}"
        )

    @classmethod
    def from_pixels(
        cls,
        *,
        left: float,
        top: float,
        right: float,
        bottom: float,
        image_width: int,
        image_height: int,
    ) -> Box:
        """A box from pixel edges (a detector's ``x_min, y_min, x_max, y_max``) in an image of
        ``image_width`` x ``image_height`` pixels, rounded to the nearest grid unit.

        >>> Box.from_pixels(left=0, top=0, right=960, bottom=540, image_width=1920,
        ...                 image_height=1080).as_list()
        [0, 0, 500, 500]
        """
        _check_image_size("Box.from_pixels", image_width=image_width, image_height=image_height)
        edges = {"left": left, "top": top, "right": right, "bottom": bottom}
        grid: dict[str, int] = {}
        for name, value in edges.items():
            size = image_width if name in ("left", "right") else image_height
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PromptError(
                    f"Box.from_pixels({name}=...): expected pixels, got {_quote(value)}"
                )
            # isfinite() on floats only: an int too large for a float would raise OverflowError.
            if not 0 <= value <= size or (isinstance(value, float) and not math.isfinite(value)):
                axis = "image_width" if size is image_width else "image_height"
                raise PromptError(
                    f"Box.from_pixels({name}=...): {_quote(value)} is outside the image "
                    f"(0-{_quote(size)}, its {axis}); clip the detection to the image first"
                )
            try:
                grid[name] = round(value * GRID / size)
            except OverflowError:  # an image too large for a float: exactly, then
                grid[name] = round(Fraction(value) * GRID / size)
        return cls._rounded(grid, "Box.from_pixels()")

    @classmethod
    def from_normalized(cls, *, x: float, y: float, width: float, height: float) -> Box:
        """A box from fractions of the image: ``x``, ``y`` (its top-left corner) and ``width``,
        ``height``, each from 0 to 1, rounded to the nearest grid unit.

        >>> Box.from_normalized(x=0.25, y=0.5, width=0.5, height=0.5).as_list()
        [500, 250, 1000, 750]
        """
        values = {"x": x, "y": y, "width": width, "height": height}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PromptError(
                    f"Box.from_normalized({name}=...): expected 0-1, got {_quote(value)}"
                )
            if not 0 <= value <= 1 or not math.isfinite(value):
                raise PromptError(
                    f"Box.from_normalized({name}=...): {_quote(value)} is not a fraction from 0 "
                    "to 1"
                )
        # A small tolerance: 0.7 + 0.3 is 1.0000000000000002 in binary floating point.
        for start, size, axis in (("x", "width", "image width"), ("y", "height", "image height")):
            if values[start] + values[size] > 1 + 1e-9:
                raise PromptError(
                    f"Box.from_normalized({start}=..., {size}=...): {values[start]!r} + "
                    f"{values[size]!r} goes past the {axis} (more than 1)"
                )
        grid = {
            "left": round(x * GRID),
            "top": round(y * GRID),
            "right": min(GRID, round((x + width) * GRID)),
            "bottom": min(GRID, round((y + height) * GRID)),
        }
        return cls._rounded(grid, "Box.from_normalized()")

    @classmethod
    def _rounded(cls, grid: Mapping[str, int], where: str) -> Box:
        if grid["top"] >= grid["bottom"] or grid["left"] >= grid["right"]:
            raise PromptError(
                f"{where}: the box rounds to [{grid['top']}, {grid['left']}, {grid['bottom']}, "
                f"{grid['right']}] on the 0-{GRID} grid, which is empty or inverted; "
                "an element needs at least one grid unit each way, and top/left before "
                "bottom/right"
            )
        return cls(top=grid["top"], left=grid["left"], bottom=grid["bottom"], right=grid["right"])

    @classmethod
    def region(cls, name: str) -> Box:
        """A named region of the grid: halves, thirds, quadrants or the centre.

        Halves: ``"left half"``, ``"right half"``, ``"top half"``, ``"bottom half"``. Thirds:
        ``"left third"``, ``"centre third"``, ``"right third"`` (columns) and ``"top third"``,
        ``"middle third"``, ``"bottom third"`` (bands): *centre* pairs with left and right,
        *middle* with top and bottom. Quadrants: ``"top-left quadrant"`` (or ``"top left"``,
        ``"upper left quarter"``) and the other three. ``"centre"``: the middle half each way.
        Case, ``center``/``centre``, ``upper``/``top``, ``lower``/``bottom`` and hyphens are all
        accepted.

        >>> Box.region("Top-Left Quadrant").as_list()
        [0, 0, 500, 500]
        >>> Box.region("center").as_list()
        [250, 250, 750, 750]
        """
        if not isinstance(name, str):
            raise PromptError(f"Box.region(): expected a region name, got {_quote(name)}")
        key = _region_key(name)
        if key not in _REGIONS:
            close = difflib.get_close_matches(key, list(_REGION_NAMES), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {_region_list()}"
            raise PromptError(f"Box.region(): unknown region {_quote(name)}; {hint}")
        top, left, bottom, right = _REGIONS[key]
        return cls(top=top, left=left, bottom=bottom, right=right)

    # -- views ------------------------------------------------------------------------------
    def as_list(self) -> list[int]:
        """``[top, left, bottom, right]``, the order FLUX 3 reads.

        >>> Box(top=1, left=2, bottom=3, right=4).as_list()
        [1, 2, 3, 4]
        """
        return [self.top, self.left, self.bottom, self.right]

    @property
    def width(self) -> int:
        """The width in grid units.

        >>> Box.region("left half").width
        500
        """
        return self.right - self.left

    @property
    def height(self) -> int:
        """The height in grid units.

        >>> Box.region("top third").height
        333
        """
        return self.bottom - self.top

    def to_normalized(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` as fractions of the image; the inverse of
        :meth:`from_normalized`.

        >>> Box.region("right half").to_normalized()
        (0.5, 0.0, 0.5, 1.0)
        """
        return (self.left / GRID, self.top / GRID, self.width / GRID, self.height / GRID)

    def to_pixels(self, image_width: int, image_height: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` in pixels of an ``image_width`` x ``image_height``
        image, rounded; the inverse of :meth:`from_pixels` up to one grid unit.

        >>> Box.region("top-left quadrant").to_pixels(1920, 1080)
        (0, 0, 960, 540)
        """
        _check_image_size("Box.to_pixels", image_width=image_width, image_height=image_height)
        # Exact (integers, rounded half to even as round() of a float is): any image size.
        return (
            round(Fraction(self.left * image_width, GRID)),
            round(Fraction(self.top * image_height, GRID)),
            round(Fraction(self.right * image_width, GRID)),
            round(Fraction(self.bottom * image_height, GRID)),
        )

    def overlap(self, other: Box) -> int:
        """The area two boxes share, in square grid units (0 when they only touch).

        >>> Box.region("left half").overlap(Box.region("top half"))
        250000
        """
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        width = min(self.right, other.right) - max(self.left, other.left)
        return max(0, height) * max(0, width)


_THIRD, _TWO_THIRDS = round(GRID / 3), round(2 * GRID / 3)
_HALF, _QUARTER, _THREE_QUARTERS = GRID // 2, GRID // 4, 3 * GRID // 4
# name -> (top, left, bottom, right); the first name of each entry is the one shown in hints.
_REGION_TABLE: tuple[tuple[tuple[str, ...], tuple[int, int, int, int]], ...] = (
    (("left half",), (0, 0, GRID, _HALF)),
    (("right half",), (0, _HALF, GRID, GRID)),
    (("top half",), (0, 0, _HALF, GRID)),
    (("bottom half",), (_HALF, 0, GRID, GRID)),
    (("left third",), (0, 0, GRID, _THIRD)),
    (("centre third",), (0, _THIRD, GRID, _TWO_THIRDS)),
    (("right third",), (0, _TWO_THIRDS, GRID, GRID)),
    (("top third",), (0, 0, _THIRD, GRID)),
    (("middle third",), (_THIRD, 0, _TWO_THIRDS, GRID)),
    (("bottom third",), (_TWO_THIRDS, 0, GRID, GRID)),
    (("top left quadrant", "top left", "top left quarter"), (0, 0, _HALF, _HALF)),
    (("top right quadrant", "top right", "top right quarter"), (0, _HALF, _HALF, GRID)),
    (("bottom left quadrant", "bottom left", "bottom left quarter"), (_HALF, 0, GRID, _HALF)),
    (("bottom right quadrant", "bottom right", "bottom right quarter"), (_HALF, _HALF, GRID, GRID)),
    (("centre",), (_QUARTER, _QUARTER, _THREE_QUARTERS, _THREE_QUARTERS)),
)
_REGIONS: dict[str, tuple[int, int, int, int]] = {
    name: box for names, box in _REGION_TABLE for name in names
}
_REGION_NAMES: tuple[str, ...] = tuple(_REGIONS)
_SPELLINGS = {"center": "centre", "upper": "top", "lower": "bottom"}


def _region_key(name: str) -> str:
    words = name.lower().replace("-", " ").split()
    return " ".join(_SPELLINGS.get(word, word) for word in words)


def _region_list() -> str:
    return ", ".join(repr(names[0]) for names, _ in _REGION_TABLE)


# -- position prose for FLUX.2 --------------------------------------------------------------------
def _band(start: int, end: int, names: tuple[str, str, str]) -> str | None:
    """Which third of an axis a span sits in, or ``None`` when it spans more than one third."""
    centre = (start + end) / 2
    if end - start > _TWO_THIRDS:
        return None
    if centre < _THIRD:
        return names[0]
    if centre > _TWO_THIRDS:
        return names[2]
    return names[1]


def position_phrase(box: Box) -> str:
    """Where ``box`` sits, in words: the third of the image its centre falls in each way (an
    axis the box mostly spans, more than two thirds, is left unsaid).

    The FLUX.2 targets have no boxes; this is what a layout degrades to.

    >>> position_phrase(Box.region("right third"))
    'on the right side'
    >>> position_phrase(Box(top=700, left=400, bottom=950, right=600))
    'in the lower-centre third'
    >>> position_phrase(Box(top=0, left=0, bottom=1000, right=1000))
    'filling the frame'
    """
    vertical = _band(box.top, box.bottom, ("upper", "middle", "lower"))
    horizontal = _band(box.left, box.right, ("left", "centre", "right"))
    if vertical is None and horizontal is None:
        return "filling the frame"
    if vertical is None:
        return {"left": "on the left side", "centre": "down the centre"}.get(
            str(horizontal), "on the right side"
        )
    if horizontal is None:
        return {"upper": "across the top", "middle": "across the middle"}.get(
            vertical, "across the bottom"
        )
    if vertical == "middle" and horizontal == "centre":
        return "in the centre"
    return f"in the {vertical}-{horizontal} third"


# -- elements -------------------------------------------------------------------------------------
def _suggest_id(value: str) -> str:
    words = re.findall(r"[a-z]+", value.lower()) or ["element"]
    number = re.findall(r"[0-9]+", value)
    return "_".join(words) + "_" + (number[-1] if number else "1")


def check_id(value: Any, where: str) -> str:
    """``value`` if it is an element id (lowercase name plus number), else a :class:`PromptError`
    with a corrected suggestion.

    >>> check_id("mug_1", "element()")
    'mug_1'
    >>> check_id("Mug", "element()")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flux2prompt.PromptError: element(): 'Mug' is not an element id (...); try 'mug_1'
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        suggestion = _suggest_id(value) if isinstance(value, str) else "element_1"
        raise PromptError(
            f"{where}: {_quote(value)} is not an element id (a lowercase name plus a number, "
            f"such as 'mug_1'); try {_quote(suggestion)}"
        )
    return value


@dataclass(frozen=True, slots=True)
class LayoutElement:
    """One placed element: an ``id`` (``mug_1``), what it looks like (``description``, or a
    ``text`` element whose exact words are drawn), its ``box``, colours bound to it, and
    optionally the id of an element it sits ``behind``, a FLUX.2 ``position`` and a ``pose``.

    Build one with :meth:`flux2prompt.PromptBuilder.element`; it checks every field.

    >>> e = LayoutElement("mug_1", Box.region("centre"), description="a white mug")
    >>> e.desc()
    'a white mug'
    """

    id: str
    box: Box
    description: str | None = None
    text: TextElement | None = None
    colors: tuple[str, ...] = ()
    behind: str | None = None
    position: str | None = None
    pose: str | None = None

    def desc(self, behind_name: str | None = None) -> str:
        """The row's description as FLUX 3 reads it: the description (or the text to draw, in
        quotation marks, with its font, size and colour), the colours bound to it, and what it
        stands behind (``behind_name``, the words for that element, when the layout gives them:
        ``"mug 1"`` where two mugs stand; by default its name, ``"mug"``).

        >>> from flux2prompt import text
        >>> LayoutElement("title_1", Box.region("top third"),
        ...               text=text("SALE", font="bold serif", color="#fff")).desc()
        'the text "SALE" in bold serif lettering, in color #FFFFFF'
        """
        pieces: list[str] = []
        if self.text is not None:
            pieces.append(_text_phrase(self.text))
        if self.description:
            pieces.append(self.description)
        if self.pose:
            pieces.append(self.pose)
        colors = [c for c in self.colors if not (self.text and self.text.color == c)]
        if colors:
            pieces.append("in " + " and ".join(_color(c) for c in colors))
        if self.behind is not None:
            # In words, not <id>: the caption is where each element is cited, once.
            name = behind_name or _name_of(self.behind).replace("_", " ")
            pieces.append(f"behind the {name}")
        return ", ".join(pieces)


def _color(value: str) -> str:
    # BFL: a hex code reads best after the keyword 'color', bound to what it colours.
    return f"color {value}" if value.startswith("#") else value


def _text_phrase(element: TextElement) -> str:
    # Straight quotes delimit the exact words; if the words hold one, curly quotes keep them whole.
    words = element.content
    quoted = f"“{words}”" if '"' in words else f'"{words}"'
    pieces = [f"the text {quoted}"]
    language = language_name(element.language) if element.language else ""
    if language:
        pieces[0] += f" in {language}"
    if element.font:
        pieces[0] += f" in {element.font} lettering"
    if element.size:
        pieces.append(element.size)
    if element.placement:
        pieces.append(element.placement)
    if element.color:
        pieces.append(f"in color {element.color}")
    return ", ".join(pieces)


def citations(caption: str) -> list[str]:
    """Every ``<...>`` citation in ``caption``, in order, repeats included.

    >>> citations("A <mug_1> on a <counter_1>, the <mug_1> steaming")
    ['mug_1', 'counter_1', 'mug_1']
    """
    return _CITATION.findall(caption)


def uncited(caption: str, ids: Iterable[str]) -> list[str]:
    """The ids in ``ids`` that ``caption`` never cites.

    >>> uncited("A <mug_1>", ["mug_1", "lamp_1"])
    ['lamp_1']
    """
    cited = set(citations(caption))
    return [item for item in ids if item not in cited]


@dataclass(frozen=True, slots=True)
class Layout:
    """A caption and its placed elements; :meth:`check` holds the two-way citation rule.

    >>> layout = Layout("A <mug_1> on a table", (LayoutElement("mug_1", Box.region("centre"),
    ...                 description="a white mug"),))
    >>> layout.check().ids
    ('mug_1',)
    """

    caption: str | None
    elements: tuple[LayoutElement, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """The element ids, in the order they were added."""
        return tuple(element.id for element in self.elements)

    def check(self, *, need_caption: bool = False) -> Layout:
        """Raise :class:`PromptError` unless every cited id is defined and every element is
        cited (when there is a caption), and ``behind`` names elements with no loop;
        ``need_caption`` also requires a caption. Returns ``self``.

        >>> Layout("A <mug_2>", (LayoutElement("mug_1", Box.region("centre"),
        ...        description="mug"),)).check()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        flux2prompt.PromptError: caption(): cites <mug_2>, which no element defines ...
        """
        ids = self.ids
        for element in self.elements:
            if element.behind is not None and element.behind not in ids:
                raise PromptError(
                    f"element({element.id!r}, behind=...): {element.behind!r} is not an element "
                    f"(defined: {', '.join(ids)})"
                )
        self.depth_rank()  # refuses a loop in the depth order
        if need_caption and self.caption is not None and _BLANK_LINE.search(self.caption):
            # FLUX 3 reads one paragraph, then the table after a blank line: a blank line in
            # the caption would end the caption early for any reader of the prompt.
            raise PromptError(
                "caption(): a FLUX 3 caption is one paragraph, but this one holds a blank line; "
                "join its paragraphs (a single newline or a space)"
            )
        if self.caption is None:
            if need_caption and ids:
                raise PromptError(
                    "caption(): a FLUX 3 prompt needs a caption citing each element, e.g. "
                    f".caption('A <{ids[0]}> ...'); elements: {', '.join(ids)}"
                )
            return self
        defined = set(ids)
        for cited in citations(self.caption):
            if not _ID.fullmatch(cited):
                raise PromptError(
                    f"caption(): <{_cut(cited)}> is not an element id (a lowercase name plus a "
                    f"number); try <{_cut(_suggest_id(cited))}>"
                )
            if cited not in defined:
                shown = ", ".join(ids) if ids else "none yet"
                raise PromptError(
                    f"caption(): cites <{_cut(cited)}>, which no element defines "
                    f"(defined: {shown}); add .element({_quote(cited)}, ...) or correct the "
                    "citation"
                )
        missing = uncited(self.caption, ids)
        if missing:
            listed = ", ".join(f"<{item}>" for item in missing)
            raise PromptError(
                f"element({missing[0]!r}): defined but the caption never cites it; write "
                f"{listed} in the caption where it appears, or remove the element"
            )
        return self

    def depth_rank(self) -> dict[str, int]:
        """How many elements stand in front of each, following ``behind`` (0: front-most).

        >>> a = LayoutElement("window_1", Box.region("top half"), "w", behind="counter_1")
        >>> b = LayoutElement("counter_1", Box.region("bottom half"), "c")
        >>> Layout(None, (a, b)).depth_rank()
        {'window_1': 1, 'counter_1': 0}
        """
        by_id = {element.id: element for element in self.elements}
        ranks: dict[str, int] = {}
        for element in self.elements:
            seen = [element.id]
            current = element
            while current.behind is not None:
                if current.behind in seen:
                    loop = " behind ".join((*seen, current.behind))
                    raise PromptError(
                        f"element({element.id!r}, behind=...): the depth order loops ({loop}); "
                        "an element cannot stand behind itself"
                    )
                seen.append(current.behind)
                current = by_id[current.behind]
            ranks[element.id] = len(seen) - 1
        return ranks

    def in_front(self, first: str, second: str) -> bool:
        """Whether a depth order between ``first`` and ``second`` is stated (either way)."""
        return _behind_chain(self, first, second) or _behind_chain(self, second, first)

    def spoken(self, element_id: str) -> str:
        """An element in words, as :meth:`words` says it in the caption: its name (``mug``),
        with its number when another element shares the name (``mug 2``).

        >>> a = LayoutElement("mug_1", Box.region("left half"), "a")
        >>> b = LayoutElement("mug_2", Box.region("right half"), "b")
        >>> Layout(None, (a, b)).spoken("mug_2"), Layout(None, (a,)).spoken("mug_1")
        ('mug 2', 'mug')
        """
        name = _name_of(element_id)
        if [_name_of(item) for item in self.ids].count(name) > 1:
            return f"{name.replace('_', ' ')} {element_id.rsplit('_', 1)[1]}"
        return name.replace("_", " ")

    def words(self, caption: str) -> str:
        """``caption`` with each citation replaced by its element's name in words (``<mug_1>``
        -> ``mug``; ``mug 2`` when two elements share a name), for the FLUX.2 scene.

        >>> layout = Layout(None, (LayoutElement("coffee_mug_1", Box.region("centre"), "m"),))
        >>> layout.words("A <coffee_mug_1> on a table")
        'A coffee mug on a table'
        """
        return _CITATION.sub(lambda match: self.spoken(match.group(1)), caption)


def _name_of(element_id: str) -> str:
    return element_id.rsplit("_", 1)[0]


def _behind_chain(layout: Layout, back: str, front: str) -> bool:
    by_id = {element.id: element for element in layout.elements}
    current = by_id.get(back)
    steps = 0
    while current is not None and current.behind is not None and steps <= len(by_id):
        if current.behind == front:
            return True
        current = by_id.get(current.behind)
        steps += 1
    return False


# -- the element table: its one serialiser ---------------------------------------------------------
# What BFL's pages and the stored copies confirm (../shared/reference/bfl-api.md): the table is a
# JSON array written into the prompt after the caption; a row has an id, "bbox" (four integers,
# [top, left, bottom, right], 0-1000) and "desc". Not confirmed byte for byte: the id's key name,
# whether the id is written with its angle brackets, and what separates caption and table. Each
# is one constant below, so a correction is a one-line change.
ROW_KEYS = ("id", "bbox", "desc")
ID_IN_TABLE = "{id}"  # the bare id; "<{id}>" would write it as the caption cites it
TABLE_SEPARATOR = "\n\n"


def element_table(elements: Sequence[LayoutElement]) -> str:
    """The element table: a JSON array, one row per element per line, raw UTF-8.

    >>> e = LayoutElement("mug_1", Box(top=550, left=400, bottom=900, right=600), "a mug")
    >>> print(element_table([e]))
    [
    {"id":"mug_1","bbox":[550,400,900,600],"desc":"a mug"}
    ]
    """
    id_key, box_key, desc_key = ROW_KEYS
    layout = Layout(None, tuple(elements))
    rows = [
        to_json(
            {
                id_key: ID_IN_TABLE.format(id=element.id),
                box_key: element.box.as_list(),
                desc_key: element.desc(
                    None if element.behind is None else layout.spoken(element.behind)
                ),
            }
        ).decode()
        for element in elements
    ]
    return "[\n" + ",\n".join(rows) + "\n]"


@dataclass(frozen=True, slots=True)
class Flux3Prompt:
    """A prompt compiled for FLUX 3 Image: the caption paragraph and the element table, sent
    together as the one ``prompt`` string (:attr:`text`).

    ``moved_colors`` records the palette colours that were written into descriptions (FLUX 3
    does not use palettes): ``(colour, id)`` pairs, ``id`` ``None`` for the caption.

    >>> from flux2prompt import scene
    >>> p = (scene().caption("A <mug_1> on a marble counter")
    ...      .element("mug_1", "a white ceramic mug", "centre").compile_flux3())
    >>> print(p.text)
    A <mug_1> on a marble counter.
    <BLANKLINE>
    [
    {"id":"mug_1","bbox":[250,250,750,750],"desc":"a white ceramic mug"}
    ]
    >>> p.fingerprint[:7]
    'sha256:'
    """

    caption: str
    elements: tuple[LayoutElement, ...]
    moved_colors: tuple[tuple[str, str | None], ...] = ()
    text: str = field(init=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        text = self.caption + TABLE_SEPARATOR + element_table(self.elements)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "fingerprint", sha256_fingerprint(text))

    @property
    def layout(self) -> Layout:
        """The caption's layout: elements and their boxes."""
        return Layout(self.caption, self.elements)

    def to_bytes(self) -> bytes:
        """:attr:`text` as UTF-8: exactly what goes in FLUX 3's ``prompt`` field."""
        return self.text.encode("utf-8")

    def __str__(self) -> str:
        return self.text


# -- lint ----------------------------------------------------------------------------------------
def layout_findings(
    layout: Layout, *, where: Mapping[str, tuple[str | int, ...]]
) -> Iterator[Found]:
    """The geometric advice on ``layout`` as ``(code, path parts, message, fix)``.

    ``where`` maps each id to the path of what it became (a row of the FLUX 3 table, or a FLUX.2
    subject). ``F2P501``: boxes that overlap with no depth order stated; ``F2P502``: a box with a
    side under :data:`MIN_SIDE` grid units.

    >>> a = LayoutElement("cat_1", Box(top=0, left=0, bottom=600, right=600), "a cat")
    >>> b = LayoutElement("dog_1", Box(top=400, left=400, bottom=1000, right=1000), "a dog")
    >>> [f[0] for f in layout_findings(Layout(None, (a, b)), where={})]
    ['F2P501']
    """
    elements = layout.elements
    for i, element in enumerate(elements):
        path = where.get(element.id, ("elements", i))
        for other in elements[i + 1 :]:
            shared = element.box.overlap(other.box)
            if shared and not layout.in_front(element.id, other.id):
                yield (
                    "F2P501",
                    path,
                    f"boxes of {element.id} and {other.id} overlap ({shared} square grid units) "
                    "with no depth order: the model has to guess which one is in front",
                    f"say which stands behind: .element({other.id!r}, ..., "
                    f"behind={element.id!r}) (or the other way round), or move the boxes apart",
                )
        smallest = min(element.box.width, element.box.height)
        if smallest < MIN_SIDE:
            yield (
                "F2P502",
                path,
                f"the box of {element.id} is {element.box.width}x{element.box.height} grid "
                f"units; under {MIN_SIDE} units a side, it is too small to draw reliably",
                f"enlarge it to at least {MIN_SIDE} units each way, or describe the detail "
                "inside a larger element",
            )


def flux2_paths(
    layout: Layout, subject_count: int, text_count: int
) -> dict[str, tuple[str | int, ...]]:
    """Where each element lands in the FLUX.2 document built from ``layout``: its subject (or,
    for a text element, its text entry), given how many of each the document holds. Elements
    come after the builder's own subjects and text, in the order they were added.

    >>> e = LayoutElement("mug_1", Box.region("centre"), "a mug")
    >>> flux2_paths(Layout(None, (e,)), subject_count=2, text_count=0)
    {'mug_1': ('subjects', 1)}
    """
    described = [e.id for e in layout.elements if e.text is None]
    texts = [e.id for e in layout.elements if e.text is not None]
    paths: dict[str, tuple[str | int, ...]] = {}
    for start, part, ids in (
        (subject_count - len(described), "subjects", described),
        (text_count - len(texts), "text", texts),
    ):
        for offset, element_id in enumerate(ids):
            paths[element_id] = (part, start + offset)
    return paths


def default_position(rank: int) -> str:
    """The FLUX.2 ``position`` (Cloudflare's enum) of an element ``rank`` steps behind the front.

    >>> [default_position(n) for n in range(4)]
    ['foreground', 'midground', 'background', 'background']
    """
    return (Position.FOREGROUND, Position.MIDGROUND, Position.BACKGROUND)[min(rank, 2)].value


def read_layout_prompt(text: str) -> tuple[str, list[tuple[str, list[int], str]]] | None:
    """The caption and rows of a FLUX 3 layout prompt written by :func:`element_table`, or
    ``None`` when ``text`` is not one; the inverse of the serialiser, for readers such as the
    emulator (which draws the boxes). Rows are ``(id, [top, left, bottom, right], desc)`` as
    written, not checked against the grid.

    >>> from flux2prompt import scene
    >>> p = scene().caption("A <mug_1>").element("mug_1", "a mug", "centre").compile_flux3()
    >>> read_layout_prompt(p.text)
    ('A <mug_1>.', [('mug_1', [250, 250, 750, 750], 'a mug')])
    >>> read_layout_prompt("a plain prompt") is None
    True
    """
    caption, separator, table = text.rpartition(TABLE_SEPARATOR)
    if not separator or not table.lstrip().startswith("["):
        return None
    try:
        rows = json.loads(table)
    except (ValueError, RecursionError):  # no table of elements this reads
        return None
    if not isinstance(rows, list):
        return None
    id_key, box_key, desc_key = ROW_KEYS
    out: list[tuple[str, list[int], str]] = []
    for row in rows:
        if not isinstance(row, dict):
            return None
        box = row.get(box_key)
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        ):
            return None
        element_id, desc = row.get(id_key), row.get(desc_key)
        out.append((str(element_id), box, desc if isinstance(desc, str) else ""))
    return caption, out
