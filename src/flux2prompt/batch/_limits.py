"""Pacing a batch: a token-bucket rate limit and an adaptive concurrency limit (AIMD).

:class:`RateLimiter` hands out send slots at ``per_minute / 60`` per second (a token bucket of
``burst`` tokens, computed as a virtual schedule, GCRA style). The default burst of 1 spaces
requests evenly, which stays under a server's bucket of any size at the same rate. On HTTP 429
the limiter pauses every sender for the server's ``Retry-After`` and halves its rate. Each
success then raises the rate by 10% up to 90% of the rate the server refused, and beyond that
by only 1/1000 of the configured rate (additive probing), so the rate settles just under the
server's instead of overshooting it again and again.

:class:`AdaptiveConcurrency` caps the requests in flight: it halves the cap on HTTP 429
(multiplicative decrease) and raises it by one per window of successes (additive increase),
never above the configured concurrency.

Both decrease at most once per congestion signal: a 429 for a request sent before the last
decrease says nothing new, so a burst of simultaneous 429s halves once, not once per request.

Example:
    >>> import asyncio
    >>> limit = AdaptiveConcurrency(8)
    >>> limit.on_rate_limited(sent_at=limit.clock()); limit.limit
    4
    >>> for _ in range(4):
    ...     limit.on_success()
    >>> limit.limit
    5
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux2prompt.batch._shard import Shard

__all__ = ["AdaptiveConcurrency", "RateLimiter", "shard_rate_limit"]

_MIN_RATE_FRACTION = 1 / 64
_BACK_TO = 0.9  # of the refused rate: where quick recovery stops
_QUICK_STEP = 1.1  # times the rate, per success, below that
_PROBE_STEPS = 1000  # the configured rate / this, per success, above it


def shard_rate_limit(
    job_rate: int, shard: Shard | None, override: int | None = None
) -> tuple[int, str | None]:
    """The rate (requests per minute) a run paces itself at, and a note for its summary.

    A job's ``rate_limit`` is the account's: shards run at the same time on one account, so
    shard ``i/n`` takes ``1/n`` of it (rounded down, at least 1) unless ``override`` (the
    run's own ``rate_limit``, ``--rate-limit``) says otherwise. The note says what was shared.

    Example:
        >>> from flux2prompt.batch._shard import Shard
        >>> shard_rate_limit(720, Shard(1, 2))
        (360, "360 requests/min: the job's 720 shared by 2 shards (--rate-limit overrides)")
        >>> shard_rate_limit(720, Shard(1, 2), override=500), shard_rate_limit(720, None)
        ((500, None), (720, None))
    """
    if override is not None:
        return override, None
    if shard is None or shard.count == 1 or not isinstance(job_rate, int):
        return job_rate, None
    shared = max(1, job_rate // shard.count)
    note = (
        f"{shared} requests/min: the job's {job_rate} shared by {shard.count} shards "
        "(--rate-limit overrides)"
    )
    return shared, note


class RateLimiter:
    """Paces sends at ``per_minute`` requests per minute with a bucket of ``burst`` tokens.

    Example:
        >>> import asyncio
        >>> async def main() -> float:
        ...     limiter = RateLimiter(per_minute=600)
        ...     start = limiter.clock()
        ...     for _ in range(5):
        ...         await limiter.acquire()
        ...     return limiter.clock() - start
        >>> 0.35 < asyncio.run(main()) < 0.6
        True
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.max_rate = per_minute / 60.0
        self.rate = self.max_rate
        self.burst = burst
        self.clock = clock
        self._tat = clock()  # theoretical arrival time of the next request
        self._paused_until = 0.0
        self._decreased_at = float("-inf")
        self._refused = float("inf")  # the last rate the server refused

    @property
    def per_minute(self) -> float:
        """The current rate, requests per minute."""
        return self.rate * 60.0

    async def acquire(self, *, until: asyncio.Event | None = None) -> float:
        """Wait for a send slot; return the time it was granted (``clock()`` seconds).

        With ``until``, the wait ends early once that event is set (a run told to stop, whose
        caller then sends nothing): the time is returned then.
        """
        while True:
            now = self.clock()
            interval = 1.0 / self.rate
            tat = max(self._tat, now)
            slot = max(now, tat - (self.burst - 1) * interval)
            self._tat = tat + interval
            if slot > now:
                if until is None:
                    await asyncio.sleep(slot - now)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until.wait(), slot - now)
                    if until.is_set():
                        return self.clock()
            now = self.clock()
            # A pause that began while this sender waited for its slot moves it behind the pause.
            if now >= self._paused_until:
                return now

    def pause(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (a server's ``Retry-After``)."""
        until = self.clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._tat = max(self._tat, until)

    def on_rate_limited(self, sent_at: float) -> None:
        """Halve the rate, unless it was already cut after this request was sent."""
        if sent_at < self._decreased_at:
            return
        self._decreased_at = self.clock()
        self._refused = self.rate
        self.rate = max(self.max_rate * _MIN_RATE_FRACTION, self.rate / 2)

    def on_success(self) -> None:
        """Raise the rate a step back toward the configured one (see the module docs)."""
        if self.rate >= self.max_rate:
            return
        quick = _BACK_TO * self._refused
        if self.rate < quick:
            self.rate = min(quick, self.rate * _QUICK_STEP)
        else:
            self.rate += self.max_rate / _PROBE_STEPS
        self.rate = min(self.max_rate, self.rate)


class AdaptiveConcurrency:
    """A concurrency cap that halves on HTTP 429 and grows back by one per window.

    Use ``async with limit:`` around each request.

    Example:
        >>> import asyncio
        >>> async def main() -> int:
        ...     limit = AdaptiveConcurrency(2)
        ...     async with limit:
        ...         return limit.in_flight
        >>> asyncio.run(main())
        1
    """

    def __init__(self, maximum: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be >= 1, got {maximum}")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.clock = clock
        self.lowest = maximum
        self._successes = 0  # in the current window of ``limit`` requests
        self._decreased_at = float("-inf")
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        """Wait until fewer requests than the cap are in flight, then take a place."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self) -> None:
        """Give the place back."""
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    async def __aenter__(self) -> AdaptiveConcurrency:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()

    def on_rate_limited(self, sent_at: float) -> None:
        """Halve the cap (not below 1), unless it was already cut after this request was sent."""
        if sent_at < self._decreased_at:
            return
        self._decreased_at = self.clock()
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._successes = 0

    def on_success(self) -> None:
        """Additive increase: one more place for every ``limit`` successes."""
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
