"""The emulator's state across requests: seeded dice, the rate-limit bucket and the daily quota.

Every request draws the same number of random values in arrival order, whatever faults are
configured, so a run is reproducible from ``seed`` and the order of requests alone.

Example:
    >>> import random
    >>> from flux2prompt.emulator._config import EmulatorConfig
    >>> plan = FaultPlan.draw(EmulatorConfig(error_ratios={503: 1.0}), random.Random(0))
    >>> plan.error_status, plan.dropped
    (503, False)
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flux2prompt.emulator._config import ERROR_CODES, ERROR_STATUSES, EmulatorConfig

__all__ = ["FaultPlan", "RequestState", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What will go wrong with one request, decided up front from seven random draws."""

    dropped: bool
    delay_s: float
    error_status: int | None
    html_502: bool
    malformed_json: bool
    invalid_base64: bool
    image_seed: int
    #: A Cloudflare code to inject (``code_ratios``), with its status (``ERROR_CODES``).
    error_code: int | None = None
    #: A success whose base64 holds an image flux2prompt does not read (``not_an_image_ratio``).
    not_an_image: bool = False

    @classmethod
    def draw(cls, config: EmulatorConfig, rng: random.Random) -> FaultPlan:
        """Roll the dice for one request; always consumes exactly seven values from ``rng``."""
        drop, jitter, error, html, malformed, garbage = (rng.random() for _ in range(6))
        image_seed = rng.randrange(2**32)
        error_status = error_code = None
        threshold = 0.0
        # One draw spread over the statuses, then the codes, in a fixed order: ratios
        # {500: .2, 503: .3} mean [0, .2) -> 500 and [.2, .5) -> 503. The number of draws never
        # changes, so adding a kind of fault keeps every other run's sequence as it was.
        for status in ERROR_STATUSES:
            threshold += config.error_ratios.get(status, 0.0)
            if error < threshold:
                error_status = status
                break
        else:
            for code in ERROR_CODES:
                threshold += config.code_ratios.get(code, 0.0)
                if error < threshold:
                    error_code = code
                    break
        return cls(
            dropped=drop < config.drop_ratio,
            delay_s=(config.latency_ms + jitter * config.jitter_ms) / 1000.0,
            error_status=error_status,
            html_502=html < config.html_502_ratio,
            malformed_json=malformed < config.malformed_json_ratio,
            invalid_base64=garbage < config.invalid_base64_ratio,
            image_seed=image_seed,
            error_code=error_code,
            # The same draw as invalid_base64, past its share: the two never meet.
            not_an_image=(
                config.invalid_base64_ratio
                <= garbage
                < config.invalid_base64_ratio + config.not_an_image_ratio
            ),
        )


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``per_minute / 60`` tokens per second.

    Example:
        >>> now = [0.0]
        >>> bucket = TokenBucket(per_minute=60, capacity=2, clock=lambda: now[0])
        >>> bucket.take(), bucket.take(), bucket.take()
        (None, None, 1)
        >>> now[0] = 1.0
        >>> bucket.take()
    """

    def __init__(
        self, per_minute: int, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(capacity)
        self._clock = clock
        self._tokens = self._capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """Take one token; return ``None`` on success, else the whole seconds to wait (>= 1)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / self._rate))


class RequestState:
    """Everything that spans requests; :meth:`reset` starts a fresh, reproducible run."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Reseed the dice and forget the request count, the bucket and the quota used."""
        config = self._config
        with self._lock:
            self._rng = random.Random(config.seed)
            self._sequence = 0
            self._successes = 0
            burst = config.effective_burst
            self._bucket = (
                TokenBucket(config.rate_limit_per_minute, burst)
                if config.rate_limit_per_minute is not None and burst is not None
                else None
            )

    def arrive(self, config: EmulatorConfig) -> tuple[int, FaultPlan]:
        """Number a new request (from 1) and draw its faults under this request's ``config``."""
        with self._lock:
            self._sequence += 1
            return self._sequence, FaultPlan.draw(config, self._rng)

    def take_token(self) -> int | None:
        """Apply the rate limit: ``None`` to proceed, else the ``Retry-After`` seconds."""
        bucket = self._bucket
        return None if bucket is None else bucket.take()

    def quota_exhausted(self) -> bool:
        """Whether the daily quota of successful requests is used up."""
        quota = self._config.daily_quota
        with self._lock:
            return quota is not None and self._successes >= quota

    def claim_success(self) -> bool:
        """Count one success against the quota; ``False`` when a concurrent request took the last.

        Checked again here, atomically, because many requests may pass :meth:`quota_exhausted`
        at once while the quota has one success left.
        """
        quota = self._config.daily_quota
        with self._lock:
            if quota is not None and self._successes >= quota:
                return False
            self._successes += 1
            return True
