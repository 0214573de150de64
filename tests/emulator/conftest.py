"""Fixtures for the emulator tests: a running emulator, an authenticated client, a poster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from flux2prompt.emulator import Emulator, serve
from testkit import ACCOUNT, AUTH, DEV

# The fixtures live here; the helpers test modules share are in tests/testkit.py.


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fresh emulator with no faults, seed 0."""
    with serve(seed=0) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    """An httpx client that sends the bearer token (shared: building one costs ~30 ms of TLS)."""
    with httpx.Client(headers=AUTH, timeout=10.0, verify=False) as http:
        yield http


@pytest.fixture(scope="session")
def anon() -> Iterator[httpx.Client]:
    """An httpx client that sends no credentials."""
    with httpx.Client(timeout=10.0, verify=False) as http:
        yield http


@pytest.fixture
def post(emu: Emulator, client: httpx.Client) -> Callable[..., httpx.Response]:
    """POST a multipart form to a model on the fixture emulator.

    ``post(prompt="x", model=KLEIN_4B, files={...}, headers={...})``: keyword text fields become
    multipart fields; ``files`` adds file parts.
    """

    def _post(
        *,
        model: str = DEV,
        files: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> httpx.Response:
        parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        url = f"{emu.base_url}/accounts/{ACCOUNT}/ai/run/{model}"
        return client.post(url, files={**parts, **(files or {})}, headers=headers)

    return _post
