"""When to retry, and how long to wait: pure functions, patchable in tests.

The clients run one flat loop: send, and on failure ask :func:`retry_wait`; if it gives a
number of seconds and retries are left, sleep that long and go again. The batch runner asks the
same function (it keeps its own budgets: how many retries, not which or how long). Nothing here
sleeps or sends.

    retried     connection failures, timeouts, 408, 429 with code 3040 (capacity),
                429 without a code but with Retry-After, 502, 503, 504
    never       400 (5006 bad input, 8007 moderated, ...), 401, 403, 404, 413, 500,
                429 with 3036/4006 (daily quota: nothing changes before 00:00 UTC),
                a 2xx with a broken body (it may have been billed)

Example:
    >>> import random
    >>> 0.375 <= retry_delay(0, None, random.Random(1)) <= 0.5
    True
    >>> retry_delay(0, 2.0)
    2.0
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import Protocol

from flux2prompt.transport._constants import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    QUOTA_CODES,
    RETRYABLE_STATUSES,
)
from flux2prompt.transport._errors import APIConnectionError, APIError, APIStatusError

__all__ = ["is_retryable", "parse_retry_after", "retry_delay", "retry_wait"]


class _Random(Protocol):
    def random(self) -> float: ...


def is_retryable(error: APIError) -> bool:
    """Say whether a failed attempt is worth repeating.

    Example:
        >>> from flux2prompt.transport._errors import make_status_error
        >>> is_retryable(make_status_error(503, {}, b""))
        True
        >>> is_retryable(make_status_error(429, {}, b'{"errors":[{"code":3036,"message":"x"}]}'))
        False
    """
    if isinstance(error, APIConnectionError):
        return True
    if not isinstance(error, APIStatusError):
        return False
    if error.status_code in RETRYABLE_STATUSES:
        return True
    if error.status_code == 429:
        if error.code in QUOTA_CODES:
            return False
        # 3040 is "capacity temporarily exceeded: retry with backoff". A 429 without a Workers
        # AI code (a proxy, the gateway) is retried only when it says when to come back.
        return error.code == 3040 or (error.code is None and error.retry_after is not None)
    return False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or ``None`` if unusable.

    Takes delta-seconds (``"2"``, ``"1.5"``) or an HTTP date; a date in the past gives ``0.0``.

    Example:
        >>> parse_retry_after("3"), parse_retry_after("soon")
        (3.0, None)
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
        10.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def retry_delay(attempt: int, retry_after: float | None, rng: _Random | None = None) -> float:
    """Return the seconds to wait before retry number ``attempt + 1`` (``attempt`` from 0).

    A server's ``retry_after`` is honoured, capped at 60 s. Otherwise exponential backoff:
    0.5 s doubling to at most 8 s, scaled by a jitter factor in [0.75, 1.0] so that many
    clients do not retry in lockstep.

    Example:
        >>> class Fixed:
        ...     def random(self) -> float:
        ...         return 0.0
        >>> [retry_delay(n, None, Fixed()) for n in range(6)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        >>> retry_delay(0, 120.0, Fixed())
        60.0
    """
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(attempt, 32), MAX_RETRY_DELAY)
    jitter = 1.0 - 0.25 * (rng if rng is not None else random).random()
    return base * jitter


def retry_wait(error: APIError, attempt: int = 0, rng: _Random | None = None) -> float | None:
    """Return the seconds to wait before repeating a request that failed with ``error``, or
    ``None`` when the error is final and repeating the request would not help.

    ``attempt`` counts the retries already made (0 before the first). This is the one retry
    policy: :class:`WorkersAI`, :class:`AsyncWorkersAI` and the batch runner all ask it, and
    only the number of retries allowed is theirs. A ``Retry-After`` is honoured (up to 60 s);
    otherwise the backoff of :func:`retry_delay`.

    Example:
        >>> from flux2prompt.transport import retry_wait
        >>> from flux2prompt.transport._errors import make_status_error
        >>> retry_wait(make_status_error(503, {"retry-after": "2"}, b""))
        2.0
        >>> retry_wait(make_status_error(429, {}, b"")) is None  # no code, no Retry-After
        True
    """
    if not is_retryable(error):
        return None
    # Looked up at call time, so a test that patches retry_delay drives every caller.
    return retry_delay(attempt, parse_retry_after(getattr(error, "retry_after", None)), rng)
