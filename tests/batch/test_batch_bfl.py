"""Batches on Black Forest Labs' API: a job names ``provider = "bfl"``; tasks are recorded before
they are polled, so a run killed with SIGKILL resumes by polling them and submits none again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt.batch import BatchRunner, load_job, read_manifest, run_batch
from flux2prompt.emulator import Emulator, serve

SRC = str(Path(__file__).resolve().parents[2] / "src")
KEY = "bfl-batch-key-0123456789"

TEMPLATE = """
from flux2prompt import scene, template

@template
def desk(item: str, n: int):
    return (
        scene()
        .caption(f"A <{item}_1> on an oak desk, study {n}")
        .element(f"{item}_1", f"a {item} in soft daylight", "centre")
    )
"""


def write_job(folder: Path, *, model: str = "flux-3-image", items: int = 3, **keys: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "desk.py").write_text(TEMPLATE, encoding="utf-8")
    lines = [
        'name = "desk"',
        'template = "desk.py:desk"',
        'provider = "bfl"',
        f'model = "{model}"',
        'output = "{item}-{n}.{ext}"',
        "retries = 2",
        *(f"{key} = {json.dumps(value)}" for key, value in keys.items()),
        "",
        "[variables.matrix]",
        'item = ["mug"]',
        f"n = {json.dumps(list(range(items)))}",
        "",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def submits(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST" and r.path.startswith("/bfl/"))


def ledger(out: Path) -> list[dict[str, object]]:
    text = (out / "bfl-tasks.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_a_bfl_job_runs_against_the_emulator(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path / "job"))
    assert (job.provider, job.model) == ("bfl", "flux-3-image")
    out = tmp_path / "out"
    dry = BatchRunner(job, out).dry_run()
    assert (dry.model, dry.to_generate, dry.estimated_cost) == ("flux-3-image", 3, None)
    report = run_batch(job, out, emulator=True)
    assert (report.generated, report.failed, report.ok) == (3, 0, True)
    ok = [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]
    assert sorted(r["file"] for r in ok) == ["mug-0.jpg", "mug-1.jpg", "mug-2.jpg"]
    # FLUX 3 expands the prompt; the expansion, boxes included, is kept.
    assert all('"bbox":[250,250,750,750]' in str(r["effective_prompt"]) for r in ok)
    assert [e["event"] for e in ledger(out)] == ["submitted"] * 3
    # The gallery draws each item's layout boxes, with their ids, over its thumbnail.
    gallery = (out / "index.html").read_text(encoding="utf-8")
    assert gallery.count('<span class="box" style="top:25%;left:25%;height:50%;width:50%"') == 3
    assert gallery.count("<b>mug_1</b>") == 3
    assert run_batch(job, out, emulator=True).skipped == 3


def test_a_flux2_job_prices_from_the_from_rate(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path / "job", model="klein-4b", items=2))
    dry = BatchRunner(job, tmp_path / "out").dry_run()
    assert dry.model == "flux-2-klein-4b"
    assert dry.estimated_cost == pytest.approx(2 * 0.014)


def test_bad_bfl_job_settings_are_refused_with_the_file(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job", concurrency=30)
    with pytest.raises(SourceError, match="24 active tasks"):
        load_job(path)
    text = path.read_text(encoding="utf-8").replace('provider = "bfl"', 'provider = "replicate"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match="provider"):
        load_job(path)
    fields = write_job(tmp_path / "other", concurrency=2)
    fields.write_text(
        fields.read_text(encoding="utf-8") + "\n[parameters]\nwidth = 512\n", encoding="utf-8"
    )
    with pytest.raises(Exception, match="does not take 'width'"):
        BatchRunner(load_job(fields), tmp_path / "out2").dry_run()


def _start(job: Path, out: Path, base_url: str, logs: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    env.update(PYTHONPATH=SRC, BFL_API_KEY=KEY)
    command = [sys.executable, "-c", "from flux2prompt.cli import main; main()"]
    command += ["batch", str(job), "--out", str(out), "--base-url", base_url, "--no-progress"]
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        return subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)


def _kill_once_pending(process: subprocess.Popen[bytes], emu: Emulator, out: Path) -> None:
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the batch ended before the kill"
            recorded = out / "bfl-tasks.jsonl"
            if len(emu.bfl_tasks) == 3 and recorded.exists() and len(ledger(out)) == 3:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the batch submitted nothing")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:  # pragma: no cover - only if an assertion fired above
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_while_tasks_pend_resumes_by_polling_and_submits_none_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_job(tmp_path / "job", concurrency=3)
    out = tmp_path / "out"
    # Tasks that would run for a minute: the batch is killed while all three are pending.
    with serve(token=KEY, bfl_task_ms=60_000.0) as emu:
        process = _start(path, out, emu.bfl_base_url, tmp_path / "logs")
        _kill_once_pending(process, emu, out)
        recorded = {str(e["task"]["id"]) for e in ledger(out)}  # type: ignore[index]
        assert recorded == {t.id for t in emu.bfl_tasks}
        assert not (out / "manifest.jsonl").exists() or all(
            r["status"] != "ok" for r in read_manifest(out / "manifest.jsonl")
        )
        assert emu.finish_bfl_tasks() == 3  # the tasks' time passes while nothing runs
        monkeypatch.setenv("BFL_API_KEY", KEY)
        report = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert (report.generated, report.failed) == (3, 0)
        assert submits(emu) == 3, "a recorded task was submitted again"
        polled = {r.path.rsplit("=", 1)[1] for r in emu.requests if "get_result" in r.path}
        assert polled == recorded
    ok = [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]
    assert sorted(str(r["request_id"]) for r in ok) == sorted(recorded)


def test_ready_after_its_url_expired_is_paid_result_expired_and_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_job(tmp_path / "job", concurrency=3)
    out = tmp_path / "out"
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with serve(token=KEY, bfl_task_ms=60_000.0) as emu:
        process = _start(path, out, emu.bfl_base_url, tmp_path / "logs")
        _kill_once_pending(process, emu, out)
        emu.finish_bfl_tasks(result_ttl=0.0)  # Ready long ago: the signed URLs have expired
        report = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert (report.generated, report.failed, report.billed) == (0, 3, 3)
        assert all("paid, result expired" in message for _, message in report.failures)
        again = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert (again.held, again.generated) == (3, 0)
        assert submits(emu) == 3, "an expired, paid task was resubmitted silently"


def test_the_lock_inventory_of_a_bfl_job_records_the_batch_fingerprints(tmp_path: Path) -> None:
    from flux2prompt._versioning._inventory import build_inventory
    from flux2prompt.batch import plan_items

    path = write_job(tmp_path / "job")
    inventory = build_inventory([path], base=tmp_path)
    planned = [item.key for item in plan_items(load_job(path))]
    assert [e.request_fingerprint for e in inventory.entries if e.kind == "item"] == planned
    assert {e.metadata["model"] for e in inventory.entries if e.kind == "item"} == {"flux-3-image"}


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("flux-3-image", "cost      unknown (no published price)"),
        ("klein-4b", 'cost      $0.0420 estimated for 3 image(s) (Black Forest Labs\' "from"'),
    ],
)
def test_the_dry_run_of_a_bfl_job_shows_its_requests_and_cost(
    tmp_path: Path, model: str, cost: str
) -> None:
    path = write_job(tmp_path / "job", model=model)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    env["PYTHONPATH"] = SRC
    command = [sys.executable, "-c", "from flux2prompt.cli import main; main()"]
    done = subprocess.run(
        [*command, "batch", str(path), "--out", str(tmp_path / "out"), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert cost in done.stdout
    assert "POST https://api.bfl.ai/v1/" in done.stdout


def test_too_few_credits_stop_the_batch_and_a_rerun_sends_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # klein 4B at its default 1024x768: 1.05 credits an image; 3 credits pay for two.
    path = write_job(tmp_path / "job", model="klein-4b", items=6, concurrency=1)
    out = tmp_path / "out"
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with serve(token=KEY, bfl_task_ms=0.0, bfl_credits=3.0) as emu:
        report = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert (report.generated, report.failed, report.pending) == (2, 1, 3)
        assert report.stopped is not None
        assert "Insufficient credits" in report.stopped
        assert "Add credits to the account" in report.stopped
        assert report.exit_code != 0
        # The batch stopped at the first 402: the other items were never sent.
        assert submits(emu) == 3
    with serve(token=KEY, bfl_task_ms=0.0, bfl_credits=100.0) as topped_up:
        again = run_batch(load_job(path), out, base_url=topped_up.bfl_base_url)
        assert (again.generated, again.skipped, again.failed, again.stopped) == (4, 2, 0, None)
        assert submits(topped_up) == 4, "an image already bought was bought again"
    ok = [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]
    assert sorted(str(r["file"]) for r in ok) == [f"mug-{n}.jpg" for n in range(6)]


def test_the_command_line_says_the_credits_ran_out_in_one_line(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job", model="klein-4b", items=3, concurrency=1)
    with serve(token=KEY, bfl_task_ms=0.0, bfl_credits=0.0) as emu:
        process = _start(path, tmp_path / "out", emu.bfl_base_url, tmp_path / "logs")
        assert process.wait(timeout=60) == 1
        assert submits(emu) == 1
    stderr = (tmp_path / "logs" / "stderr").read_text(encoding="utf-8")
    assert "Traceback" not in stderr
    assert "Insufficient credits" in stderr + (tmp_path / "logs" / "stdout").read_text("utf-8")


def test_a_ready_task_whose_result_is_no_image_is_kept_and_polled_again_not_resubmitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_job(tmp_path / "job", model="klein-4b", items=2, concurrency=1)
    out = tmp_path / "out"
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with serve(token=KEY, bfl_task_ms=0.0, not_an_image_ratio=1.0) as emu:
        report = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert (report.generated, report.failed) == (0, 2)
        assert submits(emu) == 2
        records = read_manifest(out / "manifest.jsonl")
        assert [r["error"]["type"] for r in records] == ["ResultDownloadError"] * 2
        assert all("may_have_been_billed" not in r for r in records)  # the task is recorded
        for record in records:
            assert (out / record["kept"]).read_bytes().startswith(b"GIF89a")
        # The next run polls the same tasks for their results again: nothing is submitted.
        again = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert again.failed == 2
        assert submits(emu) == 2
    assert [e["event"] for e in ledger(out)] == ["submitted"] * 2


def test_a_bfl_answer_that_cannot_be_kept_stops_and_says_the_task_is_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_job(tmp_path / "job", model="klein-4b", items=2, concurrency=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "unreadable").write_text("a file where the folder goes\n", encoding="utf-8")
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with serve(token=KEY, bfl_task_ms=0.0, not_an_image_ratio=1.0) as emu:
        report = run_batch(load_job(path), out, base_url=emu.bfl_base_url)
        assert report.stopped is not None
        assert "the next run fetches that answer again, submitting nothing" in report.stopped
        assert "held" not in report.stopped
        assert submits(emu) == 1  # stopped before buying the second


def test_a_bfl_batch_points_at_black_forest_labs_dashboard_for_what_may_be_charged(
    tmp_path: Path,
) -> None:
    path = write_job(tmp_path / "job", model="klein-4b", items=1, concurrency=1)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    env.update(PYTHONPATH=SRC, BFL_API_KEY=KEY)
    command = [sys.executable, "-c", "from flux2prompt.cli import main; main()", "batch"]
    with serve(token=KEY, bfl_task_ms=0.0, error_ratios={500: 1.0}) as emu:
        command += [str(path), "--out", str(out), "--base-url", emu.bfl_base_url, "--no-progress"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "check Black Forest Labs' dashboard, then rerun with --resend-billed" in done.stderr
    assert "Cloudflare" not in done.stderr
