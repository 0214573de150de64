"""The prompt model: frozen pydantic models whose fields mirror the wire keys.

Python attribute names are snake_case; wire names are the ones FLUX.2 examples use (``lens-mm``,
``f-number``, ``ISO``). Collections are tuples, so a frozen model is frozen all the way down.
The models agree with ``schemas/flux2-prompt.schema.json``: a property test checks that
``Model.model_validate(document)`` and the schema accept and reject the same documents. So
``model_validate`` reads *wire documents*: wire names only (``f-number``, not ``f_number``) and no
``null`` (a key is there with a value, or absent); the constructor takes Python names and ``None``.
Two rules are stricter than the schema can say: a language tag must be registered, not only
well-formed, and text must be valid Unicode (no lone surrogates). Text is NFC-normalised.

Example:
    >>> from flux2prompt import Subject
    >>> Subject(description="a red ceramic mug", position="foreground").position
    'foreground'
"""

from __future__ import annotations

import enum
import json
import math
import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Generic, Self, TypeVar, overload

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_core import ValidationError as PydanticValidationError

from flux2prompt._color import _NORMAL_HEX, normalize_hex
from flux2prompt._schema import TOO_LARGE_NUMBER, float_overflows
from flux2prompt._text import check_language_tag, forbidden_char_problem

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from flux2prompt._references import Reference

__all__ = [
    "Camera",
    "CameraAngle",
    "Composition",
    "Focus",
    "Lens",
    "Position",
    "Prompt",
    "ShotDistance",
    "Subject",
    "TextElement",
    "assemble_prompt",
    "attach_compiled",
    "attach_references",
    "document_of",
    "extras_of",
    "plain_maker",
    "plain_part",
    "prompt_and_document",
    "prompt_of_checked",
    "references_of",
]

_T = TypeVar("_T")


def _text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty; leave the key out instead")
    if value.isascii() and value.isprintable():
        return value  # the common case: nothing to reject, and ASCII is always NFC
    problem = forbidden_char_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return unicodedata.normalize("NFC", value)


def _hex(value: str) -> str:
    return normalize_hex(value, where=None)


def _color(value: str) -> str:
    value = _text(value)
    return normalize_hex(value, where=None) if value.startswith("#") else value


def _float_sized(value: int) -> int:
    # JSON carries any integer, but load(), prose and lint read the camera's numbers as floats:
    # one no float holds would compile to text that load() refuses.
    if value.bit_length() > 1023 and float_overflows(value):
        raise ValueError(TOO_LARGE_NUMBER)
    return value


