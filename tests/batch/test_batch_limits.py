"""Pacing: the token bucket, pauses for Retry-After, and AIMD on rate and concurrency."""

from __future__ import annotations

import asyncio
import time

import pytest

from flux2prompt.batch import AdaptiveConcurrency, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def slots(limiter: RateLimiter, count: int, clock: FakeClock) -> list[float]:
    """Acquire ``count`` slots, advancing the fake clock instead of sleeping."""

    async def run() -> list[float]:
        got = []
        real_sleep = asyncio.sleep

        async def fake_sleep(seconds: float) -> None:
            clock.now += seconds
            await real_sleep(0)

        asyncio.sleep = fake_sleep  # type: ignore[assignment]
        try:
            for _ in range(count):
                got.append(await limiter.acquire() - 100.0)
        finally:
            asyncio.sleep = real_sleep
        return got

    return asyncio.run(run())


def test_requests_are_spaced_evenly_at_the_rate() -> None:
    clock = FakeClock()
    got = slots(RateLimiter(600, clock=clock), 5, clock)
    assert got == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_burst_goes_at_once_then_the_rate_applies() -> None:
    clock = FakeClock()
    got = slots(RateLimiter(60, burst=3, clock=clock), 5, clock)
    assert got == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0])


def test_a_pause_holds_every_sender() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    slots(limiter, 1, clock)
    limiter.pause(2.0)
    assert slots(limiter, 2, clock) == pytest.approx([2.0, 2.1])


def test_the_rate_halves_once_per_signal_and_recovers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1200, clock=clock)
    sent = clock()
    clock.now += 0.01
    limiter.on_rate_limited(sent)
    limiter.on_rate_limited(sent)  # the same burst: no second cut
    assert limiter.per_minute == pytest.approx(600)
    limiter.on_rate_limited(clock())
    assert limiter.per_minute == pytest.approx(300)
    for _ in range(6):
        limiter.on_success()  # quick: x1.1 per success up to 90% of the refused 600
    assert limiter.per_minute == pytest.approx(300 * 1.1**6)
    for _ in range(10):
        limiter.on_success()
    assert 540 <= limiter.per_minute < 600
    for _ in range(1000):
        limiter.on_success()  # then slow probing, back to the configured rate at most
    assert limiter.per_minute == pytest.approx(1200)


def test_real_time_pacing() -> None:
    async def run() -> float:
        limiter = RateLimiter(1200)
        start = time.monotonic()
        for _ in range(11):
            await limiter.acquire()
        return time.monotonic() - start

    assert 0.45 < asyncio.run(run()) < 0.7


def test_concurrency_halves_on_429_and_grows_back_by_one_per_window() -> None:
    clock = FakeClock()
    limit = AdaptiveConcurrency(16, clock=clock)
    sent = clock()
    clock.now += 1
    limit.on_rate_limited(sent)
    limit.on_rate_limited(sent)
    assert limit.limit == 8
    limit.on_rate_limited(clock())
    limit.on_rate_limited(clock())
    limit.on_rate_limited(clock())
    limit.on_rate_limited(clock())
    assert limit.limit == 1
    assert limit.lowest == 1
    for _ in range(1):
        limit.on_success()
    assert limit.limit == 2
    for _ in range(2):
        limit.on_success()
    assert limit.limit == 3
    for _ in range(500):
        limit.on_success()
    assert limit.limit == 16


def test_the_cap_bounds_requests_in_flight() -> None:
    async def run() -> int:
        limit = AdaptiveConcurrency(3)
        peak = 0

        async def one() -> None:
            nonlocal peak
            async with limit:
                peak = max(peak, limit.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(12)))
        return peak

    assert asyncio.run(run()) == 3
