"""The fluent DSL: immutable builders that compile to validated prompts.

Every method returns a new builder and leaves the one it was called on unchanged, so a base scene
can be shared and varied freely. Loose input (strings, enums, RGB tuples, plain dicts) is coerced
and checked at the method that received it, so an error points at the user's own call. Building
is inert: :meth:`PromptBuilder.compile` is the only step that produces output.

Example:
    >>> from flux2prompt import scene, subject, camera
    >>> mug = subject("matte white ceramic mug", type="product", position="foreground")
    >>> base = scene("a sunlit kitchen counter").subject(mug).camera(angle="eye level")
    >>> night = base.lighting("warm tungsten lamp, night")
    >>> base.compile().lighting is None, night.compile().lighting
    (True, 'warm tungsten lamp, night')
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from flux2prompt._color import _NORMAL_HEX, ColorInput, _is_rgb, color_value
from flux2prompt._compile import dumps_compact, write_document
from flux2prompt._errors import PromptError
from flux2prompt._model import (
    KNOWN_KEYS,
    Camera,
    Prompt,
    Subject,
    TextElement,
    attach_compiled,
    attach_references,
    plain_maker,
    prompt_and_document,
)
from flux2prompt._schema import TOO_LARGE_NUMBER, Profile, float_overflows, json_data
from flux2prompt._text import check_language_tag, clean_text, lazy_pattern, quoted

if TYPE_CHECKING:
    # The layout (FLUX 3 boxes) is imported by the methods that place or read elements: a
    # prompt without a layout, the common case, never loads it.
    from flux2prompt._layout import Box, Flux3Prompt, Layout, LayoutElement
    from flux2prompt._references import Reference, ReferenceSource

__all__ = ["PromptBuilder", "camera", "scene", "subject", "text"]

_N = TypeVar("_N", Subject, Camera, TextElement)
_P = ParamSpec("_P")
_R = TypeVar("_R")

Part = Literal[
    "scene",
    "subjects",
    "style",
    "color_palette",
    "lighting",
    "mood",
    "background",
    "composition",
    "camera",
    "effects",
    "text",
]


# pydantic's error types, said the way a caller of subject(), camera() or text() needs to hear.
_MESSAGES = {
    "string_type": "expected text",
    "int_type": "expected a number",
    "float_type": "expected a number",
    "greater_than": "must be greater than 0",
    "finite_number": "must be a finite number",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "tuple_type": "expected a list",
    "missing": "is required",
}


# A union (an int or a float, say) reports a type error from the members that did not match;
# when another member gave a more specific reason for the same argument, that reason is the one.
_TYPE_ERRORS = frozenset({"string_type", "int_type", "float_type", "tuple_type"})


def _make(cls: type[_N], where: str, values: tuple[Any, ...]) -> _N:
    """Validate ``values`` (every field of ``cls`` in field order, ``None`` for an unset one)
    into ``cls``; on failure, name the call and argument.

    Plain values are checked and made by the part's plain maker; anything else is left to
    pydantic (:func:`_validated`), which decides and words the error.
    """
    made: _N | None = plain_maker(cls)(*values)
    return made if made is not None else _validated(cls, where, values)


def _validated(cls: type[_N], where: str, values: tuple[Any, ...]) -> _N:
    """:func:`_make` through pydantic. One message per argument: ``camera(iso=float("nan"))``
    says ``must be a finite number``, not also ``expected a number``."""
    data = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in zip(cls.model_fields, values, strict=True)
        if v is not None
    }
    try:
        # What cls(**data) runs, minus the Python frame of BaseModel.__init__ around it.
        return cls.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False)
        specific = {
            _located(item["loc"], cls) for item in errors if item["type"] not in _TYPE_ERRORS
        }
        problems: list[str] = []
        for item in errors:
            loc = _located(item["loc"], cls)
            if item["type"] in _TYPE_ERRORS and loc in specific:
                continue
            message = _MESSAGES.get(item["type"], str(item["msg"]).removeprefix("Value error, "))
            if not loc:  # a rule about the whole part, such as "at least one field"
                problem = f"{where}(): {message}"
                if problem not in problems:
                    problems.append(problem)
                continue
            arg = str(loc[0])
            item_no = f" item {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
            shown = quoted(item.get("input"))
            if item["type"] != "missing" and shown not in message:
                message += f", got {shown}"
            problem = f"{where}({arg}=...){item_no}: {message}"
            if problem not in problems:  # a union reports each member; one line is enough
                problems.append(problem)
        raise PromptError("; ".join(problems)) from None


def _located(loc: tuple[int | str, ...], cls: type[BaseModel]) -> tuple[int | str, ...]:
    """The argument and item of a pydantic location, without union-member names."""
    return tuple(p for p in loc if isinstance(p, int) or p in cls.model_fields)


def _suggest_arguments(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn an unknown keyword argument into a :class:`PromptError` with a did-you-mean."""

    @functools.wraps(func)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # Python refuses an unknown keyword before the body runs, so the names are looked at
        # only then: a correct call pays for one try block, not a loop over its arguments.
        try:
            return func(*args, **kwargs)
        except TypeError:
            _refuse_unknown(func, kwargs)
            raise

    return checked


