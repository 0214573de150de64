"""Prompt documents in memory: strict JSON text, dicts, builders and prompts into a Prompt.

No I/O: :func:`flux2prompt.load` (in :mod:`flux2prompt._files`) reads files and hands their
documents here. Loading checks the document against the profile's schema (every issue, with its
JSON path), then builds the frozen model, which normalises hex codes and Unicode. Documents in
the shapes of BFL's and Cloudflare's examples (``f-number``, ``ISO``, ``lens-mm`` and all) load
without loss, and a document already in wire order compiles back to the same bytes.

Example:
    >>> p = prompt_from_value('{"scene": "a red fox", "camera": {"f-number": "f/4", "ISO": 200}}')
    >>> p.camera.f_number, p.camera.iso
    ('f/4', 200)
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError as PydanticValidationError

from flux2prompt._builder import PromptBuilder
from flux2prompt._compile import compile_json, dumps_compact
from flux2prompt._errors import PromptError, PromptValidationError, SourceError, ValidationIssue
from flux2prompt._model import KNOWN_KEYS, Prompt, attach_compiled, prompt_of_checked
from flux2prompt._schema import (
    TOO_LARGE_NUMBER,
    Profile,
    check_document,
    float_overflows,
    json_data,
    json_path,
)
from flux2prompt._text import quoted

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_STRING_CHARS",
    "check_bounds",
    "check_size",
    "extra_key_names",
    "issues_from_pydantic",
    "parse_json",
    "prompt_from_document",
    "prompt_from_value",
]

#: The bounds on every document read from outside (prompt files, job files, JSON text, each
#: line of a dataset): a prompt is a few kilobytes, three levels deep. Anything past them is
#: refused with the file's name and the limit, before it can exhaust the stack or the memory.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
MAX_DEPTH: Final = 64
MAX_STRING_CHARS: Final = 128 * 1024

#: What :func:`prompt_from_value` takes (``flux2prompt.load`` also takes a file path).
PromptValue = Prompt | PromptBuilder | Mapping[str, Any] | str | bytes


class _StrictJSONError(ValueError):
    """A duplicate key or a NaN/Infinity constant; ``token`` is what to look for in the text."""

    def __init__(self, message: str, token: tuple[str, str]):
        super().__init__(message)
        self.token = token


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictJSONError(
                f"duplicate key {quoted(key)}: a later value would silently replace it",
                ("key", key),
            )
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise _StrictJSONError(f"{name} is not valid JSON; write a number", ("constant", name))


_DECODER = json.JSONDecoder()


def _line_of(text: str, token: tuple[str, str]) -> int | None:
    """The line of the first repeated key of one object, or of a bare NaN/Infinity constant.

    Only runs after the parser has refused the text, so a simple scan is enough: strings are
    read with the JSON decoder itself, objects keep the set of keys seen so far.
    """
    kind, name = token
    stack: list[set[str] | None] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            try:
                value, end = _DECODER.raw_decode(text, index)
            except ValueError:
                return None
            rest = text[end : end + 64].lstrip()
            keys = stack[-1] if stack else None
            if kind == "key" and keys is not None and rest.startswith(":"):
                if value == name and value in keys:
                    return text.count("\n", 0, index) + 1
                keys.add(value)
            index = end
            continue
        if char == "{":
            stack.append(set())
        elif char == "[":
            stack.append(None)
        elif char in "}]" and stack:
            stack.pop()
        elif kind == "constant" and text.startswith(name, index):
            return text.count("\n", 0, index) + 1
        index += 1
    return None


def _path(parts: tuple[str | int, ...]) -> str:
    shown = json_path(list(parts[:8]))
    return shown + ("..." if len(parts) > 8 else "")


def check_size(size: int, source: str | None, *, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuse a document of more than ``limit`` bytes (or characters), naming ``source``.

    >>> try:
    ...     check_size(20_000_000, "huge.prompt.json")
    ... except SourceError as exc:
    ...     print(exc)
    huge.prompt.json: is larger than the 16,777,216 bytes a document may have; split it
    """
    if size > limit:
        raise SourceError(
            f"is larger than the {limit:,} bytes a document may have; split it", source=source
        )


