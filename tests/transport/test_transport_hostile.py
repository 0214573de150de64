"""Hostile answers on every download path: huge bodies, trickling servers, reflected tokens.

Each test runs a tiny server on a loopback socket that misbehaves on purpose, and drives the
public clients (and the installed command) against it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt.transport import (
    APIStatusError,
    AsyncWorkersAI,
    ImageResult,
    PossiblyBilledError,
    ResponseError,
    ResultDownloadError,
    WorkersAI,
)

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"
MiB = 1024 * 1024
PNG = (
    bytes.fromhex("89504e470d0a1a0a0000000d49484452")
    + (64).to_bytes(4, "big")
    + (64).to_bytes(4, "big")
    + b"\x08\x02\x00\x00\x00"
    + bytes(64)
)

Handler = Callable[[socket.socket, bytes, "Hostile"], None]


class Hostile:
    """A loopback HTTP/1.1 server whose every answer is written by ``handler`` on the raw
    socket, after it has read the request whole. ``sent`` counts the body bytes it managed to
    send, ``requests`` the requests it read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent = 0
        self.requests: list[bytes] = []
        self.connections = 0
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/client/v4"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        # Keep-alive: one request after another on the connection, until the client closes it.
        with conn:
            try:
                while not self.stop.is_set():
                    request = _read_request(conn)
                    if not request:
                        return
                    self.requests.append(request)
                    self.handler(conn, request, self)
            except OSError:
                return

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""  # the client closed the connection
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(status: str, body: bytes, **headers: str) -> Handler:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        fields.update({k.replace("_", "-"): v for k, v in headers.items()})
        conn.sendall(_head(status, fields))
        server.send(conn, body)

    return handle


def image_envelope(data: bytes = PNG) -> bytes:
    return json.dumps(
        {"success": True, "result": {"image": base64.b64encode(data).decode()}}
    ).encode()


def endless(declare: int | None) -> Handler:
    """A 200 whose body never ends (or declares ``declare`` bytes and tries to send them)."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        fields = {"Content-Type": "application/json"}
        if declare is not None:
            fields["Content-Length"] = str(declare)
        else:
            fields["Connection"] = "close"
        conn.sendall(_head("200 OK", fields))
        chunk = b" " * MiB
        while not server.stop.is_set() and (declare is None or server.sent < declare):
            server.send(conn, chunk)

    return handle


def trickle(every: float, *, headers_too: bool = False) -> Handler:
    """Headers (or, with ``headers_too``, the status line itself), then one byte per ``every``
    seconds, for as long as the client listens."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        head = _head("200 OK", {"Content-Type": "application/json", "Content-Length": "100000"})
        if not headers_too:
            conn.sendall(head)
            head = b'{"success": true, "result": {"image": "' + b"A" * 100000
        for byte in head:
            if server.stop.is_set():
                return
            server.send(conn, bytes([byte]))
            time.sleep(every)

    return handle


def client(server: Hostile, **options: object) -> WorkersAI:
    options.setdefault("max_retries", 0)
    return WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=server.base_url, **options)  # type: ignore[arg-type]


def aclient(server: Hostile, **options: object) -> AsyncWorkersAI:
    options.setdefault("max_retries", 0)
    return AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=server.base_url, **options)  # type: ignore[arg-type]


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
        assert TOKEN[4:20] not in text


# -- the body size ----------------------------------------------------------------------------


def test_a_300_mib_body_is_refused_without_reading_it() -> None:
    with Hostile(endless(declare=300 * MiB)) as server, client(server) as api:
        started = time.monotonic()
        with pytest.raises(ResponseError) as caught:
            api.generate("a fox", width=256, height=256)
        elapsed = time.monotonic() - started
    assert "larger than the limit of 67,108,864 bytes" in str(caught.value)
    assert "Content-Length 314,572,800" in str(caught.value)
    assert caught.value.may_have_been_billed
    assert elapsed < 10
    # Refused at the declared length: far less than the body was ever sent.
    assert server.sent < 300 * MiB / 2


