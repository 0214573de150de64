"""Retries that never bill twice, against capture servers over loopback.

Each server here is a few lines of raw socket code, independent of httpx and of the emulator: it
reads whole requests (headers and Content-Length body), counts them, and answers each one as its
script says: a 200 whose body is cut off, no answer at all until after the client's read timeout,
or a keep-alive connection closed on a second request as a stale idle connection would be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from flux2prompt.transport import (
    APIConnectionError,
    AsyncWorkersAI,
    PossiblyBilledError,
    WorkersAI,
)

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
OK_BODY = json.dumps(
    {"result": {"image": base64.b64encode(PNG_1x1).decode()}, "success": True, "errors": []}
).encode()

#: What a script does with one request: answer on the connection (or not), and say whether the
#: connection stays open for another request.
Script = Callable[[socket.socket, int], bool]


def _ok(conn: socket.socket) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(OK_BODY)}"
    conn.sendall(head.encode() + b"\r\n\r\n" + OK_BODY)


class CaptureServer:
    """Counts every whole request it reads and answers by ``script(conn, number)``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read_request(self, conn: socket.socket, buffer: bytearray) -> bool:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            buffer += chunk
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            rest += chunk
        buffer[:] = rest[length:]
        return True

    def _connection(self, conn: socket.socket) -> None:
        buffer = bytearray()
        with conn:
            conn.settimeout(5)
            while not self._stop.is_set():
                try:
                    if not self._read_request(conn, buffer):
                        return
                except OSError:
                    return
                with self._lock:
                    self.received += 1
                    number = self.received
                try:
                    if not self.script(conn, number):
                        return
                except OSError:
                    return

    def __enter__(self) -> CaptureServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


@contextlib.contextmanager
def capture(script: Script) -> Iterator[CaptureServer]:
    with CaptureServer(script) as server:
        yield server


def cut_body(conn: socket.socket, number: int) -> bool:
    """A 200 that promises the whole envelope and sends half of it, then closes."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(OK_BODY)}"
    conn.sendall(head.encode() + b"\r\n\r\n" + OK_BODY[: len(OK_BODY) // 2])
    return False


def stall(conn: socket.socket, number: int) -> bool:
    """Read the request whole and answer nothing until the client has given up."""
    conn.settimeout(3)
    with contextlib.suppress(OSError):
        while conn.recv(1024):
            pass
    return False


def stall_mid_body(conn: socket.socket, number: int) -> bool:
    """Send the status line, headers and a few bytes of body, then nothing more."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(OK_BODY)}"
    conn.sendall(head.encode() + b"\r\n\r\n" + OK_BODY[:10])
    return stall(conn, number)


def stale_second_request(conn: socket.socket, number: int) -> bool:
    """Answer the first request with keep-alive; close on the second without a byte, as a
    server does with an idle connection it timed out just as the client reused it; answer the
    rest on new connections."""
    if number == 2:
        return False
    _ok(conn)
    return True


def client_for(server: CaptureServer, **options: object) -> WorkersAI:
    return WorkersAI(
        account_id="acc",
        api_token="tok",
        base_url=server.base_url,
        timeout=options.pop("timeout", 5.0),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


# -- acceptance: a cut body and a stall past the read timeout reach the server once ----------


@pytest.mark.parametrize(
    ("script", "risk", "timeout"),
    [
        (cut_body, "response_broken", 5.0),
        (stall, "read_timeout", 0.3),
        (stall_mid_body, "response_broken", 0.3),
    ],
)
def test_a_request_that_may_have_run_is_sent_exactly_once(
    script: Script, risk: str, timeout: float, no_sleep: list[float]
) -> None:
    with capture(script) as server:
        with (
            client_for(server, timeout=timeout) as client,
            pytest.raises(PossiblyBilledError) as info,
        ):
            client.generate("a fox", seed=1)
        assert server.received == 1
    error = info.value
    assert (error.risk, error.resubmitted, error.attempts) == (risk, 0, 1)
    assert "it was not resubmitted" in str(error)
    assert "retry_possibly_billed=True" in error.hint
    assert no_sleep == []


@pytest.mark.parametrize(
    ("script", "timeout"), [(cut_body, 5.0), (stall, 0.3), (stall_mid_body, 0.3)]
)
def test_with_the_opt_in_such_requests_are_resent(
    script: Script, timeout: float, no_sleep: list[float]
) -> None:
    with capture(script) as server:
        client = client_for(server, timeout=timeout, max_retries=2, retry_possibly_billed=True)
        with client, pytest.raises(PossiblyBilledError) as info:
            client.generate("a fox", seed=1)
        assert server.received == 3
    assert info.value.resubmitted == 2
    assert info.value.attempts == 3
    assert "resubmitted 2 times" in str(info.value)
    assert len(no_sleep) == 2


async def test_the_async_client_sends_once_too(no_sleep: list[float]) -> None:
    with capture(cut_body) as server:
        client = AsyncWorkersAI(account_id="acc", api_token="tok", base_url=server.base_url)
        async with client:
            with pytest.raises(PossiblyBilledError) as info:
                await client.generate("a fox")
        assert server.received == 1
    assert info.value.risk == "response_broken"


# -- what is safe to resend ------------------------------------------------------------------


def test_a_stale_keep_alive_connection_is_resent_once_at_once(no_sleep: list[float]) -> None:
    with capture(stale_second_request) as server:
        with client_for(server, max_retries=0) as client:
            client.generate("a fox", seed=1)
            result = client.generate("a fox", seed=2)  # reuses the connection: closed on it
        assert server.received == 3
        assert server.connections == 2
    # Both requests reached the network; the retry budget (0) was not spent on it.
    assert result.attempts == 2
    assert no_sleep == []


async def test_the_async_client_resends_a_stale_connection_once(no_sleep: list[float]) -> None:
    with capture(stale_second_request) as server:
        client = AsyncWorkersAI(
            account_id="acc", api_token="tok", base_url=server.base_url, max_retries=0
        )
        async with client:
            await client.generate("a fox", seed=1)
            result = await client.generate("a fox", seed=2)
        assert server.received == 3
    assert result.attempts == 2


def test_a_fresh_connection_closed_without_an_answer_is_not_resent(
    no_sleep: list[float],
) -> None:
    with capture(lambda conn, number: False) as server:
        with client_for(server) as client, pytest.raises(PossiblyBilledError) as info:
            client.generate("a fox")
        assert server.received == 1
    assert info.value.risk == "disconnected"


def test_a_refused_connection_is_retried_and_counts_no_attempt(no_sleep: list[float]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Nothing listens on the port now: every connect is refused.
    client = WorkersAI(
        account_id="acc", api_token="tok", base_url=f"http://127.0.0.1:{port}/client/v4"
    )
    with client, pytest.raises(APIConnectionError) as info:
        client.generate("a fox")
    assert type(info.value) is APIConnectionError
    assert info.value.attempts == 0
    assert len(no_sleep) == 2


def test_concurrent_async_calls_each_send_once(no_sleep: list[float]) -> None:
    async def main(server: CaptureServer) -> list[BaseException | object]:
        async with AsyncWorkersAI(
            account_id="acc", api_token="tok", base_url=server.base_url, timeout=0.3
        ) as client:
            return await asyncio.gather(
                *(client.generate("a fox", seed=n) for n in range(4)), return_exceptions=True
            )

    with capture(stall) as server:
        outcomes = asyncio.run(main(server))
        assert server.received == 4
    assert all(isinstance(outcome, PossiblyBilledError) for outcome in outcomes)