def _refuse_unknown(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """After ``func`` raised a TypeError: a :class:`PromptError` with a did-you-mean for the
    first keyword it does not take (none: the TypeError was another, and stands)."""
    names = [name for name in inspect.signature(func).parameters if name != "description"]
    for name in kwargs:
        if name not in names and name != "description":
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(names)}"
            raise PromptError(f"{func.__name__}(): unknown argument {name!r}; {hint}") from None


def _colors(values: Any, where: str, *, hex_only: bool = False) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str) or (
        isinstance(values, tuple | list)
        and len(values) == 3
        and all(isinstance(c, int) for c in values)  # (r, g, b) or [r, g, b], as palette() reads
    ):
        values = [values]  # one colour given on its own
    elif not isinstance(values, list | tuple):
        _check_color_list(values, where)
    out = tuple(
        [
            v
            if type(v) is str and _NORMAL_HEX.fullmatch(v)
            else color_value(v, where=f"{where}[{i}]")
            for i, v in enumerate(values)
        ]
    )
    if hex_only:
        for i, v in enumerate(out):
            if not v.startswith("#"):
                raise PromptError(
                    f"{where}[{i}]: {quoted(v)} is not a hex code; 'colors' takes hex only"
                )
    return out


def _check_color_list(values: object, where: str) -> None:
    """Refuse, as colours, what is no list of them: a number, bytes (read as their integer
    values), or a set or mapping (whose order, and so the wire and the fingerprint, could
    change from one run to the next). Other iterables (a generator) are read in order."""
    unordered = isinstance(values, set | frozenset | Mapping)
    if (
        unordered
        or isinstance(values, bytes | bytearray | memoryview)
        or not isinstance(values, Iterable)
    ):
        hint = "; a set or mapping has no order the prompt can keep" if unordered else ""
        raise PromptError(
            f"{where}: expected a list of colours (hex codes, colour names or (r, g, b) tuples) "
            f"or one colour, got {type(values).__name__} {quoted(values)}{hint}"
        )


@_suggest_arguments
def subject(
    description: str | None = None,
    *,
    type: str | None = None,
    pose: str | None = None,
    action: str | None = None,
    position: str | None = None,
    color_palette: list[ColorInput] | tuple[ColorInput, ...] | None = None,
    colors: list[ColorInput] | tuple[ColorInput, ...] | None = None,
    color_match: str | None = None,
    detail_preservation: str | None = None,
) -> Subject:
    """Make a reusable :class:`Subject`.

    ``colors`` takes exact hex codes or RGB tuples; ``color_palette`` also takes colour names.

    >>> subject("peregrine falcon, wings spread", type="falcon", colors=["#4a4a4a"]).colors
    ('#4A4A4A',)
    """
    if color_palette is not None:
        color_palette = _colors(color_palette, "subject(color_palette)")
    # Subject's fields, in field order. Hex codes in a list are checked by the plain maker
    # itself; any other colour (one code on its own, an RGB tuple, a name) is read first.
    values = (
        type,
        description,
        pose,
        action,
        position,
        color_palette,
        colors,
        color_match,
        detail_preservation,
    )
    made = plain_maker(Subject)(*values)
    if made is not None:
        return made
    if colors is not None:
        colors = _colors(colors, "subject(colors)", hex_only=True)
        values = (*values[:6], colors, *values[7:])
    return _make(Subject, "subject", values)


@_suggest_arguments
def camera(
    *,
    angle: str | None = None,
    distance: str | None = None,
    focus: str | None = None,
    lens: str | None = None,
    lens_mm: float | None = None,
    f_number: str | float | None = None,
    iso: int | float | None = None,
    depth_of_field: str | None = None,
) -> Camera:
    """Make a reusable :class:`Camera`. A number given as ``f_number`` becomes ``"f/N"``.

    >>> camera(angle="low angle", lens_mm=85, f_number=2.8).to_dict()
    {'angle': 'low angle', 'lens-mm': 85, 'f-number': 'f/2.8'}
    >>> camera(lense="85mm")
    Traceback (most recent call last):
    ...
    flux2prompt.PromptError: camera(): unknown argument 'lense'; did you mean 'lens'?
    """
    if isinstance(f_number, int | float) and not isinstance(f_number, bool):
        f_number = _f_stop(f_number)
    # Camera's fields, in field order.
    values = (angle, distance, focus, lens, lens_mm, f_number, iso, depth_of_field)
    made = plain_maker(Camera)(*values)  # it takes no integer a float may not hold
    if made is not None:
        return made
    for name, number in (("lens_mm", lens_mm), ("iso", iso)):
        if (
            isinstance(number, int)
            and number.bit_length() > 1023
            and number > 0
            and float_overflows(number)
        ):
            raise PromptError(f"camera({name}=...): {TOO_LARGE_NUMBER}")
    return _validated(Camera, "camera", values)


