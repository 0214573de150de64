"""Digests and canonical JSON: how every fingerprint in flux2prompt is written.

A fingerprint is ``"sha256:"`` followed by the hex SHA-256 of UTF-8 bytes; canonical JSON has
sorted keys, no spaces and raw UTF-8 characters (never a ``\\uXXXX`` escape), so the same value
always gives the same text, and so the same fingerprint, on every machine. Prompt, request,
image and lockfile fingerprints are all written with these two functions; changing either
changes every recorded fingerprint.

This module imports nothing from the package: the core, the transport and the batch runner all
use it.

Example:
    >>> sha256_fingerprint(canonical_json({"b": 1, "a": "東"}))
    'sha256:44d3cfbe42e1534424eb29d830221c7c4d302b20dcf657d850859b3ce224dcfe'
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any, Final

__all__ = ["FINGERPRINT_PREFIX", "canonical_json", "sha256_file_fingerprint", "sha256_fingerprint"]

#: What every fingerprint starts with: the name of its hash.
FINGERPRINT_PREFIX: Final = "sha256:"


def sha256_fingerprint(data: bytes | str) -> str:
    """``"sha256:"`` + the hex SHA-256 of ``data`` (a ``str`` is hashed as its UTF-8 bytes).

    Example:
        >>> sha256_fingerprint("{}")
        'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
        >>> sha256_fingerprint(b"{}") == sha256_fingerprint("{}")
        True
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return FINGERPRINT_PREFIX + hashlib.sha256(data).hexdigest()


def sha256_file_fingerprint(handle: io.BufferedIOBase) -> str:
    """The :func:`sha256_fingerprint` of everything left to read in the binary file ``handle``,
    read in chunks (a large image is never held in memory twice).

    Example:
        >>> import io
        >>> sha256_file_fingerprint(io.BytesIO(b"{}")) == sha256_fingerprint(b"{}")
        True
    """
    return FINGERPRINT_PREFIX + hashlib.file_digest(handle, "sha256").hexdigest()


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, compact, raw UTF-8.

    ``NaN`` and infinities are refused with :class:`ValueError` (they are not JSON), and a value
    that is not JSON data with :class:`TypeError`.

    Example:
        >>> canonical_json({"b": [1, 2.5], "a": "東"})
        '{"a":"東","b":[1,2.5]}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
