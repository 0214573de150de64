"""Compile a :class:`Prompt` to its wire JSON and fingerprint it.

The wire form is compact JSON (no spaces), keys in FLUX.2's priority order (``scene``,
``subjects``, ``style``, ``color_palette``, ``lighting``, ``mood``, ``background``,
``composition``, ``camera``, ``effects``, ``text``), unset keys omitted, custom extras last, and
every character as itself in UTF-8, never a ``\\uXXXX`` escape: the model reads the prompt as text.

Example:
    >>> from flux2prompt import load
    >>> compile_json(load({"mood": "calm", "scene": "東京"}))
    '{"scene":"東京","mood":"calm"}'
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from flux2prompt._schema import check_document

if TYPE_CHECKING:
    from flux2prompt._model import Profile, Prompt

__all__ = ["compile_json", "dumps_compact", "fingerprint_of"]

# One encoder built once: json.dumps with keyword arguments builds a new encoder on every call.
dumps_compact = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def compile_json(prompt: Prompt, profile: Profile = "flux2") -> str:
    """Validate ``prompt`` under ``profile`` and return its compact wire JSON.

    Raises :class:`~flux2prompt.PromptValidationError` with every issue when the profile rejects it.
    """
    from flux2prompt._model import _Node

    core = _Node.to_dict(prompt)
    check_document(core, profile)
    text: str = dumps_compact(core)
    extras = prompt._extras
    if extras:
        tail = ",".join(f"{dumps_compact(key)}:{value}" for key, value in extras)
        text = f"{text[:-1]},{tail}}}" if core else f"{{{tail}}}"
    return text


def fingerprint_of(wire: str) -> str:
    """``sha256:`` + the hex SHA-256 of the UTF-8 bytes of ``wire``.

    >>> fingerprint_of("{}")
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    """
    return "sha256:" + hashlib.sha256(wire.encode("utf-8")).hexdigest()
