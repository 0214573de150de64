"""Fixtures for the transport tests: images, a running emulator, clients that never sleep."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from flux2prompt.emulator import Emulator, serve

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """``make_image(width, height, fmt="png")`` -> encoded image bytes (Pillow)."""
    from PIL import Image

    def make(width: int, height: int, fmt: str = "png", **save: object) -> bytes:
        image = Image.new("RGB", (width, height), (200, 40, 90))
        # A gradient, so that encoders cannot collapse the image to nothing.
        for x in range(0, width, max(1, width // 16)):
            image.putpixel((x, height // 2), (x % 256, 10, 200))
        out = io.BytesIO()
        image.save(out, format=fmt.upper(), **save)
        return out.getvalue()

    return make


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator that requires the test token, with no faults, seed 0."""
    with serve(seed=0, token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make both clients record their retry sleeps instead of sleeping."""
    from flux2prompt.transport import AsyncWorkersAI, WorkersAI

    slept: list[float] = []

    def sleep(self: object, seconds: float) -> None:
        slept.append(seconds)

    async def asleep(self: object, seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(WorkersAI, "_sleep", sleep)
    monkeypatch.setattr(AsyncWorkersAI, "_sleep", asleep)
    return slept


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real credentials must never reach a test (or a test's output).
    for name in (
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_BASE_URL",
        "CLOUDFLARE_GATEWAY_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
