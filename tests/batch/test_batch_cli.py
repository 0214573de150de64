"""``flux2-prompt batch`` and ``flux2-prompt manifest merge``: output, exit codes, no tracebacks."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flux2prompt import ParameterError, PromptError
from flux2prompt.batch import comparable_records, read_manifest
from flux2prompt.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples/batch/job.toml")


def invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_dry_run_shows_counts_cost_and_requests(tmp_path: Path) -> None:
    result = invoke("batch", EXAMPLE, "--out", str(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "items     8 (0 already done, 8 to generate)" in result.output
    assert "cost      $0.0046 estimated for 8 image(s)" in result.output
    assert "first 3 request(s), not sent:" in result.output
    assert "[1] aurora-glacier-en.{ext}" in result.output
    assert "/accounts/{account_id}/ai/run/@cf/black-forest-labs/flux-2-klein-4b" in result.output
    assert "form      prose (auto for klein-4b)" in result.output
    assert 'The text "いつも明るく" in Japanese' in result.output  # the prose klein is sent
    assert not any(tmp_path.iterdir()), "a dry run writes nothing"


def test_dry_run_of_a_shard(tmp_path: Path) -> None:
    result = invoke("batch", EXAMPLE, "--out", str(tmp_path), "--dry-run", "--shard", "2/2")
    assert result.exit_code == 0
    assert "shard     2/2 (" in result.output


def test_run_with_the_emulator_then_resume(tmp_path: Path) -> None:
    args = ("batch", EXAMPLE, "--out", str(tmp_path), "--emulator", "--no-progress")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "aurora-bottle: 8 generated, 0 already done, 0 failed" in first.output
    assert f"gallery   {tmp_path / 'index.html'}" in first.output
    second = invoke(*args, "--concurrency", "2", "--rate-limit", "60")
    assert second.exit_code == 0
    assert "0 generated, 8 already done, 0 failed" in second.output
    assert len(list(tmp_path.glob("aurora-*.jpg"))) == 8


def test_errors_exit_2_with_file_and_line(tmp_path: Path, make_job: Callable[..., Path]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('template = "x.py:y"\noutput = \n', encoding="utf-8")
    result = invoke("batch", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert f"error: {bad}:2: invalid TOML" in result.output
    job = str(make_job())
    for args, message in (
        (("--shard", "0/3"), "shards are numbered 1 to 3"),
        (("--shard", "x"), "write it as i/n"),
        (("--emulator", "--base-url", "http://127.0.0.1:9"), "exclude each other"),
    ):
        result = invoke("batch", job, "--out", str(tmp_path / "o"), *args)
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_missing_credentials_are_a_usage_error(
    tmp_path: Path, make_job: Callable[..., Path]
) -> None:
    result = invoke("batch", str(make_job()), "--out", str(tmp_path / "o"), "--no-progress")
    assert result.exit_code == 2
    assert "CLOUDFLARE_API_TOKEN" in result.output


def test_manifest_merge(tmp_path: Path) -> None:
    for n in (1, 2):
        args = ("batch", EXAMPLE, "--out", str(tmp_path / f"s{n}"), "--emulator", "--no-progress")
        assert invoke(*args, "--shard", f"{n}/2").exit_code == 0
    whole = tmp_path / "whole"
    assert invoke("batch", EXAMPLE, "--out", str(whole), "--emulator").exit_code == 0
    merged = tmp_path / "merged" / "manifest.jsonl"
    parts = [str(tmp_path / f"s{n}" / "manifest.jsonl") for n in (1, 2)]
    result = invoke("manifest", "merge", *parts, "--out", str(merged))
    assert result.exit_code == 0, result.output
    assert "8 items, 8 ok, 0 failed" in result.output
    assert comparable_records(read_manifest(merged)) == comparable_records(
        read_manifest(whole / "manifest.jsonl")
    )
    # Copy the shards' images next to the merged manifest, then draw its gallery.
    for n in (1, 2):
        for image in (tmp_path / f"s{n}").glob("*.jpg"):
            (merged.parent / image.name).write_bytes(image.read_bytes())
    result = invoke("manifest", "merge", *parts, "--out", str(merged), "--gallery")
    assert result.exit_code == 0
    assert (merged.parent / "index.html").read_text(encoding="utf-8").count("<article") == 8
    missing = invoke("manifest", "merge", str(tmp_path / "nope.jsonl"), "--out", str(merged))
    assert missing.exit_code == 2
    assert "no such manifest" in missing.output
    assert json.loads(merged.read_text(encoding="utf-8").splitlines()[0])["index"] == 0


@pytest.mark.parametrize("blocker", ["folder at the target", "file for the folder"])
def test_manifest_merge_into_a_place_it_cannot_write_is_one_line(
    tmp_path: Path, blocker: str
) -> None:
    shard = tmp_path / "s1"
    args = ("batch", EXAMPLE, "--out", str(shard), "--emulator", "--no-progress")
    assert invoke(*args, "--shard", "1/2").exit_code == 0
    if blocker == "folder at the target":
        target = tmp_path / "all" / "manifest.jsonl"
        target.mkdir(parents=True)
        why = "Is a directory"
    else:
        (tmp_path / "all").write_text("not a folder", encoding="utf-8")
        target = tmp_path / "all" / "manifest.jsonl"
        why = "File exists"
    result = invoke("manifest", "merge", str(shard / "manifest.jsonl"), "--out", str(target))
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"error: {target}: cannot write the merged manifest: {why}; remove what is in the way "
        "or choose another --out\n"
    )
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


@pytest.mark.parametrize("blocker", ["image", "index.html"])
def test_manifest_merge_gallery_blocked_by_a_folder_is_one_line(
    tmp_path: Path, blocker: str
) -> None:
    shard = tmp_path / "s1"
    args = ("batch", EXAMPLE, "--out", str(shard), "--emulator", "--no-progress")
    assert invoke(*args, "--shard", "1/2").exit_code == 0
    target = tmp_path / "all" / "manifest.jsonl"
    first = read_manifest(shard / "manifest.jsonl")[0]["file"]
    (target.parent / (first if blocker == "image" else "index.html")).mkdir(parents=True)
    result = invoke(
        "manifest", "merge", str(shard / "manifest.jsonl"), "--out", str(target), "--gallery"
    )
    assert result.exit_code == 2, result.output
    expected = (
        f"error: {target.parent / first}: cannot copy the image here: Is a directory; remove "
        "what is in the way or choose another --out"
        if blocker == "image"
        else f"error: {target.parent}: cannot write the gallery: Is a directory; remove what is "
        "in the way or merge without --gallery"
    )
    assert result.output.splitlines()[-1] == expected
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


def test_manifest_merge_into_the_folder_of_a_running_batch_is_refused(tmp_path: Path) -> None:
    # A run appends to its open manifest: a merge that replaced the file under it would lose
    # every record the run writes after, and the next run would buy those images again.
    from flux2prompt.batch._lock import FolderLock

    shards = [tmp_path / "s1", tmp_path / "s2"]
    for n, shard in enumerate(shards, 1):
        args = ("batch", EXAMPLE, "--out", str(shard), "--emulator", "--no-progress")
        assert invoke(*args, "--shard", f"{n}/2").exit_code == 0
    parts = [str(shard / "manifest.jsonl") for shard in shards]
    before = (shards[0] / "manifest.jsonl").read_bytes()
    with FolderLock(shards[0]):  # a batch writing to s1, as another process holds it
        result = invoke("manifest", "merge", *parts, "--out", parts[0])
        assert result.exit_code == 2, result.output
        assert result.output == (
            f"error: {shards[0]}: a flux2-prompt batch (PID {os.getpid()}) is writing to this "
            "folder; merge once it has ended, or choose another --out\n"
        )
        assert (shards[0] / "manifest.jsonl").read_bytes() == before
        # Any other folder is merged into as ever.
        elsewhere = invoke("manifest", "merge", *parts, "--out", str(tmp_path / "all.jsonl"))
        assert elsewhere.exit_code == 0, elsewhere.output
    # Once the run has ended, the merge goes ahead.
    assert invoke("manifest", "merge", *parts, "--out", parts[0]).exit_code == 0
    assert "8 items, 8 ok" in invoke("manifest", "merge", parts[0], "--out", parts[0]).output


def test_a_concurrency_above_the_most_a_job_takes_is_refused(tmp_path: Path) -> None:
    # The run's connection pool is sized by it: --concurrency 99999999999999999999 ran out of
    # memory instead of sending. The job file's schema says 256 at most; so do the rest.
    from flux2prompt.batch import BatchRunner, load_job

    huge = "99999999999999999999"
    result = invoke("batch", EXAMPLE, "--out", str(tmp_path), "--dry-run", "--concurrency", huge)
    assert result.exit_code == 2, result.output
    assert "'--concurrency'" in result.output
    assert "256" in result.output
    most = invoke("batch", EXAMPLE, "--out", str(tmp_path), "--dry-run", "--concurrency", "256")
    assert most.exit_code == 0, most.output
    job = load_job(EXAMPLE)
    with pytest.raises(ParameterError, match=f"concurrency must be at most 256, got {huge}"):
        BatchRunner(job, tmp_path, concurrency=int(huge))
    with pytest.raises(PromptError, match="concurrency must be at most 256, got 257"):
        dataclasses.replace(job, concurrency=257)
    assert not any(tmp_path.iterdir())


def test_a_number_with_too_many_digits_is_a_plain_error_in_a_dataset_and_a_manifest(
    tmp_path: Path, make_job: Callable[..., Path]
) -> None:
    # Python refuses to read an integer of more than 4,300 digits; its message names a Python
    # call (sys.set_int_max_str_digits), which no user of a job file can make.
    huge = "9" * 5000
    folder = make_job().parent  # brings shots.py
    (folder / "rows.jsonl").write_text(
        '{"product": "mug", "color": "teal"}\n{"product": "mug", "color": "rust", "n": '
        + huge
        + "}\n",
        encoding="utf-8",
    )
    (folder / "rows.toml").write_text(
        'template = "shots.py:shot"\noutput = "{product}-{color}.{ext}"\nmodel = "klein-4b"\n'
        '[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    result = invoke("batch", str(folder / "rows.toml"), "--out", str(tmp_path / "o"), "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"error: {folder / 'rows.jsonl'}:2: a number has too many digits; write it as a string\n"
    )
    manifest = tmp_path / "m" / "manifest.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(
        '{"request_fingerprint": "sha256:1", "index": 0, "status": "ok"}\n'
        '{"request_fingerprint": "sha256:2", "index": ' + huge + ', "status": "ok"}\n'
        '{"request_fingerprint": "sha256:3", "index": 2, "status": "ok"}\n',
        encoding="utf-8",
    )
    merged = invoke("manifest", "merge", str(manifest), "--out", str(tmp_path / "all.jsonl"))
    assert merged.exit_code == 2, merged.output
    assert merged.output.startswith(
        f"error: {manifest}:2: broken manifest record (a number has too many digits); "
    )
    assert "sys." not in merged.output


def test_copies_are_shown_apart_in_the_dry_run_and_the_summary(
    tmp_path: Path, make_job: Callable[..., Path]
) -> None:
    folder = make_job().parent  # brings shots.py
    (folder / "rows.jsonl").write_text(
        "".join(
            json.dumps({"product": "mug", "color": color, "sku": sku}) + "\n"
            for color, sku in (("teal", "A"), ("teal", "B"), ("rust", "C"), ("teal", "D"))
        ),
        encoding="utf-8",
    )
    job = folder / "rows.toml"
    job.write_text(
        'template = "shots.py:shot"\nmodel = "klein-4b"\noutput = "{sku}.{ext}"\nseeds = 3\n'
        '[parameters]\nwidth = 256\nheight = 256\n[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    dry = invoke("batch", str(job), "--out", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "items     4 (0 already done, 2 to generate, 2 to copy)" in dry.output
    assert "2 to copy from an image of the same request" in dry.output
    assert "estimated for 2 image(s)" in dry.output
    assert "first 2 request(s), not sent:" in dry.output
    run = invoke("batch", str(job), "--out", str(out), "--emulator", "--no-progress")
    assert run.exit_code == 0, run.output
    assert "rows: 2 generated, 0 already done, 0 failed" in run.output
    assert "  copied    2 (from an image of the same request; no request sent)" in run.output
    assert "dropped" not in run.output
    assert sorted(p.name for p in out.glob("*.jpg")) == ["A.jpg", "B.jpg", "C.jpg", "D.jpg"]
    renamed = job.read_text(encoding="utf-8").replace('"{sku}.{ext}"', '"new-{sku}.{ext}"')
    job.write_text(renamed, encoding="utf-8")
    dry = invoke("batch", str(job), "--out", str(out), "--dry-run")
    assert "items     4 (0 already done, 0 to generate, 4 to copy)" in dry.output
    assert "cost      $0.0000 estimated for 0 image(s)" in dry.output
    assert "to generate)" not in dry.output


def test_possibly_billed_items_are_held_until_resend_billed(
    tmp_path: Path, make_job: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux2prompt.emulator import serve

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-0123456789")
    job = str(make_job(products=1, colors=2))
    out = tmp_path / "out"
    with serve(malformed_json_ratio=1.0) as broken:
        args = ("batch", job, "--out", str(out), "--no-progress", "--account-id", "acc")
        first = invoke(*args, "--base-url", broken.base_url)
        assert len(broken.requests) == 2, "nothing is resent within the run"
    assert first.exit_code == 1
    assert "2 item(s) failed after the request may have run the model" in first.output
    with serve() as emu:
        dry = invoke("batch", job, "--out", str(out), "--dry-run")
        assert "2 held: an earlier request may have been billed" in dry.output
        held = invoke(*args, "--base-url", emu.base_url)
        assert held.exit_code == 1
        assert "2 item(s) held" in held.output
        assert "--resend-billed" in held.output
        assert emu.requests == []
        resent = invoke(*args, "--base-url", emu.base_url, "--resend-billed")
        assert resent.exit_code == 0, resent.output
        assert "2 generated" in resent.output
        assert len(emu.requests) == 2
