"""Signing the webhooks the emulator's BFL mode posts: HMAC-SHA256 over the raw body.

The emulator imports nothing from the transport, so the signature is computed here too; a test
checks it against :func:`flux2prompt.transport.verify_webhook`.

Example:
    >>> sign(b"{}", "k")
    'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign"]


def sign(body: bytes, secret: str) -> str:
    """The ``X-BFL-Signature`` value of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
