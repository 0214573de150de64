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
from flux2prompt._model import document_of, extras_of
from flux2prompt._schema import check_document, fast_validator

if TYPE_CHECKING:
    from flux2prompt._model import Prompt
    from flux2prompt._schema import Profile

__all__ = ["compile_json", "core_document", "dumps_compact", "fingerprint_of", "write_document"]


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
    return text


def fingerprint_of(wire: str) -> str:
    """``sha256:`` + the hex SHA-256 of the UTF-8 bytes of ``wire``.

    >>> fingerprint_of("{}")
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    """
    return sha256_fingerprint(wire)
