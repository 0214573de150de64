"""The emulator over real HTTP: routes, auth, envelopes, input checks, recording, lifecycle."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image
from python_multipart.multipart import MultipartParser, parse_options_header

from flux2prompt.emulator import Emulator, EmulatorConfig, RecordedFile, serve
from testkit import ACCOUNT, AUTH, DEV, KLEIN_4B, KLEIN_9B, error_of, form, run_url

Post = Callable[..., httpx.Response]


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


BAD_INPUT = "AiError: Bad input: Error: "


def decode_image(response: httpx.Response) -> Image.Image:
    document = response.json()
    assert set(document) == {"result", "success", "errors", "messages"}
    assert document["success"] is True
    assert document["errors"] == []
    assert document["messages"] == []
    assert set(document["result"]) == {"image"}
    data = base64.b64decode(document["result"]["image"], validate=True)
    return Image.open(io.BytesIO(data))


# -- success ---------------------------------------------------------------------------------


def test_success_envelope_and_default_image(post: Post) -> None:
    response = post(prompt="a red fox in the snow")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    image = decode_image(response)
    assert image.format == "JPEG"
    assert image.size == (1024, 768)


@pytest.mark.parametrize("model", [DEV, KLEIN_4B, KLEIN_9B])
def test_every_known_model_answers(post: Post, model: str) -> None:
    response = post(model=model, prompt="a lighthouse", width="512", height="256")
    assert response.status_code == 200
    assert decode_image(response).size == (512, 256)


def test_dev_accepts_steps_guidance_and_seed(post: Post) -> None:
    response = post(prompt="x", steps="25", guidance="3.5", seed="42", width="256", height="256")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "magic"),
    [("png", b"\x89PNG"), ("webp", b"RIFF"), ("jpeg", b"\xff\xd8\xff"), ("JPG", b"\xff\xd8\xff")],
)
def test_format_header_chooses_the_image_format(post: Post, header: str, magic: bytes) -> None:
    response = post(prompt="x", width="256", height="256", headers={"x-emulator-format": header})
    data = base64.b64decode(response.json()["result"]["image"])
    assert data.startswith(magic)
    if header == "webp":
        assert data[8:12] == b"WEBP"


def test_config_image_format(client: httpx.Client) -> None:
    with serve(image_format="png") as emulator:
        response = client.post(run_url(emulator), files=form(prompt="x", width="256"))
    assert base64.b64decode(response.json()["result"]["image"]).startswith(b"\x89PNG")


def test_same_inputs_give_identical_bytes_across_emulators(client: httpx.Client) -> None:
    fields = form(prompt='{"scene": "a harbour", "color_palette": ["#112233"]}', seed="9")
    images = []
    for _ in range(2):
        with serve(seed=123) as emulator:
            images.append(client.post(run_url(emulator), files=fields).json()["result"]["image"])
    assert images[0] == images[1]


def test_seed_changes_the_image(post: Post) -> None:
    first = post(prompt="x", seed="1", width="256", height="256").json()["result"]["image"]
    second = post(prompt="x", seed="2", width="256", height="256").json()["result"]["image"]
    assert first != second


def test_seedless_requests_are_deterministic_given_the_order(client: httpx.Client) -> None:
    runs = []
    for _ in range(2):
        with serve(seed=5) as emulator:
            fields = form(prompt="x", width="256", height="256")
            runs.append([client.post(run_url(emulator), files=fields).text for _ in range(3)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 3  # each request draws its own seed


def test_reference_images_up_to_512(post: Post) -> None:
    files = {
        "input_image_0": ("a.png", png_bytes(512, 512), "image/png"),
        "input_image_3": ("b.png", png_bytes(10, 20), "image/png"),
    }
    response = post(prompt="image 0 in the style of image 3", files=files, width="256")
    assert response.status_code == 200


# -- routes, auth, envelopes -------------------------------------------------------------------


def test_gateway_route(emu: Emulator, client: httpx.Client) -> None:
    url = f"{emu.gateway_base_url}/{ACCOUNT}/my-gateway/workers-ai/{KLEIN_4B}"
    headers = {"cf-aig-skip-cache": "true", "cf-aig-metadata": '{"run": 1}'}
    response = client.post(url, files=form(prompt="x", width="256"), headers=headers)
    assert response.status_code == 200
    assert response.headers["cf-aig-cache-status"] == "MISS"
    [record] = emu.requests
    assert record.model == KLEIN_4B
    assert record.headers["cf-aig-skip-cache"] == "true"
    assert record.headers["cf-aig-metadata"] == '{"run": 1}'


def test_gateway_errors_also_carry_the_cache_status(emu: Emulator, client: httpx.Client) -> None:
    url = f"{emu.gateway_base_url}/{ACCOUNT}/gw/workers-ai/@cf/nope/model"
    response = client.post(url, files=form(prompt="x"))
    assert error_of(response) == (400, 5007, "AiError: No such model @cf/nope/model or task")
    assert response.headers["cf-aig-cache-status"] == "MISS"


def test_direct_route_has_no_gateway_header(post: Post) -> None:
    assert "cf-aig-cache-status" not in post(prompt="x", width="256").headers


def test_percent_encoded_model_id(emu: Emulator, client: httpx.Client) -> None:
    url = f"{emu.base_url}/accounts/{ACCOUNT}/ai/run/%40cf%2Fblack-forest-labs%2Fflux-2-dev"
    assert client.post(url, files=form(prompt="x", width="256")).status_code == 200
    assert emu.requests[0].model == DEV


def test_unknown_model(post: Post) -> None:
    # Live answers give 400 / 5007 for a model that does not exist.
    response = post(model="@cf/black-forest-labs/flux-3-ultra", prompt="x")
    expected = "AiError: No such model @cf/black-forest-labs/flux-3-ultra or task"
    assert error_of(response) == (400, 5007, expected)


def test_unknown_path(emu: Emulator, client: httpx.Client) -> None:
    response = client.post(f"{emu.base_url}/accounts/{ACCOUNT}/ai/models/search")
    assert error_of(response) == (400, 7000, "No route for that URI")
    assert emu.requests[0].model is None
    assert emu.requests[0].status == 400


def test_wrong_method(emu: Emulator, client: httpx.Client) -> None:
    response = client.get(run_url(emu))
    assert error_of(response) == (405, 7001, "Method not allowed")
    assert response.headers["allow"] == "POST"


def test_every_response_carries_a_ray_id(emu: Emulator, client: httpx.Client, post: Post) -> None:
    responses = [post(prompt="x", width="256"), post(width="256"), client.get(emu.base_url)]
    rays = [response.headers["cf-ray"] for response in responses]
    assert all(ray.endswith("-EMU") and len(ray) == 20 for ray in rays)
    assert len(set(rays)) == 3
    with serve(seed=0) as other:
        assert client.get(other.base_url).headers["cf-ray"] == rays[0]


def test_missing_authorization(emu: Emulator, anon: httpx.Client) -> None:
    response = anon.post(run_url(emu), files=form(prompt="x"))
    assert error_of(response) == (401, 10000, "Authentication error")
    assert "error_chain" not in response.json()["errors"][0]


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "test-token", "Bearer a b", "Bearer 'a' x"],
)
def test_malformed_authorization_is_400_6003_with_an_error_chain(
    emu: Emulator, anon: httpx.Client, authorization: str
) -> None:
    response = anon.post(
        run_url(emu), files=form(prompt="x"), headers={"Authorization": authorization}
    )
    assert error_of(response) == (400, 6003, "Invalid request headers")
    assert response.json()["errors"][0]["error_chain"] == [
        {"code": 6111, "message": "Invalid format for Authorization header"}
    ]


def test_configured_token_must_match(anon: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve(token="s3cret-token") as emulator:
        url = run_url(emulator)
        fields = form(prompt="x", width="256")
        wrong = anon.post(url, files=fields, headers={"Authorization": "Bearer other"})
        right = anon.post(url, files=fields, headers={"Authorization": "bearer s3cret-token"})
        assert error_of(wrong) == (401, 10000, "Authentication error")
        assert right.status_code == 200
        assert "s3cret-token" not in repr(emulator) + repr(emulator.requests)
    assert "s3cret-token" not in caplog.text


# -- input checks ------------------------------------------------------------------------------


def test_json_body_is_refused_exactly(emu: Emulator, client: httpx.Client) -> None:
    response = client.post(run_url(emu), json={"prompt": "a fox"})
    expected = "AiError: Bad input: Error: required properties at '/' are 'multipart'"
    assert error_of(response) == (400, 5006, expected)


def test_urlencoded_body_is_refused(emu: Emulator, client: httpx.Client) -> None:
    response = client.post(run_url(emu), data={"prompt": "a fox"})
    assert error_of(response)[:2] == (400, 5006)
    assert "'multipart'" in error_of(response)[2]


def test_multipart_without_closing_boundary(emu: Emulator, client: httpx.Client) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    response = client.post(run_url(emu), content=body, headers=headers)
    status, code, message = error_of(response)
    assert (status, code) == (400, 5006)
    assert "malformed multipart" in message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"width": "512"}, "required properties at '/' are 'prompt'"),
        ({"prompt": "   "}, "'/prompt' must not be empty"),
        ({"prompt": "x", "width": "wide"}, "'/width' must be an integer, got 'wide'"),
        ({"prompt": "x", "width": "512.0"}, "'/width' must be an integer"),
        ({"prompt": "x", "width": "255"}, "'/width' must be between 256 and 1920, got 255"),
        ({"prompt": "x", "width": "1921"}, "'/width' must be between 256 and 1920, got 1921"),
        ({"prompt": "x", "height": "4096"}, "'/height' must be between 256 and 1920, got 4096"),
        ({"prompt": "x", "steps": "many"}, "'/steps' must be an integer, got 'many'"),
        ({"prompt": "x", "steps": "0"}, "'/steps' must be >= 1"),
        ({"prompt": "x", "guidance": "strong"}, "'/guidance' must be a number, got 'strong'"),
        ({"prompt": "x", "guidance": "nan"}, "'/guidance' must be a finite number"),
        ({"prompt": "x", "seed": "lucky"}, "'/seed' must be an integer, got 'lucky'"),
        ({"prompt": "x", "seed": "-1"}, "'/seed' must be >= 0"),
        ({"prompt": "x", "negative_prompt": "blur"}, "unexpected property 'negative_prompt'"),
    ],
)
def test_bad_fields(post: Post, fields: dict[str, str], fragment: str) -> None:
    status, code, message = error_of(post(**fields))
    assert (status, code) == (400, 5006)
    assert message.startswith(BAD_INPUT)
    assert fragment in message


@pytest.mark.parametrize("model", [KLEIN_4B, KLEIN_9B])
def test_steps_is_fixed_on_klein(post: Post, model: str) -> None:
    status, code, message = error_of(post(model=model, prompt="x", steps="25"))
    assert (status, code) == (400, 5006)
    assert f"steps is fixed at 4 for {model}; remove it" in message


def test_duplicate_field(emu: Emulator, client: httpx.Client) -> None:
    response = client.post(run_url(emu), files=[("prompt", (None, "a")), ("prompt", (None, "b"))])
    assert "'/prompt' was sent more than once" in error_of(response)[2]


def test_more_than_four_images(post: Post) -> None:
    files = {f"input_image_{i}": (f"{i}.png", png_bytes(), "image/png") for i in range(5)}
    status, code, message = error_of(post(prompt="x", files=files))
    assert (status, code) == (400, 5006)
    assert "at most 4 input images, got 5" in message


@pytest.mark.parametrize("name", ["image_0", "input_image_4", "reference"])
def test_image_under_a_wrong_field_name(post: Post, name: str) -> None:
    files = {name: ("a.png", png_bytes(), "image/png")}
    status, code, message = error_of(post(prompt="x", files=files))
    assert (status, code) == (400, 5006)
    assert f"'{name}'" in message


def test_image_sent_as_text(post: Post) -> None:
    message = error_of(post(prompt="x", input_image_0="not a file"))[2]
    assert "'/input_image_0' must be a file part" in message


def test_undecodable_image(post: Post) -> None:
    files = {"input_image_1": ("a.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")}
    status, code, message = error_of(post(prompt="x", files=files))
    assert (status, code) == (400, 5006)
    assert "'/input_image_1' is not a decodable image" in message


def test_image_larger_than_512_names_its_size(post: Post) -> None:
    files = {"input_image_0": ("big.png", png_bytes(600, 400), "image/png")}
    status, code, message = error_of(post(prompt="x", files=files))
    assert (status, code) == (400, 5006)
    assert "'/input_image_0' is 600x400; input images must be at most 512x512" in message


def raw_request(emulator: Emulator, head: str, body: bytes = b"") -> bytes:
    with socket.create_connection((emulator.host, emulator.port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_body_over_the_cap_is_413_without_reading_it(emu: Emulator) -> None:
    path = f"/client/v4/accounts/{ACCOUNT}/ai/run/{DEV}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 20000000\r\n\r\n"
    )
    answer = raw_request(emu, head)  # the server closes the connection, so recv() ends
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Connection: close" in headers
    assert json.loads(body)["errors"] == [
        {"message": "AiError: Request is too large", "code": 3006}
    ]
    assert emu.requests[0].status == 413


def test_chunked_body(emu: Emulator) -> None:
    request = httpx.Request("POST", "http://x", files=form(prompt="x", width="256"))
    body = request.read()
    chunked = (
        b"".join(
            f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in (body[:10], body[10:])
        )
        + b"0\r\n\r\n"
    )
    head = (
        f"POST /client/v4/accounts/{ACCOUNT}/ai/run/{DEV} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer t\r\nContent-Type: {request.headers['content-type']}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    assert raw_request(emu, head, chunked).startswith(b"HTTP/1.1 200 OK")
    assert emu.requests[0].body == body


# -- recording ---------------------------------------------------------------------------------


def test_recorded_request(emu: Emulator, client: httpx.Client) -> None:
    image = png_bytes(32, 16) + b"\r\n--\r\n\x00\xff"  # hostile bytes must survive exactly
    files: dict[str, tuple[str | None, bytes | str, str | None]] = {
        "prompt": (None, "ünïcode prompt\r\nline two", None),
        "seed": (None, "7", None),
        "input_image_0": ("ref.png", png_bytes(32, 16), "image/png"),
        "input_image_1": ("raw.bin", image, "application/octet-stream"),
    }
    request = client.build_request("POST", run_url(emu), files=files, headers={"X-Trace": "abc"})
    sent = request.read()
    response = client.send(request)
    [record] = emu.requests
    assert record.method == "POST"
    assert record.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/{DEV}"
    assert record.model == DEV
    assert record.headers["x-trace"] == "abc"
    assert record.headers["authorization"] == AUTH["Authorization"]
    assert all(name == name.lower() for name in record.headers)
    assert record.content_type.startswith("multipart/form-data; boundary=")
    assert record.fields == {"prompt": "ünïcode prompt\r\nline two", "seed": "7"}
    assert record.files["input_image_0"] == RecordedFile("ref.png", "image/png", png_bytes(32, 16))
    assert record.files["input_image_1"].data == image
    # The raw body is what httpx sent, and python-multipart reads it the same way.
    assert record.body == sent
    assert parse_with_python_multipart(record.content_type, record.body) == {
        **{name: value.encode() for name, value in record.fields.items()},
        **{name: file.data for name, file in record.files.items()},
    }
    # Pillow ignores bytes after the PNG's end, so even the hostile tail is a valid image.
    assert record.status == response.status_code == 200


def parse_with_python_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    _, options = parse_options_header(content_type)
    parts: dict[str, bytes] = {}
    current: dict[str, bytes] = {"name": b"", "data": b""}
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        current.update(name=b"", data=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        if bytes(header_field).lower() == b"content-disposition":
            _, params = parse_options_header(bytes(header_value))
            current["name"] = params[b"name"]
        header_field.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def on_part_end() -> None:
        parts[current["name"].decode()] = current["data"]

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parser.write(body)
    parser.finalize()
    return parts


def test_requests_are_in_arrival_order_and_a_snapshot(emu: Emulator, post: Post) -> None:
    for index in range(3):
        post(prompt=f"p{index}", width="256")
    snapshot = emu.requests
    assert [record.fields["prompt"] for record in snapshot] == ["p0", "p1", "p2"]
    post(prompt="p3", width="256")
    assert len(snapshot) == 3
    assert len(emu.requests) == 4


def test_arrival_order_under_concurrency(client: httpx.Client) -> None:
    # The first request sleeps longest, yet it is recorded first: order is arrival, not answer.
    with serve() as emulator:
        url = run_url(emulator)

        def send(index: int) -> None:
            delay = json.dumps({"latency_ms": 300 - 100 * index})
            client.post(url, files=form(prompt=f"p{index}"), headers={"x-emulator-config": delay})

        with ThreadPoolExecutor(3) as pool:
            futures = []
            for index in range(3):
                futures.append(pool.submit(send, index))
                time.sleep(0.03)  # make the arrival order certain
            for future in futures:
                future.result()
        assert [record.fields["prompt"] for record in emulator.requests] == ["p0", "p1", "p2"]


def test_reset_clears_recorded_requests(emu: Emulator, post: Post) -> None:
    post(prompt="x", width="256")
    emu.reset()
    assert emu.requests == []


def test_recorded_repr_hides_headers_and_body(emu: Emulator, post: Post) -> None:
    post(prompt="x", width="256")
    text = repr(emu.requests[0])
    assert "test-token" not in text
    assert "-> 200" in text


# -- performance and lifecycle -----------------------------------------------------------------


def test_sixteen_parallel_requests_overlap(client: httpx.Client) -> None:
    with serve(latency_ms=200) as emulator:
        url = run_url(emulator)
        fields = form(prompt="parallel", width="256", height="256", seed="1")
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(lambda _: client.post(url, files=fields).status_code, range(16))
            )
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 16
    assert elapsed < 1.6, f"16 x 200 ms took {elapsed:.2f} s: requests are not concurrent"


def test_a_thousand_sequential_keep_alive_requests(emu: Emulator, client: httpx.Client) -> None:
    url = run_url(emu)
    fields = form(prompt="fast", width="256", height="256", seed="1")
    # Robustness, not speed (benchmarks/bench_transport.py measures that): a long keep-alive
    # session answers every request and records each exactly once.
    statuses = [client.post(url, files=fields).status_code for _ in range(1000)]
    assert statuses == [200] * 1000
    assert len(emu.requests) == 1000


def test_keep_alive_reuses_one_connection(emu: Emulator) -> None:
    import http.client

    connection = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    request = httpx.Request("POST", "http://x", files=form(prompt="x", width="256", seed="1"))
    body = request.read()
    headers = {**AUTH, "Content-Type": request.headers["content-type"]}
    path = f"/client/v4/accounts/{ACCOUNT}/ai/run/{DEV}"
    sockets = set()
    for _ in range(50):
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert len(response.read()) == int(response.headers["Content-Length"])
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1


def test_start_stop_and_properties() -> None:
    emulator = Emulator(EmulatorConfig(seed=1))
    assert not emulator.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.base_url
    emulator.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            emulator.start()
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/client/v4"
        assert emulator.gateway_base_url == f"http://127.0.0.1:{emulator.port}/gateway/v1"
        port = emulator.port
    finally:
        emulator.stop()
    emulator.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_stop_closes_idle_keep_alive_connections() -> None:
    with serve() as emulator, httpx.Client(headers=AUTH, verify=False) as http:
        url = emulator.base_url
        http.get(url)  # leaves a pooled connection open on the server side
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            http.get(url)


def test_serve_applies_overrides() -> None:
    base = EmulatorConfig(latency_ms=5, seed=1)
    with serve(base, seed=9, image_format="webp") as emulator:
        assert emulator.config == EmulatorConfig(latency_ms=5, seed=9, image_format="webp")


def test_an_emulator_bug_is_a_500_not_a_hang_up(
    emu: Emulator, post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux2prompt.emulator import _server

    def broken(*args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(_server, "render_base64", broken)
    status, code, message = error_of(post(prompt="x"))
    assert (status, code) == (500, 3043)
    assert message == "AiError: Unknown internal error (emulator: RuntimeError)"
