"""Hostile Black Forest Labs answers, and what the errors say: each message says what was (and
was not) done, names what the server sent readably, and keeps the server's junk out of records.

The loopback server is the raw-socket one of ``test_transport_hostile.py``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import time

import anyio
import httpx
import pytest

from flux2prompt.emulator import serve
from flux2prompt.transport import (
    BFL,
    APIStatusError,
    BFLTask,
    InputModeratedError,
    OutputModeratedError,
    ParameterError,
    ResponseError,
    ResultDownloadError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
    WorkersAI,
    build_bfl_request,
)
from flux2prompt.transport._errors import CapacityError, make_bfl_status_error, make_status_error

from .test_bfl_hostile import KEY, aclient, client, json_answer, ready, submitted, task_api
from .test_transport_hostile import PNG, Handler, Hostile, answer


def with_submit(payload: object) -> Handler:
    def make(server: Hostile) -> object:
        base = {"id": "t-1", "polling_url": f"http://127.0.0.1:{server.port}/v1/get_result?id=t-1"}
        return {**base, **payload} if isinstance(payload, dict) else payload

    return json_answer("200 OK", make)


def test_a_relative_sample_url_is_shown_as_sent_not_as_scheme_slashes() -> None:
    poll = json_answer(
        "200 OK", {"id": "t-1", "status": "Ready", "result": {"sample": "/r/x.png?sig=s3cret"}}
    )
    with (
        Hostile(task_api(poll=poll)) as server,
        client(server) as bfl,
        pytest.raises(ResultDownloadError) as caught,
    ):
        bfl.generate("a fox")
    message = str(caught.value)
    assert ":///" not in message
    assert "'/r/x.png'" in message
    assert "relative" in message
    assert "s3cret" not in message  # the signature in the query is never shown


def test_a_relative_polling_url_is_shown_as_sent() -> None:
    submit = json_answer("200 OK", {"id": "t-1", "polling_url": "/v1/get_result?id=t-1"})
    with (
        Hostile(task_api(submit=submit)) as server,
        client(server) as bfl,
        pytest.raises(ResponseError) as caught,
    ):
        bfl.generate("a fox")
    message = str(caught.value)
    assert ":///" not in message
    assert "'/v1/get_result'" in message


@pytest.mark.parametrize("cost", [math.nan, math.inf, -3.0, True])
def test_a_submit_cost_that_is_not_a_count_of_credits_is_dropped(cost: object) -> None:
    body = json.dumps({"cost": cost})  # json writes NaN and Infinity, as a broken server might
    submit = with_submit(json.loads(body))
    with Hostile(task_api(submit=submit)) as server, client(server) as bfl:
        task = bfl.submit(bfl.build_request("a fox"))
    assert task.cost is None
    json.dumps(task.to_dict(), allow_nan=False)  # the record stays strict JSON


@pytest.mark.parametrize("task_id", ["t-1\x1b[2J", "t\n2", "x" * 300])
def test_a_task_id_no_host_would_send_is_refused_with_the_task_left_alone(task_id: str) -> None:
    submit = with_submit({"id": task_id})
    with Hostile(task_api(submit=submit)) as server, client(server) as bfl:
        with pytest.raises(ResponseError) as caught:
            bfl.submit(bfl.build_request("a fox"))
        posts = sum(1 for r in server.requests if r.startswith(b"POST "))
    message = str(caught.value)
    assert "\x1b" not in message
    assert "\n" not in message
    assert len(message) < 600
    assert "not resubmitted" in message
    assert posts == 1


def test_a_stream_of_new_statuses_is_named_within_bounds() -> None:
    count = {"n": 0}

    def poll(conn: socket.socket, request: bytes, server: Hostile) -> None:
        count["n"] += 1
        status = f"step {count['n']} " + "z" * 5000
        json_answer("200 OK", {"id": "t-1", "status": status})(conn, request, server)

    # Long enough for more than five polls on a loaded machine (the message lists five).
    with (
        Hostile(task_api(poll=poll)) as server,
        client(server, poll_timeout=2.0) as bfl,
        pytest.raises(TaskTimeoutError) as caught,
    ):
        bfl.generate("a fox")
    message = str(caught.value)
    assert "'step 1 zzz" in message
    assert len(message) < 1500
    assert "more" in message  # the rest are counted, not listed
    assert count["n"] > 5


def test_flux3_reports_no_seed_even_when_the_host_sends_one() -> None:
    with Hostile(task_api(poll=ready())) as server, client(server, model="flux-3-image") as bfl:
        result = bfl.generate("a fox")
    assert result.seed is None
    with Hostile(task_api(poll=ready())) as server, client(server, model="flux-2-pro") as bfl:
        assert bfl.generate("a fox").seed == 7  # FLUX.2 takes a seed: the one reported is kept


def test_flux3_against_the_emulator_has_no_seed() -> None:
    with (
        serve(bfl_task_ms=0) as emu,
        BFL(
            api_key=KEY, base_url=emu.bfl_base_url, model="flux-3-image", poll_interval=0.01
        ) as bfl,
    ):
        assert bfl.generate("a fox").seed is None


# -- what the retry hints claim ----------------------------------------------------------------


def test_a_capacity_error_not_retried_does_not_say_it_was() -> None:
    with serve(rate_limit_per_minute=1, rate_limit_burst=1) as emu:
        options = {"account_id": "a", "api_token": "t", "base_url": emu.base_url}
        with WorkersAI(**options, model="klein-4b", max_retries=0) as cf:
            cf.generate("a fox", width=256, height=256)
            with pytest.raises(CapacityError) as caught:
                cf.generate("a fox", width=256, height=256)
    message = str(caught.value)
    assert "was retried" not in message
    assert caught.value.attempts == 1


def test_a_capacity_error_with_a_long_wait_says_only_that_it_was_not_retried() -> None:
    body = b'{"errors":[{"code":3040,"message":"AiError: Capacity temporarily exceeded"}]}'
    error = make_status_error(429, {"retry-after": "600"}, body)
    message = str(error)
    assert "not retried" in message
    assert "was retried" not in message
    assert "retried with backoff" not in message


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_retryable_status_hints_describe_the_policy_not_a_past_retry(status: int) -> None:
    message = str(make_status_error(status, {}, b""))
    assert "it was retried" not in message
    assert "was retried" not in message


def test_submit_and_poll_still_work_with_a_well_formed_host() -> None:
    with Hostile(task_api(submit=submitted(), poll=ready())) as server, client(server) as bfl:
        assert bfl.generate("a fox").width == 64


@pytest.mark.parametrize(
    "hook",
    ["https://x.example/\n", "https://x.example/a b", "https:///nohost", "http://x.example:port/"],
)
def test_a_webhook_url_no_host_would_take_is_refused_before_sending(hook: str) -> None:
    with pytest.raises(ParameterError, match="webhook_url must be an absolute http"):
        build_bfl_request("a fox", model="pro", webhook_url=hook)


def test_a_webhook_secret_that_is_not_text_is_a_parameter_error_without_the_secret() -> None:
    secret = "s3cret-\ud800"
    with pytest.raises(ParameterError, match="lone surrogate at index 7") as caught:
        build_bfl_request(
            "a fox", model="pro", webhook_url="https://hooks.example/", webhook_secret=secret
        )
    assert "s3cret" not in str(caught.value)


def test_a_failed_tasks_details_reach_the_message_on_one_printable_line() -> None:
    details = "GPU\x1b[31m lost\nretry " + "x" * 5000
    poll = json_answer("200 OK", {"id": "t-1", "status": "Error", "details": details})
    with (
        Hostile(task_api(poll=poll)) as server,
        client(server) as bfl,
        pytest.raises(TaskFailedError) as caught,
    ):
        bfl.generate("a fox")
    message = str(caught.value)
    assert "GPU [31m lost retry xxx" in message
    assert "\x1b" not in message
    assert "\n" not in message
    assert len(message) < 700


@pytest.mark.parametrize("status", [401, 408, 413])
def test_bfl_status_errors_speak_of_bfl_and_its_retry_rules(status: int) -> None:
    message = str(make_bfl_status_error(status, {}, b'{"detail": "no"}'))
    assert "Black Forest Labs answered HTTP" in message
    assert "Cloudflare" not in message
    assert "Workers AI" not in message
    assert "CLOUDFLARE" not in message
    assert "max_retries" not in message


def test_a_submit_answered_408_is_not_resent_and_says_so() -> None:
    submit = json_answer("408 Request Timeout", {"detail": "timed out"})
    with Hostile(task_api(submit=submit)) as server, client(server, max_retries=3) as bfl:
        with pytest.raises(APIStatusError) as caught:
            bfl.submit(bfl.build_request("a fox"))
        posts = sum(1 for r in server.requests if r.startswith(b"POST "))
    assert posts == 1
    assert "never resent" in str(caught.value)


async def test_the_async_client_bounds_statuses_and_ignores_a_flux3_seed() -> None:
    count = {"n": 0}

    def poll(conn: socket.socket, request: bytes, server: Hostile) -> None:
        count["n"] += 1
        json_answer("200 OK", {"id": "t-1", "status": f"step {count['n']} " + "z" * 500})(
            conn, request, server
        )

    with Hostile(task_api(poll=poll)) as server:
        async with aclient(server, poll_timeout=0.3) as api:
            with pytest.raises(TaskTimeoutError) as caught:
                await api.generate("a fox")
    assert len(str(caught.value)) < 1500
    with Hostile(task_api(poll=ready())) as server:
        async with aclient(server, model="flux-3-image") as api:
            assert (await api.generate("a fox")).seed is None


# -- a second pass: the key on redirects and in echoed fields, statuses, sync and async alike ---


def _outcome(
    handler: Handler, *, run_async: bool, **options: object
) -> tuple[BaseException | None, int, list[bytes]]:
    """Run ``generate`` against ``handler`` with the blocking or the async client: the error
    (``None`` when it succeeded), the number of submits and every request the server read."""
    with Hostile(handler) as server:
        try:
            if run_async:

                async def go() -> None:
                    async with aclient(server, **options) as api:
                        await api.generate("a fox")

                anyio.run(go)
            else:
                with client(server, **options) as api:
                    api.generate("a fox")
        except Exception as error:
            return error, _posts(server), list(server.requests)
        return None, _posts(server), list(server.requests)


def _posts(server: Hostile) -> int:
    return sum(1 for r in server.requests if r.startswith(b"POST "))


def _words(error: BaseException | None) -> str:
    """An error's message with the loopback port (which differs between runs) taken out."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", str(error))


