"""The request on the wire, captured by an independent HTTP server and parsed by python-multipart.

Nothing of flux2prompt (nor of its emulator) is on the receiving side: a stdlib server records
the raw bytes, python-multipart splits them, and the test compares them with the reference.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from python_multipart import MultipartParser

import flux2prompt
from flux2prompt.transport import AsyncWorkersAI, GatewayOptions, WorkersAI

TOKEN = "tok-wire-0000-secret"
ACCOUNT = "0123456789abcdef0123456789abcdef"
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)

    @property
    def disposition(self) -> dict[str, str]:
        kind, *params = self.headers["content-disposition"].split(";")
        assert kind.strip() == "form-data"
        pairs = (p.strip().split("=", 1) for p in params)
        return {k: v.strip('"') for k, v in pairs}


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    kind, _, boundary = content_type.partition("; boundary=")
    assert kind == "multipart/form-data"
    parts: list[Part] = []
    name = bytearray()
    value = bytearray()

    def on_part_begin() -> None:
        parts.append(Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[name.decode().lower()] = value.decode("utf-8")
        name.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data.extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    parser.write(body)
    parser.finalize()
    return parts


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    captured: list[Captured]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        self.server.captured.append(  # type: ignore[attr-defined]
            Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        payload = json.dumps(
            {"result": {"image": base64.b64encode(PNG_1x1).decode()}, "success": True}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("cf-ray", "8f00aa11bb22cc33-AMS")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[Captured]]]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    server.captured = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server.captured  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def poster() -> flux2prompt.PromptBuilder:
    return (
        flux2prompt.scene("a night market poster, lanterns over wet cobblestones")
        .style("risograph print")
        .text("夜市へようこそ", language="ja", placement="top centre")
        .text("أهلاً بكم في السوق الليلي", language="ar", placement="bottom")
    )


def test_a_captured_request_matches_the_reference(
    recorder: tuple[str, list[Captured]], make_image: Callable[..., bytes]
) -> None:
    url, captured = recorder
    prompt = poster().compile()
    references = [make_image(64, 48, "png"), make_image(200, 100, "jpeg")]
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=f"{url}/client/v4") as client:
        result = client.generate(
            poster(), width=1024, height=768, steps=28, guidance=4.5, seed=42, images=references
        )

    (request,) = captured
    assert request.method == "POST"
    assert request.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/@cf/black-forest-labs/flux-2-dev"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=")[1]
    assert request.body.startswith(f"--{boundary}\r\n".encode())
    assert request.body.endswith(f"--{boundary}--\r\n".encode())
    assert int(request.headers["content-length"]) == len(request.body)

    parts = parse_multipart(content_type, request.body)
    names = [part.disposition["name"] for part in parts]
    assert names == [
        "prompt",
        "width",
        "height",
        "steps",
        "guidance",
        "seed",
        "input_image_0",
        "input_image_1",
    ]
    by_name = {part.disposition["name"]: part for part in parts}

    # The prompt field holds exactly the compact wire JSON, UTF-8, characters unescaped.
    prompt_part = by_name["prompt"]
    assert bytes(prompt_part.data) == prompt.to_json().encode("utf-8")
    assert "夜市へようこそ".encode() in prompt_part.data
    assert "أهلاً بكم في السوق الليلي".encode() in prompt_part.data
    assert b"\\u" not in prompt_part.data
    assert "filename" not in prompt_part.disposition
    assert "content-type" not in prompt_part.headers

    for name, expected in (
        ("width", b"1024"),
        ("height", b"768"),
        ("steps", b"28"),
        ("guidance", b"4.5"),
        ("seed", b"42"),
    ):
        assert bytes(by_name[name].data) == expected
        assert "filename" not in by_name[name].disposition

    for index, (data, ext, media) in enumerate(
        [(references[0], "png", "image/png"), (references[1], "jpg", "image/jpeg")]
    ):
        part = by_name[f"input_image_{index}"]
        assert part.disposition["filename"] == f"input_image_{index}.{ext}"
        assert part.headers["content-type"] == media
        assert bytes(part.data) == data

    assert result.prompt_fingerprint == prompt.fingerprint
    assert result.request_id == "8f00aa11bb22cc33-AMS"
    assert (result.width, result.height, result.format) == (1, 1, "png")


def test_a_prompt_alone_is_still_multipart(recorder: tuple[str, list[Captured]]) -> None:
    url, captured = recorder
    with WorkersAI(
        account_id=ACCOUNT, api_token=TOKEN, base_url=f"{url}/client/v4", model="klein-4b"
    ) as client:
        client.generate("a paper crane on a desk — 折り鶴")
    (request,) = captured
    parts = parse_multipart(request.headers["content-type"], request.body)
    assert [p.disposition["name"] for p in parts] == ["prompt", "width", "height"]
    assert bytes(parts[0].data) == "a paper crane on a desk — 折り鶴".encode()
    assert request.path.endswith("/ai/run/@cf/black-forest-labs/flux-2-klein-4b")


async def test_the_async_client_sends_the_same_bytes(recorder: tuple[str, list[Captured]]) -> None:
    url, captured = recorder
    base = f"{url}/client/v4"
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=base) as client:
        client.generate(poster(), seed=1)
    async with AsyncWorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=base) as client:
        await client.generate(poster(), seed=1)
    sync, async_ = captured
    assert sync.path == async_.path
    sync_parts = parse_multipart(sync.headers["content-type"], sync.body)
    async_parts = parse_multipart(async_.headers["content-type"], async_.body)
    assert [(p.headers, p.data) for p in sync_parts] == [(p.headers, p.data) for p in async_parts]


def test_the_gateway_route_and_headers(recorder: tuple[str, list[Captured]]) -> None:
    url, captured = recorder
    with WorkersAI(
        account_id=ACCOUNT, api_token=TOKEN, gateway="images", gateway_base_url=f"{url}/v1"
    ) as client:
        client.generate(
            "a fox",
            model="klein-9b",
            gateway_options=GatewayOptions(cache_ttl=120, metadata={"run": "ci"}),
        )
    (request,) = captured
    assert request.path == f"/v1/{ACCOUNT}/images/workers-ai/@cf/black-forest-labs/flux-2-klein-9b"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["cf-aig-cache-ttl"] == "120"
    assert request.headers["cf-aig-metadata"] == '{"run":"ci"}'
