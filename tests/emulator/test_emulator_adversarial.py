"""Hostile requests to the emulator: each gets the refusal the platform documents, in its own
shape, never a dropped connection or a 500 that a client would misread as the server's fault.

Every case here speaks real HTTP over loopback to a running emulator.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from flux2prompt.emulator import Emulator, serve
from flux2prompt.emulator._bfl import ENDPOINTS, BFLRefusal, refusal_body, validate_bfl
from flux2prompt.emulator._protocol import ApiError
from flux2prompt.emulator._proxied import PROXIED_MODELS, validate_proxied
from flux2prompt.emulator._render import (
    MAX_DRAWN_BOXES,
    _draw_layout,
    _fit,
    _font_for,
    _wrap,
)

KEY = {"x-key": "bfl-test-key"}
AUTH = {"Authorization": "Bearer test-token"}
JSON = {"content-type": "application/json"}
DEV = "@cf/black-forest-labs/flux-2-dev"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with serve(seed=0, bfl_task_ms=0.0) as emulator:
        yield emulator


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (Pillow's bomb guard refuses it
    before decoding), with no real pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def direct(emu: Emulator, model: str = DEV) -> str:
    return f"{emu.base_url}/accounts/acc/ai/run/{model}"


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    [error] = response.json()["errors"]
    return response.status_code, error["code"], error["message"]


# -- Black Forest Labs mode ----------------------------------------------------------------------


def test_a_data_uri_without_base64_is_a_422_not_a_dropped_connection(emu: Emulator) -> None:
    url = f"{emu.bfl_base_url}/v1/flux-2-pro"
    answer = httpx.post(url, headers=KEY, json={"prompt": "a", "input_image": "data:image/png,x"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "input_image"]
    assert emu.bfl_tasks == []  # refused before any task exists


@pytest.mark.parametrize("endpoint", ["flux-2-pro", "flux-3-image"])
def test_a_decompression_bomb_reference_is_a_422(emu: Emulator, endpoint: str) -> None:
    field = "images" if endpoint.startswith("flux-3") else "input_image"
    data = base64.b64encode(bomb()).decode()
    body = {"prompt": "a", field: [data] if field == "images" else data}
    answer = httpx.post(f"{emu.bfl_base_url}/v1/{endpoint}", headers=KEY, json=body)
    assert answer.status_code == 422
    assert "too large" in answer.json()["detail"][0]["msg"]


def test_a_lone_surrogate_prompt_is_refused_at_submit_not_crashed_at_poll(emu: Emulator) -> None:
    url = f"{emu.bfl_base_url}/v1/flux-2-pro"
    answer = httpx.post(url, headers={**KEY, **JSON}, content=b'{"prompt": "a \\ud800 fox"}')
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert emu.bfl_tasks == []


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_json_numbers_are_not_json(emu: Emulator, constant: bytes) -> None:
    body = b'{"prompt": "a", "version": ' + constant + b"}"
    answer = httpx.post(
        f"{emu.bfl_base_url}/v1/flux-3-image", headers={**KEY, **JSON}, content=body
    )
    assert answer.status_code == 422
    assert "not valid JSON" in str(answer.json()["detail"])
    proxied = b'{"model": "black-forest-labs/flux-2-flex", "input": {"prompt": "a", "seed": '
    answer = httpx.post(
        f"{emu.base_url}/accounts/acc/ai/run",
        headers={**AUTH, **JSON},
        content=proxied + constant + b"}}",
    )
    assert error_of(answer)[:2] == (400, 5006)
    assert "not JSON" in error_of(answer)[2]


def test_flux3_version_must_be_a_string(emu: Emulator) -> None:
    url = f"{emu.bfl_base_url}/v1/flux-3-image"
    refused = httpx.post(url, headers=KEY, json={"prompt": "a", "version": 5})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "version"]
    assert httpx.post(url, headers=KEY, json={"prompt": "a", "version": "latest"}).is_success


@pytest.mark.parametrize(
    ("images", "fragment"),
    [
        ([], "1 to 10"),
        ([png(16, 16)], "at least 256x256"),
    ],
)
def test_flux3_references_follow_the_published_limits(
    emu: Emulator, images: list[bytes], fragment: str
) -> None:
    body = {"prompt": "a", "images": [base64.b64encode(i).decode() for i in images]}
    answer = httpx.post(f"{emu.bfl_base_url}/v1/flux-3-image", headers=KEY, json=body)
    assert answer.status_code == 422
    assert fragment in answer.json()["detail"][0]["msg"]
    ok = {"prompt": "a", "images": [base64.b64encode(png(256, 256)).decode()]}
    assert httpx.post(f"{emu.bfl_base_url}/v1/flux-3-image", headers=KEY, json=ok).is_success


def test_flux3_reports_no_seed_it_does_not_take(emu: Emulator) -> None:
    task = httpx.post(f"{emu.bfl_base_url}/v1/flux-3-image", headers=KEY, json={"prompt": "a"})
    answer = httpx.get(task.json()["polling_url"], headers=KEY).json()
    assert answer["status"] == "Ready"
    assert "seed" not in answer["result"]
    assert set(answer["result"]) == {"sample", "prompt"}


# -- Workers AI routes ---------------------------------------------------------------------------


def test_a_decompression_bomb_input_image_is_bad_input_not_a_500(emu: Emulator) -> None:
    files = {"prompt": (None, "a"), "input_image_0": ("b.png", bomb(), "image/png")}
    answer = httpx.post(direct(emu), headers=AUTH, files=files)
    status, code, message = error_of(answer)
    assert (status, code) == (400, 5006)
    assert "input_image_0" in message
    assert "512x512" in message


def test_a_decompression_bomb_on_the_proxied_route_is_bad_input(emu: Emulator) -> None:
    uri = "data:image/png;base64," + base64.b64encode(bomb()).decode()
    body = {
        "model": "black-forest-labs/flux-2-flex",
        "input": {"prompt": "a", "input_images": [uri]},
    }
    answer = httpx.post(f"{emu.base_url}/accounts/acc/ai/run", headers=AUTH, json=body)
    assert error_of(answer)[:2] == (400, 5006)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("", b'{"model": "black-forest-labs/flux-2-flex", "input": {"prompt": "a \\udc80"}}'),
        ("/@cf/black-forest-labs/flux-1-schnell", b'{"prompt": "a \\udc80"}'),
    ],
)
def test_a_lone_surrogate_on_the_json_routes_is_bad_input(
    emu: Emulator, model: str, body: bytes
) -> None:
    url = f"{emu.base_url}/accounts/acc/ai/run{model}"
    status, code, message = error_of(httpx.post(url, headers={**AUTH, **JSON}, content=body))
    assert (status, code) == (400, 5006)
    assert "/prompt" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("width", "\u0665\u0661\u0662"),  # 512 in Arabic-Indic digits
        ("seed", "\uff17"),  # a full-width 7
        ("steps", "2_5"),
        ("guidance", "4_5"),
        ("guidance", "\u0664.5"),
        ("guidance", "0x10"),
    ],
)
def test_numbers_are_ascii_decimals(emu: Emulator, name: str, value: str) -> None:
    files = {"prompt": (None, "a"), name: (None, value)}
    status, code, message = error_of(httpx.post(direct(emu), headers=AUTH, files=files))
    assert (status, code) == (400, 5006)
    assert f"'/{name}'" in message


def multipart(*parts: bytes) -> tuple[dict[str, str], bytes]:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + b"--B--\r\n"
    return {**AUTH, "content-type": "multipart/form-data; boundary=B"}, body


def test_a_nested_multipart_field_is_named_not_read_as_empty(emu: Emulator) -> None:
    headers, body = multipart(
        b'Content-Disposition: form-data; name="prompt"\r\n'
        b"Content-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\na fox\r\n--C--"
    )
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert "'/prompt'" in message
    assert "multipart/mixed" in message


def test_a_transfer_encoded_part_is_refused_not_decoded(emu: Emulator) -> None:
    headers, body = multipart(
        b'Content-Disposition: form-data; name="prompt"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nYSBmb3g="
    )
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert "Content-Transfer-Encoding" in message


def raw_exchange(emu: Emulator, request: bytes) -> bytes:
    with socket.create_connection((emu.host, emu.port), timeout=5) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_negative_chunk_size_is_an_incomplete_request_at_once(emu: Emulator) -> None:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=B\r\n\r\n"
        "-5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    answer = raw_exchange(emu, request)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"code":3003' in answer
    assert b"chunk size" in answer


def test_pro_with_a_reference_reports_its_edit_price(emu: Emulator) -> None:
    reference = base64.b64encode(png(64, 64)).decode()
    body = {"prompt": "a", "width": 1024, "height": 1024}
    url = f"{emu.bfl_base_url}/v1/flux-2-pro"
    plain = httpx.post(url, headers=KEY, json=body).json()
    edit = httpx.post(url, headers=KEY, json={**body, "input_image": reference}).json()
    assert (plain["cost"], edit["cost"]) == (3.0, 4.5)  # $0.03 and $0.045 per megapixel


@pytest.mark.parametrize("ttl", ["inf", "nan", "-1", "1e300"])
def test_a_result_ttl_with_no_expiry_second_falls_back_to_the_default(
    emu: Emulator, ttl: str
) -> None:
    url = f"{emu.bfl_base_url}/v1/flux-2-pro"
    task = httpx.post(url, headers={**KEY, "x-emulator-result-ttl": ttl}, json={"prompt": "a"})
    answer = httpx.get(task.json()["polling_url"], headers=KEY).json()
    assert answer["status"] == "Ready"
    assert httpx.get(answer["result"]["sample"]).status_code == 200


class _Receiver(ThreadingHTTPServer):
    def __init__(self, redirect_to: str | None) -> None:
        self.redirect_to = redirect_to
        self.hits: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.hits.append((self.command, {k.lower(): v for k, v in self.headers.items()}))
        if self.server.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer


def test_a_webhook_receiver_that_redirects_is_not_followed(emu: Emulator) -> None:
    elsewhere = _Receiver(None)
    hook = _Receiver(elsewhere.url)
    servers = [elsewhere, hook]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = {"prompt": "a", "webhook_url": hook.url, "webhook_secret": "whsec"}
        httpx.post(f"{emu.bfl_base_url}/v1/flux-2-pro", headers=KEY, json=body)
        deadline = time.monotonic() + 5
        while not hook.hits and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # room for a redirect to be followed, were it followed
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert [method for method, _ in hook.hits] == ["POST"]
    assert "x-bfl-signature" in hook.hits[0][1]
    assert elsewhere.hits == []


def test_a_huge_field_name_is_quoted_short(emu: Emulator) -> None:
    name = "n" * 100_000
    files = {"prompt": (None, "a"), name: (None, "1")}
    status, code, message = error_of(httpx.post(direct(emu), headers=AUTH, files=files))
    assert (status, code) == (400, 5006)
    assert "unexpected property 'nnnn" in message
    assert len(message) < 200


def test_a_flux3_body_past_workers_ais_limit_is_read_whole(emu: Emulator) -> None:
    # 12 MB of references: over the 10 MiB of a Workers AI request, within FLUX 3's 20 MB each.
    noise = Image.frombytes("RGB", (2000, 2000), bytes(range(256)) * 46875)
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=0)
    reference = base64.b64encode(buffer.getvalue()).decode()
    assert len(reference) > 10 * 1024 * 1024
    body = {"prompt": "a", "images": [reference]}
    answer = httpx.post(f"{emu.bfl_base_url}/v1/flux-3-image", headers=KEY, json=body, timeout=60)
    assert answer.status_code == 200, answer.text[:200]


def test_an_unhashable_resolution_is_a_422_not_a_dropped_connection(emu: Emulator) -> None:
    url = f"{emu.bfl_base_url}/v1/flux-3-image"
    answer = httpx.post(url, headers=KEY, json={"prompt": "a", "resolution": []})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "resolution"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
_BFL_FIELDS = sorted(
    {"width", "height", "seed", "safety_tolerance", "output_format", "prompt_upsampling"}
    | {"webhook_url", "webhook_secret", "images", "aspect_ratio", "resolution", "grounding"}
    | {"version", "steps", "guidance", "input_image", "input_image_2"}
)
_PROXIED_FIELDS = sorted(
    {"width", "height", "seed", "safety_tolerance", "output_format", "prompt_upsampling"}
    | {"input_images", "steps", "num_steps", "guidance"}
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(ENDPOINTS)),
    st.dictionaries(st.sampled_from(_BFL_FIELDS), _JSON, max_size=4),
)
def test_any_bfl_body_is_a_job_or_a_refusal(endpoint: str, document: dict[str, object]) -> None:
    document.setdefault("prompt", "a fox")
    refusal: BFLRefusal | None = None
    try:
        job = validate_bfl(endpoint, document)
    except BFLRefusal as caught:
        refusal = caught
    if refusal is not None:
        assert refusal.status == 422
        assert isinstance(json.loads(refusal_body(refusal))["detail"], str | list)
    else:
        assert job.width % 16 == 0
        assert job.height % 16 == 0


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(PROXIED_MODELS)),
    st.dictionaries(st.sampled_from(_PROXIED_FIELDS), _JSON, max_size=4),
)
def test_any_proxied_input_is_a_job_or_bad_input(
    model: str, given_input: dict[str, object]
) -> None:
    given_input.setdefault("prompt", "a fox")
    refused: ApiError | None = None
    try:
        job = validate_proxied({"model": model, "input": given_input})
    except ApiError as caught:
        refused = caught
    if refused is not None:
        assert (refused.status, refused.code) == (400, 5006)
    else:
        assert job.width * job.height <= 4 * 1024 * 1024


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "BREW"])
def test_any_method_on_a_model_route_is_the_platforms_405_and_recorded(
    emu: Emulator, method: str
) -> None:
    with httpx.Client(headers=AUTH) as http:  # one keep-alive connection for all three
        answer = http.request(method, direct(emu))
        after = http.post(direct(emu), files={"prompt": (None, "a fox"), "width": (None, "256")})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    if method != "HEAD":  # a HEAD answer has the headers only
        assert error_of(answer)[1] == 7001
    assert after.status_code == 200
    assert [(r.method, r.status) for r in emu.requests] == [(method, 405), ("POST", 200)]


def test_a_task_that_never_ends_posts_no_webhook(emu: Emulator) -> None:
    hook = _Receiver(None)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        for status in ("reasoning", "Content Moderated"):
            body = {"prompt": "a", "webhook_url": hook.url}
            headers = {**KEY, "x-emulator-status": status}
            httpx.post(f"{emu.bfl_base_url}/v1/flux-2-pro", headers=headers, json=body)
        deadline = time.monotonic() + 5
        while not hook.hits and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        hook.shutdown()
        hook.server_close()
    assert len(hook.hits) == 1  # the moderated task ended; "reasoning" never does


def test_a_table_of_thousands_draws_its_first_hundred_boxes_and_a_count() -> None:
    rows = [(f"item_{n}", [0, 0, 10, 10], "") for n in range(5000)]
    canvas = Image.new("RGBA", (256, 256))
    drawn = _draw_layout(ImageDraw.Draw(canvas), "A crowd", rows, 256, 256)
    assert drawn[:MAX_DRAWN_BOXES] == [f"item_{n}" for n in range(MAX_DRAWN_BOXES)]
    assert drawn[MAX_DRAWN_BOXES:] == [f"+{5000 - MAX_DRAWN_BOXES} more elements", "A crowd"]
    few = _draw_layout(ImageDraw.Draw(canvas), "A pair", rows[:2], 256, 256)
    assert few == ["item_0", "item_1", "A pair"]


def test_more_palette_colours_than_pixels_draw_one_stripe_a_column(emu: Emulator) -> None:
    palette = [f"#{n:06X}" for n in range(300)]
    prompt = json.dumps({"scene": "a swatch wall", "color_palette": palette})
    files = {"prompt": (None, prompt), "width": (None, "256"), "height": (None, "256")}
    answer = httpx.post(direct(emu), headers=AUTH, files=files)
    assert answer.status_code == 200, answer.text[:200]


def test_a_long_text_is_measured_only_as_far_as_it_can_show() -> None:
    font = _font_for("a", 20)
    calls: list[int] = []
    measure = font.getlength

    def counted(text: str, *args: object, **kwargs: object) -> float:
        calls.append(len(text))
        return measure(text, *args, **kwargs)  # type: ignore[arg-type]

    font.getlength = counted  # type: ignore[method-assign]
    try:
        lines = _wrap("word " * 200_000, font, 200, 2)
        fitted = _fit("y" * 1_000_000, font, 200)
    finally:
        del font.getlength
    assert len(lines) == 2
    assert lines[-1].endswith("...")
    assert fitted.endswith("...")
    assert len(calls) < 1200  # not one measurement per word of 200,000
    assert max(calls) <= 4 * 1920 + 3
    assert _fit("  " * 10_000 + "a", font, 200) == "a"


# -- the multipart route: charsets, delimiters and large bodies ---------------------------------


def test_an_unknown_charset_is_bad_input_naming_the_field_and_recorded(emu: Emulator) -> None:
    headers, body = multipart(
        b'Content-Disposition: form-data; name="prompt"\r\n'
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\na fox"
    )
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert "'/prompt' is not valid x-no-such-charset text" in message
    [record] = emu.requests
    assert record.fields["prompt"] == "a fox"


@pytest.mark.parametrize(
    "data",
    [
        b"--B",  # the boundary without the line break that makes it a delimiter
        b"a\r\n--BB",  # a longer boundary
        b"a\r\n--B x\r\n",  # something other than padding after it
        b"a\r\n--B-",  # half a close delimiter
        b"\r\n\r\n--",
        b"\r--B\r\n",  # a lone CR is not a line break
    ],
)
def test_a_boundary_inside_data_that_is_no_delimiter_is_data(emu: Emulator, data: bytes) -> None:
    headers, body = multipart(
        b'Content-Disposition: form-data; name="prompt"\r\n\r\na fox',
        b'Content-Disposition: form-data; name="input_image_0"; filename="x.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png(8, 8) + data,
    )
    response = httpx.post(direct(emu), headers=headers, content=body)
    assert response.status_code == 200  # Pillow reads a PNG with bytes after its end
    [record] = emu.requests
    assert record.files["input_image_0"].data == png(8, 8) + data
    assert record.fields == {"prompt": "a fox"}


def test_padding_after_a_delimiter_and_a_preamble_and_epilogue_are_allowed(emu: Emulator) -> None:
    body = (
        b"a preamble\r\n--B \t\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n'
        b'--B\r\nContent-Disposition: form-data; name="width"\r\n\r\n256\r\n'
        b"--B--\r\nan epilogue"
    )
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=B"}
    response = httpx.post(direct(emu), headers=headers, content=body)
    assert response.status_code == 200
    assert emu.requests[0].fields == {"prompt": "a fox", "width": "256"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n', "closing"),
        (b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na fox--B--', "closing"),
        (b"--B\r\nno colon here\r\n\r\na fox\r\n--B--\r\n", "header"),
        (b"--B\r\nContent-Disposition: form-data; name=prompt\r\n--B--\r\n", "blank line"),
        (b"no delimiter at all", "no boundary or no parts"),
        (b"--B--\r\n", "no boundary or no parts"),
    ],
)
def test_a_broken_multipart_body_is_bad_input_saying_what_is_wrong(
    emu: Emulator, body: bytes, fragment: str
) -> None:
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=B"}
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert "multipart" in message
    assert fragment in message


def test_a_large_body_of_line_breaks_is_parsed_in_linear_time() -> None:
    from flux2prompt.emulator._multipart import parse_form

    for filler in (b"\n", b"\r\n", b"\r\n-", b"\n--B-"):
        count = 9_000_000 // len(filler)
        body = (
            b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
            + filler * count
            + b"\r\n--B--\r\n"
        )
        started = time.perf_counter()
        [part] = parse_form("multipart/form-data; boundary=B", body)
        assert time.perf_counter() - started < 2.0, filler
        assert part.data == filler * count


def test_a_body_of_line_breaks_is_answered_on_time(emu: Emulator) -> None:
    headers, body = multipart(
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n' + b"\n" * 9_000_000
    )
    started = time.perf_counter()
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert "'/prompt' must not be empty" in message
    assert time.perf_counter() - started < 4.0


def test_parameters_quoted_extended_and_folded_are_read_as_forms_send_them(emu: Emulator) -> None:
    headers, body = multipart(
        b"Content-Disposition: form-data; name*=UTF-8''prompt\r\n\r\na fox",
        b'Content-Disposition: form-data; name="input_image_0";\r\n'
        b' filename="a;b \\"c\\".png"\r\nContent-Type: image/png\r\n\r\n' + png(8, 8),
    )
    response = httpx.post(direct(emu), headers=headers, content=body)
    assert response.status_code == 200
    [record] = emu.requests
    assert record.fields == {"prompt": "a fox"}
    assert record.files["input_image_0"].filename == 'a;b "c".png'


# -- request framing and per-request configuration ----------------------------------------------


@pytest.mark.parametrize("field", ["latency_ms", "jitter_ms"])
@pytest.mark.parametrize("value", ["1e300", "1e18"])
def test_a_latency_no_clock_can_wait_is_refused_not_a_dropped_connection(
    emu: Emulator, field: str, value: str
) -> None:
    headers, body = multipart(b'Content-Disposition: form-data; name="prompt"\r\n\r\na fox')
    headers["x-emulator-config"] = f'{{"{field}": {value}}}'
    status, code, message = error_of(httpx.post(direct(emu), headers=headers, content=body))
    assert (status, code) == (400, 5006)
    assert message.startswith("EmulatorError: x-emulator-config:")
    assert field in message


@pytest.mark.parametrize("field", ["latency_ms", "jitter_ms"])
def test_a_latency_over_a_day_is_refused_when_configured(field: str) -> None:
    from flux2prompt.emulator import EmulatorConfig

    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**{field: 1e300})  # type: ignore[arg-type]
    assert getattr(EmulatorConfig(**{field: 86_400_000}), field) == 86_400_000  # type: ignore[arg-type]


def _exchange(emu: Emulator, framing: str, body: bytes) -> bytes:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        f"Content-Type: multipart/form-data; boundary=B\r\n{framing}\r\n"
    )
    return raw_exchange(emu, head.encode() + body)


_FORM = b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n--B--\r\n'


@pytest.mark.parametrize(
    "framing",
    [
        f"Content-Length: {len(_FORM)}\r\nContent-Length: 5\r\n",  # two that disagree
        f"Content-Length: +{len(_FORM)}\r\n",
        f"Content-Length: {len(_FORM) // 10}_{len(_FORM) % 10}\r\n",
        f"Content-Length: {len(_FORM)}, 5\r\n",
    ],
)
def test_a_content_length_that_is_not_one_decimal_number_is_an_incomplete_request(
    emu: Emulator, framing: str
) -> None:
    answer = _exchange(emu, framing, _FORM)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"code":3003' in answer
    assert b"Content-Length" in answer


def test_the_same_content_length_twice_is_one(emu: Emulator) -> None:
    answer = _exchange(emu, f"Content-Length: {len(_FORM)}\r\n" * 2, _FORM)
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "prompt",
    [
        "x" * 9_000_000,  # one word of the whole body
        json.dumps({"scene": "a" * 9_000_000}),
        json.dumps({"scene": "s", "subjects": [{"type": "t" * 9_000_000}]}),
    ],
    ids=["plain", "scene", "subject"],
)
def test_a_label_of_megabytes_is_drawn_on_time(emu: Emulator, prompt: str) -> None:
    started = time.perf_counter()
    response = httpx.post(
        direct(emu), headers=AUTH, files={"prompt": (None, prompt), "width": (None, "256")}
    )
    assert response.status_code == 200
    assert time.perf_counter() - started < 2.5


@pytest.mark.parametrize("field", ["seed", "width", "steps"])
def test_an_integer_of_thousands_of_digits_on_a_json_route_is_out_of_range_by_name(
    emu: Emulator, field: str
) -> None:
    # Valid JSON: JavaScript's JSON.parse reads it as Infinity, and the property is refused.
    digits = b"9" * 5000
    flex = b'{"model": "black-forest-labs/flux-2-flex", "input": {"prompt": "a", "%s": %s}}'
    schnell = b'{"prompt": "a", "steps": %s}' % digits
    run = f"{emu.base_url}/accounts/acc/ai/run"
    for url, body in (
        (run, flex % (field.encode(), digits)),
        (f"{run}/@cf/black-forest-labs/flux-1-schnell", schnell),
    ):
        response = httpx.post(url, headers={**AUTH, **JSON}, content=body)
        status, code, message = error_of(response)
        assert (status, code) == (400, 5006)
        assert "not JSON" not in message
        assert "not valid JSON" not in message
        assert "'/" in message


@pytest.mark.parametrize(
    "coding", ["gzip", "gzip, chunked", "chunked, gzip", "identity", "notchunked", ""]
)
def test_a_body_in_a_transfer_coding_not_read_here_is_refused_not_taken_as_empty(
    emu: Emulator, coding: str
) -> None:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        f"Transfer-Encoding: {coding}\r\nContent-Type: multipart/form-data; boundary=B\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    answer = raw_exchange(emu, request)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"code":3003' in answer
    assert b"is not read here" in answer
    assert b"AiError: Bad request: " in answer  # whole, not incomplete
    assert (b"an empty Transfer-Encoding" in answer) == (coding == "")
    assert b"Connection: close" in answer
    assert emu.requests[-1].status == 400


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        (b"10\r\nhello", b"body ended inside a chunk"),
        (b"5\r\nhelloXX0\r\n\r\n", b"not followed by CRLF"),
    ],
)
def test_a_chunk_cut_short_or_overrun_is_an_incomplete_request(
    emu: Emulator, chunks: bytes, said: bytes
) -> None:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=B\r\n\r\n"
    ).encode()
    answer = raw_exchange(emu, head + chunks)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert said in answer


def test_chunked_beside_a_content_length_is_read_chunked_on_a_connection_not_reused(
    emu: Emulator,
) -> None:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 3\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=B\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    answer = raw_exchange(emu, request)
    assert b"Connection: close" in answer.partition(b"\r\n\r\n")[0]
    assert emu.requests[-1].body == b"hello"


def _chunked_post(emu: Emulator, framing: bytes) -> bytes:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=B\r\n\r\n"
    ).encode()
    return raw_exchange(emu, head + framing)


def test_a_size_line_with_leading_zeros_past_any_buffer_is_read_whole(emu: Emulator) -> None:
    answer = _chunked_post(emu, b"0" * 1100 + b"5\r\nhello\r\n0\r\n\r\n")
    assert emu.requests[-1].body == b"hello"  # not cut at 1,024 bytes and read as empty
    assert b'"code":3003' not in answer


def test_a_framing_line_too_long_is_refused_never_cut_into_body_or_a_next_request(
    emu: Emulator,
) -> None:
    extension = b"5;" + b"a" * 5000 + b"GET /smuggled HTTP/1.1\r\n"
    answer = _chunked_post(emu, extension + b"hello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"chunk size line longer than 4,096 bytes" in answer
    assert b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after it was served
    assert all("smuggled" not in r.path for r in emu.requests)


def test_trailers_past_a_requests_worth_of_headers_are_refused(emu: Emulator) -> None:
    trailers = b"".join(b"X-T%d: v\r\n" % i for i in range(500))
    answer = _chunked_post(emu, b"5\r\nhello\r\n0\r\n" + trailers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"more than 100 trailer lines" in answer


def test_an_empty_element_of_the_transfer_coding_list_is_nothing(emu: Emulator) -> None:
    path = f"/client/v4/accounts/acc/ai/run/{DEV}"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Transfer-Encoding: chunked,\r\nTransfer-Encoding: ,\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    raw_exchange(emu, request)
    assert emu.requests[-1].body == b"hello"


@pytest.mark.parametrize(("length", "refused"), [(4096, False), (4097, True)])
def test_a_framing_line_is_at_most_4096_bytes_with_its_crlf(
    emu: Emulator, length: int, refused: bool
) -> None:
    line = b"5;" + b"a" * (length - 4) + b"\r\n"
    assert len(line) == length
    answer = _chunked_post(emu, line + b"hello\r\n0\r\n\r\n")
    assert (b"longer than 4,096 bytes" in answer) == refused