def _f_stop(number: float) -> str:
    """``"f/N"`` for a number given as ``f_number``; it must be a positive, finite f-stop."""
    huge = not isinstance(number, float) and float_overflows(number)
    if huge or not 0 < number < math.inf:  # NaN fails both comparisons
        shown = f"an integer of {_digits(abs(int(number)))} digits" if huge else repr(number)
        raise PromptError(
            "camera(f_number=...): an f-number must be a positive finite number such as 2.8, "
            f"got {shown}"
        )
    return f"f/{number:g}"


@_suggest_arguments
def text(
    content: str,
    *,
    language: str | None = None,
    font: str | None = None,
    size: str | None = None,
    placement: str | None = None,
    color: ColorInput | None = None,
) -> TextElement:
    """Make a :class:`TextElement`: exact words to render, with language, font, size, placement
    and colour.

    >>> text("مرحبا", language="ar", placement="top centre", color=(255, 255, 255)).color
    '#FFFFFF'
    """
    # The plain maker checks the language tag and a hex code itself; anything it leaves gets
    # the checks below, which word their errors for this call, then pydantic.
    made = plain_maker(TextElement)(content, language, font, size, placement, color)
    if made is not None:
        return made
    if isinstance(language, str):
        problem = check_language_tag(language)
        if problem is not None:
            raise PromptError(f"text(language=...): {problem}")
    if color is not None:
        color = _text_color(color)
    # TextElement's fields, in field order.
    return _make(TextElement, "text", (content, language, font, size, placement, color))