def _chain_texts(error: BaseException) -> list[str]:
    texts, seen, current = [], set(), [error]
    while current:
        link = current.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        texts += [str(link), repr(link), repr(getattr(link, "__dict__", ""))]
        current += [c for c in (link.__cause__, link.__context__) if c is not None]
    return texts


def _assert_no_key(error: BaseException | None, log: str = "") -> None:
    assert error is not None
    for text in [*_chain_texts(error), log]:
        assert KEY not in text


def redirect_poll_to(target: Hostile) -> Handler:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        location = f"http://127.0.0.1:{target.port}/v1/get_result?id=task-1"
        answer("302 Found", b"", Location=location)(conn, request, server)

    return handle


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_poll_redirect_never_takes_the_key_elsewhere_even_with_a_following_client(
    run_async: bool,
) -> None:
    # A user's own httpx client may follow redirects; httpx strips Authorization on a redirect
    # to another origin, but not x-key. The key must stay with the API's host.
    with Hostile(task_api(poll=ready())) as elsewhere:
        with Hostile(task_api(poll=redirect_poll_to(elsewhere))) as server:
            http: httpx.Client | httpx.AsyncClient
            if run_async:
                http = httpx.AsyncClient(follow_redirects=True)

                async def go() -> None:
                    async with aclient(server, http_client=http) as api:
                        await api.generate("a fox")

                with pytest.raises(APIStatusError) as caught:
                    anyio.run(go)
            else:
                http = httpx.Client(follow_redirects=True)
                with (
                    client(server, http_client=http) as api,
                    pytest.raises(APIStatusError) as caught,
                ):
                    api.generate("a fox")
        assert not any(KEY.encode() in r for r in elsewhere.requests)
        assert elsewhere.requests == []
    assert caught.value.status_code == 302
    assert "redirect" in str(caught.value)
    assert "BFL_BASE_URL" in str(caught.value)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_submit_redirect_is_not_followed_and_not_resent(run_async: bool) -> None:
    with Hostile(task_api()) as elsewhere:
        location = f"http://127.0.0.1:{elsewhere.port}/v1/flux-2-pro"
        handler = task_api(submit=answer("307 Temporary Redirect", b"", Location=location))
        error, posts, _ = _outcome(handler, run_async=run_async)
        assert elsewhere.requests == []
    assert isinstance(error, APIStatusError)
    assert error.status_code == 307
    assert posts == 1
    assert "redirect" in str(error)


