"""What goes over the wire: the known models, the JSON envelopes, and the errors Workers AI sends.

Every answer the emulator gives that is not a success is an :class:`ApiError`, so the HTTP layer
has one way to turn a refusal into bytes.

Example:
    >>> err = ApiError(404, 3042, "AiError: Invalid model ID")
    >>> json.loads(error_body(err))["errors"]
    [{'message': 'AiError: Invalid model ID', 'code': 3042}]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from flux2prompt._json import refuse_constant

__all__ = [
    "HTML_502_PAGE",
    "HTML_504_PAGE",
    "KLEIN_MODELS",
    "KNOWN_MODELS",
    "ApiError",
    "error_body",
    "loads_strict",
    "ray_id",
    "success_body",
    "unencodable_field",
]

KLEIN_MODELS: frozenset[str] = frozenset(
    {"@cf/black-forest-labs/flux-2-klein-4b", "@cf/black-forest-labs/flux-2-klein-9b"}
)
KNOWN_MODELS: frozenset[str] = KLEIN_MODELS | {
    "@cf/black-forest-labs/flux-2-dev",
    "@cf/black-forest-labs/flux-1-schnell",
}

# What a Cloudflare edge answers when the origin misbehaves: HTML, not the JSON envelope, which is
# exactly what a client that blindly calls response.json() trips over.
HTML_502_PAGE = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


# What the edge answers when the origin does not answer in time: HTML too, without a code.
HTML_504_PAGE = b"""<html>
<head><title>504 Gateway Time-out</title></head>
<body>
<center><h1>504 Gateway Time-out</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


class ApiError(Exception):
    """A refusal: the HTTP status, the Workers AI error code, the message, extra headers, and
    the ``error_chain`` of underlying causes (``(code, message)`` pairs) where the platform
    sends one.

    Example:
        >>> err = ApiError(400, 6003, "Invalid request headers",
        ...                chain=((6111, "Invalid format for Authorization header"),))
        >>> json.loads(error_body(err))["errors"][0]["error_chain"]
        [{'code': 6111, 'message': 'Invalid format for Authorization header'}]
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        chain: tuple[tuple[int, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        self.chain = chain


def loads_strict(body: bytes | str, *, huge_integers: bool = False) -> object:
    """Parse JSON as the hosts do: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (Python's
    parser accepts them; JavaScript's and pydantic's do not). Raises ``ValueError``.

    With ``huge_integers``, an integer of more digits than Python's ``int()`` converts is read
    as JavaScript's ``JSON.parse`` reads it, as an infinite number, so that it is refused as
    out of range by name rather than as no JSON at all.

    Example:
        >>> loads_strict(b'{"seed": 1}')
        {'seed': 1}
        >>> loads_strict(b'{"seed": NaN}')
        Traceback (most recent call last):
        ...
        ValueError: NaN is not a JSON number
    """
    if huge_integers:
        return json.loads(body, parse_constant=refuse_constant, parse_int=_javascript_int)
    return json.loads(body, parse_constant=refuse_constant)


def _javascript_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:  # past sys.int_info.str_digits_check_threshold
        return float(text)


def unencodable_field(document: Mapping[str, object]) -> str | None:
    """The first top-level key whose value holds a string that is not valid Unicode (a lone
    surrogate such as ``"\\ud800"``, which JSON's escapes can spell), else ``None``.

    Example:
        >>> unencodable_field({"prompt": "a \\ud800", "seed": 1}), unencodable_field({"a": ["b"]})
        ('prompt', None)
    """

    def bad(value: object) -> bool:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
            return False
        if isinstance(value, list):
            return any(bad(item) for item in value)
        if isinstance(value, dict):
            return any(bad(key) or bad(item) for key, item in value.items())
        return False

    for key, value in document.items():
        if bad(key) or bad(value):
            return str(key).encode("utf-8", "replace").decode("utf-8")
    return None


def _dumps(document: object) -> bytes:
    # Compact separators, like Cloudflare's own responses; ensure_ascii keeps the body pure ASCII.
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def error_body(error: ApiError) -> bytes:
    """Return the JSON error envelope for ``error``; the chain, when there is one, sits in the
    error it explains, as in Cloudflare's answers."""
    entry: dict[str, object] = {"message": error.message, "code": error.code}
    if error.chain:
        entry["error_chain"] = [{"code": code, "message": text} for code, text in error.chain]
    return _dumps({"errors": [entry], "success": False, "result": None, "messages": []})


def success_body(image_base64: str) -> bytes:
    """Return the JSON success envelope around an already base64-encoded image.

    Example:
        >>> success_body("AAAA")
        b'{"result":{"image":"AAAA"},"success":true,"errors":[],"messages":[]}'
    """
    return _dumps(
        {"result": {"image": image_base64}, "success": True, "errors": [], "messages": []}
    )


def ray_id(seed: int, sequence: int) -> str:
    """Return a ``cf-ray`` value: 16 hex digits derived from the seed and the request number.

    Example:
        >>> ray_id(0, 1).endswith("-EMU"), len(ray_id(0, 1))
        (True, 20)
    """
    digest = hashlib.blake2b(f"{seed}:{sequence}".encode(), digest_size=8).hexdigest()
    return f"{digest}-EMU"
