"""The emulator's Black Forest Labs mode, spoken to with plain httpx over loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from flux2prompt.emulator import Emulator, EmulatorConfig, config_from_options, serve
from flux2prompt.emulator._config import config_to_argv

KEY = {"x-key": "bfl-test-key"}


@pytest.fixture
def bfl() -> Iterator[Emulator]:
    with serve(seed=0, bfl_task_ms=100.0) as emulator:
        yield emulator


def submit(emu: Emulator, endpoint: str = "flux-2-pro", **body: object) -> httpx.Response:
    body.setdefault("prompt", "a red fox")
    return httpx.post(f"{emu.bfl_base_url}/v1/{endpoint}", headers=KEY, json=body)


def poll_until_done(url: str, limit: float = 5.0) -> list[dict[str, object]]:
    answers: list[dict[str, object]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=KEY).json()
        answers.append(answer)
        if answer["status"] not in ("Pending", "generating"):
            break
        time.sleep(0.02)
    return answers


def test_submit_returns_an_id_and_a_polling_url_that_walks_to_ready() -> None:
    with serve(bfl_task_ms=600.0) as bfl:
        walk(bfl)


def walk(bfl: Emulator) -> None:
    answer = submit(bfl, width=512, height=512, seed=3)
    assert answer.status_code == 200
    task = answer.json()
    assert task["polling_url"] == f"{bfl.bfl_base_url}/v1/get_result?id={task['id']}"
    assert task["cost"] == pytest.approx(0.75)  # 3 credits per megapixel, a quarter megapixel
    answers = poll_until_done(task["polling_url"])
    assert answers[0]["status"] == "Pending"
    assert 0 <= answers[0]["progress"] <= 1
    final = answers[-1]
    assert final["status"] == "Ready"
    result = final["result"]
    assert isinstance(result, dict)
    assert result["seed"] == 3
    assert result["prompt"] == "a red fox"
    image = httpx.get(result["sample"])  # no key: a signed URL
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"


def test_the_image_is_deterministic_given_the_seed() -> None:
    images = []
    for _ in range(2):
        with serve(seed=9, bfl_task_ms=0.0) as emu:
            task = submit(emu, "flux-2-klein-4b", width=256, height=256).json()
            result = poll_until_done(task["polling_url"])[-1]["result"]
            assert isinstance(result, dict)
            images.append(httpx.get(result["sample"]).content)
    assert images[0] == images[1]


def test_at_most_24_active_tasks_then_429_with_retry_after() -> None:
    with serve(bfl_task_ms=60_000.0) as emu, httpx.Client(headers=KEY) as http:
        url = f"{emu.bfl_base_url}/v1/flux-2-klein-9b"
        answers = [http.post(url, json={"prompt": f"a fox {n}"}) for n in range(25)]
    assert [a.status_code for a in answers[:24]] == [200] * 24
    refused = answers[24]
    assert refused.status_code == 429
    assert "Too many active tasks: 24 of 24" in refused.json()["detail"]
    # Retry-After: the seconds until the first running task ends.
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_slot_frees_once_a_task_is_done() -> None:
    # A task far longer than the test, ended on the emulator's side: the order of events is
    # fixed by the emulator's state, not by how fast a loaded machine runs the test.
    with serve(bfl_task_ms=600_000.0, bfl_max_active=1) as emu:
        first = submit(emu)
        assert first.status_code == 200
        refused = submit(emu)
        assert refused.status_code == 429
        assert httpx.get(first.json()["polling_url"], headers=KEY).json()["status"] == "Pending"
        assert emu.finish_bfl_tasks() == 1
        assert httpx.get(first.json()["polling_url"], headers=KEY).json()["status"] == "Ready"
        assert submit(emu).status_code == 200
        assert submit(emu).status_code == 429  # the new task holds the one slot in turn
        assert len(emu.bfl_tasks) == 2


def test_a_slot_frees_once_a_task_has_run_its_time() -> None:
    # Waits on the task's own status (Ready once its time has passed), not on a sleep.
    with serve(bfl_task_ms=200.0, bfl_max_active=1) as emu:
        first = submit(emu)
        assert first.status_code == 200
        assert poll_until_done(first.json()["polling_url"], limit=60.0)[-1]["status"] == "Ready"
        assert submit(emu).status_code == 200


def test_the_result_url_expires(bfl: Emulator) -> None:
    task = httpx.post(
        f"{bfl.bfl_base_url}/v1/flux-2-max",
        headers={**KEY, "x-emulator-result-ttl": "0.2"},
        json={"prompt": "a fox"},
    ).json()
    result = poll_until_done(task["polling_url"])[-1]["result"]
    assert isinstance(result, dict)
    time.sleep(0.25)
    expired = httpx.get(result["sample"])
    assert expired.status_code == 403
    assert b"expired" in expired.content


def test_a_moderation_status_is_injected_by_header(bfl: Emulator) -> None:
    task = httpx.post(
        f"{bfl.bfl_base_url}/v1/flux-2-pro",
        headers={**KEY, "x-emulator-status": "Content Moderated"},
        json={"prompt": "a fox"},
    ).json()
    final = poll_until_done(task["polling_url"])[-1]
    assert final == {"id": task["id"], "status": "Content Moderated", "result": None}


def test_refusals_in_bfl_shape(bfl: Emulator) -> None:
    no_key = httpx.post(f"{bfl.bfl_base_url}/v1/flux-2-pro", json={"prompt": "x"})
    assert (no_key.status_code, no_key.json()) == (403, {"detail": "Not authenticated"})
    assert submit(bfl, "flux-9").status_code == 404
    flux3 = submit(bfl, "flux-3-image", seed=1, width=64)
    assert flux3.status_code == 422
    assert [d["loc"] for d in flux3.json()["detail"]] == [["body", "seed"], ["body", "width"]]
    assert "don't work here" in flux3.text
    assert submit(bfl, "flux-2-pro", width=100).status_code == 422
    assert submit(bfl, "flux-2-klein-4b", input_image_5="x").status_code == 422
    unknown = httpx.get(f"{bfl.bfl_base_url}/v1/get_result?id=nope", headers=KEY).json()
    assert unknown["status"] == "Task not found"


def test_a_token_is_required_as_the_x_key_when_configured() -> None:
    with serve(token="right-key") as emu:
        url = f"{emu.bfl_base_url}/v1/flux-2-pro"
        assert httpx.post(url, headers={"x-key": "wrong"}, json={"prompt": "x"}).status_code == 403
        assert httpx.post(url, headers={"x-key": "right-key"}, json={"prompt": "x"}).is_success


def test_flux3_sizes_follow_aspect_ratio_and_resolution() -> None:
    with serve(bfl_task_ms=0.0) as emu:
        task = submit(emu, "flux-3-image", aspect_ratio="2:1", resolution="768sq").json()
        result = poll_until_done(task["polling_url"])[-1]["result"]
        assert isinstance(result, dict)
        import io

        from PIL import Image

        with Image.open(io.BytesIO(httpx.get(result["sample"]).content)) as image:
            assert image.size == (768, 768)
        tasks = emu.bfl_tasks
    assert tasks[0].endpoint == "flux-3-image"
    assert tasks[0].final_status == "Ready"


def test_injected_5xx_on_submit_still_creates_the_task() -> None:
    with serve(error_ratios={503: 1.0}) as emu:
        assert submit(emu).status_code == 503
        assert len(emu.bfl_tasks) == 1


def test_the_bfl_options_round_trip_through_the_command_line() -> None:
    config = config_from_options(
        bfl_task_ms=50.0,
        bfl_max_active=3,
        bfl_content_moderated=0.25,
        bfl_error=0.1,
        bfl_credits=12.5,
    )
    assert config.bfl_credits == 12.5
    assert dict(config.bfl_status_ratios) == {"Content Moderated": 0.25, "Error": 0.1}
    argv = config_to_argv(config)
    assert "--bfl-content-moderated" in argv
    assert "--bfl-max-active" in argv
    from flux2prompt.emulator.__main__ import build_parser

    options = vars(build_parser().parse_args(argv))
    image_format = options.pop("format")
    assert config_from_options(**options, image_format=image_format) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bfl_status_ratios", {"Ready": 0.5}, "may only inject"),
        ("bfl_status_ratios", {"Error": 0.7, "Content Moderated": 0.7}, "sum to at most 1"),
        ("bfl_max_active", 0, "bfl_max_active must be >= 1"),
        ("bfl_task_ms", -1.0, "bfl_task_ms must be >= 0"),
        ("bfl_credits", -1.0, "bfl_credits must be >= 0"),
        ("bfl_credits", float("nan"), "bfl_credits must be a finite number"),
        ("bfl_credits", "10", "bfl_credits must be a finite number"),
    ],
)
def test_bad_bfl_options_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**{field: value})  # type: ignore[arg-type]


def test_a_body_nested_past_any_depth_is_refused_in_each_hosts_shape(bfl: Emulator) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    json_type = {"content-type": "application/json"}
    refused = httpx.post(f"{bfl.bfl_base_url}/v1/flux-2-pro", headers=KEY | json_type, content=deep)
    assert (refused.status_code, refused.json()) == (422, {"detail": "the body is not valid JSON"})
    proxied = httpx.post(
        f"{bfl.base_url}/accounts/{'0' * 32}/ai/run",
        headers={"Authorization": "Bearer test-token"} | json_type,
        content=deep,
    )
    assert proxied.status_code == 400
    assert "the body is not JSON" in proxied.json()["errors"][0]["message"]
    assert [r.json for r in bfl.requests][-2:] == [None, None]  # recorded, as not JSON
    assert submit(bfl).status_code == 200  # the server goes on answering


def test_credits_run_out_with_a_402_and_only_ready_tasks_are_charged() -> None:
    with serve(bfl_task_ms=0.0, bfl_credits=2.0) as emu:
        assert emu.bfl_credits == 2.0
        # 3 credits per megapixel: a quarter megapixel costs 0.75.
        assert submit(emu, width=512, height=512).status_code == 200
        assert emu.bfl_credits == pytest.approx(1.25)
        # A task that ends moderated is not charged.
        moderated = httpx.post(
            f"{emu.bfl_base_url}/v1/flux-2-pro",
            headers=KEY | {"x-emulator-status": "Content Moderated"},
            json={"prompt": "a fox", "width": 512, "height": 512},
        )
        assert moderated.status_code == 200
        assert emu.bfl_credits == pytest.approx(1.25)
        assert submit(emu, width=512, height=512).status_code == 200
        refused = submit(emu, width=512, height=512)
        assert refused.status_code == 402
        assert refused.json() == {
            "detail": "Insufficient credits: the request needs 0.75 credits, 0.5 are left"
        }
        assert len(emu.bfl_tasks) == 3  # the refused submit started no task
        assert emu.bfl_credits == pytest.approx(0.5)
        # A request the credits left still cover goes through.
        assert submit(emu, "flux-2-klein-4b", width=512, height=512).status_code == 200
        emu.reset()  # as the quota used: the credits come back
        assert emu.bfl_credits == 2.0


def test_no_credits_refuse_even_an_endpoint_without_a_price() -> None:
    with serve(bfl_credits=0) as emu:
        refused = submit(emu, "flux-3-image")
        assert refused.status_code == 402
        detail = refused.json()["detail"]
        assert detail == "Insufficient credits: the request needs credits, 0 are left"
        # Validation comes first: a body the endpoint refuses is a 422 whatever the balance.
        assert submit(emu, width=7).status_code == 422
    with serve() as unlimited:
        assert unlimited.bfl_credits is None
        assert submit(unlimited).status_code == 200
