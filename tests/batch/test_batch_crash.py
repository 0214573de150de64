"""Nothing lost, nothing twice: ``kill -9`` mid-run, rerun, and every item exists exactly once.

The emulator runs in its own process with latency and injected faults (503, 502);
the batch runs as a ``flux2-prompt batch`` subprocess, is killed with SIGKILL once
some items are done, and is run again with the same command.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from flux2prompt.batch import comparable_records, read_manifest
from flux2prompt.emulator import EmulatorConfig, spawn

ITEMS = 5 * 4 * 12  # products x colors x variants = 240


def _wait_for_records(manifest: Path, at_least: int, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the batch ended (status {process.returncode}) before the kill")
        if manifest.exists():
            lines = manifest.read_bytes().count(b"\n")
            if lines >= at_least:
                return lines
        time.sleep(0.02)
    raise AssertionError("the batch made no progress")


def _files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.parent == out} - {
        "manifest.jsonl",
        "index.html",
        "batch.lock",
    }


def test_kill_9_mid_run_then_resume(
    make_job: Callable[..., Path],
    start_cli: Callable[..., subprocess.Popen[str]],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    token: str,
) -> None:
    job = make_job(products=5, colors=4, variants=12, concurrency=12, rate_limit=12000)
    out = tmp_path / "out"
    config = EmulatorConfig(
        token=token,
        latency_ms=40,
        jitter_ms=40,
        # No dropped connections: one may have run the model, so its item is held (not resent)
        # and this test is about resuming, not billing (see test_batch_runner).
        error_ratios={503: 0.08, 502: 0.04},
        seed=7,
    )
    with spawn(config) as base_url:
        args = ("batch", str(job), "--out", str(out), "--base-url", base_url, "--no-progress")
        process = start_cli(*args, logs=tmp_path / "logs")
        try:
            before_kill = _wait_for_records(out / "manifest.jsonl", 40, process)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:  # pragma: no cover - only if an assertion fired above
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL
        assert before_kill < ITEMS, "the batch finished before it could be killed"

        rerun = run_cli(*args)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        again = run_cli(*args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"0 generated, {ITEMS} already done, 0 failed" in again.stdout

    records = read_manifest(out / "manifest.jsonl")
    ok = [r for r in records if r["status"] == "ok"]
    # Every item once: one successful record per request fingerprint, one file per item.
    keys = [r["request_fingerprint"] for r in ok]
    assert len(set(keys)) == ITEMS
    assert len(keys) == ITEMS, "an item was generated twice"
    files = [r["file"] for r in ok]
    assert len(set(files)) == ITEMS
    assert _files(out) == set(files)
    for record in ok:
        data = (out / record["file"]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == record["sha256"]
        assert len(data) == record["bytes"]
    # No partial or temporary file remains, anywhere.
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []
    # The effective view has one ok record per item, in batch order.
    view = comparable_records(records)
    assert [r["index"] for r in view] == sorted(r["index"] for r in view)
    assert {r["status"] for r in view} == {"ok"}
    gallery = (out / "index.html").read_text(encoding="utf-8")
    assert gallery.count("<article") == ITEMS
    # The second run's summary is on stdout; the token appears nowhere.
    for text in (rerun.stdout, rerun.stderr, json.dumps(records), gallery):
        assert token not in text


def test_ctrl_c_stops_cleanly_then_resume(
    make_job: Callable[..., Path],
    start_cli: Callable[..., subprocess.Popen[str]],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    token: str,
) -> None:
    job = make_job(products=4, colors=4, variants=5, concurrency=8, rate_limit=6000)
    out = tmp_path / "out"
    with spawn(EmulatorConfig(token=token, latency_ms=60)) as base_url:
        args = ("batch", str(job), "--out", str(out), "--base-url", base_url, "--no-progress")
        process = start_cli(*args, logs=tmp_path / "logs")
        try:
            _wait_for_records(out / "manifest.jsonl", 10, process)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)
        finally:
            if process.poll() is None:  # pragma: no cover - only if an assertion fired above
                process.kill()
                process.wait()
        assert process.returncode == 130
        stderr = (tmp_path / "logs" / "stderr.txt").read_text(encoding="utf-8")
        assert "interrupted; rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
        # Nothing failed: the stop's own line says how to resume, and no other line says so.
        assert "retry what failed" not in stderr
        assert not [p for p in out.rglob("*") if p.name.startswith(".")]
        done = len(read_manifest(out / "manifest.jsonl"))
        assert 10 <= done < 80
        rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    # An image written in the moment between its write and its record, as the run stopped, is
    # recorded by the rerun, not bought again: together they make every image left to make.
    recovered = re.search(r"recovered (\d+) ", rerun.stdout)
    again = 80 - done - (int(recovered.group(1)) if recovered else 0)
    assert f"{again} generated, {done} already done, 0 failed" in rerun.stdout


def test_kill_9_right_after_superseding_keeps_the_prompt_form(
    make_job: Callable[..., Path],
    start_cli: Callable[..., subprocess.Popen[str]],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    token: str,
) -> None:
    # A run killed after it superseded every record but before any answer came back leaves a
    # manifest whose last lines are `superseded` records, which carry no prompt form. The next
    # run must still send klein's own form (prose), and reverting the edit must cost nothing.
    items = 2 * 2 * 2
    first = make_job(variants=2, seeds={"derive": 11})
    out = tmp_path / "out"
    with spawn(EmulatorConfig(token=token)) as fast:
        done = run_cli("batch", str(first), "--out", str(out), "--base-url", fast, "--no-progress")
        assert done.returncode == 0, done.stdout + done.stderr
    edited = make_job(variants=2, seeds={"derive": 12}, folder="edited")
    manifest = out / "manifest.jsonl"
    with spawn(EmulatorConfig(token=token, latency_ms=30_000)) as slow:
        args = ("batch", str(edited), "--out", str(out), "--base-url", slow, "--no-progress")
        process = start_cli(*args, logs=tmp_path / "logs")
        try:
            _wait_for_records(manifest, 2 * items, process)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:  # pragma: no cover - only if an assertion fired above
                process.kill()
                process.wait()
    assert read_manifest(manifest)[-1]["status"] == "superseded"

    with spawn(EmulatorConfig(token=token)) as fast:
        dry = run_cli("batch", str(edited), "--out", str(out), "--dry-run")
        assert "form      prose (recorded in the manifest" in dry.stdout, dry.stdout + dry.stderr
        rerun = run_cli(*args[:4], "--base-url", fast, "--no-progress")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"{items} generated, 0 already done, 0 failed" in rerun.stdout
        sent = [r for r in read_manifest(manifest) if r["status"] == "ok"][-items:]
        assert {r.get("prompt_format") for r in sent} == {"prose"}
        # The edit reverted: every image waits under superseded/, in the form it was sent in.
        back = run_cli("batch", str(first), "--out", str(out), "--base-url", fast, "--no-progress")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "0 generated, 0 already done, 0 failed" in back.stdout
    assert f"copied    {items} " in back.stdout