def _nested_too_deeply(source: str | None, where: str = "") -> SourceError:
    at = f" (at {where})" if where else ""
    return SourceError(
        f"nested more than {MAX_DEPTH} levels deep{at}, the limit for a document; flatten it",
        source=source,
    )


def check_bounds(
    document: Any, source: str | None, *, numbers: bool = True, line: int | None = None
) -> None:
    """Refuse a parsed document of more than :data:`MAX_DEPTH` nested arrays and objects (the
    outermost counts), with a string
    longer than :data:`MAX_STRING_CHARS` (a key or a value) or, with ``numbers``, a number no
    64-bit float holds (an integer of 10^309 or more, an infinity): one
    :class:`~flux2prompt.SourceError` naming ``source`` and the JSON path. Iterative, so it
    never recurses however deep the document.

    >>> try:
    ...     check_bounds({"camera": {"ISO": 10**400}}, "p.json")
    ... except SourceError as exc:
    ...     print(str(exc).split(", which")[0])
    p.json: $.camera.ISO: the integer (about 401 digits) is too large for a JSON number
    """
    if not _within(document, numbers):
        _explain(document, source, numbers, line)


_SCALARS: Final = (str, int, float, bool, type(None))


def _scalar_fits(value: Any, kind: type, numbers: bool) -> bool:
    if kind is str:
        return len(value) <= MAX_STRING_CHARS
    if kind is int:
        return not numbers or value.bit_length() <= 1000
    if kind is float:
        return not numbers or math.isfinite(value)
    return kind is bool or value is None


def _within(document: Any, numbers: bool) -> bool:
    """The fast scan: ``True`` when the document is surely within the bounds (exact JSON types,
    no path kept); ``False`` sends it to :func:`_explain`, which says what is wrong, if anything."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is dict:
            values = node.values()
            if any(type(key) is not str or len(key) > MAX_STRING_CHARS for key in node):
                return False
        elif kind is list:
            values = node
        else:
            if not _scalar_fits(node, kind, numbers):
                return False
            continue
        if depth >= MAX_DEPTH:
            return False
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind not in _SCALARS or not _scalar_fits(value, kind, numbers):
                return False
    return True


def _explain(document: Any, source: str | None, numbers: bool, line: int | None) -> None:
    """The slow walk, with JSON paths: raises the error of the first bound broken."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, parts = stack.pop()
        if isinstance(node, dict | list) and len(parts) >= MAX_DEPTH:
            raise _too_deep(source, parts, line)  # the container at this path is one too many
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
                    raise _too_long(source, parts, len(key), line, what="a key")
                stack.append((value, (*parts, key)))
        elif isinstance(node, list):
            stack.extend((value, (*parts, index)) for index, value in enumerate(node))
        elif isinstance(node, str):
            if len(node) > MAX_STRING_CHARS:
                raise _too_long(source, parts, len(node), line)
        elif numbers and isinstance(node, int) and not isinstance(node, bool):
            if node.bit_length() > 1000 and float_overflows(node):
                digits = int(node.bit_length() * math.log10(2)) + 1
                raise SourceError(
                    f"{_path(parts)}: the integer (about {digits} digits) is too large for a "
                    "JSON number, which must fit a 64-bit float (below about 1.8e308); write a "
                    "smaller number",
                    source=source,
                    line=line,
                )
        elif numbers and isinstance(node, float) and math.isnan(node):
            raise SourceError(
                f"{_path(parts)}: nan (not a number) has no JSON form; write a number",
                source=source,
                line=line,
            )
        elif numbers and isinstance(node, float) and not math.isfinite(node):
            raise SourceError(
                f"{_path(parts)}: the number is out of the range of a JSON number (a 64-bit "
                "float, below about 1.8e308); write a smaller number",
                source=source,
                line=line,
            )


def _too_deep(source: str | None, parts: tuple[str | int, ...], line: int | None) -> SourceError:
    error = _nested_too_deeply(source, _path(parts))
    if line is not None:
        return SourceError(error.args[0].split(": ", 1)[-1], source=source, line=line)
    return error


def _too_long(
    source: str | None,
    parts: tuple[str | int, ...],
    length: int,
    line: int | None,
    *,
    what: str = "a string",
) -> SourceError:
    return SourceError(
        f"{_path(parts)}: {what} of {length:,} characters, more than the {MAX_STRING_CHARS:,} a "
        "document's strings may have; shorten it",
        source=source,
        line=line,
    )


