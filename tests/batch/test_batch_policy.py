"""One of each mechanism: the runner retries by the transport's policy, scrubs with the client's
scrubber and token, and runs against the emulator the way the command line does."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from flux2prompt import scene
from flux2prompt.batch import (
    BatchJob,
    BatchRunner,
    emulated,
    read_manifest,
    run_batch,
    template,
    zipped,
)
from flux2prompt.emulator import EmulatorConfig
from flux2prompt.transport import AsyncWorkersAI, ParameterError, _retry

TOKEN = "tok-SECRET-5b1e0c9d-never-print-me"


@template
def tile(i: int):
    return scene(f"a ceramic tile, pattern {i}")


def job(items: int = 1, retries: int = 3) -> BatchJob:
    return BatchJob(
        name="tiles",
        template=tile,
        source=zipped(i=list(range(items))),
        output="tile-{i}.{ext}",
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=1,
        rate_limit=60_000,
        retries=retries,
    )


def mocked(answer: Callable[[httpx.Request], httpx.Response]) -> AsyncWorkersAI:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return AsyncWorkersAI(account_id="acc", api_token=TOKEN, http_client=http)


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None]]:
    """Every delay the one policy computes, recorded and made zero."""
    delays: list[tuple[int, float | None]] = []

    def fake(attempt: int, retry_after: float | None, rng: object = None) -> float:
        delays.append((attempt, retry_after))
        return 0.0

    monkeypatch.setattr(_retry, "retry_delay", fake)
    return delays


def test_a_429_without_code_or_retry_after_is_final_as_in_the_client(
    tmp_path: Path, no_waiting: list[tuple[int, float | None]]
) -> None:
    sent: list[httpx.Request] = []

    def too_many(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(429, text="slow down")  # a proxy's 429: no code, no Retry-After

    report = run_batch(job(), tmp_path, client=mocked(too_many), gallery=False)
    assert len(sent) == 1
    assert (report.failed, report.retries, report.rate_limited) == (1, 0, 1)
    assert report.lowest_concurrency < job().concurrency  # still a signal to slow down
    assert no_waiting == []
    [record] = read_manifest(tmp_path / "manifest.jsonl")
    assert record["status"] == "failed"
    assert record["error"]["status"] == 429


def test_a_429_with_retry_after_is_retried_for_as_long_as_it_asks(
    tmp_path: Path, no_waiting: list[tuple[int, float | None]]
) -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "3"}, text="later")] * 2)

    def later_then_image(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or _image()

    report = run_batch(job(), tmp_path, client=mocked(later_then_image), gallery=False)
    assert (report.generated, report.retries, report.rate_limited) == (1, 2, 2)
    assert no_waiting == [(0, 3.0), (1, 3.0)]


def test_other_failures_are_retried_by_the_same_policy_within_the_budget(
    tmp_path: Path, no_waiting: list[tuple[int, float | None]]
) -> None:
    sent: list[httpx.Request] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, json={"success": False, "errors": [{"code": 0, "message": "x"}]})

    report = run_batch(job(retries=2), tmp_path, client=mocked(unavailable), gallery=False)
    assert len(sent) == 3
    assert (report.failed, report.retries) == (1, 2)
    assert no_waiting == [(0, None), (1, None)]


def test_the_env_token_is_scrubbed_as_the_client_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stray newline in the variable: the client strips it, and the runner scrubs exactly
    # the token the client sent (it reads the variable no more).
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", f"  {TOKEN}\n")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy refused {request.headers['authorization']}")

    http = httpx.AsyncClient(transport=httpx.MockTransport(unreachable))
    report = run_batch(job(retries=0), tmp_path, client=AsyncWorkersAI(http_client=http))
    assert report.failed == 1
    text = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8")
    assert "proxy refused Bearer ***" in text
    assert TOKEN not in text
    assert all(TOKEN not in message for _, message in report.failures)


def _image() -> httpx.Response:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), "teal").save(buffer, "JPEG")
    image = base64.b64encode(buffer.getvalue()).decode()
    return httpx.Response(200, json={"success": True, "result": {"image": image}})


def test_the_emulator_token_reaches_the_emulator(tmp_path: Path) -> None:
    config = EmulatorConfig(token="emulator-secret-0123")
    report = run_batch(job(2), tmp_path, emulator=config, gallery=False)
    assert (report.generated, report.failed) == (2, 0)


def test_a_client_and_an_emulator_exclude_each_other(tmp_path: Path) -> None:
    client = mocked(lambda request: _image())
    with pytest.raises(ParameterError, match="exclude each other"):
        BatchRunner(job(), tmp_path, client=client, emulator=True)


def test_the_command_line_has_no_copy_of_the_emulator_recipe() -> None:
    from flux2prompt.cli import _batch, _generate

    for module in (_batch, _generate):
        source = inspect.getsource(module)
        assert "serve(" not in source, module.__name__
        assert "emulator-token" not in source, module.__name__
    with emulated() as endpoint:
        assert endpoint.api_token == "emulator-token"
        assert endpoint.client_options()["base_url"] == endpoint.base_url