def echoing(field: str) -> Handler:
    """A submit answer (or a poll's) that echoes the x-key header into ``field``."""

    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"x-key:")
        )
        base = f"http://127.0.0.1:{server.port}"
        submit = {"id": "task-1", "polling_url": f"{base}/v1/get_result?id=task-1"}
        if field == "id":
            submit["id"] = key
        elif field == "polling_url":
            submit["polling_url"] += f"&echo={key}"
        json_answer("200 OK", submit)(conn, request, server)

    return handle


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("field", ["id", "polling_url"])
def test_a_key_echoed_into_the_submit_answer_reaches_no_error_and_no_task(
    field: str, run_async: bool
) -> None:
    handler = task_api(submit=echoing(field), poll=json_answer("200 OK", {"status": "Error"}))
    error, posts, requests = _outcome(handler, run_async=run_async)
    assert isinstance(error, ResponseError)
    _assert_no_key(error)
    assert "may exist and was not resubmitted" in str(error)
    assert posts == 1
    # Nothing was polled with the key in its URL.
    assert not any(KEY.encode() in r.split(b"\r\n", 1)[0] for r in requests)


def echoing_status(conn: socket.socket, request: bytes, server: Hostile) -> None:
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"x-key:")
    )
    json_answer("200 OK", {"status": f"queued for {key}"})(conn, request, server)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_key_echoed_into_an_unknown_status_reaches_no_error_and_no_log(
    run_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flux2prompt")
    error, _, _ = _outcome(task_api(poll=echoing_status), run_async=run_async, poll_timeout=0.2)
    assert isinstance(error, TaskTimeoutError)
    _assert_no_key(error, caplog.text)
    assert "queued for ***" in str(error)


def ready_echoing(where: str) -> Handler:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"x-key:")
        )
        sample = f"http://127.0.0.1:{server.port}/delivery/sample.png"
        result = {"sample": sample, "prompt": "a fox"}
        if where == "sample":
            result["sample"] = f"{sample}?token={key}"
        else:
            result["prompt"] = f"a fox for {key}"
        json_answer("200 OK", {"status": "Ready", "result": result})(conn, request, server)

    return handle


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_key_echoed_into_the_result_url_is_never_sent_to_the_delivery_host(
    run_async: bool,
) -> None:
    error, posts, requests = _outcome(task_api(poll=ready_echoing("sample")), run_async=run_async)
    assert isinstance(error, ResultDownloadError)
    assert error.reason == "unsafe"
    _assert_no_key(error)
    assert not any(b"/delivery/" in r.split(b"\r\n", 1)[0] for r in requests)
    assert posts == 1