def parse_json(text: str | bytes, *, source: str | None = None) -> Any:
    """Parse JSON text strictly: duplicate keys and NaN/Infinity are errors, with the line.

    >>> def show(text):
    ...     try:
    ...         parse_json(text, source="p.json")
    ...     except SourceError as exc:
    ...         print(exc)
    >>> show('{"scene": "x",\\n "scene": "y"}')
    p.json:2: duplicate key 'scene': a later value would silently replace it
    >>> show('{\\n  "scene": "x",\\n}')
    p.json:3: invalid JSON at column 1: Expecting property name enclosed in double quotes
    """
    check_size(len(text), source)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=source
            ) from None
    else:
        text = text.removeprefix("\ufeff")  # read with encoding="utf-8", a BOM stays: skip it
    try:
        document = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"invalid JSON at column {exc.colno}: {exc.msg}",
            source=source or "<json>",
            line=exc.lineno,
        ) from None
    except _StrictJSONError as exc:
        line = _line_of(text, exc.token)
        raise SourceError(
            str(exc), source=source or ("<json>" if line else None), line=line
        ) from None
    except RecursionError:
        raise _nested_too_deeply(source) from None
    except ValueError as exc:  # an integer with more digits than Python converts, say
        found = re.search(r"\d{4301}", text) if "digits" in str(exc) else None
        if found is None:
            raise SourceError(f"invalid JSON: {exc}", source=source) from None
        raise SourceError(
            "invalid JSON: a number has too many digits (more than 4,300); write a smaller "
            "number, or quote it as a string",
            source=source or "<json>",
            line=text.count("\n", 0, found.start()) + 1,
        ) from None
    check_bounds(document, source)
    return document


def issues_from_pydantic(
    error: PydanticValidationError, document: Any, base: Iterable[str | int] = ()
) -> list[ValidationIssue]:
    """Turn pydantic's errors into issues whose paths are JSON paths into ``document``."""
    issues = []
    for item in error.errors(include_url=False):
        parts: list[str | int] = list(base)
        node = document
        for part in item["loc"]:
            # pydantic adds union-member and validator names to locations; keep real keys only.
            is_key = isinstance(node, Mapping) and part in node
            is_index = (
                isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node)
            )
            if is_key or is_index:
                node = node[part]
                parts.append(part)
        message = str(item["msg"]).removeprefix("Value error, ")
        issues.append(ValidationIssue(path=json_path(parts), message=message))
    return issues


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (``null``, ``a string``); a Python value's type
    otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    for kind, word in ((list, "an array"), (str, "a string"), (int | float, "a number")):
        if isinstance(value, kind):
            return word
    return type(value).__name__


def extra_key_names(extra_keys: Iterable[str]) -> tuple[str, ...]:
    """``extra_keys`` as a tuple of custom key names, checked: one name alone (a ``str``) is a
    list of one, as everywhere ``extra_keys`` is taken.

    >>> extra_key_names("title"), extra_key_names(["title", "sections"])
    (('title',), ('title', 'sections'))
    """
    if isinstance(extra_keys, str):
        wanted: tuple[Any, ...] = (extra_keys,)
    elif isinstance(extra_keys, Iterable):  # a mapping gives its keys (prompt.extras)
        wanted = tuple(extra_keys)
    else:
        raise PromptError(
            f"extra_keys: expected a list of key names, got {type(extra_keys).__name__} "
            f"{quoted(extra_keys)}"
        )
    for key in wanted:
        if not isinstance(key, str):
            raise PromptError(f"extra_keys: {quoted(key)} is not a key name")
        if key in KNOWN_KEYS:
            raise PromptError(f"extra_keys: {key!r} is a known key, not a custom one")
    return wanted


def _custom_keys_in(document: Mapping[Any, Any], names: tuple[str, ...]) -> frozenset[Any]:
    """The keys of ``document`` that ``names`` asks for as custom keys. Keys are compared as
    the prompt keeps them, NFC-normalised: a document written decomposed ("cafe" + U+0301)
    has the custom key 'café' a caller names."""
    wanted = frozenset(names)
    if all(isinstance(key, str) and key.isascii() for key in (*names, *document)):
        return wanted  # the usual case: ASCII is NFC already
    normal = {unicodedata.normalize("NFC", name) for name in names}
    return wanted | {
        key
        for key in document
        if isinstance(key, str) and unicodedata.normalize("NFC", key) in normal
    }


