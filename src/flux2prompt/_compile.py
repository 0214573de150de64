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

from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from flux2prompt._digest import sha256_fingerprint
from flux2prompt._model import extras_of
from flux2prompt._schema import check_document

if TYPE_CHECKING:
    from flux2prompt._model import Profile, Prompt

__all__ = ["compile_json", "core_document", "dumps_compact", "fingerprint_of", "wire_document"]


def dumps_compact(value: Any) -> str:
    """Compact JSON text with raw UTF-8 characters, written exactly as the wire form is.

    ``value`` must already be JSON data (see :func:`flux2prompt._schema.json_data`).

    >>> dumps_compact({"title": "Ciclo del agua", "n": [1, 2.5]})
    '{"title":"Ciclo del agua","n":[1,2.5]}'
    """
    return to_json(value).decode()


def core_document(prompt: Prompt) -> dict[str, Any]:
    """The known keys of ``prompt`` as JSON data in wire order, without custom extras."""
    data: dict[str, Any] = prompt.__pydantic_serializer__.to_python(
        prompt, mode="json", by_alias=True, exclude_none=True
    )
    return data


# How each field of a Prompt becomes wire data (the Prompt's field names are its wire keys).
_TEXT, _TEXTS, _PART, _PARTS = range(4)
_PROMPT_KINDS = {
    "scene": _TEXT,
    "subjects": _PARTS,
    "style": _TEXT,
    "color_palette": _TEXTS,
    "lighting": _TEXT,
    "mood": _TEXT,
    "background": _TEXT,
    "composition": _TEXT,
    "camera": _PART,
    "effects": _TEXTS,
    "text": _PARTS,
}


def wire_document(prompt: Prompt) -> dict[str, Any]:
    """:func:`core_document` of ``prompt``, assembled from the wire data each part keeps.

    pydantic-core's serializer walks every field of every part on each call, which costs about
    as much as validating and writing the document together. A part is immutable, so its wire
    data is made once (by the builder when it checked the part, or on first use); only the
    prompt's own fields are read here. Anything but exact ``str`` values (a subclass, say) takes
    the serializer's path, which knows how to convert it.

    >>> from flux2prompt import scene
    >>> wire_document(scene("dunes").subject("a nomad").compile())
    {'scene': 'dunes', 'subjects': [{'description': 'a nomad'}]}
    """
    out: dict[str, Any] = {}
    try:
        for key, value in vars(prompt).items():
            if value is None:
                continue
            kind = _PROMPT_KINDS.get(key)
            if kind is None:  # the slot of a cached property (_wire, fingerprint), not a field
                continue
            if kind is _TEXT:
                if type(value) is not str:
                    raise _Unusual
                out[key] = value
            elif kind is _PARTS:
                out[key] = [part._wire_data for part in value]
            elif kind is _PART:
                out[key] = value._wire_data
            else:
                for text in value:
                    if type(text) is not str:
                        raise _Unusual
                out[key] = list(value)
    except (_Unusual, AttributeError, TypeError):
        # Not what validation leaves behind (model_construct can hold anything): let the
        # serializer convert it, as it always did.
        return core_document(prompt)
    return out


class _Unusual(Exception):
    """A value of a prompt that :func:`wire_document` leaves to the serializer."""


def compile_json(prompt: Prompt, profile: Profile = "flux2") -> str:
    """Validate ``prompt`` under ``profile`` and return its compact wire JSON.

    Raises :class:`~flux2prompt.PromptValidationError` with every issue when the profile rejects
    it. This does the whole work on every call; :meth:`Prompt.to_json` keeps the result.

    >>> from flux2prompt import scene
    >>> compile_json(scene("dunes").extra("seed_hint", 7).compile(), "flux2")
    '{"scene":"dunes","seed_hint":7}'
    """
    core = wire_document(prompt)
    check_document(core, profile)
    text = to_json(core).decode()
    extras = extras_of(prompt)
    if extras:
        tail = ",".join(f"{dumps_compact(key)}:{value}" for key, value in extras)
        text = f"{text[:-1]},{tail}}}" if core else f"{{{tail}}}"
    return text


def fingerprint_of(wire: str) -> str:
    """``sha256:`` + the hex SHA-256 of the UTF-8 bytes of ``wire``.

    >>> fingerprint_of("{}")
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    """
    return sha256_fingerprint(wire)