def test_a_key_echoed_into_the_effective_prompt_is_scrubbed() -> None:
    with Hostile(task_api(poll=ready_echoing("prompt"))) as server, client(server) as api:
        result = api.generate("a fox")
    assert result.effective_prompt == "a fox for ***"


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("status", "raised"),
    [
        ("ready", None),
        ("READY", None),
        (" Ready ", None),
        ("content moderated", OutputModeratedError),
        ("REQUEST MODERATED", InputModeratedError),
        ("task not found", TaskNotFoundError),
        ("error", TaskFailedError),
        ("failed", TaskFailedError),
    ],
)
def test_a_known_status_in_another_case_is_read_as_that_status(
    status: str, raised: type[Exception] | None, run_async: bool
) -> None:
    # Not polled for poll_timeout (the FLUX.2 URL would expire on the way) and then lost.
    def poll(conn: socket.socket, request: bytes, server: Hostile) -> None:
        sample = f"http://127.0.0.1:{server.port}/delivery/sample.png"
        json_answer("200 OK", {"status": status, "result": {"sample": sample}})(
            conn, request, server
        )

    error, posts, _ = _outcome(task_api(poll=poll), run_async=run_async, poll_timeout=30)
    if raised is None:
        assert error is None
    else:
        assert isinstance(error, raised)
    assert posts == 1


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_task_pending_past_the_deadline_says_it_may_still_finish_and_be_charged(
    run_async: bool,
) -> None:
    error, posts, _ = _outcome(
        task_api(poll=json_answer("200 OK", {"status": "Pending"})),
        run_async=run_async,
        poll_timeout=0.3,
    )
    assert isinstance(error, TaskTimeoutError)
    message = str(error)
    assert "may still finish" in message
    assert "charged" in message
    assert "client.result(task)" in message
    assert "after 0 s" not in message  # a sub-second wait is not shown as none
    assert posts == 1


