"""Cloudflare AI Gateway options: typed, validated, turned into ``cf-aig-*`` request headers.

A client built with ``gateway="name"`` sends its requests through
``https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway}/workers-ai/{model}``; these options
tune the gateway's cache, logging, timeout and retries for one request or for every request.

Caveat (observed upstream, late 2026): multipart FLUX.2 calls through a gateway have failed with
HTTP 500 / code 7000. The route is supported; see docs/transport.md.

Example:
    >>> GatewayOptions(cache_ttl=3600, metadata={"campaign": "spring"}).headers()
    {'cf-aig-cache-ttl': '3600', 'cf-aig-metadata': '{"campaign":"spring"}'}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from flux2prompt.transport._errors import MAX_DIGITS, ParameterError, count_digits, shown_number

__all__ = ["Backoff", "GatewayOptions"]

Backoff = Literal["constant", "linear", "exponential"]
_BACKOFFS: tuple[str, ...] = get_args(Backoff)
_MIN_CACHE_TTL = 60
_MAX_CACHE_TTL = 2_592_000  # 30 days: "one month"
_MAX_ATTEMPTS = 5
_MAX_RETRY_DELAY_MS = 5000
_MAX_METADATA = 5
# The gateway reads cf-aig-metadata as JSON: integers past 2**53 lose their value there (and
# one of thousands of digits cannot even be written), lone surrogates are not Unicode.
_MAX_METADATA_INT = 2**53
_SURROGATE = re.compile("[\ud800-\udfff]")


def _shown_value(value: object) -> str:
    """A refused metadata value as a message shows it: its repr, cut (an integer of thousands
    of digits cannot even be written out)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:80] + "..."


def _fail(name: str, message: str) -> ParameterError:
    return ParameterError(f"gateway_options.{name} {message}", parameter=f"gateway_options.{name}")


def _check_int(name: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(name, f"must be an integer, got {shown_number(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        shown = f"{value:,}" if value.bit_length() <= 133 else shown_number(value)
        raise _fail(name, f"must be {bounds}, got {shown}")
    if high is None and value.bit_length() > 14000 and count_digits(value) > MAX_DIGITS:
        raise _fail(name, f"is {shown_number(value)}, too long to send as a header")


def _check_text(name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
        raise _fail(name, "must be a non-empty string of printable ASCII (it is sent as a header)")


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """Per-request AI Gateway settings, each sent as a ``cf-aig-*`` header when set.

    ``cache_ttl`` is in seconds (60 to 2,592,000); ``request_timeout_ms`` and
    ``retry_delay_ms`` (at most 5,000) in milliseconds; ``max_attempts`` at most 5; ``backoff``
    one of ``constant``, ``linear``, ``exponential``; ``metadata`` at most 5 entries of strings,
    numbers or booleans; ``authorization`` is the gateway's own token for an authenticated
    gateway (kept out of ``repr``). Invalid values raise :class:`ParameterError`.

    Example:
        >>> GatewayOptions(skip_cache=True, max_attempts=3, backoff="exponential").headers()
        {'cf-aig-skip-cache': 'true', 'cf-aig-max-attempts': '3', 'cf-aig-backoff': 'exponential'}
    """

    skip_cache: bool | None = None
    cache_ttl: int | None = None
    cache_key: str | None = None
    collect_log: bool | None = None
    request_timeout_ms: int | None = None
    max_attempts: int | None = None
    retry_delay_ms: int | None = None
    backoff: Backoff | None = None
    metadata: Mapping[str, str | int | float | bool] | None = field(default=None, hash=False)
    authorization: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("skip_cache", "collect_log"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise _fail(name, f"must be True, False or None, got {value!r}")
        _check_int("cache_ttl", self.cache_ttl, _MIN_CACHE_TTL, _MAX_CACHE_TTL)
        _check_int("request_timeout_ms", self.request_timeout_ms, 1)
        _check_int("max_attempts", self.max_attempts, 1, _MAX_ATTEMPTS)
        _check_int("retry_delay_ms", self.retry_delay_ms, 0, _MAX_RETRY_DELAY_MS)
        _check_text("cache_key", self.cache_key)
        _check_text("authorization", self.authorization)
        if self.backoff is not None and self.backoff not in _BACKOFFS:
            raise _fail("backoff", f"must be one of {', '.join(_BACKOFFS)}, got {self.backoff!r}")
        if self.metadata is not None:
            if not isinstance(self.metadata, Mapping):
                raise _fail("metadata", f"must be a mapping, got {type(self.metadata).__name__}")
            if len(self.metadata) > _MAX_METADATA:
                raise _fail(
                    "metadata", f"takes at most {_MAX_METADATA} entries, got {len(self.metadata)}"
                )
            for key, value in self.metadata.items():
                if not isinstance(key, str) or not key:
                    raise _fail("metadata", f"keys must be non-empty strings, got {key!r}")
                ok = (
                    isinstance(value, str | bool)
                    or (isinstance(value, int) and abs(value) < _MAX_METADATA_INT)
                    or (isinstance(value, float) and math.isfinite(value))
                )
                if not ok:
                    raise _fail(
                        "metadata",
                        "values must be strings, numbers or booleans (integers below 2**53 in "
                        f"size), got {key}={_shown_value(value)}",
                    )
                for text in (key, value):
                    if isinstance(text, str) and _SURROGATE.search(text):
                        raise _fail(
                            "metadata",
                            f"entry {key!r} holds a lone surrogate, which is not valid Unicode "
                            "(the gateway could not read its JSON); check how the text was "
                            "decoded",
                        )
            # Frozen means frozen: keep a private copy so the caller's dict cannot change it.
            object.__setattr__(self, "metadata", dict(self.metadata))

    def headers(self) -> dict[str, str]:
        """Return the ``cf-aig-*`` headers for the options that are set.

        Example:
            >>> GatewayOptions(collect_log=False, retry_delay_ms=500).headers()
            {'cf-aig-collect-log': 'false', 'cf-aig-retry-delay': '500'}
        """
        headers: dict[str, str] = {}
        if self.skip_cache is not None:
            headers["cf-aig-skip-cache"] = "true" if self.skip_cache else "false"
        if self.cache_ttl is not None:
            headers["cf-aig-cache-ttl"] = str(self.cache_ttl)
        if self.cache_key is not None:
            headers["cf-aig-cache-key"] = self.cache_key
        if self.collect_log is not None:
            headers["cf-aig-collect-log"] = "true" if self.collect_log else "false"
        if self.request_timeout_ms is not None:
            headers["cf-aig-request-timeout"] = str(self.request_timeout_ms)
        if self.max_attempts is not None:
            headers["cf-aig-max-attempts"] = str(self.max_attempts)
        if self.retry_delay_ms is not None:
            headers["cf-aig-retry-delay"] = str(self.retry_delay_ms)
        if self.backoff is not None:
            headers["cf-aig-backoff"] = self.backoff
        if self.metadata:
            # ensure_ascii: header values travel as ASCII; non-ASCII text is \\u-escaped JSON.
            headers["cf-aig-metadata"] = json.dumps(dict(self.metadata), separators=(",", ":"))
        if self.authorization is not None:
            token = self.authorization
            has_scheme = token.lower().startswith("bearer ")
            headers["cf-aig-authorization"] = token if has_scheme else f"Bearer {token}"
        return headers