# What no file name or URL holds (NUL, which open() refuses with a bare ValueError), or should
# (line breaks, other controls, the bidi controls that disguise a name): refused at the call.
_NOT_IN_A_LOCATION = lazy_pattern("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _check_location(location: str | bytes, where: str) -> None:
    """Refuse a reference's path or URL that holds a control or bidi character."""
    if isinstance(location, bytes):
        found = location.find(b"\x00")
        code = 0
    else:
        match = _NOT_IN_A_LOCATION.search(location)
        found = -1 if match is None else match.start()
        code = 0 if match is None else ord(match.group())
    if found >= 0:
        raise PromptError(
            f"{where}: the path or URL holds U+{code:04X} at index {found}; a file name or URL "
            "cannot hold control or bidi characters, check how it was written"
        )


def _digits(number: int) -> int:
    """How many decimal digits ``number`` (positive) has, without str(), which refuses an
    integer of more than 4,300 digits."""
    digits = int(number.bit_length() * math.log10(2))  # the count, or one less than it
    return digits + 1 if 10**digits <= number else digits


def _text_color(color: ColorInput) -> str:
    # The wire takes hex for text; a CSS name maps to exactly one, so it is resolved here.
    code = color_value(color, where="text(color=...)", resolve_names=True)
    if not code.startswith("#"):
        raise PromptError(
            f"text(color=...): {quoted(color)} is not a hex code, CSS colour name or RGB tuple"
        )
    return code


def _ended(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence if sentence[-1:] in (".", "!", "?", "。") else sentence + "."


def _nothing_given(where: str, part: str) -> PromptError:
    return PromptError(f"{where}: give at least one; to remove the part, use .without({part!r})")


class _UnknownMethodError(PromptError, AttributeError):
    """A misspelt builder method: both the DSL's error and the AttributeError Python expects."""


@dataclasses.dataclass(frozen=True, repr=False)
class PromptBuilder:
    """An immutable, fluent prompt under construction; start one with :func:`scene`.

    >>> b = scene("neon-lit alley in the rain").style("noir sci-fi").mood("tense")
    >>> b.compile().to_json()
    '{"scene":"neon-lit alley in the rain","style":"noir sci-fi","mood":"tense"}'
    """

    _scene: str | None = None
    _subjects: tuple[Subject, ...] | None = None
    _style: str | None = None
    _palette: tuple[str, ...] | None = None
    _lighting: str | None = None
    _mood: str | None = None
    _background: str | None = None
    _composition: str | None = None
    _camera: Camera | None = None
    _effects: tuple[str, ...] | None = None
    _text: tuple[TextElement, ...] | None = None
    _extras: tuple[tuple[str, str], ...] = ()
    _caption: str | None = None
    _elements: tuple[LayoutElement, ...] = ()
    _references: tuple[Reference, ...] = ()

    def _with(self, **changes: Any) -> PromptBuilder:
        # dataclasses.replace() would re-run __init__ through the frozen __setattr__ guard for
        # every field; each value here is already checked, so the new builder gets a copy of
        # this one's state with the changes (a dict copy is cheaper than filling an empty one).
        new = _new_builder(PromptBuilder)
        state = self.__dict__.copy()
        state.update(changes)
        _set_state(new, state)
        return new

    def _set(self, name: str, value: Any) -> PromptBuilder:
        # _with() of one change, the usual step, without the keyword dict around it.
        new = _new_builder(PromptBuilder)
        state = self.__dict__.copy()
        state[name] = value
        _set_state(new, state)
        return new

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: a misspelt method gets a did-you-mean, in the
        # DSL's own error type (still an AttributeError, so hasattr() and getattr() keep working).
        if name.startswith("__"):
            raise AttributeError(name)
        methods = [m for m in dir(type(self)) if not m.startswith("_")]
        close = difflib.get_close_matches(name, methods, n=1)
        hint = f"; did you mean .{close[0]}()?" if close else f"; methods: {', '.join(methods)}"
        raise _UnknownMethodError(f"PromptBuilder has no method {name!r}{hint}")

    # -- text parts -------------------------------------------------------------------------
    def scene(self, description: str) -> PromptBuilder:
        """Replace the scene: the overall setting, which FLUX.2 weighs most."""
        return self._set("_scene", clean_text(description, where="scene()"))

    def style(self, style: str) -> PromptBuilder:
        """Set the style, e.g. ``"photorealistic"``, ``"pixel art"``, ``"wabi-sabi photo"``."""
        return self._set("_style", clean_text(style, where="style()"))

    def lighting(self, lighting: str) -> PromptBuilder:
        """Set the lighting: sources, direction, quality, time of day."""
        return self._set("_lighting", clean_text(lighting, where="lighting()"))

    def mood(self, mood: str) -> PromptBuilder:
        """Set the mood: the emotional tone."""
        return self._set("_mood", clean_text(mood, where="mood()"))

    def background(self, background: str) -> PromptBuilder:
        """Set the background: what is behind the subjects."""
        return self._set("_background", clean_text(background, where="background()"))

    def composition(self, composition: str) -> PromptBuilder:
        """Set the composition; :class:`~flux2prompt.Composition` lists Cloudflare's values."""
        return self._set("_composition", clean_text(composition, where="composition()"))

    # -- structured parts -------------------------------------------------------------------
    def subject(self, description: str | Subject | None = None, **fields: Any) -> PromptBuilder:
        """Append a subject: a :class:`Subject` (fields override its own) or the arguments of
        :func:`subject`.

        >>> scene("desert").subject("a nomad", position="midground").compile().subjects[0].position
        'midground'
        """
        if isinstance(description, Subject) and not fields:
            new = description  # immutable and already valid: share it
        elif isinstance(description, Subject):
            merged = {**description.model_dump(exclude_none=True, by_alias=False), **fields}
            new = subject(**merged)
        else:
            try:  # subject() without its wrapper: this call already holds the keywords
                new = _subject(description, **fields)
            except TypeError:
                _refuse_unknown(_subject, fields)
                raise
        return self._set("_subjects", (*(self._subjects or ()), new))

    def subjects(self, *subjects: Subject) -> PromptBuilder:
        """Replace all subjects at once."""
        for i, item in enumerate(subjects):
            if not isinstance(item, Subject):
                raise PromptError(
                    f"subjects(): argument {i} is {type(item).__name__}, not a Subject; "
                    "make one with flux2prompt.subject(...)"
                )
        if not subjects:
            raise _nothing_given("subjects()", "subjects")
        return self._set("_subjects", tuple(subjects))

    def palette(self, *colors: ColorInput, resolve_names: bool = False) -> PromptBuilder:
        """Set the colour palette: hex codes, CSS names, phrases or RGB tuples.

        >>> b = scene("x").palette("#ff5733", "coral", (0, 0, 0), resolve_names=True)
        >>> b.compile().color_palette
        ('#FF5733', '#FF7F50', '#000000')
        """
        if len(colors) == 1 and isinstance(colors[0], list | tuple) and not _is_rgb(colors[0]):
            only: Any = colors[0]  # a sequence of colours (typed as one colour: an RGB tuple)
            if isinstance(only, list) or not all(isinstance(c, int | float) for c in only):
                # One list (or tuple of colours); [255, 87, 51] is one colour, and so is a
                # tuple of three numbers, which color_value() words as a bad RGB tuple.
                colors = tuple(only)
        if not colors:
            raise _nothing_given("palette()", "color_palette")
        codes = [
            # A code already in #RRGGBB form is what color_value returns for it (its own fast
            # path), without formatting the place an error would name.
            c
            if type(c) is str and _NORMAL_HEX.fullmatch(c)
            else color_value(c, where=f"palette() colour {i}", resolve_names=resolve_names)
            for i, c in enumerate(colors)
        ]
        return self._set("_palette", tuple(codes))

    def camera(self, settings: Camera | None = None, **fields: Any) -> PromptBuilder:
        """Set the camera: a :class:`Camera`, or keyword settings merged into the current one.

        Keywords adjust the given camera, or else the current one; ``None`` removes a setting.

        >>> b = scene("x").camera(angle="low angle").camera(lens="85mm")
        >>> b.compile().camera.to_dict()
        {'angle': 'low angle', 'lens': '85mm'}
        >>> b.camera(angle=None).compile().camera.to_dict()
        {'lens': '85mm'}
        """
        if settings is not None and not isinstance(settings, Camera):
            raise PromptError(
                f"camera(): expected a Camera or keyword settings, got {type(settings).__name__}"
            )
        if settings is not None and not fields:
            return self._set("_camera", settings)
        base = settings if settings is not None else self._camera
        merged = {**(base.model_dump(exclude_none=True, by_alias=False) if base else {}), **fields}
        return self._set("_camera", camera(**merged))

    def effects(self, *effects: str) -> PromptBuilder:
        """Set post effects, e.g. ``"subtle film grain"``, ``"soft bloom"`` (or one list of
        them, as ``palette()`` takes).

        >>> scene("x").effects(["soft bloom", "god rays"]).compile().effects
        ('soft bloom', 'god rays')
        """
        if len(effects) == 1 and isinstance(effects[0], list | tuple):
            effects = tuple(effects[0])
        if not effects:
            raise _nothing_given("effects()", "effects")
        return self._set(
            "_effects",
            tuple([clean_text(e, where=f"effects() item {i}") for i, e in enumerate(effects)]),
        )

    def text(self, content: str | TextElement, **fields: Any) -> PromptBuilder:
        """Append text to render in the image: a :class:`TextElement` or the arguments of
        :func:`text`.

        >>> scene("poster").text("東京", language="ja").compile().to_json()
        '{"scene":"poster","text":[{"content":"東京","language":"ja"}]}'
        """
        if isinstance(content, TextElement) and not fields:
            element = content
        elif isinstance(content, TextElement):
            merged = {**content.model_dump(exclude_none=True, by_alias=False), **fields}
            element = text(**merged)
        else:
            try:  # text() without its wrapper, as in subject() above
                element = _text(content, **fields)
            except TypeError:
                _refuse_unknown(_text, fields)
                raise
        return self._set("_text", (*(self._text or ()), element))

    def extra(self, key: str, value: Any) -> PromptBuilder:
        """Add a custom top-level key, kept after the known keys in the order added.

        >>> scene("infographic").extra("title", "Water cycle").compile().to_json()
        '{"scene":"infographic","title":"Water cycle"}'
        """
        if not isinstance(key, str) or not key:
            raise PromptError(f"extra(): the key must be a non-empty string, got {quoted(key)}")
        key = clean_text(key, where="extra()")
        if key in KNOWN_KEYS:
            method = "palette" if key == "color_palette" else key
            raise PromptError(f"extra(): {key!r} is a known key; use .{method}(...) instead")
        # JSON data only, with the same Unicode hygiene as every other text; tuples become lists.
        data, problems = json_data(value, [key], clean=True)
        if problems:
            raise PromptError(f"extra({key!r}): {problems[0]}")
        encoded = dumps_compact(data)
        kept = tuple(item for item in self._extras if item[0] != key)
        return self._set("_extras", (*kept, (key, encoded)))

    def without(self, *parts: Part | str) -> PromptBuilder:
        """Remove parts (``"camera"``, ``"subjects"``, ``"text"``, an extra key, ...);
        ``"layout"`` removes the caption and every placed element.

        >>> scene("x").mood("calm").without("mood").compile().to_json()
        '{"scene":"x"}'
        """
        changes: dict[str, Any] = {}
        extras = self._extras
        for part in parts:
            if part in KNOWN_KEYS:
                changes["_palette" if part == "color_palette" else f"_{part}"] = None
            elif part == "layout":  # the caption and every placed element
                changes.update(_caption=None, _elements=())
            elif any(key == part for key, _ in extras):
                extras = tuple(item for item in extras if item[0] != part)
            elif not isinstance(part, str):
                raise PromptError(f"without(): a part is named by a string, got {quoted(part)}")
            else:
                close = difflib.get_close_matches(part, KNOWN_KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PromptError(f"without(): unknown part {quoted(part)}{hint}")
        return self._with(**changes, _extras=extras)

    # -- layout (FLUX 3 boxes; position prose on FLUX.2) ---------------------------------------
    def caption(self, caption: str) -> PromptBuilder:
        """Set the caption: one paragraph describing the whole image that cites each element
        where it appears by its id in angle brackets (``<mug_1>``).

        FLUX 3 reads it before the element table; on FLUX.2 it becomes the scene (citations in
        words) unless a scene is set. The citations are checked both ways at compile time.

        >>> b = scene().caption("A <mug_1> on a counter").element("mug_1", "a mug", "centre")
        >>> b.compile().scene
        'A mug on a counter'
        """
        return self._set("_caption", clean_text(caption, where="caption()"))

    def element(
        self,
        id: str,
        description: str | TextElement,
        box: Box | str | list[int] | tuple[int, int, int, int],
        *,
        colors: list[ColorInput] | tuple[ColorInput, ...] | None = None,
        behind: str | None = None,
        position: str | None = None,
        pose: str | None = None,
    ) -> PromptBuilder:
        """Place an element: its ``id`` (a lowercase name plus a number, ``mug_1``), what it
        looks like (a description, or a :func:`text` element whose exact words are drawn) and
        its ``box`` (a :class:`Box`, a region name such as ``"left third"``, or
        ``[top, left, bottom, right]`` on the 0-1000 grid).

        ``colors`` binds colours to the element (FLUX 3 reads them in its description);
        ``behind`` names the element it stands behind (the depth order where boxes overlap);
        ``position`` overrides the FLUX.2 ``position`` derived from that order; ``pose`` (an
        action or stance, which Cloudflare's schema requires of a subject) joins the
        description on FLUX 3 and the subject's ``pose`` on FLUX.2. An id added
        again replaces its element in place, so a derived scene can move one box.

        >>> b = (scene().caption("A <mug_1> before a <window_1>")
        ...      .element("mug_1", "a white mug", [550, 350, 950, 650])
        ...      .element("window_1", "a rainy window", "top half", behind="mug_1"))
        >>> [s.position for s in b.compile().subjects]
        ['foreground', 'midground']
        """
        from flux2prompt._layout import Box, LayoutElement, check_id

        where = f"element({quoted(id)})" if isinstance(id, str) else "element()"
        element_id = check_id(id, "element()")
        if isinstance(description, TextElement):
            described: dict[str, Any] = {"text": description}
        else:
            described = {"description": clean_text(description, where=f"{where} description")}
        if behind is not None:
            behind = check_id(behind, f"{where} behind=...")
            if behind == element_id:
                raise PromptError(f"{where} behind=...: an element cannot stand behind itself")
        if position is not None:
            position = clean_text(position, where=f"{where} position=...")
        if pose is not None:
            pose = clean_text(pose, where=f"{where} pose=...")
        new = LayoutElement(
            element_id,
            Box.coerce(box, where=f"{where} box"),
            colors=_colors(colors, f"{where} colors") or (),
            behind=behind,
            position=position,
            pose=pose,
            **described,
        )
        ids = [item.id for item in self._elements]
        if element_id in ids:
            at = ids.index(element_id)
            elements = (*self._elements[:at], new, *self._elements[at + 1 :])
        else:
            elements = (*self._elements, new)
        return self._set("_elements", elements)

    def layout(self) -> Layout:
        """The caption and elements placed so far (not yet checked).

        >>> scene().element("mug_1", "a mug", "centre").layout().ids
        ('mug_1',)
        """
        from flux2prompt._layout import Layout

        return Layout(self._caption, self._elements)

    def compile_flux3(self) -> Flux3Prompt:
        """Compile for FLUX 3 Image: the caption paragraph and the element table, one string.

        The caption leads; style, lighting, mood, background, composition, camera and effects
        follow it as short sentences. FLUX 3 uses no palettes, so palette colours are written
        into the descriptions they bind to (an element's ``colors``), and any left over into the
        caption; ``lint()`` of the result says so (``F2P503``). Subjects, text and custom keys
        without a box have no place in the table and are refused: give each a box.

        >>> p = (scene().caption("A <lamp_1> in a dark room").palette("#FFB000")
        ...      .element("lamp_1", "a brass desk lamp", "right third", colors=["#FFB000"])
        ...      .compile_flux3())
        >>> p.elements[0].desc(), p.moved_colors
        ('a brass desk lamp, in color #FFB000', (('#FFB000', 'lamp_1'),))
        """
        from flux2prompt._layout import Flux3Prompt

        layout = self.layout().check(need_caption=True)
        for part, value, fix in (
            ("subjects", self._subjects, ".element('name_1', description, box)"),
            ("text", self._text, ".element('title_1', text('...'), box)"),
            ("extras", self._extras, "write them into the caption or a description"),
        ):
            if value:
                raise PromptError(
                    f"compile_flux3(): {part} without a box have no place in a FLUX 3 prompt; "
                    f"place each with {fix}"
                )
        bound = {color: element.id for element in layout.elements for color in element.colors}
        moved = tuple((color, bound.get(color)) for color in self._palette or ())
        loose = [color for color, owner in moved if owner is None]
        assert layout.caption is not None  # check(need_caption=True) made sure
        sentences = [layout.caption]
        for label, said in (
            ("Style", self._style),
            ("Lighting", self._lighting),
            ("Mood", self._mood),
            ("Background", self._background),
            ("Composition", self._composition),
        ):
            if said:
                sentences.append(f"{label}: {said}")
        if self._camera is not None:
            settings = ", ".join(str(v) for v in self._camera.to_dict().values())
            sentences.append(f"Camera: {settings}")
        if self._effects:
            sentences.append("Effects: " + ", ".join(self._effects))
        if loose:
            shown = ", ".join(f"color {c}" if c.startswith("#") else c for c in loose)
            sentences.append(f"Overall colours: {shown}")
        caption = " ".join(_ended(sentence) for sentence in sentences)
        return Flux3Prompt(caption, layout.elements, moved_colors=moved)

    def _degraded(
        self,
    ) -> tuple[str | None, tuple[Subject, ...] | None, tuple[TextElement, ...] | None]:
        """The scene, subjects and text a layout becomes on FLUX.2: each element one subject
        (a text element one text entry), its position in words, ``position`` in Cloudflare's
        enum."""
        if not self._elements:
            return self._scene, self._subjects, self._text
        from flux2prompt._layout import default_position, position_phrase

        layout = self.layout().check()
        ranks = layout.depth_rank()
        words = {e.id: e.id.rsplit("_", 1)[0].replace("_", " ") for e in layout.elements}
        subjects = list(self._subjects or ())
        texts = list(self._text or ())
        for element in layout.elements:
            where = position_phrase(element.box)
            if element.behind is not None:
                where += f", behind the {layout.spoken(element.behind)}"
            if element.text is not None:
                placement = (
                    f"{element.text.placement}, {where}" if element.text.placement else where
                )
                update: dict[str, Any] = {"placement": placement}
                hexes = [c for c in element.colors if c.startswith("#")]
                if element.text.color is None and hexes:
                    update["color"] = hexes[0]  # the text slot holds one colour: the first
                texts.append(element.text.model_copy(update=update))
                continue
            subjects.append(
                Subject(
                    type=words[element.id],
                    description=f"{element.description}, {where}",
                    pose=element.pose,
                    position=element.position or default_position(ranks[element.id]),
                    colors=tuple(c for c in element.colors if c.startswith("#")) or None,
                    color_palette=tuple(c for c in element.colors if not c.startswith("#")) or None,
                )
            )
        scene = self._scene
        if scene is None and layout.caption is not None:
            scene = layout.words(layout.caption)
        return scene, tuple(subjects) or None, tuple(texts) or None

    # -- references (images the text cites by name) ------------------------------------------
    def reference(
        self, name: str, source: ReferenceSource, *, role: str | None = None
    ) -> PromptBuilder:
        """Attach an image by ``name``: image bytes, a path to an image file, or an
        ``https://`` URL (for hosts that fetch images), read when the request is built.

        The prompt's text cites it with :func:`~flux2prompt.ref` (``[ref:NAME]``), and each
        host reads the citation as its own index: ``image 0`` on Workers AI ``@cf/`` models,
        ``image 1`` on Black Forest Labs' API and FLUX 3. References are sent in the order they
        were attached, before a request's own ``images``. ``role`` says what the image is for
        (lint messages and people read it; it is not sent). A name attached again replaces its
        image in place. ``lint()`` says when one is never cited, or a citation names none.

        >>> from flux2prompt import ref
        >>> b = (scene(f"the mug from {ref('mug')}, with the logo from {ref('logo')}")
        ...      .reference("mug", b"<mug.png>", role="the product")
        ...      .reference("logo", "brand/logo.png", role="the brand's logo"))
        >>> [r.name for r in b.references()]
        ['mug', 'logo']
        """
        from flux2prompt._references import Reference, check_reference_name

        where = f"reference({quoted(name)})" if isinstance(name, str) else "reference()"
        checked = check_reference_name(name, where)
        if isinstance(source, bytearray):
            source = bytes(source)
        if isinstance(source, bytes):
            if not source:
                raise PromptError(f"{where}: the image is empty (0 bytes)")
        elif isinstance(source, str):
            if not source.strip():
                raise PromptError(f"{where}: give image bytes, a path or an https:// URL")
            _check_location(source, where)
        elif not isinstance(source, os.PathLike):
            raise PromptError(
                f"{where}: expected image bytes, a path or an https:// URL, got "
                f"{type(source).__name__}"
            )
        else:
            _check_location(os.fspath(source), where)
        if role is not None:
            role = clean_text(role, where=f"{where} role=...")
        new = Reference(checked, source, role)
        names = [item.name for item in self._references]
        if checked in names:
            at = names.index(checked)
            refs = (*self._references[:at], new, *self._references[at + 1 :])
        else:
            refs = (*self._references, new)
        return self._set("_references", refs)

    def references(self) -> tuple[Reference, ...]:
        """The references attached so far, in the order they are sent.

        >>> scene("x").reference("logo", b"...").references()[0].name
        'logo'
        """
        return self._references

    # -- output -----------------------------------------------------------------------------
    def compile(self, *, profile: Profile = "flux2") -> Prompt:
        """Validate under ``profile`` and return the immutable :class:`Prompt`.

        >>> try:
        ...     scene("x").compile(profile="cloudflare")
        ... except PromptError as exc:
        ...     print(exc.issues[0])
        $: missing required key 'subjects' (profile 'cloudflare')
        """
        # Each part was checked by the method that received it; the whole is validated by
        # write_document just below, against the profile's schema. A layout (FLUX 3 boxes) becomes
        # subjects with position prose here; without one, these are the builder's own parts.
        # Read once: every attribute of a builder goes through its __getattr__ hook.
        state = self.__dict__
        if state["_elements"]:
            scene, subjects, texts = self._degraded()
        else:
            scene, subjects, texts = state["_scene"], state["_subjects"], state["_text"]
        parts = {
            "scene": scene,
            "subjects": subjects,
            "style": state["_style"],
            "color_palette": state["_palette"],
            "lighting": state["_lighting"],
            "mood": state["_mood"],
            "background": state["_background"],
            "composition": state["_composition"],
            "camera": state["_camera"],
            "effects": state["_effects"],
            "text": texts,
        }
        # The document from the parts' own documents, validated and written; the prompt keeps
        # both (the text does not depend on the profile, so to_json() is then free).
        extras = state["_extras"]
        prompt, document = prompt_and_document(parts, extras)
        wire = write_document(document, extras, profile)
        attach_compiled(prompt, document=document, wire=wire)
        return attach_references(prompt, state["_references"])

    def _repr_html_(self) -> str:
        """The notebook view: the compiled prompt's, or the compile error with its paths.

        >>> "f2p-parts" in scene("dunes").style("photorealistic")._repr_html_()
        True
        """
        from flux2prompt._display import html_render, html_render_error

        # A notebook shows a builder while it is being composed, often half-done: the error is
        # the view then, never a traceback in place of the cell's output.
        try:
            prompt = self.compile()
        except PromptError as exc:
            return html_render_error(exc)
        return html_render(prompt)

    def __repr__(self) -> str:
        set_parts = [
            name.lstrip("_")
            for name in self.__dataclass_fields__
            if getattr(self, name) not in (None, ())
        ]
        return f"<PromptBuilder scene={self._scene!r} parts={set_parts}>"


# The factories as written, for the builder methods that call them (see _suggest_arguments).
_subject = subject.__wrapped__  # type: ignore[attr-defined]
_text = text.__wrapped__  # type: ignore[attr-defined]
_new_builder = object.__new__
# The setter of a builder's __dict__, taken once: past the frozen dataclass's guard, as its own
# __init__ sets its fields.
_set_state = vars(PromptBuilder)["__dict__"].__set__
_EMPTY = PromptBuilder()


def scene(description: str | None = None) -> PromptBuilder:
    """Start a prompt with its scene, the overall setting.

    >>> scene("a lighthouse on a basalt cliff at dusk").compile().scene
    'a lighthouse on a basalt cliff at dusk'
    """
    if description is None:
        return PromptBuilder()
    # The frozen dataclass's __init__ sets its 12 fields one guarded call at a time; every
    # builder method copies an empty builder's state instead, and so does this.
    return _EMPTY._set("_scene", clean_text(description, where="scene()"))
