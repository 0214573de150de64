"""The API token appears in no repr, str, exception, log line, CLI output or file."""

from __future__ import annotations

import logging
import pickle
import traceback
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from flux2prompt.cli import app
from flux2prompt.emulator import serve
from flux2prompt.transport import (
    APIError,
    AsyncWorkersAI,
    GatewayOptions,
    WorkersAI,
)
from flux2prompt.transport._base import redact_headers
from flux2prompt.transport._errors import make_status_error

TOKEN = "tok-SECRET-7f3a9c1e-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"


def assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN[4:20] not in text  # no partial leak either


def test_client_reprs_and_attributes_hide_the_token() -> None:
    for cls in (WorkersAI, AsyncWorkersAI):
        client = cls(account_id=ACCOUNT, api_token=TOKEN)
        assert_clean(repr(client))
        assert_clean(str(client))
        assert_clean(repr(vars(client)))
        assert_clean(repr(client.with_options(max_retries=0)))
        assert_clean(repr(client.build_request("a fox")))
        assert "api_token='***'" in repr(client)


def test_the_token_cannot_be_pickled_into_a_file() -> None:
    client = WorkersAI(account_id=ACCOUNT, api_token=TOKEN)
    with client, pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client._api_token)


def test_logs_at_debug_never_show_the_token(
    caplog: pytest.LogCaptureFixture, no_sleep: list[float]
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        serve(seed=0, token=TOKEN, html_502_ratio=1.0) as emu,
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url) as client,
        pytest.raises(APIError),
    ):
        client.generate("a fox", width=256, height=256)
    with (
        serve(seed=0, token=TOKEN) as emu,
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url) as client,
    ):
        client.generate("a fox", width=256, height=256)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "flux2prompt.transport" in text
    assert "Authorization" in text or "authorization" in text  # headers were logged, redacted
    assert "retry 1 of 2" in text
    assert_clean(text)
    assert_clean(caplog.text)


def test_redact_headers() -> None:
    headers = httpx.Headers({"Authorization": f"Bearer {TOKEN}", "cf-aig-authorization": "x"})
    assert redact_headers(headers.items()) == {
        "authorization": "***",
        "cf-aig-authorization": "***",
    }


def test_errors_never_carry_the_token(no_sleep: list[float]) -> None:
    errors: list[BaseException] = []
    with (
        serve(seed=0, token="another-token") as emu,
        WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url) as client,
    ):
        for model in ("flux-2-dev", "klein-4b"):
            try:
                client.generate("a fox", model=model, width=256, height=256)
            except APIError as exc:
                errors.append(exc)
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url="http://127.0.0.1:9/v4") as c:
        try:
            c.generate("a fox")
        except APIError as exc:
            errors.append(exc)
    assert len(errors) == 3
    for exc in errors:
        assert_clean(str(exc))
        assert_clean(repr(exc))
        assert_clean("".join(traceback.format_exception(exc)))
        assert_clean(repr(vars(exc)))


def test_a_body_echoing_the_token_is_scrubbed() -> None:
    body = f'{{"errors":[{{"code":10000,"message":"bad token Bearer {TOKEN}"}}]}}'.encode()
    exc = make_status_error(401, {}, body, secrets=[TOKEN])
    assert_clean(str(exc))
    assert_clean(exc.body)
    assert "***" in exc.message


def test_gateway_authorization_is_hidden() -> None:
    options = GatewayOptions(authorization=TOKEN)
    assert_clean(repr(options))
    assert options.headers()["cf-aig-authorization"] == f"Bearer {TOKEN}"


def test_cli_output_and_files_never_show_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]
) -> None:
    prompt = tmp_path / "prompt.json"
    prompt.write_text('{"scene": "a lighthouse at dusk"}', encoding="utf-8")
    runner = CliRunner()
    outputs: list[str] = []
    with serve(seed=0, token=TOKEN) as emu:
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        args = ["generate", str(prompt), "--base-url", emu.base_url, "--width", "256"]
        ok = runner.invoke(app, [*args, "--out", str(tmp_path / "ok.jpg")])
        assert ok.exit_code == 0, ok.output
        outputs.append(ok.output)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN + "-wrong")
        bad = runner.invoke(app, [*args, "--out", str(tmp_path / "bad.jpg")])
        assert bad.exit_code == 1
        outputs.append(bad.output)
    for output in outputs:
        assert_clean(output)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()
