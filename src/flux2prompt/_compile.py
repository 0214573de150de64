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
from flux2prompt._model import extras_of, keep_wire_data, kept_wire_data
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
    """:func:`core_document` of ``prompt``, assembled from the wire data its parts keep.

    pydantic-core's serializer walks every field of every part, which costs about as much as
    validating and writing the document together. A part is immutable, so the first compile
    serialises the whole prompt once and each part keeps its share (see ``keep_wire_data``);
    later compiles, of this prompt under another profile or of any prompt sharing its parts, read
    only the prompt's own eleven fields. Validation leaves exact ``str`` values in those; a
    prompt made with ``model_construct`` may hold a ``str`` subclass, which the schema check
    converts before validating and ``to_json`` writes as the same text, so the output is the same.

    >>> from flux2prompt import scene
    >>> wire_document(scene("dunes").subject("a nomad").compile())
    {'scene': 'dunes', 'subjects': [{'description': 'a nomad'}]}
    """
    fields = vars(prompt)
    try:
        out = {key: fields[key] for key in _FIELDS if fields[key] is not None}
        subjects, texts, camera = out.get("subjects"), out.get("text"), out.get("camera")
        complete = True
        if subjects is not None:
            out["subjects"] = kept = [kept_wire_data(part) for part in subjects]
            complete = None not in kept
        if texts is not None and complete:
            out["text"] = kept = [kept_wire_data(part) for part in texts]
            complete = None not in kept
        if camera is not None and complete:
            out["camera"] = kept_camera = kept_wire_data(camera)
            complete = kept_camera is not None
    except (AttributeError, KeyError, TypeError):  # not what validation leaves: the serializer's
        return core_document(prompt)
    if not complete:
        # A part not compiled before: one serializer call for the whole prompt, and every part
        # keeps its share for next time.
        core = core_document(prompt)
        for part, data in zip(subjects or (), core.get("subjects", ()), strict=False):
            keep_wire_data(part, data)
        for part, data in zip(texts or (), core.get("text", ()), strict=False):
            keep_wire_data(part, data)
        if camera is not None and "camera" in core:
            keep_wire_data(camera, core["camera"])
        return core
    for key in ("color_palette", "effects"):
        if key in out:
            out[key] = list(out[key])
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