def _language(value: str) -> str:
    problem = check_language_tag(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[StrictStr, AfterValidator(_text)]
# A list that is present has something in it: an empty one asks the model for nothing.
NonEmpty = Annotated[_T, Field(min_length=1)]
HexColor = Annotated[StrictStr, AfterValidator(_hex)]
ColorText = Annotated[StrictStr, AfterValidator(_color)]
PositiveNumber = (
    Annotated[StrictInt, Field(gt=0), AfterValidator(_float_sized)]
    | Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
)
LanguageTag = Annotated[
    StrictStr, Field(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"), AfterValidator(_language)
]


class Position(enum.StrEnum):
    """Where a subject sits, as Cloudflare's schema spells it."""

    FOREGROUND = "foreground"
    MIDGROUND = "midground"
    BACKGROUND = "background"


class Composition(enum.StrEnum):
    """Cloudflare's composition values (``LEADING_LINES`` is spelled 'leading leads' there)."""

    RULE_OF_THIRDS = "rule of thirds"
    CIRCULAR_ARRANGEMENT = "circular arrangement"
    FRAMED_BY_FOREGROUND = "framed by foreground"
    MINIMALIST_NEGATIVE_SPACE = "minimalist negative space"
    S_CURVE = "S-curve"
    VANISHING_POINT_CENTER = "vanishing point center"
    DYNAMIC_OFF_CENTER = "dynamic off-center"
    LEADING_LINES = "leading leads"
    GOLDEN_SPIRAL = "golden spiral"
    DIAGONAL_ENERGY = "diagonal energy"
    STRONG_VERTICALS = "strong verticals"
    TRIANGULAR_ARRANGEMENT = "triangular arrangement"


class CameraAngle(enum.StrEnum):
    """Cloudflare's camera angles."""

    EYE_LEVEL = "eye level"
    LOW_ANGLE = "low angle"
    SLIGHTLY_LOW = "slightly low"
    BIRDS_EYE = "bird's-eye"
    WORMS_EYE = "worm's-eye"
    OVER_THE_SHOULDER = "over-the-shoulder"
    ISOMETRIC = "isometric"


class ShotDistance(enum.StrEnum):
    """Cloudflare's camera distances."""

    CLOSE_UP = "close-up"
    MEDIUM_CLOSE_UP = "medium close-up"
    MEDIUM_SHOT = "medium shot"
    MEDIUM_WIDE = "medium wide"
    WIDE_SHOT = "wide shot"
    EXTREME_WIDE = "extreme wide"


class Focus(enum.StrEnum):
    """Cloudflare's focus values."""

    DEEP_FOCUS = "deep focus"
    MACRO_FOCUS = "macro focus"
    SELECTIVE_FOCUS = "selective focus"
    SHARP_ON_SUBJECT = "sharp on subject"
    SOFT_BACKGROUND = "soft background"


class Lens(enum.StrEnum):
    """Cloudflare's lens values."""

    MM_14 = "14mm"
    MM_24 = "24mm"
    MM_35 = "35mm"
    MM_50 = "50mm"
    MM_70 = "70mm"
    MM_85 = "85mm"


_NULL = PydanticCustomError("null_value", "null is not a value here; leave the key out")


def _null_errors(value: Any, loc: tuple[str | int, ...], errors: list[Any]) -> None:
    """Collect a pydantic line error for every ``null`` in a wire document.

    No place in the schema takes ``null``, but the models read ``None`` as "unset" (which suits
    Python callers), so documents are checked here, before the models see them.
    """
    if len(loc) > 16:  # deeper than any prompt: the models reject the shape anyway
        return
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if item is None:
            errors.append({"type": _NULL, "loc": (*loc, key), "input": None})
        elif isinstance(item, dict | list | tuple):
            _null_errors(item, (*loc, key), errors)


_V = TypeVar("_V")


class _kept(Generic[_V]):  # lower case: a decorator, like the cached_property it replaces
    """``functools.cached_property`` without the lock Python 3.11 takes on every first read
    (about 3 us; 3.12 dropped it): a value worked out once per instance, then kept in its
    ``__dict__``, where later reads find it without calling anything.

    >>> class Box:
    ...     @_kept
    ...     def area(self) -> int:
    ...         print("computing")
    ...         return 6
    >>> box = Box()
    >>> box.area, box.area
    computing
    (6, 6)
    """

    def __init__(self, func: Callable[[Any], _V]) -> None:
        self._func = func
        self._name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _V: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> _V | Self:
        if instance is None:
            return self
        value = self._func(instance)
        instance.__dict__[self._name] = value
        return value


def _all_unset(model: BaseModel) -> bool:
    # Run by the after-validators, when the instance dict holds exactly the fields (a cached
    # property's slot comes later). Reading it directly avoids ``model_fields``, a property of
    # pydantic's metaclass: the check took about a third of a subject's whole validation.
    return all(value is None for value in vars(model).values())


class _Node(BaseModel):
    """Shared configuration: frozen, strict on types, unknown keys rejected, wire aliases."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_enum_values=True,
        ignored_types=(_kept,),
    )

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a wire document, as loaded from JSON.

        Keys are the wire names (``f-number``, ``ISO``, ``lens-mm``; pass ``by_name=True`` to
        also accept ``f_number``) and ``null`` is refused: an unset key is left out.

        >>> Camera.model_validate({"f-number": "f/2.8", "ISO": 200}).iso
        200
        """
        if isinstance(obj, dict | list | tuple):
            errors: list[Any] = []
            _null_errors(obj, (), errors)
            if errors:
                raise PydanticValidationError.from_exception_data(cls.__name__, errors)
        options.setdefault("by_name", False)
        return super().model_validate(obj, **options)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """Validate a wire document given as JSON text; see :meth:`model_validate`."""
        try:
            document = pydantic_core.from_json(json_data)
        except ValueError as exc:
            errors: list[Any] = [
                {"type": "json_invalid", "loc": (), "input": json_data, "ctx": {"error": str(exc)}}
            ]
            raise PydanticValidationError.from_exception_data(cls.__name__, errors) from None
        return cls.model_validate(document, **options)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; values in ``update`` (Python names) are validated like constructor arguments.

        >>> Camera(lens="85mm").model_copy(update={"iso": 400}).to_dict()
        {'lens': '85mm', 'ISO': 400}
        """
        if not update:
            return super().model_copy(deep=deep)
        model_fields = type(self).model_fields
        by_alias = {field.alias: name for name, field in model_fields.items() if field.alias}
        update = {by_alias.get(key, key): value for key, value in update.items()}
        fields = {name: getattr(self, name) for name in model_fields}
        copied = type(self)(**{**fields, **update})
        if isinstance(self, Prompt) and isinstance(copied, Prompt):
            # What the fields do not hold: the custom keys, and the images the text cites.
            attach_compiled(copied, extras=extras_of(self))
            attach_references(copied, references_of(self))
        return copied

    def copy(self, **options: Any) -> Self:
        """pydantic's deprecated ``copy()`` (it still warns so): a copy with any change
        (``update``, ``include``, ``exclude``) is validated as :meth:`model_copy` validates,
        so it is never a part the schema refuses; a field left out is unset. Prefer
        :meth:`model_copy`.

        >>> import warnings
        >>> from flux2prompt import scene
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     scene("x").mood("calm").compile().copy(update={"mood": "tense"}).to_json()
        '{"scene":"x","mood":"tense"}'
        """
        copied = super().copy(**options)
        if all(options.get(name) is None for name in ("update", "include", "exclude")):
            return copied
        # What pydantic copied, unvalidated, through the validating copy: its Python names.
        values = {name: copied.__dict__.get(name) for name in type(self).model_fields}
        return self.model_copy(update=values)

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this part as plain JSON data (lists, not tuples), unset keys omitted."""
        return self._serialized()

    def _serialized(self) -> dict[str, Any]:
        # The known keys as JSON data in wire order, written by pydantic-core: a new dict.
        data: dict[str, Any] = self.__pydantic_serializer__.to_python(
            self, mode="json", by_alias=True, exclude_none=True
        )
        return data


class Subject(_Node):
    """One subject of the image, most important first in a prompt.

    >>> Subject(type="falcon", description="peregrine falcon, wings spread").to_dict()
    {'type': 'falcon', 'description': 'peregrine falcon, wings spread'}
    """

    type: Text | None = None
    description: Text | None = None
    pose: Text | None = None
    action: Text | None = None
    position: Text | None = None
    color_palette: NonEmpty[tuple[ColorText, ...]] | None = None
    colors: NonEmpty[tuple[HexColor, ...]] | None = None
    color_match: Text | None = None
    detail_preservation: Text | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        # The schema's minProperties: 1; an empty part says nothing to the model.
        if _all_unset(self):
            raise ValueError("a subject needs at least one field, such as a description")
        return self


class Camera(_Node):
    """Camera settings; ``lens_mm``, ``f_number`` and ``iso`` travel as ``lens-mm``, ``f-number``
    and ``ISO``.

    >>> Camera(angle="low angle", f_number="f/2.8", iso=200).to_dict()
    {'angle': 'low angle', 'f-number': 'f/2.8', 'ISO': 200}
    """

    angle: Text | None = None
    distance: Text | None = None
    focus: Text | None = None
    lens: Text | None = None
    lens_mm: PositiveNumber | None = Field(default=None, alias="lens-mm")
    f_number: Text | None = Field(default=None, alias="f-number")
    iso: PositiveNumber | None = Field(default=None, alias="ISO")
    depth_of_field: Text | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        # The schema's minProperties: 1; an empty part says nothing to the model.
        if _all_unset(self):
            raise ValueError("a camera needs at least one setting, such as an angle or a lens")
        return self


class TextElement(_Node):
    """Text to render in the image: exact words, language, font, size, placement, colour.

    >>> TextElement(content="東京", language="ja", color="#fff").color
    '#FFFFFF'
    """

    content: Annotated[Text, Field(min_length=1)]
    language: LanguageTag | None = None
    font: Text | None = None
    size: Text | None = None
    placement: Text | None = None
    color: HexColor | None = None


class Prompt(_Node):
    """A complete, validated FLUX.2 JSON prompt. Immutable; build one with :func:`scene` or
    :func:`load`.

    ``to_json()`` is the exact wire form (compact, keys in FLUX.2's priority order, raw UTF-8);
    ``fingerprint`` is ``sha256:`` + the hex digest of its UTF-8 bytes.

    >>> from flux2prompt import scene
    >>> p = scene("a quiet harbour at dawn").mood("calm").compile()
    >>> p.to_json()
    '{"scene":"a quiet harbour at dawn","mood":"calm"}'
    >>> p.fingerprint[:7]
    'sha256:'
    """

    model_config = ConfigDict(title="Prompt", json_schema_extra={"minProperties": 1})

    scene: Text | None = None
    subjects: NonEmpty[tuple[Subject, ...]] | None = None
    style: Text | None = None
    color_palette: NonEmpty[tuple[ColorText, ...]] | None = None
    lighting: Text | None = None
    mood: Text | None = None
    background: Text | None = None
    composition: Text | None = None
    camera: Camera | None = None
    effects: NonEmpty[tuple[Text, ...]] | None = None
    text: NonEmpty[tuple[TextElement, ...]] | None = None

    # Custom top-level keys the user asked for explicitly: (key, compact JSON of the value), kept
    # in order after the known keys. Stored as JSON text so the model stays immutable.
    _extras: tuple[tuple[str, str], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        # The schema's minProperties: 1. An empty prompt asks the model for nothing.
        if _all_unset(self):
            raise ValueError("the prompt is empty; add at least a scene")
        return self

    @property
    def extras(self) -> dict[str, Any]:
        """Custom top-level keys added with ``.extra()`` or ``load(..., extra_keys=...)``."""
        return {key: json.loads(value) for key, value in self._extras}

    def to_dict(self) -> dict[str, Any]:
        """The wire document as plain JSON data, extras last.

        >>> from flux2prompt import scene
        >>> scene("dunes").extra("seed_hint", 7).compile().to_dict()
        {'scene': 'dunes', 'seed_hint': 7}
        """
        out = super().to_dict()
        for key, value in self._extras:
            out[key] = json.loads(value)
        return out

    @_kept
    def _wire(self) -> str:
        from flux2prompt._compile import compile_json

        return compile_json(self, profile="flux2")

    def to_json(self, *, pretty: bool = False) -> str:
        """The wire JSON (compact), or an indented form for humans with ``pretty=True``.

        >>> from flux2prompt import scene
        >>> print(scene("dunes").style("photorealistic").compile().to_json(pretty=True))
        {
          "scene": "dunes",
          "style": "photorealistic"
        }
        """
        if pretty:
            return pydantic_core.to_json(self.to_dict(), indent=2).decode()
        return self._wire

    def to_bytes(self) -> bytes:
        """The wire JSON as UTF-8 bytes: exactly what goes in the multipart ``prompt`` field."""
        return self._wire.encode("utf-8")

    @_kept
    def fingerprint(self) -> str:
        """``sha256:`` + the hex SHA-256 of :meth:`to_bytes`; equal documents, equal fingerprints.

        >>> from flux2prompt import load
        >>> a = load({"mood": "calm", "scene": "x"})
        >>> a.fingerprint == load('{"scene":"x","mood":"calm"}').fingerprint
        True
        """
        from flux2prompt._compile import fingerprint_of

        return fingerprint_of(self._wire)

    def to_prose(self) -> str:
        """The same prompt as ordered natural language, for FLUX.2 [klein] which prefers prose.

        >>> from flux2prompt import scene
        >>> scene("a quiet harbour at dawn").lighting("soft golden light").compile().to_prose()
        'A quiet harbour at dawn. Lit by soft golden light.'
        """
        from flux2prompt._prose import render_prose

        return render_prose(self)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from flux2prompt._display import rich_render

        yield from rich_render(self)

    def _repr_html_(self) -> str:
        from flux2prompt._display import html_render

        return html_render(self)


KNOWN_KEYS: tuple[str, ...] = tuple(
    field.alias or name for name, field in Prompt.model_fields.items()
)


# -- the compile cache -------------------------------------------------------------------------
# A Prompt keeps three things pydantic does not know about: its custom extras (in pydantic's
# private slot, since the model is frozen), its wire document (``_document`` in the instance
# dict, read by document_of) and, once compiled, its wire text (in the slot of the ``_wire``
# kept property). They are written here and nowhere else (plain_part gives a new part its
# document as it makes it); a Prompt's own methods
# (to_json, fingerprint, to_prose, display) read them through normal attribute access.


def attach_compiled(
    prompt: Prompt,
    *,
    extras: tuple[tuple[str, str], ...] | None = None,
    wire: str | None = None,
    document: dict[str, Any] | None = None,
) -> Prompt:
    """Attach custom ``extras`` and/or the compiled ``wire`` text to a freshly built ``prompt``.

    The one place that writes a Prompt's private state: the builder and
    :meth:`Prompt.model_copy` call it (and the loader is to), instead of writing pydantic's
    internals themselves. ``extras`` are
    (key, compact JSON of the value) pairs, already checked; ``wire`` must be what
    :func:`~flux2prompt._compile.compile_json` returned for this very prompt (extras included),
    so ``to_json()`` and ``fingerprint`` read it instead of compiling again; ``document`` must
    be the document :func:`prompt_and_document` wrote for this prompt, so compile_json reads it
    instead of converting the model. ``None`` leaves a part as it is. Returns ``prompt`` itself.

    >>> from flux2prompt import load
    >>> p = attach_compiled(load({"scene": "dunes"}), extras=(("seed_hint", "7"),))
    >>> p.extras, p.to_json()
    ({'seed_hint': 7}, '{"scene":"dunes","seed_hint":7}')
    """
    if extras is not None:
        # The frozen model refuses normal assignment; its private slot is set as pydantic does.
        object.__setattr__(prompt, "__pydantic_private__", {"_extras": extras})
    if wire is not None:
        # The instance slot of the ``_wire`` kept property: reading it later costs nothing.
        prompt.__dict__["_wire"] = wire
    if document is not None:
        prompt.__dict__["_document"] = document  # what document_of() reads
    return prompt


def extras_of(prompt: Prompt) -> tuple[tuple[str, str], ...]:
    """The custom extras of ``prompt`` as (key, compact JSON) pairs, read straight from its slot.

    ``prompt._extras`` goes through pydantic's ``__getattr__``, which costs as much as writing
    the JSON; the compiler reads them on every call, so it uses this.

    >>> from flux2prompt import scene
    >>> extras_of(scene("x").extra("seed_hint", 7).compile())
    (('seed_hint', '7'),)
    """
    private = prompt.__pydantic_private__
    extras: tuple[tuple[str, str], ...] = private.get("_extras", ()) if private else ()
    return extras


def prompt_of_checked(document: Mapping[str, Any]) -> Prompt:
    """:meth:`Prompt.model_validate` of a wire document that a profile's JSON Schema has just
    accepted: the schema takes ``null`` nowhere, so the walk that looks for one is skipped.

    >>> prompt_of_checked({"scene": "dunes", "camera": {"f-number": "f/2"}}).camera.f_number
    'f/2'
    """
    prompt: Prompt = Prompt.__pydantic_validator__.validate_python(document, by_name=False)
    return prompt


def document_of(node: _Node) -> dict[str, Any]:
    """The wire document of ``node`` (known keys; a prompt's extras are not in it), kept with it.

    A part made by :func:`plain_part` and a prompt made by the builder have theirs from the
    moment they are made (the builder writes a prompt's document from its parts' documents);
    any other part gets it here on first use, from pydantic-core's serializer, and keeps it
    (a part is often shared by many prompts). Any other prompt (loaded, copied with changes) is
    converted by the serializer on each call: its wire text is kept instead, by ``to_json()``.
    It is never handed out and never changed: :func:`~flux2prompt._compile.compile_json`
    validates and writes it, and ``to_dict()`` returns a new copy.

    >>> from flux2prompt import subject
    >>> document_of(subject("a fox", colors=["#fff"]))
    {'description': 'a fox', 'colors': ['#FFFFFF']}
    """
    slots = node.__dict__
    document: dict[str, Any] | None = slots.get("_document")
    if document is None:
        document = node._serialized()
        if type(node) is not Prompt:
            slots["_document"] = document
    return document


def attach_references(prompt: Prompt, references: tuple[Reference, ...]) -> Prompt:
    """Keep a builder's ``references`` beside ``prompt``'s fields (not in its JSON, not in its
    fingerprint); the one place that writes them, next to :func:`attach_compiled`. Returns
    ``prompt`` itself. See :mod:`flux2prompt._references`."""
    if references:
        private = dict(prompt.__pydantic_private__ or {})
        private["_references"] = references
        object.__setattr__(prompt, "__pydantic_private__", private)
    return prompt


def references_of(prompt: Prompt) -> tuple[Reference, ...]:
    """The references a compiled prompt carries from its builder (``()`` for any other).

    >>> from flux2prompt import scene
    >>> references_of(scene("x").reference("logo", b"...").compile())
    (Reference('logo', <3 bytes>),)
    """
    private = prompt.__pydantic_private__
    found: tuple[Reference, ...] = private.get("_references", ()) if private else ()
    return found


# -- parts from plain values --------------------------------------------------------------------
# The builder's subject(), camera() and text() get plain Python values nearly always: exact
# ``str``, ``int`` and ``float``, lists of codes. For those, pydantic's validation of a part comes
# down to each field's own validator above (``_text``, ``_hex``, ``_color``, the language check,
# a positive finite number), which each part's plain maker (plain_maker(); plain_part() by name)
# calls directly, keeping the part's wire document as it goes. Anything else (an enum member, a
# str subclass, an empty part, a value a validator refuses) makes it return None, and the caller
# validates through pydantic, which then decides and words the error: the rules and their
# messages stay in one place. A property test checks that a part made here equals the one
# pydantic makes, field for field and document for document.


class _NotPlain(Exception):
    """A value plain_part() leaves to pydantic."""


def _plain_text(value: Any) -> str:
    if type(value) is str:
        if value and value.isascii() and value.isprintable():
            return value
        return _text(value)
    raise _NotPlain


def _plain_hex(value: Any) -> str:
    if type(value) is str:
        return value if _NORMAL_HEX.fullmatch(value) else _hex(value)
    raise _NotPlain


def _plain_language(value: Any) -> str:
    if type(value) is str and check_language_tag(value) is None:
        return value
    raise _NotPlain


def _plain_number(value: Any) -> int | float:
    kind = type(value)
    # An integer of 1,024 bits or more may be one no float holds: camera() words that itself.
    if (kind is int and value > 0 and value.bit_length() < 1024) or (
        kind is float and 0 < value < math.inf
    ):
        return value  # type: ignore[no-any-return]
    raise _NotPlain


def _plain_codes(check: Any) -> Any:
    def codes(value: Any) -> tuple[str, ...]:
        if type(value) in (tuple, list) and value:
            return tuple([check(item) if type(item) is str else _not_plain() for item in value])
        raise _NotPlain

    return codes


def _not_plain() -> str:
    raise _NotPlain


# Each field's annotation, as written in its class, to the check of a plain value of it.
_PLAIN_CHECKS: dict[str, Any] = {
    "Text | None": _plain_text,
    "Annotated[Text, Field(min_length=1)]": _plain_text,
    "HexColor | None": _plain_hex,
    "LanguageTag | None": _plain_language,
    "PositiveNumber | None": _plain_number,
    "NonEmpty[tuple[ColorText, ...]] | None": _plain_codes(_color),
    "NonEmpty[tuple[HexColor, ...]] | None": _plain_codes(_hex),
}
# The checks of a tuple of codes: the document holds it as a JSON list.
_CODES_CHECKS = (
    _PLAIN_CHECKS["NonEmpty[tuple[ColorText, ...]] | None"],
    _PLAIN_CHECKS["NonEmpty[tuple[HexColor, ...]] | None"],
)

_Part = TypeVar("_Part", Subject, Camera, TextElement)
_AnyNode = TypeVar("_AnyNode", bound=_Node)

_new_node = object.__new__
# The setters of a model's four instance slots, taken from BaseModel once: past the frozen
# model's guard, as pydantic's own __init__ sets them, without looking the slot up by name.
_set_state, _set_fields_set, _set_extra, _set_private = (
    BaseModel.__dict__[slot].__set__
    for slot in (
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    )
)


def _plain_maker_source(cls: type[_Node]) -> str:
    """The source of ``cls``'s plain maker: one function taking the fields in field order,
    checking each given one by its annotation's check (a field whose annotation has none fails
    here, at import, so no field is ever skipped), writing the document as it goes, and
    returning the part, or ``None`` for pydantic to decide.

    Straight-line code, as dataclasses writes ``__init__``: the part is made in one call, with
    no loop over a table of fields, no mapping of the arguments and no second pass for the set.

    >>> print(_plain_maker_source(TextElement).splitlines()[0])
    def make(content, language, font, size, placement, color):
    """
    fields = cls.model_fields
    names = list(fields)
    lines = [f"def make({', '.join(names)}):"]
    lines += [
        f"    if {name} is None: return None" for name, f in fields.items() if f.is_required()
    ]
    lines += ["    document = {}", "    try:"]
    for name, field in fields.items():
        check = _PLAIN_CHECKS[cls.__annotations__[name]]
        wire = field.alias or name
        lines.append(f"        if {name} is not None:")
        if check is _plain_text:  # _plain_text's own fast path, without the call
            lines.append(
                f"            if not ({name}.__class__ is str and {name} and {name}.isascii()"
                f" and {name}.isprintable()): {name} = _plain_text({name})"
            )
        else:
            lines.append(f"            {name} = check_{name}({name})")
        shown = f"list({name})" if check in _CODES_CHECKS else name  # a tuple is a JSON list
        lines.append(f"            document[{wire!r}] = {shown}")
    lines += [
        "    except Exception:  # any refusal: pydantic decides, and says why",
        "        return None",
        "    if not document: return None",
        "    node = new(cls)",
        "    set_state(node, {"
        + ", ".join(f"{name!r}: {name}" for name in names)
        + ", '_document': document})",  # what document_of() reads
        # the fields set: the document's keys, by field name where a wire key is an alias
        "    set_fields_set(node, "
        + ("set(map(names.__getitem__, document))" if _aliased(cls) else "set(document)")
        + ")",
        "    set_extra(node, None)",
        "    set_private(node, None)",
        "    return node",
    ]
    return "\n".join(lines) + "\n"


def _aliased(cls: type[_Node]) -> bool:
    return any(field.alias is not None for field in cls.model_fields.values())


def _plain_maker(cls: type[_Part]) -> Callable[..., _Part | None]:
    fields = cls.model_fields
    namespace: dict[str, Any] = {
        "cls": cls,
        "names": {field.alias or name: name for name, field in fields.items()},  # wire -> field
        "_plain_text": _plain_text,
        "new": _new_node,
        "set_state": _set_state,
        "set_fields_set": _set_fields_set,
        "set_extra": _set_extra,
        "set_private": _set_private,
    }
    clashes = set(fields) & set(namespace)
    if clashes:  # a field named like a name the maker uses would shadow it
        raise TypeError(f"{cls.__name__}: plain maker names clash with fields {sorted(clashes)}")
    namespace |= {f"check_{name}": _PLAIN_CHECKS[cls.__annotations__[name]] for name in fields}
    exec(_plain_maker_source(cls), namespace)  # our own source, written above from the fields
    make: Callable[..., _Part | None] = namespace["make"]
    make.__qualname__ = f"plain {cls.__name__}"
    return make


# Written on first use: a command that only reads prompts (validate, lint) never builds one.
_PLAIN_MAKERS: dict[type[_Node], Callable[..., Any]] = {}


def plain_maker(cls: type[_Part]) -> Callable[..., _Part | None]:
    """``cls``'s plain maker: it takes every field of ``cls`` in field order (``None`` for an
    unset one) and returns the part, or ``None`` when pydantic must decide (see above).

    >>> plain_maker(TextElement)("東京", "ja", None, None, None, None).to_dict()
    {'content': '東京', 'language': 'ja'}
    """
    maker: Callable[..., _Part | None] | None = _PLAIN_MAKERS.get(cls)
    if maker is None:
        maker = _PLAIN_MAKERS[cls] = _plain_maker(cls)
    return maker


def plain_part(cls: type[_Part], fields: Mapping[str, Any]) -> _Part | None:
    """``cls`` made from ``fields`` (every field name of ``cls``, ``None`` for an unset one) when
    every value given is plain; ``None`` when pydantic must decide (see above).

    >>> plain_part(Subject, dict.fromkeys(Subject.model_fields) | {"description": "a fox"})
    Subject(type=None, description='a fox', pose=None, action=None, position=None, \
color_palette=None, colors=None, color_match=None, detail_preservation=None)
    >>> plain_part(Subject, dict.fromkeys(Subject.model_fields)) is None  # empty: pydantic says
    True
    """
    if len(fields) != len(cls.model_fields):
        return None
    try:
        made = plain_maker(cls)(**fields)
    except TypeError:  # a name that is not a field: not every field named
        return None
    return made


def _node_of(
    cls: type[_AnyNode], state: dict[str, Any], given: set[str], private: dict[str, Any] | None
) -> _AnyNode:
    """A ``cls`` with these slots, as pydantic's own ``__init__`` leaves them, without running
    validation. With the plain makers above and the prompt's assembler below (which write the
    same four slot setters out, to save a call per model), the only place the frozen models are
    made by hand."""
    node = _new_node(cls)
    _set_state(node, state)
    _set_fields_set(node, given)
    _set_extra(node, None)
    _set_private(node, private)
    return node


# -- prompts from parts the builder has already checked -----------------------------------------

# Each field of a prompt, its wire key, and what its value is, from its annotation: str (text),
# list (a tuple of text, written as a list), tuple (a tuple of parts) or _Node (one part), with
# the part's class (_Node for text). A new kind of field fails here, at import.
_PROMPT_KINDS: dict[str, tuple[type, type[_Node]]] = {
    "Text | None": (str, _Node),
    "NonEmpty[tuple[ColorText, ...]] | None": (list, _Node),
    "NonEmpty[tuple[Text, ...]] | None": (list, _Node),
    "NonEmpty[tuple[Subject, ...]] | None": (tuple, Subject),
    "NonEmpty[tuple[TextElement, ...]] | None": (tuple, TextElement),
    "Camera | None": (_Node, Camera),
}
_PROMPT_WIRE: tuple[tuple[str, str, type, type[_Node]], ...] = tuple(
    (name, field.alias or name, *_PROMPT_KINDS[Prompt.__annotations__[name]])
    for name, field in Prompt.model_fields.items()
)
_PROMPT_FIELD_SET = frozenset(Prompt.model_fields)


def _part_document(part: Any, cls: type[_Node]) -> dict[str, Any]:
    # A part of exactly its field's class has its own document. Anything else there (a subclass
    # with fields of its own) is written as the prompt's serializer writes that field: by the
    # field's class, so the wire, to_dict() and a loaded copy agree.
    if type(part) is cls:
        return document_of(part)
    data: dict[str, Any] = cls.__pydantic_serializer__.to_python(
        part, mode="json", by_alias=True, exclude_none=True
    )
    return data


def _assembler_source() -> str:
    """The source of the one function behind :func:`prompt_and_document`: straight-line code
    written from the prompt's fields (as :func:`_plain_maker_source` writes a part's maker),
    reading each part once and writing the prompt's state and its document in one pass.

    >>> print(_assembler_source().splitlines()[0])
    def assemble(parts, extras):
    """
    names = [name for name, _, _, _ in _PROMPT_WIRE]
    lines = [
        "def assemble(parts, extras):",
        f"    if len(parts) != {len(names)}: raise KeyError",
        *(f"    {name} = parts[{name!r}]" for name in names),
        "    document = {}",
    ]
    for name, wire, kind, cls in _PROMPT_WIRE:
        if kind is str:
            shown = name
        elif kind is list:
            shown = f"list({name})"  # a tuple of text is a JSON list
        else:
            # document_of() of a part of exactly its field's class, read in place
            one = (
                "{0}.__dict__.get('_document') or part_document({0}, {1}) "
                "if {0}.__class__ is {1} else part_document({0}, {1})"
            )
            shown = (
                f"[{one.format('part', cls.__name__)} for part in {name}]"
                if kind is tuple
                else one.format(name, cls.__name__)
            )
        lines.append(f"    if {name} is not None: document[{wire!r}] = {shown}")
    lines += [
        "    node = new(Prompt)",
        "    set_state(node, {" + ", ".join(f"{name!r}: {name}" for name in names) + "})",
        # every field set, as model_construct leaves it; the extras as attach_compiled() would
        "    set_fields_set(node, set(field_set))",
        "    set_extra(node, None)",
        "    set_private(node, {'_extras': extras})",
        "    return node, document",
    ]
    return "\n".join(lines) + "\n"


def _assembler() -> Callable[..., tuple[Prompt, dict[str, Any]]]:
    namespace: dict[str, Any] = {
        "Prompt": Prompt,
        "Subject": Subject,
        "Camera": Camera,
        "TextElement": TextElement,
        "part_document": _part_document,
        "field_set": _PROMPT_FIELD_SET,
        "new": _new_node,
        "set_state": _set_state,
        "set_fields_set": _set_fields_set,
        "set_extra": _set_extra,
        "set_private": _set_private,
    }
    clashes = _PROMPT_FIELD_SET & set(namespace)
    if clashes:  # a field named like a name the assembler uses would shadow it
        raise TypeError(f"Prompt: assembler names clash with fields {sorted(clashes)}")
    exec(_assembler_source(), namespace)  # our own source, written above from the fields
    assemble: Callable[..., tuple[Prompt, dict[str, Any]]] = namespace["assemble"]
    assemble.__qualname__ = "assemble Prompt"
    return assemble


# Written on first use, as the plain makers are: a command that only reads prompts never builds one.
_assemble: Callable[..., tuple[Prompt, dict[str, Any]]] | None = None


def prompt_and_document(
    parts: Mapping[str, Any], extras: tuple[tuple[str, str], ...]
) -> tuple[Prompt, dict[str, Any]]:
    """A :class:`Prompt` from parts the builder has checked, as ``Prompt.model_construct`` makes
    it (every field set), with its custom ``extras``, and its wire document (known keys) from
    its parts' own documents: what pydantic-core writes for it, without converting the model.
    Not validated as a whole: the caller does that right after (the builder compiles it).

    ``parts`` has every field of the prompt, ``None`` for an unset one.

    >>> parts = dict.fromkeys(Prompt.model_fields, None) | {"scene": "dunes", "effects": ("grain",)}
    >>> prompt, document = prompt_and_document(parts, ())
    >>> prompt.effects, document
    (('grain',), {'scene': 'dunes', 'effects': ['grain']})
    """
    global _assemble
    assemble = _assemble
    if assemble is None:
        assemble = _assemble = _assembler()
    try:
        return assemble(parts, extras)
    except KeyError:
        raise ValueError(
            f"prompt_and_document() takes every field of a prompt, got {list(parts)}"
        ) from None


def assemble_prompt(parts: Mapping[str, Any], extras: tuple[tuple[str, str], ...]) -> Prompt:
    """The prompt of :func:`prompt_and_document`, without its document.

    >>> parts = dict.fromkeys(Prompt.model_fields, None) | {"scene": "dunes"}
    >>> assemble_prompt(parts, ()).scene
    'dunes'
    """
    return prompt_and_document(parts, extras)[0]
