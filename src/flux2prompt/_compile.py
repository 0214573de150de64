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
from flux2prompt._schema import check_document, fast_validator

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


# The Prompt's fields, in wire order; its field names are its wire keys.
_FIELDS: tuple[str, ...] = (
    *("scene", "subjects", "style", "color_palette", "lighting", "mood", "background"),
    *("composition", "camera", "effects", "text"),
)


def wire_document(prompt: Prompt) -> dict[str, Any]:
    """:func:`core_document` of ``prompt``, assembled from the wire data each part keeps.

    pydantic-core's serializer walks every field of every part on each call, which costs about
    as much as validating and writing the document together. A part is immutable, so its wire
    data is made once, when it is first compiled (see ``_Node._wire_data``); only the prompt's own
    eleven fields are read here. Validation leaves exact ``str`` values in them; a prompt made
    with ``model_construct`` may hold a ``str`` subclass, which the schema check converts before
    validating and ``to_json`` writes as the same text, so the compiled output is the same.

    >>> from flux2prompt import scene
    >>> wire_document(scene("dunes").subject("a nomad").compile())
    {'scene': 'dunes', 'subjects': [{'description': 'a nomad'}]}
    """
    fields = vars(prompt)
    try:
        out = {key: fields[key] for key in _FIELDS if fields[key] is not None}
        if "subjects" in out:
            out["subjects"] = [part._wire_data for part in out["subjects"]]
        if "text" in out:
            out["text"] = [part._wire_data for part in out["text"]]
        if "camera" in out:
            out["camera"] = out["camera"]._wire_data
        if "color_palette" in out:
            out["color_palette"] = list(out["color_palette"])
        if "effects" in out:
            out["effects"] = list(out["effects"])
    except (AttributeError, KeyError, TypeError):
        # Not what validation leaves behind (model_construct can hold anything, a dict for a
        # part, say): let the serializer convert it, as it always did.
        return core_document(prompt)
    return out


def compile_json(prompt: Prompt, profile: Profile = "flux2") -> str:
    """Validate ``prompt`` under ``profile`` and return its compact wire JSON.

    Raises :class:`~flux2prompt.PromptValidationError` with every issue when the profile rejects
    it. This does the whole work on every call; :meth:`Prompt.to_json` keeps the result.

    >>> from flux2prompt import scene
    >>> compile_json(scene("dunes").extra("seed_hint", 7).compile(), "flux2")
    '{"scene":"dunes","seed_hint":7}'
    """
    core = wire_document(prompt)
    # The compiled validator's yes, asked directly; for anything else check_document decides
    # (it converts data that is not plain JSON, and words every issue of an invalid document).
    try:
        valid = fast_validator(profile).is_valid(core)
    except (ValueError, TypeError, OverflowError, RecursionError):
        valid = False
    if not valid:
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
