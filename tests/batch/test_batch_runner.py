"""The runner against the emulator: resume, retries, 429 storms, stops, shards, dry runs, and
secrets."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flux2prompt import scene
from flux2prompt.batch import (
    BatchJob,
    BatchReport,
    BatchRunner,
    Shard,
    comparable_records,
    dataset,
    load_job,
    matrix,
    merge_manifests,
    read_manifest,
    run_batch,
    template,
)
from flux2prompt.emulator import Emulator, EmulatorConfig, serve, spawn


@template
def tile(i: int, color: str = "teal"):
    return scene(f"a {color} ceramic tile, pattern {i}").mood("calm")


def make_job(items: int = 6, **options: Any) -> BatchJob:
    settings: dict[str, Any] = {
        "name": "tiles",
        "template": tile,
        "source": matrix(i=range(items)),
        "output": "tile-{i}.{ext}",
        "model": "klein-4b",
        "parameters": {"width": 256, "height": 256},
        "seeds": {"derive": 3},
        "rate_limit": 60_000,
        "retries": 6,
    }
    settings.update(options)
    return BatchJob(**settings)


def run(job: BatchJob, out: Path, emu: Emulator | str, **options: Any) -> BatchReport:
    base_url = emu if isinstance(emu, str) else emu.base_url
    return run_batch(job, out, base_url=base_url, account_id="acc", api_token="tok", **options)


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_writes_images_manifest_and_gallery_then_a_rerun_does_nothing(
    tmp_path: Path,
) -> None:
    job = make_job(6)
    with serve(seed=1) as emu:
        report = run(job, tmp_path, emu)
        assert (report.total, report.generated, report.failed, report.skipped) == (6, 6, 0, 0)
        assert report.ok
        assert report.exit_code == 0
        assert posts(emu) == 6
        again = run(job, tmp_path, emu)
        assert (again.generated, again.skipped) == (0, 6)
        assert posts(emu) == 6, "a finished batch must send nothing"
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert len(records) == 6
    for record in records:
        assert record["status"] == "ok"
        assert sha256(tmp_path / record["file"]) == record["sha256"]
        assert record["parameters"] == {"width": 256, "height": 256, "seed": record["seed"]}
        assert record["prompt"]["scene"].startswith("a teal ceramic tile")
        assert record["model"] == "@cf/black-forest-labs/flux-2-klein-4b"
    assert sorted(r["file"] for r in records) == [f"tile-{i}.jpg" for i in range(6)]
    assert report.gallery == tmp_path / "index.html"
    assert report.gallery.read_text(encoding="utf-8").count("<article") == 6


def test_failed_items_are_recorded_and_retried_by_the_next_run(tmp_path: Path) -> None:
    job = make_job(4)
    with serve(error_ratios={500: 1.0}) as broken:  # 500 is not retried within a run
        report = run(job, tmp_path, broken)
    assert (report.failed, report.generated, report.exit_code) == (4, 0, 1)
    assert len(report.failures) == 4
    assert "HTTP 500" in report.failures[0][1]
    failed = read_manifest(tmp_path / "manifest.jsonl")
    assert {r["status"] for r in failed} == {"failed"}
    assert failed[0]["error"]["status"] == 500
    assert failed[0]["file"] is None
    assert "failed" in (tmp_path / "index.html").read_text(encoding="utf-8")
    with serve() as healthy:
        report = run(job, tmp_path, healthy)
        assert (report.generated, report.failed, report.ok) == (4, 0, True)
    view = comparable_records(read_manifest(tmp_path / "manifest.jsonl"))
    assert [r["status"] for r in view] == ["ok"] * 4


def test_changed_or_missing_files_are_generated_again(tmp_path: Path) -> None:
    job = make_job(5)
    with serve() as emu:
        run(job, tmp_path, emu)
        (tmp_path / "tile-1.jpg").unlink()
        (tmp_path / "tile-3.jpg").write_bytes(b"tampered")
        report = run(job, tmp_path, emu)
        assert (report.generated, report.skipped) == (2, 3)
        assert posts(emu) == 7
    effective = comparable_records(read_manifest(tmp_path / "manifest.jsonl"))
    for record in effective:
        assert sha256(tmp_path / record["file"]) == record["sha256"]


def test_temporary_files_and_a_torn_manifest_line_are_cleaned_up(tmp_path: Path) -> None:
    job = make_job(3)
    with serve() as emu:
        run(job, tmp_path, emu)
        manifest = tmp_path / "manifest.jsonl"
        good = manifest.read_bytes()
        last = good.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        # A crash mid-write: the last record cut short, and a half-written image.
        manifest.write_bytes(good[: -len(last) - 1] + last[: len(last) // 2])
        (tmp_path / ".tile-2.jpg.x1y2z3.tmp").write_bytes(b"\xff\xd8half")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / ".a.jpg.k.tmp").write_bytes(b"half")
        assert len(read_manifest(manifest)) == 2  # the torn line does not count
        report = run(job, tmp_path, emu)
        # The torn record's image is whole on disk, with its provenance: recovered, not bought.
        assert (report.generated, report.recovered, report.skipped) == (0, 1, 2)
        assert posts(emu) == 3
    assert not list(tmp_path.rglob("*.tmp"))
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert len(records) == 3
    assert (tmp_path / "manifest.jsonl").read_bytes().endswith(b"}\n")


def test_transient_faults_are_retried_within_the_run(tmp_path: Path) -> None:
    job = make_job(30, concurrency=6)
    config = EmulatorConfig(error_ratios={503: 0.1, 502: 0.05}, seed=5)
    with serve(config) as emu:
        report = run(job, tmp_path, emu)
    assert (report.generated, report.failed) == (30, 0)
    assert report.retries > 0


# -- never billed twice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("malformed_json_ratio", "ResponseError"), ("drop_ratio", "PossiblyBilledError")],
)
def test_an_item_that_may_have_been_billed_is_held_until_asked(
    fault: str, error_type: str, tmp_path: Path
) -> None:
    job = make_job(3, concurrency=1)
    with serve(**{fault: 1.0}) as emu:  # type: ignore[arg-type]
        first = run(job, tmp_path, emu)
        assert posts(emu) == 3, "each item is sent once: none is resent in the run"
    assert (first.failed, first.billed, first.retries) == (3, 3, 0)
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert [r["may_have_been_billed"] for r in records] == [True, True, True]
    assert {r["error"]["type"] for r in records} == {error_type}
    assert list(records[0])[list(records[0]).index("error") + 1] == "may_have_been_billed"

    with serve() as emu:
        assert BatchRunner(job, tmp_path).dry_run().held == 3
        held = run(job, tmp_path, emu)
        assert posts(emu) == 0, "a possibly billed item is never resent unasked"
        assert (held.held, held.generated, held.pending, held.ok) == (3, 0, 0, False)
        assert held.exit_code == 1
        resent = run(job, tmp_path, emu, resend_billed=True)
        assert posts(emu) == 3
    assert (resent.generated, resent.held, resent.ok) == (3, 0, True)
    again = BatchRunner(job, tmp_path).dry_run()
    assert (again.finished, again.held) == (3, 0)


def test_resend_billed_also_retries_such_failures_within_the_run(tmp_path: Path) -> None:
    job = make_job(2, concurrency=1, retries=2)
    with serve(drop_ratio=1.0) as emu:
        report = run(job, tmp_path, emu, resend_billed=True)
        assert posts(emu) == 6
    assert (report.failed, report.billed, report.retries) == (2, 2, 4)
    assert all(r["attempts"] == 3 for r in read_manifest(tmp_path / "manifest.jsonl"))


def test_a_clean_failure_does_not_carry_the_flag(tmp_path: Path) -> None:
    job = make_job(1, retries=0)
    with serve(error_ratios={500: 1.0}) as emu:
        report = run(job, tmp_path, emu)
    assert (report.failed, report.billed) == (1, 0)
    (record,) = read_manifest(tmp_path / "manifest.jsonl")
    assert "may_have_been_billed" not in record
    assert BatchRunner(job, tmp_path).dry_run().to_generate == 1


# -- a Retry-After longer than a client waits pauses the queue -------------------------------


def test_a_long_retry_after_pauses_the_queue_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux2prompt.transport import _retry

    # The emulator's bucket answers 429 / 3040 with Retry-After: 1; with the cap lowered to
    # 0.5 s that is "longer than a client waits", without a test that sleeps a minute.
    monkeypatch.setattr(_retry, "MAX_RETRY_AFTER", 0.5)
    job = make_job(3, concurrency=1, retries=0)
    with serve(rate_limit_per_minute=60, rate_limit_burst=1) as emu:
        report = run(job, tmp_path, emu)
    assert (report.generated, report.failed) == (3, 0)
    assert report.paused >= 1.0
    assert report.elapsed >= 1.0


def test_a_retry_after_beyond_the_longest_pause_stops_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux2prompt.batch import _runner
    from flux2prompt.transport import _retry

    monkeypatch.setattr(_retry, "MAX_RETRY_AFTER", 0.5)
    monkeypatch.setattr(_runner, "MAX_QUEUE_PAUSE", 0.8)
    job = make_job(3, concurrency=1, retries=0)
    with serve(rate_limit_per_minute=60, rate_limit_burst=1) as emu:
        report = run(job, tmp_path, emu)
    assert report.generated == 1
    assert report.failed == 0, "asked to wait is not a failure of the item"
    assert report.stopped is not None
    assert "asks to wait 1 s" in report.stopped
    assert report.pending == 2


def test_429_storm_finishes_with_zero_failures(tmp_path: Path) -> None:
    # The job asks for 6000 requests/minute; the emulator, in its own process, allows 1200 with
    # a bucket of one token, and answers 429 / 3040 with Retry-After to anything faster.
    job = make_job(50, concurrency=8, rate_limit=6000)
    config = EmulatorConfig(rate_limit_per_minute=1200, rate_limit_burst=1, latency_ms=10)
    with spawn(config) as base_url:
        report = run(job, tmp_path, base_url)
    assert (report.generated, report.failed) == (50, 0)
    assert report.rate_limited > 0, "the storm did not happen"
    assert report.lowest_concurrency < 8, "concurrency did not back off"
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert len(records) == 50
    assert {r["status"] for r in records} == {"ok"}


def test_an_exhausted_quota_stops_the_batch(tmp_path: Path) -> None:
    job = make_job(8, concurrency=1)
    with serve(daily_quota=3) as emu:
        report = run(job, tmp_path, emu)
        assert posts(emu) == 4  # three images, one refusal, then nothing more
    assert (report.generated, report.failed, report.pending) == (3, 1, 4)
    assert report.stopped is not None
    assert "3036" in report.stopped
    assert report.exit_code == 1


def test_a_rejected_token_stops_the_batch_and_is_never_recorded(tmp_path: Path) -> None:
    job = make_job(5, concurrency=2)
    wrong = "tok-WRONG-6f1d2e3c"
    with serve(token="the-right-one") as emu:
        report = run_batch(job, tmp_path, base_url=emu.base_url, account_id="acc", api_token=wrong)
    assert report.generated == 0
    assert report.stopped is not None
    assert "401" in report.stopped
    text = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8")
    assert wrong not in text
    assert wrong not in report.stopped


def test_colliding_names_are_settled_by_the_fingerprint(tmp_path: Path) -> None:
    job = make_job(2, output="tile.{ext}", seeds=[1, 2])
    with serve() as emu:
        run(job, tmp_path, emu)
    records = sorted(read_manifest(tmp_path / "manifest.jsonl"), key=lambda r: r["index"])
    names = [r["file"] for r in records]
    assert names[0] == "tile.jpg"
    for record in records[1:]:
        digest = record["request_fingerprint"].removeprefix("sha256:")
        assert record["file"] == f"tile-{digest[:10]}.jpg"
    assert len(set(names)) == 4


def test_items_with_the_same_request_and_name_are_one_file(tmp_path: Path) -> None:
    job = make_job(1, source=matrix(i=[1, 1, 2]), seeds=5)
    with serve() as emu:
        report = run(job, tmp_path, emu)
        assert posts(emu) == 2
    assert (report.total, report.duplicates, report.generated, report.copied) == (2, 1, 2, 0)


def rows_job(path: Path, **options: Any) -> BatchJob:
    """Five rows, three of them the same request (the template ignores ``sku``)."""
    rows = [(1, "A"), (1, "B"), (2, "C"), (1, "D"), (2, "E")]
    path.write_text(
        "".join(json.dumps({"i": i, "sku": sku}) + "\n" for i, sku in rows), encoding="utf-8"
    )
    settings: dict[str, Any] = {"source": dataset(path), "output": "{sku}.{ext}", "seeds": 5}
    return make_job(**{**settings, **options})


def check_folder(out: Path, expected: list[str]) -> list[dict[str, Any]]:
    """Every expected file once, matching its record; returns the effective view."""
    view = comparable_records(read_manifest(out / "manifest.jsonl"))
    assert [r["file"] for r in view] == expected
    assert {r["status"] for r in view} == {"ok"}
    for record in view:
        assert sha256(out / record["file"]) == record["sha256"]
    assert sorted(p.name for p in out.glob("*.jpg")) == sorted(expected)
    assert not list(out.rglob("*.tmp"))
    return view


def test_items_with_the_same_request_are_copied_under_their_own_names(tmp_path: Path) -> None:
    job = rows_job(tmp_path / "rows.jsonl")
    out = tmp_path / "out"
    with serve() as emu:
        report = run(job, out, emu)
        assert posts(emu) == 2, "an identical request was sent twice"
        assert (report.total, report.generated, report.copied, report.failed) == (5, 2, 3, 0)
        assert (report.duplicates, report.pending, report.ok) == (0, 0, True)
        again = run(job, out, emu)
        assert (again.skipped, again.generated, again.copied) == (5, 0, 0)
        assert posts(emu) == 2
    view = check_folder(out, ["A.jpg", "B.jpg", "C.jpg", "D.jpg", "E.jpg"])
    by_file = {r["file"]: r for r in view}
    assert [r["variables"]["sku"] for r in view] == ["A", "B", "C", "D", "E"]
    assert by_file["A.jpg"]["copied_from"] is None
    assert by_file["B.jpg"]["copied_from"] == {
        "request_fingerprint": by_file["A.jpg"]["request_fingerprint"],
        "index": 0,
        "file": "A.jpg",
    }
    assert by_file["D.jpg"]["copied_from"]["file"] == "A.jpg"
    assert by_file["E.jpg"]["copied_from"]["file"] == "C.jpg"
    assert by_file["B.jpg"]["sha256"] == by_file["A.jpg"]["sha256"]
    assert by_file["B.jpg"]["request_fingerprint"] == by_file["A.jpg"]["request_fingerprint"]
    assert by_file["E.jpg"]["sha256"] != by_file["A.jpg"]["sha256"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<article") == 5


def test_a_crash_between_an_original_and_its_copies_resumes_without_a_request(
    tmp_path: Path,
) -> None:
    # The manifest is append-only, so a crash at any moment leaves a prefix of its lines (and
    # maybe an image whose record was not written: here, every one). Cut it after every record
    # in turn: each image on disk is recovered or copied, none bought again.
    job = rows_job(tmp_path / "rows.jsonl")
    whole = tmp_path / "whole"
    with serve() as emu:
        run(job, whole, emu)
        lines = (whole / "manifest.jsonl").read_bytes().splitlines(keepends=True)
        full = comparable_records(read_manifest(whole / "manifest.jsonl"))
        for keep in range(len(lines)):
            out = tmp_path / f"cut{keep}"
            shutil.copytree(whole, out)
            (out / "manifest.jsonl").write_bytes(b"".join(lines[:keep]))
            before = posts(emu)
            report = run(job, out, emu)
            assert posts(emu) == before, f"cut after {keep} records"
            assert report.skipped == keep
            assert report.generated == 0
            assert report.recovered + report.copied == 5 - keep
            assert comparable_records(read_manifest(out / "manifest.jsonl")) == full
            check_folder(out, ["A.jpg", "B.jpg", "C.jpg", "D.jpg", "E.jpg"])
        # A copy whose file is gone (or changed) is written again, still without a request.
        (whole / "D.jpg").unlink()
        (whole / "B.jpg").write_bytes(b"changed")
        before = posts(emu)
        report = run(job, whole, emu)
        assert (report.copied, report.generated, posts(emu)) == (2, 0, before)
    check_folder(whole, ["A.jpg", "B.jpg", "C.jpg", "D.jpg", "E.jpg"])


def test_copies_of_a_failed_request_fail_with_it_and_follow_it_on_the_rerun(
    tmp_path: Path,
) -> None:
    job = rows_job(tmp_path / "rows.jsonl")
    out = tmp_path / "out"
    with serve(error_ratios={500: 1.0}) as broken:
        report = run(job, out, broken)
        assert posts(broken) == 2
    assert (report.failed, report.generated, report.copied, report.exit_code) == (5, 0, 0, 1)
    failed = {r["index"]: r for r in read_manifest(out / "manifest.jsonl")}
    assert failed[1]["error"]["message"].startswith("not copied: item 0 sends the same request")
    assert failed[1]["copied_from"]["index"] == 0
    with serve() as healthy:
        report = run(job, out, healthy)
        assert posts(healthy) == 2
    assert (report.generated, report.copied, report.failed, report.ok) == (2, 3, 0, True)
    check_folder(out, ["A.jpg", "B.jpg", "C.jpg", "D.jpg", "E.jpg"])


def test_copies_are_made_in_the_shard_of_their_request_and_merge_to_the_unsharded_run(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(json.dumps({"i": n % 5, "sku": f"S{n}"}) + "\n" for n in range(15)),
        encoding="utf-8",
    )
    job = make_job(source=dataset(rows), output="{sku}.{ext}", seeds=5)
    with serve() as emu:
        whole = run(job, tmp_path / "whole", emu)
        assert posts(emu) == 5
        parts = [run(job, tmp_path / f"part{n}", emu, shard=f"{n}/2") for n in (1, 2)]
        assert posts(emu) == 10, "a shard sent a request that another shard sends"
    assert (whole.generated, whole.copied) == (5, 10)
    assert sum(p.copied for p in parts) == 10
    for n in (1, 2):
        records = read_manifest(tmp_path / f"part{n}" / "manifest.jsonl")
        assert all(Shard(n, 2).contains(r["request_fingerprint"]) for r in records)
        for record in records:
            assert sha256(tmp_path / f"part{n}" / record["file"]) == record["sha256"]
    merged = tmp_path / "merged.jsonl"
    report = merge_manifests([tmp_path / f"part{n}/manifest.jsonl" for n in (2, 1)], merged)
    assert (report.written, report.ok) == (15, 15)
    unsharded = comparable_records(read_manifest(tmp_path / "whole/manifest.jsonl"))
    assert comparable_records(read_manifest(merged)) == unsharded


def test_dry_run_counts_copies_apart_and_prices_only_requests(tmp_path: Path) -> None:
    dev: dict[str, Any] = {"model": "flux-2-dev", "parameters": {"steps": 20}}
    job = rows_job(tmp_path / "rows.jsonl", **dev)
    out = tmp_path / "out"
    dry = BatchRunner(job, out).dry_run()
    assert (dry.total, dry.finished, dry.to_copy, dry.to_generate) == (5, 0, 3, 2)
    one = BatchRunner(make_job(1, **dev), out).dry_run()
    assert one.estimated_cost is not None
    assert dry.estimated_cost == pytest.approx(2 * one.estimated_cost)
    assert [item.file_name("jpg") for item in dry.first] == ["A.jpg", "C.jpg"]
    with serve() as emu:
        run(job, out, emu)
    renamed = rows_job(tmp_path / "rows.jsonl", output="new/{sku}.{ext}", **dev)
    dry = BatchRunner(renamed, out).dry_run()
    assert (dry.finished, dry.to_copy, dry.to_generate, dry.first) == (0, 5, 0, ())
    assert dry.estimated_cost == 0


def test_a_bad_row_stops_the_run_before_anything_is_sent(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"i": 1}\n{"i": 2}\n{"color": "red"}\n', encoding="utf-8")
    from flux2prompt import PromptError
    from flux2prompt.batch import dataset

    job = make_job(source=dataset(rows))
    with serve() as emu:
        with pytest.raises(PromptError, match=rf"{rows}:3: .*missing variable 'i'"):
            run(job, tmp_path / "out", emu)
        assert posts(emu) == 0


def test_shards_are_disjoint_complete_and_merge_to_the_unsharded_run(tmp_path: Path) -> None:
    job = make_job(1, source=matrix(i=range(12), color=["teal", "rust"]), output="{color}/{i}")
    with serve() as emu:
        whole = run(job, tmp_path / "whole", emu)
        parts = [run(job, tmp_path / f"part{n}", emu, shard=f"{n}/3") for n in (1, 2, 3)]
    assert whole.generated == 24
    keys = [
        {r["request_fingerprint"] for r in read_manifest(tmp_path / f"part{n}" / "manifest.jsonl")}
        for n in (1, 2, 3)
    ]
    assert all(keys), "a shard is empty: the partition is suspiciously uneven"
    assert not (keys[0] & keys[1])
    assert not (keys[0] & keys[2])
    assert not (keys[1] & keys[2])
    everything = {
        r["request_fingerprint"] for r in read_manifest(tmp_path / "whole/manifest.jsonl")
    }
    assert keys[0] | keys[1] | keys[2] == everything
    assert sum(p.total for p in parts) == 24
    assert all(p.other_shards == 24 - p.total for p in parts)
    # Shards are stable: each key's shard is a function of the key alone.
    for n, shard_keys in enumerate(keys, 1):
        assert all(Shard(n, 3).contains(key) for key in shard_keys)

    merged = tmp_path / "merged.jsonl"
    report = merge_manifests([tmp_path / f"part{n}/manifest.jsonl" for n in (3, 1, 2)], merged)
    assert (report.written, report.ok, report.failed) == (24, 24, 0)
    unsharded = comparable_records(read_manifest(tmp_path / "whole/manifest.jsonl"))
    assert comparable_records(read_manifest(merged)) == unsharded
    # The same file names and the same bytes, whichever machine made them.
    for record in unsharded:
        owner = next(n for n in (1, 2, 3) if record["request_fingerprint"] in keys[n - 1])
        assert sha256(tmp_path / f"part{owner}" / record["file"]) == record["sha256"]


def test_dry_run_counts_prices_and_shows_without_any_network(tmp_path: Path) -> None:
    job = make_job(4, model="flux-2-dev", parameters={"width": 512, "height": 512, "steps": 20})
    runner = BatchRunner(job, tmp_path, base_url="http://127.0.0.1:9/unreachable")
    dry = runner.dry_run()
    assert (dry.total, dry.finished, dry.to_generate) == (4, 0, 4)
    assert dry.estimated_cost == pytest.approx(4 * 20 * 0.00041)
    assert len(dry.first) == 3
    assert dry.first[0].request.url.endswith("/accounts/{account_id}/ai/run/" + dry.model)
    assert json.loads(dry.first[0].request.prompt)["scene"].startswith("a teal ceramic tile")
    assert not (tmp_path / "manifest.jsonl").exists()
    with serve() as emu:
        run(job, tmp_path, emu)
    assert BatchRunner(job, tmp_path).dry_run().to_generate == 0


def test_the_token_appears_in_no_manifest_gallery_or_log(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    token: str,
) -> None:
    job_path = make_job(products=3, colors=2, variants=2, retries=0)
    out = tmp_path / "out"
    # Some items fail (500, not retried), so error messages reach the manifest and the gallery.
    config = EmulatorConfig(token=token, error_ratios={500: 0.3}, seed=2)
    with spawn(config) as base_url:
        first = run_cli("batch", str(job_path), "--out", str(out), "--base-url", base_url)
        dry = run_cli("batch", str(job_path), "--out", str(out), "--dry-run")
    assert first.returncode == 1, first.stdout + first.stderr  # some items failed
    assert "error:" in first.stderr
    with spawn(EmulatorConfig(token="another-token")) as base_url:
        refused = run_cli("batch", str(job_path), "--out", str(out), "--base-url", base_url)
    assert refused.returncode == 1
    assert "401" in refused.stderr
    outputs = [first.stdout, first.stderr, dry.stdout, dry.stderr, refused.stdout, refused.stderr]
    files = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    assert any(b'"status":"failed"' in data for data in files)
    for data in [o.encode() for o in outputs] + files:
        assert token.encode() not in data
    assert load_job(job_path).name == "shots"


def test_a_changed_output_pattern_moves_finished_images_without_sending_them(
    tmp_path: Path,
) -> None:
    job = make_job(4)
    renamed = make_job(4, output="tiles/{i}.{ext}")
    with serve() as emu:
        run(job, tmp_path, emu)
        report = run(renamed, tmp_path, emu)
        assert posts(emu) == 4  # copied, not generated again
        assert (report.failed, report.skipped) == (0, 0)
        assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == [
            f"{i}.jpg" for i in range(4)
        ]
        assert report.copied == 4
        assert run(renamed, tmp_path, emu).skipped == 4
        # Back to the old names: those files are intact, so they are recorded again, not sent;
        # one whose image is gone everywhere cannot be copied, and is sent.
        (tmp_path / "tiles" / "2.jpg").write_bytes(b"changed")
        (tmp_path / "tile-2.jpg").unlink()
        back = run(job, tmp_path, emu)
        assert (back.generated, back.copied, back.skipped) == (1, 3, 0)
        assert posts(emu) == 5
    by_key = {
        r["request_fingerprint"]: r
        for r in read_manifest(tmp_path / "manifest.jsonl")
        if r["status"] == "ok"
    }
    assert sorted(r["file"] for r in by_key.values()) == [f"tile-{i}.jpg" for i in range(4)]
    for record in by_key.values():
        assert sha256(tmp_path / record["file"]) == record["sha256"]


def test_a_client_passed_in_does_not_retry_behind_the_runner(tmp_path: Path) -> None:
    # The runner counts and paces every retry itself; the client it is given must send once.
    import httpx

    from flux2prompt import AsyncWorkersAI

    sent: list[httpx.Request] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, json={"success": False, "errors": [{"code": 0, "message": "x"}]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(unavailable))
    client = AsyncWorkersAI(account_id="acc", api_token="tok", http_client=http, max_retries=2)
    report = run_batch(make_job(1, retries=0), tmp_path, client=client, gallery=False)
    assert (report.failed, report.retries) == (1, 0)
    assert len(sent) == 1


def test_a_held_original_holds_its_copies_too(tmp_path: Path) -> None:
    from flux2prompt.batch import zipped

    job = make_job(source=zipped(i=[0, 0, 1], sku=["A", "B", "C"]), output="{sku}.{ext}", seeds=7)
    with serve(malformed_json_ratio=1.0) as emu:
        first = run(job, tmp_path, emu)
        assert posts(emu) == 2, "B is A's request: sent once"
    assert (first.failed, first.billed) == (3, 2)
    records = read_manifest(tmp_path / "manifest.jsonl")
    copy = next(r for r in records if r["copied_from"] is not None)
    assert "may_have_been_billed" not in copy, "a copy sent nothing"
    with serve() as emu:
        dry = BatchRunner(job, tmp_path).dry_run()
        assert (dry.held, dry.to_generate, dry.to_copy) == (3, 0, 0)
        held = run(job, tmp_path, emu)
        assert posts(emu) == 0
        assert held.held == 3
        resent = run(job, tmp_path, emu, resend_billed=True)
        assert posts(emu) == 2
    assert (resent.generated, resent.copied, resent.ok) == (2, 1, True)