def test_an_undeclared_body_is_cut_off_at_the_configured_limit() -> None:
    with (
        Hostile(endless(declare=None)) as server,
        client(server, max_response_bytes=MiB) as api,
        pytest.raises(ResponseError, match="larger than the limit of 1,048,576 bytes"),
    ):
        api.generate("a fox", width=256, height=256)
    assert server.sent < 300 * MiB


async def test_the_async_client_bounds_the_body_too() -> None:
    with Hostile(endless(declare=None)) as server:
        async with aclient(server, max_response_bytes=2 * MiB) as api:
            with pytest.raises(ResponseError, match="more arrived"):
                await api.generate("a fox", width=256, height=256)


def test_a_body_within_the_limit_is_an_image() -> None:
    with (
        Hostile(answer("200 OK", image_envelope())) as server,
        client(server, max_response_bytes=4096) as api,
    ):
        result = api.generate("a fox", width=256, height=256)
    assert (result.width, result.height) == (64, 64)


def test_a_huge_error_body_is_read_only_as_far_as_its_envelope() -> None:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        conn.sendall(_head("500 Internal Server Error", {"Content-Type": "text/html"}))
        conn.sendall(b"<html><title>Boom</title>")
        while not server.stop.is_set():
            server.send(conn, b"x" * MiB)

    with Hostile(handle) as server, client(server) as api, pytest.raises(APIStatusError) as caught:
        api.generate("a fox", width=256, height=256)
    assert caught.value.status_code == 500
    assert "Boom" in caught.value.message
    assert server.sent < 32 * MiB


@pytest.mark.parametrize("option", [0, -1, 1.5, True, "64"])
def test_max_response_bytes_is_checked(option: object) -> None:
    from flux2prompt.transport import ParameterError

    with pytest.raises(ParameterError, match="max_response_bytes"):
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, max_response_bytes=option)  # type: ignore[arg-type]


# -- the deadline -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickling_server_ends_within_the_deadline(headers_too: bool) -> None:
    with (
        Hostile(trickle(0.4, headers_too=headers_too)) as server,
        client(server, timeout=1.5, deadline=2.0) as api,
    ):
        started = time.monotonic()
        with pytest.raises(PossiblyBilledError) as caught:
            api.generate("a fox", width=256, height=256)
        elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 4.0, elapsed
    assert "deadline of 2 s" in str(caught.value)
    assert caught.value.may_have_been_billed
    assert len(server.requests) == 1  # sent whole, so never resubmitted


async def test_the_async_client_ends_a_trickle_within_the_deadline() -> None:
    with Hostile(trickle(0.4)) as server:
        async with aclient(server, timeout=1.5, deadline=2.0) as api:
            started = time.monotonic()
            with pytest.raises(PossiblyBilledError) as caught:
                await api.generate("a fox", width=256, height=256)
            elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 4.0, elapsed
    assert caught.value.risk in ("read_timeout", "response_broken")
    assert "deadline of 2 s" in str(caught.value)


def test_the_default_deadline_follows_the_timeout() -> None:
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, timeout=1.5) as api:
        assert api.deadline == 6.0
        assert api.with_options(deadline=9).deadline == 9.0
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN) as api:
        assert api.deadline == 380.0


def test_a_fast_answer_is_not_affected_by_the_deadline() -> None:
    with (
        Hostile(answer("200 OK", image_envelope())) as server,
        client(server, deadline=0.5) as api,
    ):
        for _ in range(3):  # the same keep-alive connection, bound once
            assert api.generate("a fox", width=256, height=256).width == 64
    assert server.connections == 1


def test_a_reused_connection_that_starts_to_trickle_ends_within_the_deadline() -> None:
    fast, slow = answer("200 OK", image_envelope()), trickle(0.4)

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        (fast if len(server.requests) == 1 else slow)(conn, request, server)

    with Hostile(handle) as server, client(server, timeout=1.5, deadline=2.0) as api:
        assert api.generate("a fox", width=256, height=256).width == 64
        started = time.monotonic()
        with pytest.raises(PossiblyBilledError):
            api.generate("a fox", width=256, height=256)
        elapsed = time.monotonic() - started
    assert server.connections == 1
    assert 1.9 < elapsed < 4.0, elapsed


