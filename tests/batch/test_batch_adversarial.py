"""The batch runner under attack: damaged manifests, folders it cannot write, signals, and a
server that fails in every way it can, checked by property.

Every case runs the real thing: the ``flux2-prompt batch`` command in a subprocess or the
``flux2prompt.batch`` API in-process, against the project's emulator over loopback HTTP, on
real folders (a real tmpfs where a read-only file system is needed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import PromptError, SourceError, scene
from flux2prompt.batch import (
    BatchJob,
    BatchReport,
    BatchRunner,
    effective_records,
    load_job,
    matrix,
    plan_items,
    read_manifest,
    run_batch,
    template,
)
from flux2prompt.batch._lock import FolderLock
from flux2prompt.batch._records import may_have_been_billed
from flux2prompt.emulator import EmulatorConfig, serve

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene(f"a {color} {product} on seamless paper").mood("calm")
"""

PRODUCTS = ("mug", "vase", "lamp")
COLORS = ("teal", "rust")
ITEMS = len(PRODUCTS) * len(COLORS)


def write_job(
    folder: Path, *, retries: int = 0, concurrency: int = 3, copies: bool = False
) -> Path:
    """A job of ``ITEMS`` items; with ``copies``, twice as many, each request made by two (a
    ``sku`` the template does not use, and one seed for all)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shots.py").write_text(TEMPLATE, encoding="utf-8")
    lines = [
        'name = "shots"',
        'template = "shots.py:shot"',
        'model = "klein-4b"',
        'output = "{product}-{color}-{sku}.{ext}"'
        if copies
        else 'output = "{product}-{color}.{ext}"',
        "seeds = 5" if copies else "seeds = { derive = 3 }",
        f"concurrency = {concurrency}",
        "rate_limit = 60000",
        f"retries = {retries}",
        "",
        "[parameters]",
        "width = 256",
        "height = 256",
        "",
        "[variables.matrix]",
        f"product = {json.dumps(list(PRODUCTS))}",
        f"color = {json.dumps(list(COLORS))}",
        *(['sku = ["a", "b"]'] if copies else []),
        "",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def finished_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A job and the folder of its finished batch."""
    job = write_job(tmp_path / "job")
    out = tmp_path / "out"
    with serve() as emu:
        report = run_batch(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")
    assert report.ok
    assert report.generated == ITEMS
    return job, out


# -- damaged manifests ----------------------------------------------------------------------------


def test_a_torn_last_line_longer_than_any_record_is_a_crash_not_damage(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    # What a crash leaves on some file systems: the file's length was made durable, its last
    # blocks were not, and read back as NUL bytes (here more of them than a record may have).
    job, out = finished_folder(tmp_path)
    manifest = out / "manifest.jsonl"
    with manifest.open("ab") as handle:
        handle.write(b"\0" * (5 * 1024 * 1024))
    assert len(read_manifest(manifest)) == ITEMS
    assert BatchRunner(load_job(job), out).dry_run().finished == ITEMS
    # A rerun with work to do cuts the torn tail off before it appends.
    (out / "mug-teal.jpg").unlink()
    with serve() as emu:
        rerun = run_cli("batch", str(job), "--out", str(out), "--base-url", emu.base_url,
                        "--no-progress", "--account-id", "acc")  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 generated, 5 already done, 0 failed" in rerun.stdout
    assert b"\0" not in manifest.read_bytes()
    assert len(effective_records(read_manifest(manifest))) == ITEMS


def test_a_line_longer_than_any_record_before_the_last_is_still_damage(tmp_path: Path) -> None:
    _, out = finished_folder(tmp_path)
    manifest = out / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(b"".join([*lines[:2], b"\0" * (5 * 1024 * 1024) + b"\n", *lines[2:]]))
    with pytest.raises(Exception, match=r"manifest.jsonl:3: broken manifest record \(a line"):
        read_manifest(manifest)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        # NUL bytes that a newline follows: not a torn tail, and no codec JSON guesses at.
        (lambda text: text + b"\0" * 100 + b"\n", "NUL bytes where a record should be"),
        (lambda text: text.replace(b"mug", b"m\xffg", 1), "not UTF-8 text: 0xff at byte"),
    ],
    ids=["nul-line", "invalid-utf-8"],
)
def test_damage_inside_the_manifest_is_named_in_plain_words(
    tmp_path: Path,
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    damage: Callable[[bytes], bytes],
    reason: str,
) -> None:
    job, out = finished_folder(tmp_path)
    manifest = out / "manifest.jsonl"
    manifest.write_bytes(damage(manifest.read_bytes()))
    for extra in ((), ("--dry-run",)):
        result = run_cli("batch", str(job), "--out", str(out), "--no-progress", *extra)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert reason in result.stderr
        assert "codec" not in result.stderr
        assert "remove the line to go on" in result.stderr
        assert result.stderr.count("\n") == 1