def prompt_from_document(
    document: Any, *, profile: Profile = "flux2", extra_keys: Iterable[str] = ()
) -> Prompt:
    """Validate a parsed JSON document and build its :class:`Prompt`.

    Keys named in ``extra_keys`` are kept as custom extras instead of being rejected; their text
    is held to the same Unicode hygiene as the rest.

    >>> prompt_from_document({"scene": "x", "title": "Water"}, extra_keys=["title"]).extras
    {'title': 'Water'}
    """
    if not isinstance(document, Mapping):
        kind = _json_kind(document)
        raise PromptValidationError(
            [ValidationIssue("$", f"a prompt must be a JSON object, got {kind}")], profile
        )
    wanted = _custom_keys_in(document, extra_key_names(extra_keys))
    core = {k: v for k, v in document.items() if k not in wanted}
    check_document(core, profile)
    _check_camera_numbers(core, profile)
    try:
        prompt = prompt_of_checked(core)  # the schema has refused any null already
    except PydanticValidationError as exc:
        raise PromptValidationError(issues_from_pydantic(exc, core), profile) from None
    extras: list[tuple[str, str]] = []
    for key, value in document.items():
        if key in wanted:
            data, problems = json_data({key: value}, clean=True)
            if problems:
                raise PromptValidationError(problems, profile)
            ((clean_key, clean_value),) = data.items()
            if any(clean_key == kept for kept, _ in extras):
                # Two spellings of one key ("cafe" + U+0301 and "café"): the wire would hold it
                # twice, and a strict reader (load() itself) refuses a duplicate key.
                raise PromptValidationError(
                    [
                        ValidationIssue(
                            json_path([clean_key]),
                            f"{quoted(key)} is the same key as another custom key once "
                            "normalised to NFC; keep one of them",
                        )
                    ],
                    profile,
                )
            extras.append((clean_key, dumps_compact(clean_value)))
    if extras:
        attach_compiled(prompt, extras=tuple(extras))
    return prompt


def _check_camera_numbers(document: Mapping[str, Any], profile: Profile) -> None:
    """The camera's numbers are shown as floats (prose, lint): refuse one no float holds, here,
    rather than crash there. (Documents read from text were bounded when parsed; this is for
    dicts built in Python.)"""
    camera = document.get("camera")
    if not isinstance(camera, Mapping):
        return
    for key, value in camera.items():
        if isinstance(value, int) and value.bit_length() > 1000 and float_overflows(value):
            raise PromptValidationError(
                [ValidationIssue(json_path(["camera", key]), TOO_LARGE_NUMBER)],
                profile,
            )


def prompt_from_value(
    source: PromptValue,
    *,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> Prompt:
    """A validated :class:`Prompt` from a dict, JSON text or bytes, a builder or a prompt.

    This is :func:`flux2prompt.load` without files: a ``str`` is JSON text, and a path is
    refused with a pointer to ``load``.

    >>> prompt_from_value({"scene": "studio", "color_palette": ["#abc"]}).color_palette
    ('#AABBCC',)
    """
    if isinstance(source, Prompt):
        if profile != "flux2":
            compile_json(source, profile)
        return source
    if isinstance(source, PromptBuilder):
        return source.compile(profile=profile)
    if isinstance(source, str | bytes):
        if isinstance(source, str) and not source.removeprefix("\ufeff").lstrip().startswith(
            ("{", "[")
        ):
            hint = (
                "; to read a file, pass pathlib.Path(...)"
                if source.endswith((".json", ".toml"))
                else '; a prompt string here must be a JSON object such as \'{"scene": "..."}\''
            )
            raise SourceError(f"not JSON text: {source[:40]!r}{hint}")
        document = parse_json(source)
    elif isinstance(source, Mapping):
        document = source
    else:
        where = " (a path: use flux2prompt.load)" if isinstance(source, os.PathLike) else ""
        raise PromptError(
            f"cannot load a prompt from {type(source).__name__}{where}; pass a dict, JSON text, "
            "bytes, a pathlib.Path, a builder or a Prompt"
        )
    return prompt_from_document(document, profile=profile, extra_keys=extra_keys)
