"""Webhooks of Black Forest Labs' API: the signature over the raw body, checked in constant time.

A request submitted with ``webhook_url`` (and ``webhook_secret``) has its result posted to that
URL when the task ends. The post carries ``X-BFL-Signature: sha256=<hex>``, the HMAC-SHA256 of
the raw request body under the secret. Check it over the bytes exactly as received, before
parsing them: re-serialised JSON would not match.

Example:
    >>> body = b'{"id":"t-1","status":"Ready"}'
    >>> header = sign_webhook(body, "s3cret")
    >>> header[:7], verify_webhook(body, header, "s3cret"), verify_webhook(body + b" ", header, "s3cret")
    ('sha256=', True, False)
"""  # noqa: E501

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from flux2prompt._errors import ParameterError

__all__ = ["WEBHOOK_SIGNATURE_HEADER", "sign_webhook", "verify_webhook"]

#: The header that carries the signature of a webhook's body.
WEBHOOK_SIGNATURE_HEADER: Final = "X-BFL-Signature"
_PREFIX: Final = "sha256="


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        key = secret.encode("utf-8")
    elif isinstance(secret, bytes | bytearray):
        key = bytes(secret)
    else:
        raise ParameterError(
            f"the webhook secret must be str or bytes, got {type(secret).__name__}",
            parameter="secret",
        )
    if not key:
        raise ParameterError("the webhook secret is empty", parameter="secret")
    return key


def _body(body: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParameterError(
            f"the webhook body must be the raw bytes received, got {type(body).__name__}: "
            "verify before decoding or parsing it",
            parameter="body",
        )
    return bytes(body)


def sign_webhook(body: bytes | bytearray | memoryview, secret: str | bytes) -> str:
    """The ``X-BFL-Signature`` value for ``body``: ``sha256=`` and the HMAC-SHA256 in hex.

    Example:
        >>> sign_webhook(b"{}", "k")
        'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
    """
    digest = hmac.new(_key(secret), _body(body), hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_webhook(
    body: bytes | bytearray | memoryview, signature: str | None, secret: str | bytes
) -> bool:
    """Whether ``signature`` (the ``X-BFL-Signature`` header, ``None`` when absent) signs the
    raw ``body`` under ``secret``.

    The comparison takes the same time wherever the first difference is
    (:func:`hmac.compare_digest`). The ``sha256=`` prefix is required; hex digits may be upper or
    lower case. A missing or malformed header is simply not a match.

    Example:
        >>> body = b'{"id":"t-1"}'
        >>> verify_webhook(body, sign_webhook(body, "k"), "k"), verify_webhook(body, None, "k")
        (True, False)
        >>> verify_webhook(body, sign_webhook(body, "k"), "other")
        False
    """
    expected = sign_webhook(body, secret)
    if not isinstance(signature, str):
        return False
    given = signature.strip()
    if given[: len(_PREFIX)].lower() != _PREFIX:
        return False
    given = _PREFIX + given[len(_PREFIX) :].lower()
    try:
        return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))
    except UnicodeEncodeError:
        return False