def test_a_manifest_that_is_a_folder_is_one_line_saying_what_to_do(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job")
    out = tmp_path / "out"
    (out / "manifest.jsonl").mkdir(parents=True)
    for extra in ((), ("--dry-run",), ("--json",)):
        result = run_cli("batch", str(job), "--out", str(out), "--no-progress", *extra)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr == (
            f"error: {out / 'manifest.jsonl'}: cannot read the manifest: it is a folder, not a "
            "file; move it out of the way, or choose another --out\n"
        )
        assert result.stdout == ""


# -- folders it cannot write ----------------------------------------------------------------------


@contextlib.contextmanager
def read_only_copy_of(folder: Path, where: Path) -> Iterator[Path]:
    """``folder`` copied onto a tmpfs that is then made read-only; the copy's path."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace')}")
    try:
        subprocess.run(["cp", "-a", str(folder), str(where / "out")], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        yield where / "out"
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_read_only_output_folder_says_so_and_not_to_remove_the_lock(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job, finished = finished_folder(tmp_path)
    with read_only_copy_of(finished, tmp_path / "disk") as out:
        result = run_cli("batch", str(job), "--out", str(out), "--no-progress")
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr == (
            f"error: {out}: cannot open the folder's lock file batch.lock: Read-only file "
            "system; make the folder writable, or choose another --out\n"
        )
        # Reading needs no lock: the dry run still says the batch is finished.
        dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert f"items     {ITEMS} ({ITEMS} already done, 0 to generate)" in dry.stdout


def test_a_lock_file_that_is_a_symbolic_link_is_named_as_one(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job")
    out = tmp_path / "out"
    out.mkdir()
    (out / "batch.lock").symlink_to(tmp_path / "elsewhere.lock")
    result = run_cli("batch", str(job), "--out", str(out), "--no-progress")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        f"error: {out}: cannot open the folder's lock file batch.lock: it is a symbolic link "
        "(refused); remove it or choose another --out\n"
    )
    assert not (tmp_path / "elsewhere.lock").exists()


# -- a server that fails in every way, by property ------------------------------------------------

#: The faults drawn, each with the share of requests it hits in one run.
FAULTS = st.fixed_dictionaries(
    {
        "error_ratios": st.fixed_dictionaries(
            {
                500: st.sampled_from([0.0, 0.2, 0.5]),
                502: st.sampled_from([0.0, 0.2]),
                503: st.sampled_from([0.0, 0.2, 0.5]),
                408: st.sampled_from([0.0, 0.1]),
            }
        ),
        "code_ratios": st.fixed_dictionaries(
            {4006: st.sampled_from([0.0, 0.0, 0.1]), 8007: st.sampled_from([0.0, 0.1])}
        ),
        "drop_ratio": st.sampled_from([0.0, 0.1]),
        "malformed_json_ratio": st.sampled_from([0.0, 0.1]),
        "invalid_base64_ratio": st.sampled_from([0.0, 0.1]),
        "seed": st.integers(0, 2**16),
    }
).filter(lambda f: sum(f["error_ratios"].values()) + sum(f["code_ratios"].values()) <= 1.0)


def _item_of(request: Any) -> tuple[str, str]:
    return (request.fields.get("prompt", ""), request.fields.get("seed", ""))


def _check_run(
    out: Path, before: list[dict[str, Any]], report: BatchReport, held_before: int, items: int
) -> list[dict[str, Any]]:
    """Every item of the run ended exactly once, and the report counts what the manifest says."""
    records = read_manifest(out / "manifest.jsonl")
    assert records[: len(before)] == before, "a run only appends"
    new = records[len(before) :]
    # One record per item this run settled, never two: made, copied, recovered or failed.
    indexes = [r["index"] for r in new]
    assert len(indexes) == len(set(indexes)), f"an item recorded twice in one run: {indexes}"
    assert len(new) == report.generated + report.copied + report.recovered + report.failed
    assert sum(1 for r in new if r["status"] == "ok") == (
        report.generated + report.copied + report.recovered
    )
    for record in new:
        if record["status"] == "failed":
            assert record["error"]["message"], "a failure says why"
            assert record["file"] is None
    view = effective_records(records)
    assert {key[1] for key in view} <= set(range(items))
    ok = [r for r in view.values() if r["status"] == "ok"]
    assert len(ok) == report.skipped + report.generated + report.copied + report.recovered
    for record in ok:
        assert sha256(out / record["file"]) == record["sha256"]
    assert report.held == held_before
    # The rest were not reached: the batch stopped (a quota), and the rerun sends them.
    assert report.pending == items - len(ok) - report.failed - report.held
    assert report.pending == 0 or report.stopped is not None
    assert report.exit_code == (0 if len(ok) == items else 1)
    return records


def _held(records: list[dict[str, Any]], requests: dict[int, str]) -> int:
    """The items a run holds: not finished, and their request may have been billed (a copy
    waits with its original, whose failure it shares)."""
    view = effective_records(records).values()
    done = {r["index"] for r in view if r["status"] == "ok"}
    billed = {r["request_fingerprint"] for r in view if may_have_been_billed(r)}
    return sum(1 for i, key in requests.items() if i not in done and key in billed)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    runs=st.lists(FAULTS, min_size=1, max_size=3),
    concurrency=st.integers(1, 4),
    copies=st.booleans(),
)
def test_any_faults_end_each_item_once_and_nothing_paid_is_bought_twice(
    runs: list[dict[str, Any]], concurrency: int, copies: bool
) -> None:
    items = ITEMS * 2 if copies else ITEMS
    with tempfile.TemporaryDirectory() as folder:
        job = load_job(write_job(Path(folder) / "job", concurrency=concurrency, copies=copies))
        out = Path(folder) / "out"
        requests = {item.index: item.key for item in plan_items(job)}
        answered: list[Any] = []
        records: list[dict[str, Any]] = []

        def run(config: EmulatorConfig, **options: Any) -> BatchReport:
            nonlocal records
            held = 0 if options.get("resend_billed") else _held(records, requests)
            with serve(config) as emu:
                report = run_batch(
                    job, out, base_url=emu.base_url, account_id="acc", api_token="tok",
                    gallery=False, **options,
                )  # fmt: skip
                answered.extend(r for r in emu.requests if r.method == "POST")
            records = _check_run(out, records, report, held, items)
            return report

        for faults in runs:
            run(EmulatorConfig(**faults))
        # Without faults, every item is made but those held as maybe billed, never resent.
        calm = run(EmulatorConfig())
        assert calm.failed == 0
        assert calm.pending == 0
        assert calm.skipped + calm.generated + calm.copied + calm.held == items
        # Every answer that billed (a 200, whole or broken) bought its item's image once.
        billed = collections.Counter(_item_of(r) for r in answered if r.status == 200)
        assert max(billed.values(), default=1) == 1, billed
        # --resend-billed then sends the held ones, and the batch is whole.
        last = run(EmulatorConfig(), resend_billed=True)
        assert last.ok, last
        assert last.generated + last.copied == calm.held


# -- Ctrl+C and SIGTERM: stop without losing what was paid for ------------------------------------


def _bought(requests: list[Any]) -> collections.Counter[tuple[str, str]]:
    """How many times each item's image was paid for: the emulator's 200 answers to it."""
    return collections.Counter(
        _item_of(r) for r in requests if r.method == "POST" and r.status == 200
    )


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted; rerun the same command to resume"),
        (signal.SIGTERM, 143, "terminated (SIGTERM); rerun the same command to resume"),
    ],
    ids=["sigint", "sigterm"],
)
def test_a_signal_mid_run_finishes_the_requests_in_flight_and_the_rerun_buys_nothing_twice(
    tmp_path: Path,
    start_cli: Callable[..., subprocess.Popen[str]],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    signum: int,
    code: int,
    said: str,
) -> None:
    job = write_job(tmp_path / "job", concurrency=2)
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    # Slow answers: once the first two are recorded, the next two are on their way, and the
    # signal comes while the service runs them (each one billed, whether read or not).
    with serve(EmulatorConfig(latency_ms=3000)) as slow:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--json")
        process = start_cli(*args, "--base-url", slow.base_url, "--account-id", "acc",
                            logs=tmp_path / "logs")  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not (manifest.exists() and manifest.read_bytes().count(b"\n") >= 2):
                assert process.poll() is None, "the batch ended before the signal"
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.02)
            time.sleep(0.5)
            process.send_signal(signum)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:  # pragma: no cover - only if an assertion fired above
                process.kill()
                process.wait()
        first = list(slow.requests)
    assert process.returncode == code
    stderr = (tmp_path / "logs" / "stderr.txt").read_text(encoding="utf-8")
    assert "Traceback" not in stderr
    assert (
        "stopping; no new request is sent, the ones in flight are finished and recorded" in stderr
    )
    report = json.loads((tmp_path / "logs" / "stdout.txt").read_text(encoding="utf-8"))
    assert report["exit_code"] == code
    assert report["stopped"] == said
    assert report["pending"] == ITEMS - report["generated"] > 0
    # Every image paid for in the stopped run was written and recorded.
    done = [r for r in read_manifest(manifest) if r["status"] == "ok"]
    assert len(done) == report["generated"] == sum(_bought(first).values())
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    with serve() as fast:
        rerun = run_cli(*args, "--base-url", fast.base_url, "--account-id", "acc")
        second = list(fast.requests)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    again = json.loads(rerun.stdout)
    assert (again["skipped"], again["generated"], again["recovered"]) == (
        len(done),
        ITEMS - len(done),
        0,
    )
    bought = _bought(first + second)
    assert len(bought) == ITEMS
    assert max(bought.values()) == 1, "an image was bought twice"


def test_stop_from_an_observer_sends_nothing_more_and_keeps_what_was_paid_for(
    tmp_path: Path,
) -> None:
    job = load_job(write_job(tmp_path / "job", concurrency=2))
    out = tmp_path / "out"
    with serve(EmulatorConfig(latency_ms=200)) as emu:
        runner = BatchRunner(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")

        class StopAfterOne:
            def started(self, job: str, total: int, skipped: int) -> None:
                pass

            def item_finished(self, outcome: Any, rate_limited: int) -> None:
                runner.stop("enough for today")

            def finished(self, report: BatchReport | None) -> None:
                pass

        runner.observer = StopAfterOne()
        report = asyncio.run(runner.run())
        paid = _bought(emu.requests)
    assert report.stopped == "enough for today"
    # What was in flight when the first image came back (a place is given back as soon as its
    # answer is in, so at most two waves of two) finished and was recorded: nothing after.
    assert report.generated == sum(paid.values())
    assert 2 <= report.generated <= 4
    assert max(paid.values()) == 1
    assert report.pending == ITEMS - report.generated
    assert report.exit_code == 1
    ok = [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]
    assert len(ok) == report.generated
    # The stop was for that run only: the next one finishes the batch.
    runner.observer = None
    with serve() as emu:
        runner.connect(base_url=emu.base_url, account_id="acc", api_token="tok")
        rest = asyncio.run(runner.run())
    assert rest.ok
    assert (rest.skipped, rest.generated) == (len(ok), ITEMS - len(ok))


def test_stop_before_anything_is_sent_leaves_every_item_pending(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path / "job"))
    out = tmp_path / "out"
    with serve() as emu:
        runner = BatchRunner(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")

        async def stop_then_run() -> BatchReport:
            runner.stop("not now")
            return await runner.run()

        report = asyncio.run(stop_then_run())
        assert not [r for r in emu.requests if r.method == "POST"]
    assert report.stopped == "not now"
    assert report.pending == ITEMS


def test_ctrl_c_while_waiting_for_another_runs_lock_ends_the_wait(
    tmp_path: Path, start_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = write_job(tmp_path / "job")
    # The template says when the command has read the job: it is about to wait then.
    module = tmp_path / "job" / "shots.py"
    marker = tmp_path / "job" / "loaded"
    module.write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n" + module.read_text("utf-8"),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out):
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--wait")
        process = start_cli(*args, "--base-url", "http://127.0.0.1:9", logs=tmp_path / "logs")
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert process.poll() is None, "the command ended before it waited"
                assert time.monotonic() < deadline, "the command never read its job"
                time.sleep(0.02)
            time.sleep(1)  # from reading the job to waiting for the lock
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:  # pragma: no cover - only if an assertion fired above
                process.kill()
                process.wait()
        assert process.returncode == 130
    stderr = (tmp_path / "logs" / "stderr.txt").read_text(encoding="utf-8")
    assert "Traceback" not in stderr
    assert stderr.endswith("error: interrupted; rerun the same command to resume\n")
    assert not (out / "manifest.jsonl").exists()


def test_stop_while_waiting_for_the_lock_says_who_holds_it(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path / "job"))
    out = tmp_path / "out"
    out.mkdir()
    runner = BatchRunner(job, out, base_url="http://127.0.0.1:9", account_id="a", api_token="t")
    runner.wait = True

    async def stop_soon() -> None:
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0.5)
        runner.stop("not now")
        await task

    with FolderLock(out), pytest.raises(SourceError) as caught:
        asyncio.run(stop_soon())
    assert str(caught.value) == (
        f"{out}: not now (while waiting for another flux2-prompt batch, PID {os.getpid()}, to end)"
    )


# -- output names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output", ["{ext}/{product}-{color}", "{product}-{ext}", "{product}.{ext}.bak", "{color}{ext}"]
)
def test_a_pattern_whose_names_do_not_end_with_the_extension_is_refused_before_paying(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]], output: str
) -> None:
    # Every image would be refused when saved (its name must end with its extension), after
    # the service was paid for it; and the rerun would pay again.
    path = write_job(tmp_path / "job")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"{product}-{color}.{ext}"', json.dumps(output)), "utf-8")
    out = tmp_path / "out"
    with serve() as emu:
        for extra in (("--dry-run",), ("--base-url", emu.base_url, "--account-id", "acc")):
            result = run_cli("batch", str(path), "--out", str(out), "--no-progress", *extra)
            assert result.returncode == 2, result.stdout + result.stderr
            assert result.stderr.startswith(f"error: {path}:4: output pattern {output!r}: ")
            assert "a name must end with '.{ext}', the image's own extension" in result.stderr
            assert result.stderr.count("\n") == 1
        assert not [r for r in emu.requests if r.method == "POST"]
    assert not (out / "manifest.jsonl").exists()
    with pytest.raises(PromptError, match=r"a name must end with '\.\{ext\}'"):
        BatchJob(
            name="x", template=template(lambda product, color: scene(f"a {color} {product}")),
            source=matrix(product=["a"], color=["b"]), output=output, model="klein-4b", seeds=1,
        )  # fmt: skip


# -- a fault of the runner's own --------------------------------------------------------------


def _failing_once(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that its first call raises the kind of error no one foresaw."""
    calls = []

    def once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    return once


def test_an_unexpected_error_writing_a_paid_image_stops_sending_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flux2prompt.batch._runner as runner_module

    monkeypatch.setattr(
        runner_module, "stamp_provenance", _failing_once(runner_module.stamp_provenance)
    )
    job = write_job(tmp_path / "job", concurrency=3)
    out = tmp_path / "out"
    with serve(EmulatorConfig(latency_ms=300)) as emu:
        report = run_batch(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")
        paid = _bought(emu.requests)
    # The first image back met the fault: the run sent nothing more, and what was in flight
    # finished and was recorded. Nothing was paid for twice.
    assert report.stopped is not None
    assert "unexpected error while writing" in report.stopped
    assert "RuntimeError: boom" in report.stopped
    assert "report it" in report.stopped
    assert max(paid.values()) == 1
    assert sum(paid.values()) == 3
    assert (report.generated, report.failed, report.billed) == (2, 1, 1)
    assert report.exit_code != 0
    records = read_manifest(out / "manifest.jsonl")
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 1
    assert may_have_been_billed(failed[0])
    assert "RuntimeError: boom" in failed[0]["error"]["message"]
    assert len([r for r in records if r["status"] == "ok"]) == 2
    # The image paid for and lost is held, not bought again by a plain rerun.
    monkeypatch.undo()
    with serve() as emu:
        rest = run_batch(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")
        again = _bought(emu.requests)
    assert rest.generated == ITEMS - 3
    assert sum(again.values()) == ITEMS - 3
    assert not set(again) & set(paid)


def test_an_unexpected_error_in_an_items_task_lets_the_others_finish_then_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flux2prompt.batch._runner as runner_module

    run_class = runner_module._Run
    monkeypatch.setattr(run_class, "_notify", _failing_once(run_class._notify))
    job = write_job(tmp_path / "job", concurrency=3)
    out = tmp_path / "out"
    with serve(EmulatorConfig(latency_ms=300)) as emu:
        with pytest.raises(RuntimeError, match="boom"):
            run_batch(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")
        paid = _bought(emu.requests)
    # Not a cancellation of the requests in flight: each one paid for is on disk and recorded
    # (the places given back as the first answers came in may have sent a few more).
    ok = [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]
    assert max(paid.values()) == 1
    assert len(ok) == sum(paid.values()) >= 3
    assert all((out / r["file"]).is_file() for r in ok)
    monkeypatch.undo()
    with serve() as emu:
        rest = run_batch(job, out, base_url=emu.base_url, account_id="acc", api_token="tok")
        again = _bought(emu.requests)
    assert (rest.skipped, rest.generated) == (len(ok), ITEMS - len(ok))
    assert not set(again) & set(paid)
