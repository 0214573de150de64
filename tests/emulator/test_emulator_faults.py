"""Fault injection over HTTP: order, determinism, rate limit, quota, broken answers, overrides."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flux2prompt.emulator import EmulatorConfig, serve
from flux2prompt.emulator._faults import FaultPlan, TokenBucket
from testkit import error_of, form, run_url

Post = Callable[..., httpx.Response]


FIELDS = form(prompt="a fox", width="256", height="256", seed="1")
CAPACITY = "AiError: Capacity temporarily exceeded, please try again."


def statuses(config: EmulatorConfig, count: int, client: httpx.Client) -> list[int]:
    with serve(config) as emulator:
        return [client.post(run_url(emulator), files=FIELDS).status_code for _ in range(count)]


# -- the dice ----------------------------------------------------------------------------------


def test_fault_plan_always_draws_seven_values() -> None:
    for config in (EmulatorConfig(), EmulatorConfig(error_ratios={500: 1.0}, drop_ratio=1.0)):
        rng, reference = random.Random(3), random.Random(3)
        FaultPlan.draw(config, rng)
        for _ in range(6):
            reference.random()
        reference.randrange(2**32)
        assert rng.random() == reference.random()


def test_error_ratios_split_one_draw() -> None:
    config = EmulatorConfig(error_ratios={500: 0.25, 502: 0.25, 503: 0.5})
    counts: dict[int | None, int] = {}
    rng = random.Random(0)
    for _ in range(4000):
        status = FaultPlan.draw(config, rng).error_status
        counts[status] = counts.get(status, 0) + 1
    assert None not in counts
    assert 800 < counts[500] < 1200
    assert 800 < counts[502] < 1200
    assert 1800 < counts[503] < 2200


def test_token_bucket_refills_at_limit_per_second() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=6, capacity=1, clock=lambda: now[0])
    assert bucket.take() is None
    assert bucket.take() == 10  # one token every 10 s
    now[0] = 4.0
    assert bucket.take() == 6
    now[0] = 10.0
    assert bucket.take() is None


# -- over HTTP ---------------------------------------------------------------------------------


def test_faults_are_deterministic_under_a_seed(client: httpx.Client) -> None:
    config = EmulatorConfig(error_ratios={500: 0.2, 502: 0.2, 503: 0.2}, seed=7)
    first, second = statuses(config, 30, client), statuses(config, 30, client)
    assert first == second
    assert set(first) == {200, 500, 502, 503}
    assert statuses(EmulatorConfig(error_ratios=config.error_ratios, seed=8), 30, client) != first


def test_reset_replays_the_same_faults(client: httpx.Client) -> None:
    with serve(error_ratios={503: 0.5}, seed=11) as emulator:
        url = run_url(emulator)
        first = [client.post(url, files=FIELDS).status_code for _ in range(12)]
        emulator.reset()
        assert [client.post(url, files=FIELDS).status_code for _ in range(12)] == first


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (500, 3043, "AiError: Unknown internal error"),
        (502, 3044, "AiError: Bad gateway: upstream inference server did not answer"),
        (503, 3045, "AiError: Service temporarily unavailable"),
    ],
)
def test_injected_errors_are_json_envelopes(
    client: httpx.Client, status: int, code: int, message: str
) -> None:
    with serve(error_ratios={status: 1.0}) as emulator:
        response = client.post(run_url(emulator), files=FIELDS)
    assert error_of(response) == (status, code, message)
    assert response.headers["content-type"] == "application/json"


def test_rate_limit_answers_429_with_retry_after(client: httpx.Client) -> None:
    with serve(rate_limit_per_minute=60, rate_limit_burst=2) as emulator:
        url = run_url(emulator)
        responses = [client.post(url, files=FIELDS) for _ in range(3)]
        assert [response.status_code for response in responses] == [200, 200, 429]
        assert error_of(responses[2]) == (429, 3040, CAPACITY)
        assert responses[2].headers["retry-after"] == "1"
        emulator.reset()  # a full bucket again
        assert client.post(url, files=FIELDS).status_code == 200


def test_default_burst_is_a_second_of_requests(client: httpx.Client) -> None:
    assert statuses(EmulatorConfig(rate_limit_per_minute=180), 4, client) == [200] * 3 + [429]


def test_daily_quota_counts_successes_only(client: httpx.Client) -> None:
    with serve(daily_quota=2) as emulator:
        url = run_url(emulator)
        assert client.post(url, files=form(width="256")).status_code == 400  # not counted
        assert [client.post(url, files=FIELDS).status_code for _ in range(2)] == [200, 200]
        status, code, message = error_of(client.post(url, files=FIELDS))
        assert (status, code) == (429, 3036)
        assert message.startswith("AiError: Account limited: daily free allowance used")
        assert message.endswith("resets at 00:00 UTC")
        # The quota comes before input checks: an exhausted account refuses everything.
        assert error_of(client.post(url, files=form(width="1")))[1] == 3036
        emulator.reset()
        assert client.post(url, files=FIELDS).status_code == 200


def test_quota_is_exact_under_concurrency(client: httpx.Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with serve(daily_quota=3, latency_ms=50) as emulator:
        url = run_url(emulator)
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: client.post(url, files=FIELDS).status_code, range(8)))
    assert sorted(codes) == [200] * 3 + [429] * 5


def test_dropped_connection_raises_on_the_client(client: httpx.Client) -> None:
    with serve(drop_ratio=1.0) as emulator:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(run_url(emulator), files=FIELDS)
        [record] = emulator.requests
    assert record.status == 0
    assert record.fields["prompt"] == "a fox"


def test_html_502(client: httpx.Client) -> None:
    with serve(html_502_ratio=1.0) as emulator:
        response = client.post(run_url(emulator), files=FIELDS)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert response.text.startswith("<html>")
    assert "502 Bad Gateway" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_malformed_json_on_success(client: httpx.Client) -> None:
    with serve(malformed_json_ratio=1.0) as emulator:
        response = client.post(run_url(emulator), files=FIELDS)
        assert emulator.requests[0].status == 200
    assert response.status_code == 200
    assert response.text.startswith('{"result":{"image":"')
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_malformed_json_only_hits_successes(client: httpx.Client) -> None:
    with serve(malformed_json_ratio=1.0) as emulator:
        response = client.post(run_url(emulator), files=form(width="256"))
    assert error_of(response)[0] == 400


def test_invalid_base64_on_success(client: httpx.Client) -> None:
    with serve(invalid_base64_ratio=1.0) as emulator:
        document = client.post(run_url(emulator), files=FIELDS).json()
    assert document["success"] is True
    with pytest.raises(ValueError, match=r"."):
        base64.b64decode(document["result"]["image"], validate=True)


def test_latency_and_jitter(client: httpx.Client) -> None:
    with serve(latency_ms=120, jitter_ms=60) as emulator:
        started = time.perf_counter()
        client.post(run_url(emulator), files=FIELDS)
        elapsed = time.perf_counter() - started
    assert 0.12 <= elapsed < 1.0


def test_fault_order(client: httpx.Client, anon: httpx.Client) -> None:
    # The rate limit comes before injected errors ...
    both = EmulatorConfig(rate_limit_per_minute=60, rate_limit_burst=1, error_ratios={503: 1.0})
    assert statuses(both, 2, client) == [503, 429]
    # ... injected errors before the HTML page and before auth and input checks ...
    with serve(error_ratios={500: 1.0}, html_502_ratio=1.0) as emulator:
        response = anon.post(run_url(emulator), json={"no": "auth"})
        assert response.status_code == 500
    # ... and the HTML page before auth.
    with serve(html_502_ratio=1.0) as emulator:
        assert anon.post(run_url(emulator), json={}).headers["content-type"] == "text/html"


# -- per-request overrides ---------------------------------------------------------------------


def override(config: dict[str, Any] | str) -> dict[str, str]:
    value = config if isinstance(config, str) else json.dumps(config)
    return {"x-emulator-config": value}


def test_override_header_applies_to_one_request(client: httpx.Client) -> None:
    with serve() as emulator:
        url = run_url(emulator)
        headers = override({"error_ratios": {"503": 1.0}})
        assert client.post(url, files=FIELDS, headers=headers).status_code == 503
        assert client.post(url, files=FIELDS).status_code == 200
        started = time.perf_counter()
        client.post(url, files=FIELDS, headers=override({"latency_ms": 200}))
        assert time.perf_counter() - started >= 0.2
        response = client.post(url, files=FIELDS, headers=override({"image_format": "png"}))
        assert base64.b64decode(response.json()["result"]["image"]).startswith(b"\x89PNG")


def test_override_can_switch_off_a_configured_fault(client: httpx.Client) -> None:
    with serve(drop_ratio=1.0) as emulator:
        response = client.post(run_url(emulator), files=FIELDS, headers=override({"drop_ratio": 0}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("{not json", "x-emulator-config is not valid JSON"),
        ("[1, 2]", "x-emulator-config must be a JSON object"),
        ("[" * 5_000 + "]" * 5_000, "x-emulator-config is nested too deeply"),
        ('{"rate_limit_per_minute": 5}', "x-emulator-config cannot set rate_limit_per_minute"),
        ('{"drop_ratio": 2}', "x-emulator-config: drop_ratio must be between 0.0 and 1.0"),
        ('{"error_ratios": {"404": 1}}', "error_ratios may only inject 500, 502, 503"),
        ('{"latency_ms": "slow"}', "latency_ms must be a finite number"),
    ],
)
def test_malformed_override_header_is_a_clear_400(
    client: httpx.Client, header: str, fragment: str
) -> None:
    with serve() as emulator:
        response = client.post(run_url(emulator), files=FIELDS, headers=override(header))
    status, _, message = error_of(response)
    assert status == 400
    assert message.startswith("EmulatorError: ")
    assert fragment in message


def test_bad_format_header_is_a_clear_400(client: httpx.Client) -> None:
    with serve() as emulator:
        response = client.post(
            run_url(emulator), files=FIELDS, headers={"x-emulator-format": "gif"}
        )
    status, _, message = error_of(response)
    assert status == 400
    assert "x-emulator-format: image format must be one of jpeg, png, webp, got 'gif'" in message


def test_not_an_image_shares_the_body_draw_and_keeps_the_count_of_draws() -> None:
    config = EmulatorConfig(invalid_base64_ratio=0.25, not_an_image_ratio=0.5)
    counts = {"garbage": 0, "gif": 0, "image": 0}
    rng = random.Random(1)
    for _ in range(4000):
        plan = FaultPlan.draw(config, rng)
        assert not (plan.invalid_base64 and plan.not_an_image)
        counts["garbage" if plan.invalid_base64 else "gif" if plan.not_an_image else "image"] += 1
    assert 800 < counts["garbage"] < 1200
    assert 1800 < counts["gif"] < 2200
    assert 800 < counts["image"] < 1200
    # Adding the fault took no draw of its own: every other run's sequence is as it was.
    rng, reference = random.Random(3), random.Random(3)
    FaultPlan.draw(EmulatorConfig(not_an_image_ratio=1.0), rng)
    for _ in range(6):
        reference.random()
    reference.randrange(2**32)
    assert rng.random() == reference.random()


def test_not_an_image_answers_a_whole_gif_in_the_envelope(client: httpx.Client) -> None:
    with serve(not_an_image_ratio=1.0) as emulator:
        document = client.post(run_url(emulator), files=FIELDS).json()
    assert document["success"] is True
    data = base64.b64decode(document["result"]["image"], validate=True)
    assert data.startswith(b"GIF89a")
    assert data.endswith(b";")
