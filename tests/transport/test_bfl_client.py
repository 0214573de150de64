"""BFL and AsyncBFL against the emulator's BFL mode, over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import flux2prompt
from flux2prompt.emulator import Emulator, serve
from flux2prompt.transport import (
    BFL,
    AsyncBFL,
    BFLTask,
    InputModeratedError,
    InsufficientCreditsError,
    InternalServerError,
    OutputModeratedError,
    ParameterError,
    PermissionDeniedError,
    ResultDownloadError,
    TaskFailedError,
    TaskModeratedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TooManyActiveTasksError,
)

KEY = "bfl-key-SECRET-4d1f-never-print-me"


@pytest.fixture
def bfl_emu() -> Iterator[Emulator]:
    """An emulator that requires the test key; tasks take 400 ms."""
    with serve(seed=0, token=KEY, bfl_task_ms=400.0) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _no_bfl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.delenv("BFL_BASE_URL", raising=False)


def client_for(emu: Emulator, **options: object) -> BFL:
    options.setdefault("poll_interval", 0.02)
    return BFL(api_key=KEY, base_url=emu.bfl_base_url, **options)  # type: ignore[arg-type]


def submits(emu: Emulator) -> list[str]:
    return [r.path for r in emu.requests if r.method == "POST" and r.path.startswith("/bfl/")]


def polls(emu: Emulator) -> list[int]:
    return [r.status for r in emu.requests if r.path.startswith("/bfl/v1/get_result")]


def test_generate_polls_to_ready_and_saves_the_image(bfl_emu: Emulator, tmp_path: Path) -> None:
    prompt = flux2prompt.scene("a red fox in fresh snow").style("watercolour")
    with client_for(bfl_emu, model="klein-4b") as client:
        result = client.generate(prompt, width=512, height=384, seed=11)
    path = result.save(tmp_path / "fox.jpg")
    assert path.read_bytes() == result.data
    assert (result.format, result.width, result.height, result.seed) == ("jpeg", 512, 384, 11)
    assert result.model == "flux-2-klein-4b"
    assert result.request_id == bfl_emu.bfl_tasks[0].id
    assert result.prompt_fingerprint == prompt.compile().fingerprint
    # [klein] reads prose: sent as prose by default, and the emulator reports what it ran.
    assert result.effective_prompt == prompt.compile().to_prose()
    # One submit; at least two polls (Pending, then Ready); the image fetched without the key.
    assert submits(bfl_emu) == ["/bfl/v1/flux-2-klein-4b"]
    assert len(polls(bfl_emu)) >= 2
    download = [r for r in bfl_emu.requests if r.path.startswith("/results/")]
    assert len(download) == 1
    assert "x-key" not in download[0].headers
    assert all(r.headers.get("x-key") == KEY for r in bfl_emu.requests if "/bfl/" in r.path)


def test_the_effective_prompt_is_what_bfl_reports_it_ran(bfl_emu: Emulator) -> None:
    with client_for(bfl_emu, model="pro") as client, pytest.warns(UserWarning, match="F2R101"):
        result = client.generate({"scene": "a tea house"}, prompt_upsampling=True)
    sent = bfl_emu.requests[0].json["prompt"]
    assert result.effective_prompt is not None
    assert result.effective_prompt.startswith(sent)
    assert result.effective_prompt != sent


def test_a_flux3_model_takes_the_flux3_target_of_a_layout(bfl_emu: Emulator) -> None:
    builder = (
        flux2prompt.scene()
        .caption("A <mug_1> beside a <plant_1> on an oak desk")
        .element("mug_1", "a white ceramic mug", "left third")
        .element("plant_1", "a small fern in a clay pot", "right third")
    )
    with client_for(bfl_emu, model="flux-3-image") as client:
        result = client.generate(builder, aspect_ratio="16:9", resolution="1k")
    sent = bfl_emu.requests[0].json
    assert sent["prompt"] == builder.compile_flux3().text
    assert set(sent) == {"prompt", "aspect_ratio", "resolution"}
    assert result.width > result.height
    # FLUX 3 expands the prompt and returns it, boxes included.
    assert result.effective_prompt is not None
    assert '"bbox":[0,0,1000,333]' in result.effective_prompt
    # The same builder on FLUX.2 becomes position prose in the JSON prompt.
    with client_for(bfl_emu, model="pro") as client:
        client.generate(builder, width=512, height=512)
    flux2_sent = next(r.json for r in bfl_emu.requests if r.path == "/bfl/v1/flux-2-pro")
    assert flux2_sent["prompt"] == builder.compile().to_json()
    assert "on the left side" in flux2_sent["prompt"]
    assert "bbox" not in flux2_sent["prompt"]


@pytest.mark.parametrize(
    ("status", "error"),
    [("Content Moderated", OutputModeratedError), ("Request Moderated", InputModeratedError)],
)
def test_a_moderated_task_raises_its_typed_error(
    status: str, error: type[TaskModeratedError]
) -> None:
    with serve(bfl_task_ms=20.0) as emu:
        http = httpx.Client(headers={"x-emulator-status": status})
        with client_for(emu, http_client=http) as client, pytest.raises(error) as caught:
            client.generate("a fox", model="max")
        http.close()
    assert caught.value.status == status
    assert caught.value.task_id == emu.bfl_tasks[0].id
    assert caught.value.may_have_been_billed is False  # moderated tasks are not charged
    assert len(submits(emu)) == 1


def test_moderation_injected_by_ratio_is_deterministic() -> None:
    outcomes = []
    for _ in range(2):
        with serve(seed=5, bfl_task_ms=0.0, bfl_status_ratios={"Content Moderated": 0.5}) as emu:
            seen = []
            with client_for(emu, model="klein-9b") as client:
                for n in range(8):
                    try:
                        client.generate(f"a fox number {n}")
                        seen.append("Ready")
                    except OutputModeratedError:
                        seen.append("Content Moderated")
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert {"Ready", "Content Moderated"} == set(outcomes[0])


@pytest.mark.parametrize(
    ("status", "error"), [("Error", TaskFailedError), ("Failed", TaskFailedError)]
)
def test_a_failed_task_raises_and_is_not_resubmitted(
    status: str, error: type[TaskFailedError]
) -> None:
    with serve(bfl_task_ms=0.0) as emu:
        http = httpx.Client(headers={"x-emulator-status": status})
        with client_for(emu, http_client=http) as client, pytest.raises(error):
            client.generate("a fox")
        http.close()
    assert len(submits(emu)) == 1


def test_thirty_concurrent_submits_meet_the_24_task_limit_and_all_finish() -> None:
    async def main(emu: Emulator) -> list[int]:
        async with AsyncBFL(
            api_key=KEY, base_url=emu.bfl_base_url, model="klein-4b", poll_interval=0.05
        ) as client:
            results = await asyncio.gather(
                *(client.generate(f"a paper crane, number {n}", seed=n) for n in range(30))
            )
        return [r.seed or 0 for r in results]

    with serve(seed=0, token=KEY, bfl_task_ms=3000.0) as emu:
        seeds = asyncio.run(main(emu))
        statuses = [r.status for r in emu.requests if r.method == "POST"]
    assert sorted(seeds) == list(range(30))
    assert statuses.count(429) >= 1, "the 25th concurrent submit must meet the limit"
    assert statuses.count(200) == 30  # every task submitted once, none twice
    assert len(emu.bfl_tasks) == 30


def test_too_many_active_tasks_waits_for_a_slot_with_retry_after(bfl_emu: Emulator) -> None:
    slept: list[float] = []
    with serve(token=KEY, bfl_task_ms=800.0, bfl_max_active=1) as emu, client_for(emu) as client:
        first = client.submit(client.build_request("first"))
        original = client._sleep

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            original(seconds)

        client._sleep = sleep  # type: ignore[method-assign]
        second = client.submit(client.build_request("second"))
        assert first.id != second.id
    # Retry-After is 1 s; the wait honours it, with jitter on top, never below.
    assert slept
    assert 1.0 <= slept[0] <= 1.5


def test_no_slot_within_slot_timeout_raises_the_429() -> None:
    with (
        serve(token=KEY, bfl_task_ms=5000.0, bfl_max_active=1) as emu,
        client_for(emu, slot_timeout=0.5) as client,
    ):
        client.submit(client.build_request("first"))
        with pytest.raises(TooManyActiveTasksError, match="slot_timeout"):
            client.submit(client.build_request("second"))


@pytest.mark.parametrize("status", [500, 503])
def test_a_submit_5xx_is_never_resubmitted(status: int) -> None:
    with serve(token=KEY) as emu:
        http = httpx.Client(headers={"x-emulator-config": f'{{"error_ratios": {{"{status}": 1}}}}'})
        with (
            client_for(emu, http_client=http, max_retries=5) as client,
            pytest.raises(InternalServerError) as caught,
        ):
            client.generate("a fox")
        http.close()
        # The emulator created the task and lost the answer: resubmitting would pay twice.
        assert len(submits(emu)) == 1
        assert len(emu.bfl_tasks) == 1
    assert "never resent" in str(caught.value)


def test_a_cut_submit_answer_is_never_resubmitted() -> None:
    with serve(token=KEY) as emu:
        http = httpx.Client(headers={"x-emulator-config": '{"malformed_json_ratio": 1}'})
        with (
            client_for(emu, http_client=http, max_retries=5) as client,
            pytest.raises(flux2prompt.transport.ResponseError) as caught,
        ):
            client.generate("a fox")
        http.close()
        assert len(submits(emu)) == 1
    assert caught.value.may_have_been_billed


def test_a_dropped_submit_connection_is_never_resubmitted() -> None:
    with serve(token=KEY) as emu:
        http = httpx.Client(headers={"x-emulator-config": '{"drop_ratio": 1}'})
        with (
            client_for(emu, http_client=http, max_retries=5) as client,
            pytest.raises(flux2prompt.transport.PossiblyBilledError) as caught,
        ):
            client.generate("a fox")
        http.close()
        assert len(submits(emu)) == 1
    assert str(caught.value).startswith("Black Forest Labs")


def test_polling_5xx_is_retried(bfl_emu: Emulator) -> None:
    http = httpx.Client(headers={"x-emulator-poll-errors": "2"})
    with client_for(bfl_emu, http_client=http, max_retries=2) as client:
        result = client.generate("a fox in the snow", model="flex", steps=20)
    http.close()
    assert result.format == "jpeg"
    statuses = polls(bfl_emu)
    assert statuses[:2] == [503, 503]
    assert statuses[-1] == 200
    assert len(submits(bfl_emu)) == 1


def test_polling_5xx_beyond_max_retries_raises(bfl_emu: Emulator) -> None:
    http = httpx.Client(headers={"x-emulator-poll-errors": "5"})
    with (
        client_for(bfl_emu, http_client=http, max_retries=1) as client,
        pytest.raises(InternalServerError),
    ):
        client.generate("a fox")
    http.close()
    assert polls(bfl_emu) == [503, 503]


def test_an_expired_result_url_is_paid_result_expired(bfl_emu: Emulator) -> None:
    http = httpx.Client(headers={"x-emulator-result-ttl": "0"})
    with (
        client_for(bfl_emu, http_client=http) as client,
        pytest.raises(ResultDownloadError) as caught,
    ):
        client.generate("a fox")
    http.close()
    assert caught.value.reason == "expired"
    assert "paid, result expired" in str(caught.value)
    assert len(submits(bfl_emu)) == 1


def test_an_unknown_status_is_polled_until_the_deadline_and_named() -> None:
    with serve(bfl_task_ms=0.0) as emu:
        http = httpx.Client(headers={"x-emulator-status": "reasoning"})
        with (
            client_for(emu, http_client=http, poll_timeout=0.3) as client,
            pytest.raises(TaskTimeoutError) as caught,
        ):
            client.generate("a fox", model="flux-3-image")
        http.close()
    assert caught.value.status == "reasoning"
    assert "unknown status 'reasoning'" in str(caught.value)
    assert len(polls(emu)) >= 3  # it kept polling rather than crash
    assert len(submits(emu)) == 1


def test_flux3_steps_of_its_own_are_polled_through(bfl_emu: Emulator) -> None:
    with client_for(bfl_emu, model="flux-3-image", poll_interval=0.005) as client:
        result = client.generate("a lighthouse at dusk", resolution="768sq")
    assert (result.width, result.height) == (768, 768)


def test_a_recorded_task_resumes_without_submitting_again(bfl_emu: Emulator) -> None:
    with client_for(bfl_emu) as client:
        task = client.submit(client.build_request("a fox", seed=4))
        record = task.to_dict()
    with client_for(bfl_emu) as other:
        result = other.result(BFLTask.from_dict(record))
    assert result.seed == 4
    assert result.request_fingerprint == task.request_fingerprint
    assert len(submits(bfl_emu)) == 1


def test_an_unknown_task_id_is_task_not_found(bfl_emu: Emulator) -> None:
    task = BFLTask("nope", f"{bfl_emu.bfl_base_url}/v1/get_result?id=nope", "flux-2-pro")
    with client_for(bfl_emu) as client, pytest.raises(TaskNotFoundError):
        client.result(task)


def test_a_wrong_key_is_refused_and_never_shown(bfl_emu: Emulator) -> None:
    wrong = "bfl-key-WRONG-0123456789"
    with BFL(api_key=wrong, base_url=bfl_emu.bfl_base_url) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            client.generate("a fox")
        assert wrong not in repr(client)
    assert "BFL_API_KEY" in str(caught.value)
    assert wrong not in str(caught.value)


def test_a_polling_url_on_another_host_never_gets_the_key(bfl_emu: Emulator) -> None:
    task = BFLTask("t", "https://collector.example/v1/get_result?id=t", "flux-2-pro")
    with client_for(bfl_emu) as client, pytest.raises(flux2prompt.transport.ResponseError) as e:
        client.result(task)
    assert "the API key is not sent there" in str(e.value)
    assert polls(bfl_emu) == []


def test_a_refused_field_lists_the_allowed_ones_and_sends_nothing(bfl_emu: Emulator) -> None:
    with (
        client_for(bfl_emu, model="flux-3-image") as client,
        pytest.raises(ParameterError) as caught,
    ):
        client.generate("a fox", width=1024)
    assert "aspect_ratio, grounding, images" in str(caught.value)
    assert bfl_emu.requests == []


def test_the_emulator_answers_422_where_the_catalogue_would_refuse(bfl_emu: Emulator) -> None:
    # What the client refuses before sending, the emulator refuses on the wire.
    with httpx.Client() as http:
        answer = http.post(
            f"{bfl_emu.bfl_base_url}/v1/flux-3-image",
            headers={"x-key": KEY},
            json={"prompt": "a fox", "width": 1024},
        )
    assert answer.status_code == 422
    assert "width" in answer.text


async def test_async_generate_saves_like_the_sync_one(bfl_emu: Emulator, tmp_path: Path) -> None:
    async with AsyncBFL(api_key=KEY, base_url=bfl_emu.bfl_base_url, poll_interval=0.02) as c:
        result = await c.generate("a red fox", model="flex", width=256, height=256, seed=2)
    assert result.save(tmp_path / "fox.jpg").stat().st_size == len(result.data)
    assert (result.width, result.seed) == (256, 2)


async def test_async_moderation_raises_the_typed_error() -> None:
    with serve(bfl_task_ms=0.0) as emu:
        http = httpx.AsyncClient(headers={"x-emulator-status": "Content Moderated"})
        async with AsyncBFL(
            api_key=KEY, base_url=emu.bfl_base_url, http_client=http, poll_interval=0.01
        ) as client:
            with pytest.raises(OutputModeratedError):
                await client.generate("a fox")
        await http.aclose()


def test_too_few_credits_raise_the_typed_error_with_what_to_do() -> None:
    with (
        serve(bfl_task_ms=0.0, bfl_credits=0.5) as emu,
        client_for(emu) as client,
        pytest.raises(InsufficientCreditsError) as caught,
    ):
        client.generate("a fox", model="pro", width=512, height=512)
    assert caught.value.status_code == 402
    assert caught.value.may_have_been_billed is False
    message = str(caught.value)
    assert "needs 0.75 credits, 0.5 are left" in message
    assert "Add credits to the account at dashboard.bfl.ai" in message
    assert KEY not in message
    assert len(submits(emu)) == 1  # a 402 is final: never sent again


async def test_async_too_few_credits_raise_the_same_error() -> None:
    with serve(bfl_task_ms=0.0, bfl_credits=0.5) as emu:
        async with AsyncBFL(api_key=KEY, base_url=emu.bfl_base_url, poll_interval=0.01) as c:
            with pytest.raises(InsufficientCreditsError) as caught:
                await c.generate("a fox", model="pro", width=512, height=512)
    assert "needs 0.75 credits, 0.5 are left" in str(caught.value)
    assert len(submits(emu)) == 1
