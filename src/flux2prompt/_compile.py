"""Compile a :class:`Prompt` to its wire JSON and fingerprint it.

The wire form is compact JSON (no spaces), keys in FLUX.2's priority order (``scene``,
``subjects``, ``style``, ``color_palette``, ``lighting``, ``mood``, ``background``,
``composition``, ``camera``, ``effects``, ``text``), unset keys omitted, custom extras last, and
every character as itself in UTF-8, never a ``\\uXXXX`` escape: the model reads the prompt as text.
Numbers are written in their shortest round-trip form (``85``, ``2.8``, ``1e-7``).

The hot path stays in compiled code: pydantic-core turns the frozen model into JSON data,
jsonschema-rs validates it, and pydantic-core writes the text.

Example:
    >>> from flux2prompt import load
    >>> compile_json(load({"mood": "calm", "scene": "東京"}))
    '{"scene":"東京","mood":"calm"}'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from flux2prompt._digest import sha256_fingerprint
from flux2prompt._errors import PromptValidationError, ValidationIssue
from flux2prompt._model import document_of, extras_of
from flux2prompt._schema import (
    MAX_DOCUMENT_BYTES,
    MAX_STRING_CHARS,
    check_document,
    fast_validator,
    json_path,
)

if TYPE_CHECKING:
    from flux2prompt._model import Prompt
    from flux2prompt._schema import Profile

__all__ = [
    "check_loadable",
    "compile_json",
    "core_document",
    "dumps_compact",
    "fingerprint_of",
    "write_document",
]


def dumps_compact(value: Any) -> str:
    """Compact JSON text with raw UTF-8 characters, written exactly as the wire form is.

    ``value`` must already be JSON data (see :func:`flux2prompt._schema.json_data`).

    >>> dumps_compact({"title": "Ciclo del agua", "n": [1, 2.5]})
    '{"title":"Ciclo del agua","n":[1,2.5]}'
    """
    return to_json(value).decode()


def core_document(prompt: Prompt) -> dict[str, Any]:
    """The known keys of ``prompt`` as JSON data in wire order, without custom extras: a new
    dict from pydantic-core's serializer (what :func:`~flux2prompt._model.document_of` keeps)."""
    return prompt._serialized()


def compile_json(prompt: Prompt, profile: Profile = "flux2") -> str:
    """Validate ``prompt`` under ``profile`` and return its compact wire JSON.

    Raises :class:`~flux2prompt.PromptValidationError` with every issue when the profile rejects
    it. This does the whole work on every call; :meth:`Prompt.to_json` keeps the result.

    >>> from flux2prompt import scene
    >>> compile_json(scene("dunes").extra("seed_hint", 7).compile(), "flux2")
    '{"scene":"dunes","seed_hint":7}'
    """
    return write_document(document_of(prompt), extras_of(prompt), profile)


def write_document(
    core: dict[str, Any], extras: tuple[tuple[str, str], ...], profile: Profile
) -> str:
    """Validate a prompt's wire document ``core`` under ``profile`` and write it with its custom
    ``extras`` ((key, compact JSON) pairs) last: :func:`compile_json` of the prompt they make.

    >>> write_document({"scene": "dunes"}, (("seed_hint", "7"),), "flux2")
    '{"scene":"dunes","seed_hint":7}'
    """
    # The compiled validator's yes, asked directly; for anything else check_document decides
    # (it converts data that is not plain JSON, and words every issue of an invalid document).
    try:
        valid = fast_validator(profile).is_valid(core)
    except (ValueError, TypeError, OverflowError, RecursionError):
        valid = False
    if not valid:
        check_document(core, profile)
    text = to_json(core).decode()
    if extras:
        tail = ",".join(f"{dumps_compact(key)}:{value}" for key, value in extras)
        text = f"{text[:-1]},{tail}}}" if core else f"{{{tail}}}"
    if len(text) > MAX_STRING_CHARS:  # only a text this long can hold a string past the bound
        check_loadable(core, extras, len(text.encode("utf-8")), profile)
    return text


def check_loadable(core: Any, extras: tuple[tuple[str, str], ...], size: int, profile: str) -> None:
    """Refuse a prompt that :func:`flux2prompt.load` would refuse to read back from its own
    wire text: a string (a key or a value) of more than ``MAX_STRING_CHARS`` characters, or a
    wire text of more than ``MAX_DOCUMENT_BYTES`` bytes (``size``). FLUX.2 reads at most 32K
    tokens anyway. ``core`` and ``extras`` are as :func:`write_document` takes them.

    >>> check_loadable({"scene": "x" * 200_000}, (), 200_012, "flux2")
    Traceback (most recent call last):
    ...
    flux2prompt.PromptValidationError: prompt is invalid under profile 'flux2' (1 problem):
    $.scene: a string of 200,000 characters, more than the 131,072 a prompt's strings may have (load() refuses it); shorten it
    """  # noqa: E501
    document = dict(core) if isinstance(core, dict) else {}
    document.update((key, json.loads(value)) for key, value in extras)
    issues: list[ValidationIssue] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack and len(issues) < 10:
        node, parts = stack.pop()
        if isinstance(node, dict):
            for key, value in reversed(node.items()):
                if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
                    issues.append(_too_long(parts, "a key", len(key)))
                stack.append((value, (*parts, key)))
        elif isinstance(node, list):
            items = reversed(list(enumerate(node)))
            stack.extend((value, (*parts, index)) for index, value in items)
        elif isinstance(node, str) and len(node) > MAX_STRING_CHARS:
            issues.append(_too_long(parts, "a string", len(node)))
    if not issues and size > MAX_DOCUMENT_BYTES:
        issues.append(
            ValidationIssue(
                "$",
                f"the prompt's wire JSON is {size:,} bytes, more than the {MAX_DOCUMENT_BYTES:,} "
                "bytes a document may have (load() refuses it); shorten it",
            )
        )
    if issues:
        raise PromptValidationError(issues, profile)


def _too_long(parts: tuple[str | int, ...], what: str, length: int) -> ValidationIssue:
    return ValidationIssue(
        json_path(parts),
        f"{what} of {length:,} characters, more than the {MAX_STRING_CHARS:,} a prompt's "
        "strings may have (load() refuses it); shorten it",
    )


def fingerprint_of(wire: str) -> str:
    """``sha256:`` + the hex SHA-256 of the UTF-8 bytes of ``wire``.

    >>> fingerprint_of("{}")
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    """
    return sha256_fingerprint(wire)