def slow_image(conn: socket.socket, request: bytes, server: Hostile) -> None:
    time.sleep(1.5)
    answer("200 OK", PNG, Content_Type="image/png")(conn, request, server)


def truncated_image(conn: socket.socket, request: bytes, server: Hostile) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
    server.send(conn, head + PNG[:50])
    conn.close()


def html_page(conn: socket.socket, request: bytes, server: Hostile) -> None:
    body = b"<html><body>Access denied</body></html>"
    answer("200 OK", body, Content_Type="text/html")(conn, request, server)


def slow_submit(conn: socket.socket, request: bytes, server: Hostile) -> None:
    time.sleep(2)
    answer("200 OK", b"{}")(conn, request, server)


def cut(conn: socket.socket, request: bytes, server: Hostile) -> None:
    conn.close()


_SCENARIOS: dict[str, tuple[Handler, dict[str, object]]] = {
    "slow image": (task_api(image=slow_image), {"download_timeout": 0.5}),
    "truncated image": (task_api(image=truncated_image), {}),
    "html image": (task_api(image=html_page), {}),
    "slow submit": (task_api(submit=slow_submit), {"timeout": 0.5}),
    "cut submit": (task_api(submit=cut), {}),
    "slow poll": (task_api(poll=slow_submit), {"timeout": 0.5}),
    "402 submit": (task_api(submit=answer("402 Payment Required", b'{"detail":"no"}')), {}),
    "403 poll": (task_api(poll=answer("403 Forbidden", b'{"detail":"no"}')), {}),
    "422 submit": (task_api(submit=answer("422 Unprocessable Entity", b'{"detail":"x"}')), {}),
    "429 submit": (
        task_api(submit=answer("429 Too Many Requests", b"{}", Retry_After="1")),
        {"slot_timeout": 0.5},
    ),
    "429 poll": (task_api(poll=answer("429 Too Many Requests", b"{}")), {}),
    "NaN id": (task_api(submit=answer("200 OK", b'{"id": NaN, "polling_url": "x"}')), {}),
    "not UTF-8": (task_api(poll=answer("200 OK", b'{"status": "\xff"}')), {}),
    "no polling_url": (task_api(submit=json_answer("200 OK", {"id": "t-1"})), {}),
    "pending": (task_api(poll=json_answer("200 OK", {"status": "Pending"})), {"poll_timeout": 0.3}),
    "moderated": (task_api(poll=json_answer("200 OK", {"status": "Content Moderated"})), {}),
    "error": (task_api(poll=json_answer("200 OK", {"status": "Error", "details": "GPU"})), {}),
}


@pytest.mark.parametrize("name", list(_SCENARIOS))
def test_the_blocking_and_the_async_client_fail_alike(name: str) -> None:
    handler, options = _SCENARIOS[name]
    sync_error, sync_posts, _ = _outcome(handler, run_async=False, **options)
    async_error, async_posts, _ = _outcome(handler, run_async=True, **options)
    assert type(sync_error) is type(async_error)
    assert _words(sync_error) == _words(async_error)
    assert sync_posts == async_posts == 1
    assert "Cancelled via cancel scope" not in _words(async_error)
    _assert_no_key(sync_error)
    _assert_no_key(async_error)


def test_a_result_download_that_ran_out_of_time_names_download_timeout() -> None:
    error, _, _ = _outcome(task_api(image=slow_image), run_async=False, download_timeout=0.5)
    assert isinstance(error, ResultDownloadError)
    assert error.reason == "timeout"
    assert "download_timeout" in str(error)
    assert "set by deadline=" not in str(error)


