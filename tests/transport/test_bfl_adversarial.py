"""Hostile Black Forest Labs answers, and what the errors say: each message says what was (and
was not) done, names what the server sent readably, and keeps the server's junk out of records.

The loopback server is the raw-socket one of ``test_transport_hostile.py``.
"""

from __future__ import annotations

import json
import math
import socket

import pytest

from flux2prompt.emulator import serve
from flux2prompt.transport import (
    BFL,
    APIStatusError,
    ParameterError,
    ResponseError,
    ResultDownloadError,
    TaskFailedError,
    TaskTimeoutError,
    WorkersAI,
    build_bfl_request,
)
from flux2prompt.transport._errors import CapacityError, make_bfl_status_error, make_status_error

from .test_bfl_hostile import KEY, aclient, client, json_answer, ready, submitted, task_api
from .test_transport_hostile import Handler, Hostile


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

    with (
        Hostile(task_api(poll=poll)) as server,
        client(server, poll_timeout=0.3) as bfl,
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