# -- the proxied models' result URLs -----------------------------------------------------------


def proxied(result: Handler) -> Handler:
    """A proxied answer naming an image on this same server, then ``result`` for that URL."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        if request.startswith(b"GET /results/"):
            result(conn, request, server)
            return
        url = f"http://127.0.0.1:{server.port}/results/1.png"
        body = json.dumps({"state": "Completed", "result": {"image": url}}).encode()
        answer("200 OK", body, cf_ray="8f1e-AMS")(conn, request, server)

    return handle


def test_a_trickling_result_url_ends_within_the_download_deadline() -> None:
    with (
        Hostile(proxied(trickle(0.4))) as server,
        client(server, download_timeout=1.5, timeout=5) as api,
    ):
        started = time.monotonic()
        with pytest.raises(ResultDownloadError) as caught:
            api.generate("a fox", model="flex", width=256, height=256)
        elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout"
    assert elapsed < 3.5, elapsed


async def test_the_async_download_ends_a_trickle_within_its_deadline() -> None:
    with Hostile(proxied(trickle(0.4, headers_too=True))) as server:
        async with aclient(server, download_timeout=1.5, timeout=5) as api:
            started = time.monotonic()
            with pytest.raises(ResultDownloadError) as caught:
                await api.generate("a fox", model="flex", width=256, height=256)
            elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout"
    assert elapsed < 3.5, elapsed


def test_a_huge_result_url_is_bounded_by_max_response_bytes() -> None:
    with (
        Hostile(proxied(endless(declare=None))) as server,
        client(server, max_response_bytes=MiB) as api,
        pytest.raises(ResultDownloadError) as caught,
    ):
        api.generate("a fox", model="flex", width=256, height=256)
    assert caught.value.reason == "too_large"
    assert "1,048,576" in str(caught.value)


# -- a token reflected in the headers ------------------------------------------------------------


def reflecting(status: str, body: bytes) -> Handler:
    return answer(
        status,
        body,
        cf_ray=f"8f1e-{TOKEN}",
        Retry_After=f"1 {TOKEN}",
        Content_Type=f"application/json; t={TOKEN}",
    )


def test_a_token_reflected_in_error_headers_reaches_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="flux2prompt")
    envelope = b'{"success":false,"errors":[{"code":3040,"message":"Capacity exceeded"}]}'
    with (
        Hostile(reflecting("429 Too Many Requests", envelope)) as server,
        client(server) as api,
        pytest.raises(APIStatusError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    error = caught.value
    assert error.request_id == "8f1e-***"
    assert error.retry_after == "1 ***"
    restored = pickle.loads(pickle.dumps(error))
    assert_clean(str(error), repr(error), repr(vars(error)), str(restored), repr(vars(restored)))
    assert_clean(caplog.text)


def test_a_token_reflected_in_a_success_reaches_no_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="flux2prompt")
    with Hostile(reflecting("200 OK", image_envelope())) as server, client(server) as api:
        result = api.generate("a fox", width=256, height=256)
    assert isinstance(result, ImageResult)
    assert result.request_id == "8f1e-***"
    assert_clean(repr(result), caplog.text)


def test_a_token_reflected_with_a_broken_body_reaches_no_error() -> None:
    with (
        Hostile(reflecting("200 OK", b"not json")) as server,
        client(server) as api,
        pytest.raises(ResponseError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert_clean(str(caught.value), repr(vars(caught.value)))
    assert "t=***" in str(caught.value)


# -- the command line against a hostile server --------------------------------------------------


def run_cli(server: Hostile, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_BASE_URL": server.base_url,
    }
    command = Path(sys.executable).with_name("flux2-prompt")
    (cwd / "fox.json").write_text('{"scene": "a red fox in snow"}', encoding="utf-8")
    return subprocess.run(
        [str(command), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=120,
        check=False,
    )


def test_generate_prints_no_token_from_the_headers(tmp_path: Path) -> None:
    envelope = b'{"success":false,"errors":[{"code":5006,"message":"AiError: bad input"}]}'
    with Hostile(reflecting("400 Bad Request", envelope)) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "fox.png", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "8f1e-***" in done.stderr
    assert_clean(done.stdout, done.stderr)


def test_generate_escapes_the_server_text_it_prints(tmp_path: Path) -> None:
    hostile = "\x1b[2J\x1b[1;32mok: 12 images saved\x1b[0m \u202eevil\u202c \x07"
    envelope = json.dumps(
        {"success": False, "errors": [{"code": 5006, "message": hostile}]}
    ).encode()
    with Hostile(answer("400 Bad Request", envelope, cf_ray="\x1b]0;pwned\x07")) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "fox.png", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    assert "\u202e" not in done.stderr
    assert "\x07" not in done.stderr
    assert "\\x1b[2J" in done.stderr
    assert "\\u202eevil" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def test_generate_never_replaces_a_file_it_was_not_given(tmp_path: Path) -> None:
    precious = tmp_path / "hero.jpg"
    precious.write_bytes(b"the user's own photograph")
    with Hostile(answer("200 OK", image_envelope(_jpeg()))) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "hero.png", cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert precious.read_bytes() == b"the user's own photograph"
        kept = tmp_path / "hero.1.jpg"
        assert kept.read_bytes()[:3] == b"\xff\xd8\xff"  # the paid image is not thrown away
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "hero.jpg already exists (not replaced)" in lines[0]
        assert "--force" in lines[0]
        assert "Traceback" not in done.stderr

        forced = run_cli(
            server, "generate", "fox.json", "--out", "hero.png", "--force", cwd=tmp_path
        )
    assert forced.returncode == 0, forced.stderr
    assert precious.read_bytes()[:3] == b"\xff\xd8\xff"
    assert not (tmp_path / "hero.png").exists()


def test_generate_writes_the_corrected_name_when_it_is_free(tmp_path: Path) -> None:
    with Hostile(answer("200 OK", image_envelope(_jpeg()))) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "hero.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hero.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "wrote hero.jpg instead" in done.stderr


def test_generate_escapes_a_hostile_request_id_in_its_report(tmp_path: Path) -> None:
    with Hostile(answer("200 OK", image_envelope(_jpeg()), cf_ray="\x1b[2Jray")) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "hero.jpg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "cf-ray    \\x1b[2Jray" in done.stdout


def test_batch_escapes_the_server_text_it_prints(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text(
        "from flux2prompt import scene\n"
        "from flux2prompt.batch import template\n\n\n"
        "@template(name='fox')\n"
        "def fox(color: str):\n"
        "    return scene(f'a {color} fox in fresh snow')\n",
        encoding="utf-8",
    )
    (tmp_path / "job.toml").write_text(
        'template = "t.py:fox"\noutput = "fox-{color}.{ext}"\nmodel = "klein-4b"\n'
        '[variables.matrix]\ncolor = ["red"]\n',
        encoding="utf-8",
    )
    hostile = "\x1b[2J\x1b[1;32mall 1 images saved\x1b[0m \u202eevil"
    envelope = json.dumps(
        {"success": False, "errors": [{"code": 5006, "message": hostile}]}
    ).encode()
    with Hostile(answer("400 Bad Request", envelope, cf_ray=f"ray-{TOKEN}")) as server:
        done = run_cli(server, "batch", "job.toml", "--out", "out", "--no-progress", cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "\x1b" not in done.stdout + done.stderr
    assert "\u202e" not in done.stdout + done.stderr
    assert "\\x1b[2J" in done.stderr
    assert_clean(done.stdout, done.stderr)
    manifest = (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8")
    assert_clean(manifest)
    assert "ray-***" in manifest


def test_a_token_in_a_malformed_answer_reaches_no_error() -> None:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nbroken header {TOKEN}\r\n\r\n".encode())

    with (
        Hostile(handle) as server,
        client(server) as api,
        pytest.raises(PossiblyBilledError) as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert_clean(str(caught.value), repr(vars(caught.value)))


_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@given(_HEADER_TEXT, _HEADER_TEXT, st.sampled_from(["cf-ray", "retry-after", "content-type"]))
def test_every_reflected_header_value_is_scrubbed(before: str, after: str, name: str) -> None:
    from flux2prompt.transport._errors import make_status_error, scrub_headers

    headers = {name: f"{before}{TOKEN}{after}", "CF-Ray": f"x{TOKEN}"}
    assert_clean(repr(scrub_headers(headers, [TOKEN])))
    for status in (400, 429, 500, 503):
        error = make_status_error(status, headers, b"{}", secrets=[TOKEN])
        assert_clean(str(error), repr(vars(error)), str(pickle.loads(pickle.dumps(error))))


def _png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + bytes(64)
    )


def test_an_answer_whose_image_is_a_bomb_is_refused() -> None:
    bomb = _png_claiming(60000, 60000)
    with (
        Hostile(answer("200 OK", image_envelope(bomb))) as server,
        client(server) as api,
        pytest.raises(ResponseError, match=r"claims 60000x60000 pixels") as caught,
    ):
        api.generate("a fox", width=256, height=256)
    assert caught.value.may_have_been_billed


def test_a_result_url_holding_a_bomb_is_refused() -> None:
    bomb = _png_claiming(60000, 60000)
    with (
        Hostile(proxied(answer("200 OK", bomb, Content_Type="image/png"))) as server,
        client(server) as api,
        pytest.raises(ResultDownloadError, match=r"claims 60000x60000") as caught,
    ):
        api.generate("a fox", model="flex", width=256, height=256)
    assert caught.value.reason == "not_an_image"


# -- a body whose Content-Encoding does not decode ----------------------------------------------

NOT_GZIP = answer("200 OK", b"this is not gzip at all", Content_Encoding="gzip")


def test_an_undecodable_200_may_have_been_billed_and_is_not_resent() -> None:
    with (
        Hostile(NOT_GZIP) as server,
        client(server, max_retries=2) as api,
        pytest.raises(PossiblyBilledError, match="decod") as info,
    ):
        api.generate("a fox", width=256, height=256)
    assert info.value.risk == "response_broken"
    assert len(server.requests) == 1
    assert_clean(str(info.value), repr(info.value))


async def test_the_async_client_does_not_resend_an_undecodable_200() -> None:
    with Hostile(NOT_GZIP) as server:
        async with aclient(server, max_retries=2) as api:
            with pytest.raises(PossiblyBilledError, match="decod"):
                await api.generate("a fox", width=256, height=256)
    assert len(server.requests) == 1


def test_an_undecodable_result_url_is_a_download_error() -> None:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        if request.startswith(b"POST "):
            url = f"http://127.0.0.1:{server.port}/results/1.png"
            body = json.dumps({"state": "Completed", "result": {"image": url}}).encode()
            answer("200 OK", body)(conn, request, server)
        else:
            answer("200 OK", b"not gzip", Content_Type="image/png", Content_Encoding="gzip")(
                conn, request, server
            )

    with (
        Hostile(handle) as server,
        client(server, max_retries=2) as api,
        pytest.raises(ResultDownloadError, match="decod"),
    ):
        api.generate("a fox", model="flex", width=256, height=256)
    assert sum(1 for r in server.requests if r.startswith(b"POST ")) == 1


def test_generate_reports_an_undecodable_answer_in_one_line(tmp_path: Path) -> None:
    with Hostile(NOT_GZIP) as server:
        done = run_cli(server, "generate", "fox.json", "--out", "fox.png", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "DecodingError" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "billed" in done.stderr
    assert len(server.requests) == 1
    assert_clean(done.stdout, done.stderr)
