"""Webhook signatures: a body signed with the secret verifies, one altered byte does not; and
the emulator's BFL mode posts signed webhooks that the verifier accepts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt.emulator import serve
from flux2prompt.transport import (
    BFL,
    WEBHOOK_SIGNATURE_HEADER,
    ParameterError,
    sign_webhook,
    verify_webhook,
)

secrets = st.text(min_size=1, max_size=40)


@given(body=st.binary(max_size=2048), secret=secrets)
def test_a_signed_body_verifies(body: bytes, secret: str) -> None:
    assert verify_webhook(body, sign_webhook(body, secret), secret)


@given(body=st.binary(min_size=1, max_size=2048), secret=secrets, data=st.data())
def test_one_altered_byte_does_not_verify(body: bytes, secret: str, data: st.DataObject) -> None:
    signature = sign_webhook(body, secret)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    altered = bytearray(body)
    altered[index] ^= flip
    assert not verify_webhook(bytes(altered), signature, secret)


@given(body=st.binary(max_size=256), secret=secrets, other=secrets)
def test_another_secret_does_not_verify(body: bytes, secret: str, other: str) -> None:
    if other != secret:
        assert not verify_webhook(body, sign_webhook(body, secret), other)


def test_the_header_form_is_sha256_hex_and_case_does_not_matter() -> None:
    body = b'{"id":"t-1","status":"Ready"}'
    header = sign_webhook(body, "s")
    assert header.startswith("sha256=")
    assert len(header) == 7 + 64
    assert verify_webhook(body, "SHA256=" + header[7:].upper(), "s")
    assert not verify_webhook(body, header[7:], "s")  # the prefix is part of the header
    assert not verify_webhook(body, None, "s")
    assert not verify_webhook(body, "sha256=é", "s")
    with pytest.raises(ParameterError, match="raw bytes"):
        verify_webhook(body.decode(), header, "s")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="empty"):
        sign_webhook(body, "")


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str | None]]]]:
    """A stdlib HTTP endpoint on loopback that keeps what is posted to it."""
    received: list[tuple[bytes, str | None]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers.get(WEBHOOK_SIGNATURE_HEADER)))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
        arrived.wait(5)
    finally:
        server.shutdown()
        server.server_close()


def test_the_emulator_posts_a_signed_webhook_that_verifies(
    receiver: tuple[str, list[tuple[bytes, str | None]]],
) -> None:
    url, received = receiver
    with serve(bfl_task_ms=20.0) as emu:
        with BFL(api_key="k", base_url=emu.bfl_base_url, poll_interval=0.02) as client:
            task = client.submit(
                client.build_request("a fox", webhook_url=url, webhook_secret="whsec-1")
            )
            client.result(task)
        for _ in range(100):
            if received:
                break
            threading.Event().wait(0.05)
    body, signature = received[0]
    assert verify_webhook(body, signature, "whsec-1")
    assert not verify_webhook(body + b" ", signature, "whsec-1")
    document = json.loads(body)
    assert document["id"] == task.id
    assert document["status"] == "Ready"
    assert document["result"]["sample"].startswith("http://127.0.0.1:")
