"""The proxied route and flux-1-schnell's JSON route, end to end over loopback HTTP against the
emulator; the rules of the result download (https only, no private address, no credentials,
bounded) as narrow unit tests with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

import flux2prompt
from flux2prompt.emulator import Emulator, serve
from flux2prompt.emulator._proxied import UPSAMPLED_SUFFIX
from flux2prompt.transport import (
    AsyncWorkersAI,
    GenerationStateError,
    RequestAdviceWarning,
    ResultDownloadError,
    WorkersAI,
    _download,
)

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"
FLEX = "black-forest-labs/flux-2-flex"


def client_for(emu: Emulator, **options: object) -> WorkersAI:
    return WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url, **options)  # type: ignore[arg-type]


def _assert_no_token_reached(request: object) -> None:
    headers = getattr(request, "headers", {})
    assert "authorization" not in headers
    assert "cf-aig-authorization" not in headers
    assert TOKEN not in getattr(request, "path", "")
    assert all(TOKEN not in value for value in headers.values())


# -- acceptance 2: flex at width 64 through /ai/run, the URL downloaded without the token ----------


def test_flex_at_width_64_goes_through_ai_run_and_downloads_the_url(emu: Emulator) -> None:
    prompt = flux2prompt.scene("a paper crane on a desk")
    with client_for(emu) as client:
        result = client.generate(prompt, model=FLEX, width=64, height=96, seed=5)
    assert (result.format, result.width, result.height, result.seed) == ("jpeg", 64, 96, 5)
    assert result.model == FLEX
    post, download = emu.requests
    assert (post.method, post.path, post.status) == (
        "POST",
        f"/client/v4/accounts/{ACCOUNT}/ai/run",
        200,
    )
    assert post.content_type == "application/json"
    assert "authorization" in post.headers  # the generation itself is authenticated
    assert post.model == FLEX
    assert post.json == {
        "model": FLEX,
        "input": {
            "prompt": prompt.compile().to_json(),
            "width": 64,
            "height": 96,
            "seed": 5,
            "prompt_upsampling": False,
        },
    }
    assert download.method == "GET"
    assert download.path.startswith("/results/")
    assert download.status == 200
    _assert_no_token_reached(download)
    # The structured prompt was sent as written, and the host says it ran it as written.
    assert result.effective_prompt == prompt.compile().to_json()


def test_the_async_client_downloads_the_same_way(emu: Emulator) -> None:
    async def main() -> flux2prompt.ImageResult:
        async with AsyncWorkersAI(
            account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url
        ) as client:
            return await client.generate("a lantern", model="flex", width=128, height=64)

    result = asyncio.run(main())
    assert (result.width, result.height) == (128, 64)
    post, download = emu.requests
    assert post.json["input"] == {"prompt": "a lantern", "width": 128, "height": 64}
    _assert_no_token_reached(download)
    assert result.effective_prompt == "a lantern" + UPSAMPLED_SUFFIX


def test_upsampling_asked_on_a_json_prompt_warns_and_keeps_the_prompt_run(emu: Emulator) -> None:
    prompt = flux2prompt.scene("a tea house")
    with client_for(emu) as client, pytest.warns(RequestAdviceWarning, match="F2R101"):
        result = client.generate(prompt, model="flex", width=64, height=64, prompt_upsampling=True)
    assert emu.requests[0].json["input"]["prompt_upsampling"] is True
    assert result.effective_prompt == prompt.compile().to_json() + UPSAMPLED_SUFFIX


def test_every_proxied_model_answers_through_the_emulator(emu: Emulator, make_image) -> None:  # type: ignore[no-untyped-def]
    reference = make_image(32, 32)
    with client_for(emu) as client:
        for model in ("flex", "pro-preview", "max", "klein-9b-proxied"):
            result = client.generate(
                "a fox", model=model, width=64, height=64, images=[reference], output_format="png"
            )
            assert (result.format, result.width) == ("png", 64)
        client.generate("a fox", model="klein-9b-proxied", width=64, height=64, steps=4)
    klein = emu.requests[-2].json
    assert klein["input"]["num_steps"] == 4
    sent = emu.requests[0].json["input"]["input_images"]
    assert sent == ["data:image/png;base64," + base64.b64encode(reference).decode()]


def test_a_late_download_fails_and_the_generation_is_not_resubmitted(emu: Emulator) -> None:
    emu.result_ttl = 0.0  # every result URL has expired by the time it is fetched
    with client_for(emu) as client, pytest.raises(ResultDownloadError) as info:
        client.generate("a fox", model="flex", width=64, height=64)
    error = info.value
    assert (error.reason, error.status_code) == ("status", 403)
    assert "expired" in str(error)
    assert "not resubmitted" in str(error)
    assert error.result_url.startswith(emu.base_url.split("/client")[0] + "/results/")
    assert [r.method for r in emu.requests] == ["POST", "GET"]


def test_a_state_other_than_completed_is_a_typed_error(emu: Emulator) -> None:
    http = httpx.Client(headers={"x-emulator-state": "Request Moderated"})
    with (
        client_for(emu, http_client=http) as client,
        pytest.raises(GenerationStateError) as info,
    ):
        client.generate("a fox", model="flex", width=64, height=64)
    http.close()
    assert info.value.state == "Request Moderated"
    assert info.value.request_id
    assert len(emu.requests) == 1  # not retried: the model may have run


def test_the_emulator_refuses_what_the_models_do_not_take() -> None:
    with serve(seed=0) as emu:
        url = f"{emu.base_url}/accounts/acc/ai/run"
        auth = {"Authorization": "Bearer t"}

        def post(document: object) -> httpx.Response:
            return httpx.post(url, headers=auth, json=document)

        klein = {"model": "black-forest-labs/flux-2-klein-9b", "input": {"prompt": "a", "steps": 4}}
        answer = post(klein)
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["code"] == 5006
        assert "steps" in answer.json()["errors"][0]["message"]
        unknown = post({"model": "black-forest-labs/flux-9", "input": {"prompt": "a"}})
        assert (unknown.status_code, unknown.json()["errors"][0]["code"]) == (400, 5007)
        odd = post({"model": FLEX, "input": {"prompt": "a", "width": 72}})
        assert "multiple of 16" in odd.json()["errors"][0]["message"]
        missing = httpx.get(f"{emu.base_url.split('/client')[0]}/results/nope.jpg")
        assert missing.status_code == 404


# -- flux-1-schnell: a JSON body on the model-in-path route -------------------------------------


def test_schnell_sends_json_and_gets_base64_back(emu: Emulator) -> None:
    with client_for(emu) as client:
        result = client.generate("a lighthouse", model="schnell", steps=8)
    assert (result.width, result.height) == (1024, 1024)
    (recorded,) = emu.requests
    assert recorded.path.endswith("/ai/run/@cf/black-forest-labs/flux-1-schnell")
    assert recorded.content_type == "application/json"
    assert recorded.json == {"prompt": "a lighthouse", "steps": 8}


def test_the_emulator_holds_schnell_to_its_limits() -> None:
    with serve(seed=0) as emu:
        url = f"{emu.base_url}/accounts/acc/ai/run/@cf/black-forest-labs/flux-1-schnell"
        auth = {"Authorization": "Bearer t"}
        too_many = httpx.post(url, headers=auth, json={"prompt": "a", "steps": 9})
        extra = httpx.post(url, headers=auth, json={"prompt": "a", "width": 512})
        form = httpx.post(url, headers=auth, files={"prompt": (None, "a")})
    for answer in (too_many, extra, form):
        assert (answer.status_code, answer.json()["errors"][0]["code"]) == (400, 5006)


# -- the download rules, unit by unit (httpx.MockTransport) --------------------------------------

JPEG_URL = "https://delivery.example/r/abc.jpeg?sig=s3cr3t"


def _jpeg(make_image) -> bytes:  # type: ignore[no-untyped-def]
    return make_image(16, 16, "jpeg")  # type: ignore[no-any-return]


def _mock_client(image_handler, seen: list[httpx.Request], **client_options: object) -> WorkersAI:  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            body = {"state": "Completed", "result": {"image": JPEG_URL}}
            return httpx.Response(200, json=body, headers={"cf-ray": "ray-1"})
        return image_handler(request)  # type: ignore[no-any-return]

    http = httpx.Client(transport=httpx.MockTransport(handler), **client_options)  # type: ignore[arg-type]
    return WorkersAI(account_id=ACCOUNT, api_token=TOKEN, http_client=http, max_retries=0)


def test_the_download_carries_no_credentials_even_from_the_callers_client(make_image) -> None:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []
    image = _jpeg(make_image)
    client = _mock_client(
        lambda request: httpx.Response(200, content=image),
        seen,
        headers={"Authorization": f"Bearer {TOKEN}", "cf-aig-authorization": "Bearer x"},
        cookies={"session": "abc"},
        auth=("user", "pass"),
    )
    result = client.generate("a fox", model="flex", width=64, height=64)
    assert result.data == image
    assert result.request_id == "ray-1"
    post, get = seen
    assert str(get.url) == JPEG_URL
    for name in ("authorization", "cf-aig-authorization", "cookie", "proxy-authorization"):
        assert name not in get.headers
    assert "authorization" in post.headers  # the generation itself is authenticated


@pytest.mark.parametrize(
    ("location", "needle"),
    [
        ("https://10.0.0.8/steal", "private address"),
        ("https://169.254.169.254/latest/meta-data", "private address"),
        ("https://[::1]/x", "this machine"),
        ("https://localhost/x", "this machine"),
        ("http://delivery.example/plain", "must be https"),
        ("https://user:pw@delivery.example/x", "credentials"),
    ],
)
def test_a_redirect_is_checked_like_the_first_url(location: str, needle: str) -> None:
    seen: list[httpx.Request] = []
    client = _mock_client(lambda request: httpx.Response(302, headers={"Location": location}), seen)
    with pytest.raises(ResultDownloadError, match=needle) as info:
        client.generate("a fox", model="flex", width=64, height=64)
    assert info.value.reason == "unsafe"
    assert len(seen) == 2  # the redirect target was never requested


def test_a_safe_redirect_is_followed_and_a_loop_is_cut(make_image) -> None:  # type: ignore[no-untyped-def]
    image = _jpeg(make_image)

    def redirect_once(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/r/abc.jpeg":
            return httpx.Response(307, headers={"Location": "/final.jpeg"})
        return httpx.Response(200, content=image)

    seen: list[httpx.Request] = []
    assert _mock_client(redirect_once, seen).generate("a", model="flex").data == image
    assert str(seen[-1].url) == "https://delivery.example/final.jpeg"
    loop: list[httpx.Request] = []
    client = _mock_client(lambda r: httpx.Response(302, headers={"Location": JPEG_URL}), loop)
    with pytest.raises(ResultDownloadError, match="redirected more than 3 times"):
        client.generate("a", model="flex")
    assert len(loop) == 1 + 4


def test_a_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_download, "_resolve", lambda host, port: ["192.168.1.20"])
    seen: list[httpx.Request] = []
    client = _mock_client(lambda request: httpx.Response(200, content=b""), seen)
    with pytest.raises(ResultDownloadError, match=r"resolves to a private address \(192.168"):
        client.generate("a", model="flex")
    assert [r.method for r in seen] == ["POST"]


def test_plain_http_is_refused_from_a_client_of_the_real_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"state": "Completed", "result": {"image": "http://127.0.0.1:9/x.jpeg"}}
        return httpx.Response(200, json=body)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = WorkersAI(account_id=ACCOUNT, api_token=TOKEN, http_client=http, max_retries=0)
    with pytest.raises(ResultDownloadError, match="must be https"):
        client.generate("a", model="flex")


def test_the_download_is_bounded_in_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_download.DownloadLimits, "__init__", _limits_with(max_bytes=1000))
    declared = _mock_client(lambda r: httpx.Response(200, content=b"x" * 5000), [])
    with pytest.raises(ResultDownloadError, match="larger than 1,000 bytes") as info:
        declared.generate("a", model="flex")
    assert info.value.reason == "too_large"

    def streamed(request: httpx.Request) -> httpx.Response:
        # No Content-Length: the bound holds while reading.
        return httpx.Response(200, content=iter([b"x" * 600, b"x" * 600]))

    with pytest.raises(ResultDownloadError, match="more arrived"):
        _mock_client(streamed, []).generate("a", model="flex")


def _limits_with(**changes: object):  # type: ignore[no-untyped-def]
    original = _download.DownloadLimits.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.update(changes)
        original(self, *args, **kwargs)

    return init


def test_bytes_that_are_not_an_image_are_refused_like_any_response() -> None:
    client = _mock_client(lambda r: httpx.Response(200, content=b"<html>expired</html>"), [])
    with pytest.raises(ResultDownloadError, match="did not hold an image") as info:
        client.generate("a", model="flex")
    assert info.value.reason == "not_an_image"
    assert str(info.value).count("request id ray-1") == 1


def test_a_download_that_times_out_says_so() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("stalled", request=request)

    with pytest.raises(ResultDownloadError, match="did not answer in time") as info:
        _mock_client(stall, []).generate("a", model="flex")
    assert info.value.reason == "timeout"


def test_a_completed_answer_without_a_url_is_a_response_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"state": "Completed", "result": {"image": "AAAA"}})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = WorkersAI(account_id=ACCOUNT, api_token=TOKEN, http_client=http, max_retries=0)
    with pytest.raises(flux2prompt.ResponseError, match="without an image URL"):
        client.generate("a", model="flex")


def test_download_timeout_is_an_option_and_checked() -> None:
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, download_timeout=5) as client:
        assert client.with_options(max_retries=0).download_timeout == 5.0
    with pytest.raises(flux2prompt.ParameterError, match="download_timeout"):
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, download_timeout=0)


def test_recorded_json_of_a_multipart_request_is_none(emu: Emulator) -> None:
    with client_for(emu) as client:
        client.generate("a fox", width=256, height=256)
    assert emu.requests[0].json is None
    assert emu.requests[0].fields["prompt"] == "a fox"


def test_the_async_client_holds_the_same_download_rules() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"state": "Completed", "result": {"image": JPEG_URL}})
        return httpx.Response(302, headers={"Location": "https://10.1.1.1/x.jpeg"})

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncWorkersAI(
            account_id=ACCOUNT, api_token=TOKEN, http_client=http, max_retries=0
        ) as client:
            await client.generate("a fox", model="flex")
        await http.aclose()

    with pytest.raises(ResultDownloadError, match="private address") as info:
        asyncio.run(main())
    assert info.value.reason == "unsafe"


def test_a_late_async_download_fails_like_a_sync_one() -> None:
    async def main(emu: Emulator) -> None:
        async with AsyncWorkersAI(
            account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url
        ) as client:
            await client.generate("a fox", model="max", width=64, height=64)

    with serve(result_ttl=0) as emu:
        with pytest.raises(ResultDownloadError, match="HTTP 403") as info:
            asyncio.run(main(emu))
        assert [r.method for r in emu.requests] == ["POST", "GET"]
    assert info.value.status_code == 403