@pytest.mark.parametrize(("model", "minutes"), [("flux-2-pro", "10"), ("flux-3-image", "60")])
def test_a_failed_download_gives_the_models_own_validity_and_how_to_resume(
    model: str, minutes: str
) -> None:
    error, posts, _ = _outcome(task_api(image=html_page), run_async=False, model=model)
    assert isinstance(error, ResultDownloadError)
    assert error.reason == "not_an_image"
    message = str(error)
    assert f"{minutes} minutes" in message
    assert "client.result(task)" in message
    assert "about 10 minutes after" not in message or minutes == "10"
    assert posts == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", "7"),
        ("seed", True),
        ("seed", -1),
        ("seed", 2.5),
        ("cost", "lots"),
        ("cost", math.nan),
        ("submitted_at", "yesterday"),
        ("prompt_fingerprint", 5),
        ("request_fingerprint", None),
    ],
)
def test_a_task_record_with_a_mistyped_field_is_still_polled_with_that_field_unset(
    field: str, value: object
) -> None:
    record = {"id": "task-1", "polling_url": "https://api.bfl.ai/v1/get_result?id=task-1"}
    task = BFLTask.from_dict({**record, "model": "flux-2-pro", field: value})
    assert getattr(task, field) == getattr(BFLTask("task-1", record["polling_url"], "m"), field)
    # Against a host that reports no seed, the result carries the record's seed: never "7".
    with Hostile(task_api(poll=ready_without_seed())) as server:
        local = {**record, "polling_url": f"http://127.0.0.1:{server.port}/v1/get_result?id=1"}
        task = BFLTask.from_dict({**local, "model": "flux-2-pro", field: value})
        with client(server) as api:
            result = api.result(task)
    assert result.seed is None
    assert isinstance(result.prompt_fingerprint, str)
    assert _posts(server) == 0


def ready_without_seed() -> Handler:
    def handle(conn: socket.socket, request: bytes, server: Hostile) -> None:
        sample = f"http://127.0.0.1:{server.port}/delivery/sample.png"
        json_answer("200 OK", {"status": "Ready", "result": {"sample": sample}})(
            conn, request, server
        )

    return handle


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"width": 10**5000}, "width"),
        ({"width": 2**4096}, "width"),  # a multiple of 16, far past 4 MP
        ({"seed": -(10**5000)}, "seed"),
        ({"output_format": "x" * 1_000_000}, "output_format"),
        ({"grounding": "y" * 1_000_000, "model": "flux-3-image"}, "grounding"),
        ({"model": "flex", "guidance": 10**5000}, "guidance"),
        ({"model": "flex", "steps": 10**5000}, "steps"),
    ],
)
def test_a_huge_parameter_is_a_short_parameter_error(
    options: dict[str, object], named: str
) -> None:
    model = options.pop("model", "flux-2-pro")
    with pytest.raises(ParameterError) as caught:
        build_bfl_request("a fox", model=model, **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(named)
    assert len(str(caught.value)) < 300


def test_a_side_alone_cannot_pass_the_area_limit() -> None:
    # 65,536 is the longest side the 4 MP limit allows with the other at 64.
    assert build_bfl_request("a fox", model="flux-2-pro", width=65_536).params["width"] == 65_536
    with pytest.raises(ParameterError, match="width must be 64-65536 for flux-2-pro"):
        build_bfl_request("a fox", model="flux-2-pro", width=65_552)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("retry_after", [None, "1"])
def test_a_poll_answered_429_speaks_of_polling_not_of_free_slots(
    run_async: bool, retry_after: str | None
) -> None:
    # slot_timeout paces submits; a 429 to a poll is not about active tasks, and the task is
    # not lost.
    headers = {"Retry_After": retry_after} if retry_after else {}
    handler = task_api(poll=answer("429 Too Many Requests", b'{"detail": "slow down"}', **headers))
    error, posts, _ = _outcome(handler, run_async=run_async, poll_timeout=0.5)
    assert isinstance(error, APIStatusError)
    assert error.status_code == 429
    message = str(error)
    assert "slot_timeout" not in message
    assert "poll" in message
    assert "client.result(task)" in message
    assert posts == 1
