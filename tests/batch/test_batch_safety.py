"""Batches that stay true: one writer per folder, current records only, nothing paid and lost.

Each case drives the ``flux2-prompt`` command in a subprocess (or the public API) against the
project's emulator, on real folders: two runs started together, a template edited between
runs, rows no records can hold, a full disk (a real tmpfs), a folder where an image goes,
symbolic links, damaged manifests, a decompression bomb in the gallery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt.batch import effective_records, read_manifest, write_gallery
from flux2prompt.batch._lock import LOCK_NAME, FolderLock
from flux2prompt.emulator import Emulator, serve

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene(f"a {color} {product} on seamless paper").mood("calm")
"""


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def write_job(
    folder: Path,
    *,
    colors: list[str] | None = None,
    products: list[str] | None = None,
    dataset: str | None = None,
    output: str = "{product}-{color}.{ext}",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shots.py").write_text(TEMPLATE, encoding="utf-8")
    lines = [
        'name = "shots"',
        'template = "shots.py:shot"',
        'model = "klein-4b"',
        f"output = {json.dumps(output)}",
        "seeds = 5",
        "concurrency = 4",
        "rate_limit = 60000",
        "retries = 0",
        "",
        "[parameters]",
        "width = 256",
        "height = 256",
        "",
    ]
    if dataset is not None:
        lines += ["[variables]", f"dataset = {json.dumps(dataset)}", ""]
    else:
        lines += [
            "[variables.matrix]",
            f"product = {json.dumps(products or ['mug', 'vase'])}",
            f"color = {json.dumps(colors or ['teal', 'rust', 'sand', 'ivory'])}",
            "",
        ]
    path = folder / "job.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def check_folder(out: Path, expected: int) -> list[dict[str, object]]:
    """The effective view holds ``expected`` ok records, each matching its file."""
    view = list(effective_records(read_manifest(out / "manifest.jsonl")).values())
    assert len(view) == expected
    for record in view:
        assert record["status"] == "ok", record
        assert sha256(out / str(record["file"])) == record["sha256"]
    return view


# -- one writer per folder -----------------------------------------------------------------------


def test_two_runs_started_together_on_one_folder_generate_once(
    tmp_path: Path, start_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = write_job(tmp_path / "job", colors=[f"c{i}" for i in range(10)])  # 20 items
    out = tmp_path / "out"
    out.mkdir()
    with serve(latency_ms=400) as emu:  # a run of 2 s or more: the two overlap
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        first = start_cli(*args, "--base-url", emu.base_url, logs=tmp_path / "a")
        second = start_cli(*args, "--base-url", emu.base_url, logs=tmp_path / "b")
        codes = sorted([first.wait(timeout=120), second.wait(timeout=120)])
        assert codes == [0, 2]
        assert posts(emu) == 20, "the second run sent nothing"
    loser = tmp_path / ("a" if first.returncode == 2 else "b")
    winner = tmp_path / ("b" if first.returncode == 2 else "a")
    errors = (loser / "stderr.txt").read_text(encoding="utf-8").strip().splitlines()
    pid = second.pid if first.returncode == 2 else first.pid
    assert errors == [
        f"error: {out}: another flux2-prompt batch (PID {pid}) is writing to this folder; "
        "wait for it to end, rerun with --wait, or choose another --out"
    ]
    assert "20 generated" in (winner / "stdout.txt").read_text(encoding="utf-8")
    check_folder(out, 20)


def test_a_locked_folder_is_left_alone_and_wait_waits(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job")
    out = tmp_path / "out"
    out.mkdir()
    in_flight = out / ".mug-teal.jpg.k2j3x9.tmp"
    in_flight.write_bytes(b"another run is writing this")
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        with FolderLock(out):
            refused = run_cli(*args, "--base-url", emu.base_url)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert f"(PID {os.getpid()}) is writing to this folder" in refused.stderr
            assert "Traceback" not in refused.stderr
            assert in_flight.exists(), "the clean-up runs only under the lock"
            assert posts(emu) == 0
            # A dry run takes no lock.
            dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
            assert dry.returncode == 0, dry.stderr
        waited = run_cli(*args, "--base-url", emu.base_url, "--wait")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert posts(emu) == 8
    assert not in_flight.exists()
    assert (out / LOCK_NAME).read_text(encoding="ascii").strip().isdigit()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    import signal
    import sys
    import time

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from flux2prompt.batch._lock import FolderLock\n"
            "FolderLock(sys.argv[1]).acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert FolderLock(tmp_path).try_acquire() == holder.pid
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:  # pragma: no cover - only if an assertion fired above
            holder.kill()
            holder.wait()
    deadline = time.monotonic() + 5
    lock = FolderLock(tmp_path)
    while lock.try_acquire() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.held
    lock.release()


def test_two_runners_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    import asyncio

    from flux2prompt.batch import BatchRunner, load_job

    job = load_job(write_job(tmp_path / "job"))
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out), pytest.raises(SourceError, match="is writing to this folder"):
        asyncio.run(BatchRunner(job, out, emulator=True).run())


# -- the manifest says what is in the folder now --------------------------------------------------


def test_an_edit_and_a_rerun_leave_exactly_the_jobs_items(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    out = tmp_path / "out"
    with serve() as emu:
        job = write_job(tmp_path / "job")  # 8 items
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        first = run_cli(*args, "--base-url", emu.base_url)
        assert first.returncode == 0, first.stderr
        before = {r["file"]: r["sha256"] for r in check_folder(out, 8)}
        # One colour changed: two items have a new request and a new name.
        write_job(tmp_path / "job", colors=["teal", "rust", "sand", "navy"])
        dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
        assert "2 recorded item(s) no longer in the job" in dry.stdout
        second = run_cli(*args, "--base-url", emu.base_url)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "superseded 2 record(s)" in second.stdout
        assert posts(emu) == 10
    view = check_folder(out, 8)
    assert {str(r["file"]) for r in view} == {
        f"{p}-{c}.jpg" for p in ("mug", "vase") for c in ("teal", "rust", "sand", "navy")
    }
    gallery = (out / "index.html").read_text(encoding="utf-8")
    assert gallery.count("<article") == 8
    assert "8 images" in gallery
    assert "ivory" not in gallery
    # Nothing paid is thrown away: the old images and their records are under superseded/.
    aside = read_manifest(out / "superseded" / "manifest.jsonl")
    assert sorted(r["variables"]["color"] for r in aside) == ["ivory", "ivory"]
    for record in aside:
        moved = out / "superseded" / record["file"]
        assert sha256(moved) == before[f"{record['variables']['product']}-ivory.jpg"]
    assert not list(out.glob("*-ivory.jpg"))
    merged = run_cli(
        "manifest", "merge", str(out / "manifest.jsonl"), "--out", str(tmp_path / "m" / "all.jsonl")
    )
    assert merged.returncode == 0, merged.stderr
    assert "8 items, 8 ok, 0 failed" in merged.stdout


def test_reverting_an_edit_restores_the_superseded_images_without_buying_them_again(
    tmp_path: Path,
) -> None:
    from flux2prompt.batch import BatchRunner, load_job, run_batch

    folder = tmp_path / "job"
    out = tmp_path / "out"
    job = write_job(folder)  # 8 items
    with serve() as emu:
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "t"}
        assert run_batch(load_job(job), out, **options).generated == 8
        before = {r["file"]: r["sha256"] for r in check_folder(out, 8)}
        write_job(folder, colors=["teal", "rust", "sand", "navy"])  # ivory becomes navy
        edited = run_batch(load_job(job), out, **options)
        assert (edited.generated, edited.superseded) == (2, 2)
        write_job(folder)  # the edit reverted: the two ivory items again
        dry = BatchRunner(load_job(job), out, **options).dry_run()
        assert (dry.to_generate, dry.to_copy, dry.estimated_cost) == (0, 2, 0.0)
        reverted = run_batch(load_job(job), out, **options)
        assert (reverted.generated, reverted.copied, reverted.superseded) == (0, 2, 2)
        assert posts(emu) == 10  # the restored images were not bought again
    view = check_folder(out, 8)
    assert {str(r["file"]): r["sha256"] for r in view} == before
    restored = [r for r in view if r.get("copied_from")]
    assert sorted(str(r["file"]) for r in restored) == ["mug-ivory.jpg", "vase-ivory.jpg"]
    for record in restored:
        source = record["copied_from"]
        assert isinstance(source, dict)
        assert str(source["file"]).startswith("superseded/")
        assert (out / str(source["file"])).exists()  # a copy: the set-aside image stays


def test_an_edit_that_keeps_the_names_supersedes_the_replaced_records(tmp_path: Path) -> None:
    from flux2prompt.batch import load_job, run_batch

    folder = tmp_path / "job"
    out = tmp_path / "out"
    job = write_job(folder, output="{product}-{index}.{ext}")
    with serve() as emu:
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "t"}
        assert run_batch(load_job(job), out, **options).generated == 8
        (folder / "shots.py").write_text(TEMPLATE.replace("seamless paper", "slate"), "utf-8")
        report = run_batch(load_job(job), out, **options)
        assert (report.generated, report.superseded, report.ok) == (8, 8, True)
    view = check_folder(out, 8)
    assert all("slate" in json.dumps(r["prompt"]) for r in view)
    assert len(list((out / "superseded").glob("*.jpg"))) == 8
    assert (out / "index.html").read_text(encoding="utf-8").count("<article") == 8


def test_rows_removed_from_a_dataset_are_superseded(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    folder = tmp_path / "job"
    rows = [{"product": "mug", "color": c} for c in ("teal", "rust", "sand")]
    (folder).mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    job = write_job(folder, dataset="rows.jsonl")
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        assert run_cli(*args, "--base-url", emu.base_url).returncode == 0
        (folder / "rows.jsonl").write_text(json.dumps(rows[0]) + "\n", "utf-8")
        again = run_cli(*args, "--base-url", emu.base_url)
        assert again.returncode == 0, again.stderr
        assert "0 generated, 1 already done" in again.stdout
        assert posts(emu) == 3
    check_folder(out, 1)
    assert len(read_manifest(out / "superseded" / "manifest.jsonl")) == 2


@pytest.mark.parametrize(
    "bad",
    [
        '{"product": "mug", "color": "teal", "note": NaN}',
        '{"product": "mug", "color": "teal", "note": Infinity}',
        '{"product": "mug", "color": "teal", "note": "\\ud800"}',
    ],
)
def test_a_row_no_record_can_hold_fails_before_any_request(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]], bad: str
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    good = '{"product": "vase", "color": "rust", "note": "ok"}'
    (folder / "rows.jsonl").write_text(f"{good}\n{bad}\n", encoding="utf-8")
    job = write_job(folder, dataset="rows.jsonl")
    out = tmp_path / "out"
    dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "1 item(s) cannot be recorded" in dry.stdout
    assert dry.stderr.strip().splitlines() == [
        "error: 1 item(s) would fail without a request: their rows cannot be recorded (listed "
        "above); fix those rows, then run"
    ]
    assert "rows.jsonl:2: column 'note' holds" in dry.stdout
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        for _ in range(2):
            result = run_cli(*args, "--base-url", emu.base_url)
            assert result.returncode == 1, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            assert "rows.jsonl:2: column 'note' holds" in result.stderr
        assert posts(emu) == 1, "only the good row is ever sent, once"
    records = read_manifest(out / "manifest.jsonl")
    by_index = {i: [r["status"] for r in records if r["index"] == i] for i in (0, 1)}
    assert by_index == {0: ["ok"], 1: ["failed", "failed"]}
    assert {r["attempts"] for r in records if r["index"] == 1} == {0}
    assert records[-1]["error"]["message"].startswith(
        f"{folder / 'rows.jsonl'}:2: column 'note' holds"
    )


# -- write errors ---------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_stops_with_one_line_and_a_rerun_finishes(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", colors=[f"c{i}" for i in range(15)])  # 30 items
    with serve() as emu, tmpfs(tmp_path / "disk", "400k") as disk:
        out = disk / "out"
        out.mkdir()
        filler = disk / "filler"
        with filler.open("wb") as handle, contextlib.suppress(OSError):
            handle.write(b"\0" * (400 * 1024 - 80 * 1024))
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        full = run_cli(*args, "--base-url", emu.base_url)
        assert full.returncode == 1, full.stdout + full.stderr
        assert "Traceback" not in full.stderr
        assert "ExceptionGroup" not in full.stderr
        assert "No space left on device" in full.stderr
        assert "free space (or fix the disk), then rerun the same command" in full.stderr
        records = read_manifest(out / "manifest.jsonl")  # intact: every line parses
        ok = [r for r in records if r["status"] == "ok"]
        assert 0 < len(ok) < 30
        for record in ok:
            assert sha256(out / record["file"]) == record["sha256"]
        filler.unlink()
        again = run_cli(*args, "--base-url", emu.base_url)
        assert again.returncode == 0, again.stdout + again.stderr
        check_folder(out, 30)


def test_a_folder_where_an_image_goes_fails_that_item_only(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job")
    out = tmp_path / "out"
    (out / "mug-rust.jpg").mkdir(parents=True)
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        blocked = run_cli(*args, "--base-url", emu.base_url)
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert "Traceback" not in blocked.stderr
        assert "error: mug-rust.*: cannot write mug-rust.jpg: Is a directory" in blocked.stderr
        assert "7 generated, 0 already done, 1 failed" in blocked.stdout
        (out / "mug-rust.jpg").rmdir()
        again = run_cli(*args, "--base-url", emu.base_url)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "1 generated, 7 already done" in again.stdout
    check_folder(out, 8)


def test_a_manifest_write_that_fails_leaves_complete_lines_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one case a tmpfs cannot stage exactly: a write cut off half-way through a record.
    import errno

    from flux2prompt.batch import ManifestWriter

    path = tmp_path / "manifest.jsonl"
    with ManifestWriter(path) as log:
        log.append({"request_fingerprint": "sha256:aa", "index": 0, "status": "ok"})
        real_write = os.write

        def half_then_full(fd: int, data: bytes | memoryview) -> int:
            if len(data) > 20:
                return real_write(fd, bytes(data[:20]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(OSError, match="No space"):
            log.append({"request_fingerprint": "sha256:bb", "index": 1, "status": "ok"})
        monkeypatch.setattr(os, "write", real_write)
        log.append({"request_fingerprint": "sha256:cc", "index": 2, "status": "ok"})
    assert [r["index"] for r in read_manifest(path)] == [0, 2]


# -- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("{color:>99999999999}.{ext}", "a width or precision of 99999999999 is more than 200"),
        ("{index:.5000}-{color}.{ext}", "a width or precision of 5000 is more than 200"),
    ],
)
def test_huge_format_widths_are_refused_at_plan_time(
    tmp_path: Path,
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    output: str,
    message: str,
) -> None:
    job = write_job(tmp_path / "job", output=output)
    result = run_cli("batch", str(job), "--out", str(tmp_path / "out"), "--dry-run")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_windows_device_names_are_refused_in_any_spelling(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(
        tmp_path / "job",
        products=["COM¹", "lpt²", "Con", "nul ", "COM¹x"],
        colors=["x"],
        output="{product}.{ext}",
    )
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        assert run_cli(*args, "--base-url", emu.base_url).returncode == 0
    names = sorted(str(r["file"]) for r in check_folder(out, 5))
    assert names == ["COM¹x.jpg", "_COM¹.jpg", "_Con.jpg", "_lpt².jpg", "_nul.jpg"]


DAMAGED = [
    (
        '{"request_fingerprint": "sha256:aa", "index": 0, "elapsed": NaN}',
        "NaN is not a JSON number",
    ),
    ('{"request_fingerprint": "sha256:aa", "index": 1e400}', "out of range"),
    ('{"request_fingerprint": "sha256:aa", "index": 1, "file": "\\ud800"}', "a lone surrogate"),
    ('{"request_fingerprint": "sha256:aa", "x": ' + "[" * 900 + "]" * 900 + "}", "nested 901 deep"),
    ('{"request_fingerprint": "sha256:aa", "index": 1.5}', "index 1.5 is not an integer"),
]


@pytest.mark.parametrize(("line", "message"), DAMAGED)
def test_damaged_manifests_are_one_clear_error_in_merge_and_resume(
    tmp_path: Path,
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    line: str,
    message: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manifest = out / "manifest.jsonl"
    manifest.write_text('{"request_fingerprint": "sha256:00", "index": 5}\n' + line + "\n")
    merged = run_cli("manifest", "merge", str(manifest), "--out", str(tmp_path / "all.jsonl"))
    resumed = run_cli("batch", str(write_job(tmp_path / "job")), "--out", str(out), "--dry-run")
    for result in (merged, resumed):
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"error: {manifest}:2: broken manifest record (")
        assert message in lines[0]


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + bytes(64)
    )


def test_a_decompression_bomb_gets_a_card_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header(60000, 60000))
    record = {
        "request_fingerprint": "sha256:aa",
        "index": 0,
        "status": "ok",
        "file": "bomb.png",
        "sha256": sha256(tmp_path / "bomb.png"),
    }
    page = write_gallery(tmp_path, [record]).read_text(encoding="utf-8")
    assert "not shown: its header says 60000x60000, more than the 64 MP" in page
    assert '<a href="bomb.png">' in page
    assert not (tmp_path / "thumbnails").exists()


def test_symbolic_links_out_of_the_folder_are_refused(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "mug").symlink_to(elsewhere, target_is_directory=True)
    job = write_job(tmp_path / "job", output="{product}/{color}.{ext}")
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
        linked = run_cli(*args, "--base-url", emu.base_url)
        assert linked.returncode == 1, linked.stdout + linked.stderr
        assert "a symbolic link on the way leads out of the output folder (refused)" in (
            linked.stderr
        )
        assert "4 generated, 0 already done, 4 failed" in linked.stdout
        assert list(elsewhere.iterdir()) == []
        # A manifest that is a link is never appended to.
        target = elsewhere / "other.jsonl"
        target.write_text("{}\n", encoding="utf-8")
        link_out = tmp_path / "out2"
        link_out.mkdir()
        (link_out / "manifest.jsonl").symlink_to(target)
        refused = run_cli(
            "batch",
            str(job),
            "--out",
            str(link_out),
            "--no-progress",
            "--account-id",
            "acc",
            "--base-url",
            emu.base_url,
        )
        assert refused.returncode == 2
        assert "is a symbolic link" in refused.stderr
        assert target.read_text(encoding="utf-8") == "{}\n"


def test_merge_gallery_copies_the_images_or_refuses(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job")
    with serve() as emu:
        for i in (1, 2):
            args = ("batch", str(job), "--out", str(tmp_path / f"out-{i}"), "--shard", f"{i}/2")
            done = run_cli(
                *args, "--no-progress", "--account-id", "acc", "--base-url", emu.base_url
            )
            assert done.returncode == 0, done.stderr
    shards = [str(tmp_path / f"out-{i}" / "manifest.jsonl") for i in (1, 2)]
    merged_dir = tmp_path / "all"
    stale = merged_dir / ".manifest.jsonl.a1b2c3.tmp"  # what a killed merge leaves
    merged_dir.mkdir()
    stale.write_bytes(b"half")
    result = run_cli(
        "manifest", "merge", *shards, "--out", str(merged_dir / "manifest.jsonl"), "--gallery"
    )
    assert result.returncode == 0, result.stderr
    assert "(8 image(s) copied next to it)" in result.stdout
    assert not stale.exists()
    check_folder(merged_dir, 8)
    assert (merged_dir / "index.html").read_text(encoding="utf-8").count("<img") == 8
    # An image that is not where its record says: one line, nothing half done.
    victim = next((tmp_path / "out-1").glob("*.jpg"))
    victim.unlink()
    again = run_cli(
        "manifest", "merge", *shards, "--out", str(tmp_path / "b" / "m.jsonl"), "--gallery"
    )
    assert again.returncode == 2
    assert f"the image {victim.name} is missing or changed" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "b").glob("*.jpg"))


# -- lean planning --------------------------------------------------------------------------------


def test_a_run_plans_its_items_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flux2prompt import scene
    from flux2prompt.batch import BatchJob, _runner, matrix, run_batch, template

    calls: list[int] = []

    @template
    def tile(i: int):
        calls.append(i)
        return scene(f"tile {i}")

    job = BatchJob(
        name="tiles",
        template=tile,
        source=matrix(i=range(12)),
        output="{i}.{ext}",
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=1,
    )
    report = run_batch(job, tmp_path / "once", emulator=True, gallery=False)
    assert (report.generated, len(calls)) == (12, 12), "survey and send share one plan"
    # Beyond the buffer, the run plans again as a stream (memory stays flat): twice.
    calls.clear()
    monkeypatch.setattr(_runner, "PLAN_BUFFER", 5)
    report = run_batch(job, tmp_path / "twice", emulator=True, gallery=False)
    assert (report.generated, len(calls)) == (12, 24)
    check_folder(tmp_path / "twice", 12)


def _swap_job(folder: Path, labels: tuple[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"product": "mug", "color": "teal", "label": labels[0]},
        {"product": "vase", "color": "rust", "label": labels[1]},
    ]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return write_job(folder, dataset="rows.jsonl", output="{label}.{ext}")


@dataclasses.dataclass(frozen=True)
class _Run:
    """Two items (a mug as a.jpg, a vase as b.jpg) generated once, the emulator still up."""

    folder: Path
    out: Path
    job: Path
    emu: Emulator
    options: dict[str, str]
    before: dict[str, str]  # file -> sha256 after the first run


@contextlib.contextmanager
def _two_items_made(tmp_path: Path) -> Iterator[_Run]:
    from flux2prompt.batch import load_job, run_batch

    folder, out = tmp_path / "job", tmp_path / "out"
    job = _swap_job(folder, ("a", "b"))
    with serve() as emu:
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "t"}
        assert run_batch(load_job(job), out, **options).generated == 2
        before = {str(r["file"]): str(r["sha256"]) for r in check_folder(out, 2)}
        yield _Run(folder, out, job, emu, options, before)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_two_items_that_swap_names_swap_their_images_without_buying_either_again(
    tmp_path: Path, concurrency: int
) -> None:
    from flux2prompt.batch import BatchRunner, load_job, run_batch

    with _two_items_made(tmp_path) as run:
        _swap_job(run.folder, ("b", "a"))  # the mug is now b.jpg, the vase a.jpg
        dry = BatchRunner(load_job(run.job), run.out, **run.options).dry_run()
        assert (dry.to_generate, dry.to_copy, dry.estimated_cost) == (0, 2, 0.0)
        report = run_batch(load_job(run.job), run.out, concurrency=concurrency, **run.options)
        assert (report.generated, report.copied, report.ok) == (0, 2, True)
        assert posts(run.emu) == 2  # neither image bought again
    view = {str(r["file"]): r for r in check_folder(run.out, 2)}
    assert view["b.jpg"]["sha256"] == run.before["a.jpg"]  # the mug's image, under its new name
    assert view["a.jpg"]["sha256"] == run.before["b.jpg"]
    assert "teal mug" in json.dumps(view["b.jpg"]["prompt"])
    assert "rust vase" in json.dumps(view["a.jpg"]["prompt"])


def test_an_image_set_aside_by_a_stopped_run_is_found_there_and_not_bought_again(
    tmp_path: Path,
) -> None:
    from flux2prompt.batch import BatchRunner, load_job, run_batch

    with _two_items_made(tmp_path) as run:
        # A run stopped right after setting b.jpg aside, before writing over it.
        digest = run.before["b.jpg"].removeprefix("sha256:")[:12]
        aside = run.out / "superseded" / f"b.{digest}.jpg"
        aside.parent.mkdir()
        (run.out / "b.jpg").rename(aside)
        dry = BatchRunner(load_job(run.job), run.out, **run.options).dry_run()
        assert (dry.to_generate, dry.to_copy, dry.finished) == (0, 1, 1)
        report = run_batch(load_job(run.job), run.out, **run.options)
        assert (report.generated, report.copied, report.ok) == (0, 1, True)
        assert posts(run.emu) == 2
    assert {str(r["file"]): r["sha256"] for r in check_folder(run.out, 2)} == run.before
    assert aside.exists()  # a copy: the image set aside stays where it is


def test_a_new_image_under_another_items_old_name_keeps_every_image_paid_for(
    tmp_path: Path,
) -> None:
    from flux2prompt.batch import load_job, run_batch

    with _two_items_made(tmp_path) as run:
        # The mug changes colour (a new request) and takes the vase's name; the vase takes a.
        rows = [
            {"product": "mug", "color": "sand", "label": "b"},
            {"product": "vase", "color": "rust", "label": "a"},
        ]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (run.folder / "rows.jsonl").write_text(text, "utf-8")
        report = run_batch(load_job(run.job), run.out, concurrency=1, **run.options)
        assert (report.generated, report.copied, report.superseded, report.ok) == (1, 1, 1, True)
        assert posts(run.emu) == 3  # only the new mug is bought
    view = {str(r["file"]): r for r in check_folder(run.out, 2)}
    assert view["a.jpg"]["sha256"] == run.before["b.jpg"]  # the vase, under its new name
    assert "sand mug" in json.dumps(view["b.jpg"]["prompt"])
    kept = {sha256(path) for path in (run.out / "superseded").glob("*.jpg")}
    assert run.before["a.jpg"] in kept  # the old mug, paid for, set aside


# -- an answer that is no image: paid for, so kept --------------------------------------------


def test_an_answer_that_is_no_image_is_kept_held_and_sent_again_only_when_asked(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal", "rust"])
    out = tmp_path / "out"
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        first = run_cli(*args, "--base-url", emu.base_url)
        assert posts(emu) == 2
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    assert "the image is GIF, not JPEG, PNG or WebP (43 bytes)" in first.stderr
    assert "its 43 bytes are kept as unreadable/mug-" in first.stderr
    records = read_manifest(out / "manifest.jsonl")
    assert [r["status"] for r in records] == ["failed", "failed"]
    kept = set()
    for record in records:
        assert record["may_have_been_billed"] is True
        assert list(record)[-1] == "kept"  # last, after the fields every record has
        path = out / record["kept"]
        assert path.read_bytes().startswith(b"GIF89a")
        assert record["kept"] in record["error"]["message"]
        kept.add(path)
    assert kept == set((out / "unreadable").glob("*.bin"))
    assert {p.name.split(".")[0] for p in kept} == {"mug-teal", "mug-rust"}
    with serve() as emu:
        held = run_cli(*args, "--base-url", emu.base_url)
        assert posts(emu) == 0  # may have been billed: held, not bought again unasked
        assert held.returncode == 1, held.stdout + held.stderr
        again = run_cli(*args, "--base-url", emu.base_url, "--resend-billed")
        assert posts(emu) == 2
    assert again.returncode == 0, again.stdout + again.stderr
    check_folder(out, 2)
    assert set((out / "unreadable").glob("*.bin")) == kept  # nothing paid for is deleted


def test_an_unreadable_folder_that_leads_out_is_refused_and_the_item_still_recorded(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "unreadable").symlink_to(outside)
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        run = run_cli(*args, "--base-url", emu.base_url)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "could not be kept as unreadable/mug-teal." in run.stderr
    assert "while keeping an answer that is no image" in run.stderr  # the batch stops
    assert "its 43 bytes are kept" not in run.stderr
    assert list(outside.iterdir()) == []
    (record,) = read_manifest(out / "manifest.jsonl")
    assert record["status"] == "failed"
    assert record["may_have_been_billed"] is True
    assert "kept" not in record


def test_a_proxied_result_that_is_no_image_is_kept_and_held_as_paid(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """A proxied model's generation ran (it gave a result URL): whatever the URL then holds,
    it is paid for, so the item is held, never bought again by a plain rerun."""
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    text = job.read_text(encoding="utf-8").replace('model = "klein-4b"', 'model = "flex"')
    job.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        first = run_cli(*args, "--base-url", emu.base_url)
        assert posts(emu) == 1
    assert first.returncode == 1, first.stdout + first.stderr
    assert "the result URL did not hold an image" in first.stderr
    (record,) = read_manifest(out / "manifest.jsonl")
    assert record["error"]["type"] == "ResultDownloadError"
    assert record["may_have_been_billed"] is True
    assert (out / record["kept"]).read_bytes().startswith(b"GIF89a")
    with serve() as emu:
        held = run_cli(*args, "--base-url", emu.base_url)
        assert posts(emu) == 0
    assert held.returncode == 1, held.stdout + held.stderr


def test_a_batch_that_cannot_keep_an_answer_stops_before_buying_more(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", colors=[f"c{i}" for i in range(10)])  # 20 items
    text = job.read_text(encoding="utf-8").replace("concurrency = 4", "concurrency = 1")
    job.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "unreadable").write_text("a file where the folder goes\n", encoding="utf-8")
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        run = run_cli(*args, "--base-url", emu.base_url)
        sent = posts(emu)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert sent < 20  # stopped: every later answer like it would be lost
    assert "while keeping an answer that is no image" in run.stderr
    records = read_manifest(out / "manifest.jsonl")
    assert all(r["may_have_been_billed"] is True for r in records)
    assert all("kept" not in r for r in records)


def test_batch_json_lists_where_the_answers_that_were_no_image_were_kept(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    out = tmp_path / "out"
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        done = run_cli(*args, "--base-url", emu.base_url, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(done.stdout)
    (kept,) = document["kept"]
    assert kept.startswith("unreadable/mug-teal.")
    assert (out / kept).read_bytes().startswith(b"GIF89a")
    with serve() as emu:
        resent = run_cli(*args, "--base-url", emu.base_url, "--json", "--resend-billed")
    assert json.loads(resent.stdout)["kept"] == []  # this run kept nothing


def test_merging_shards_with_a_gallery_brings_their_kept_answers_along(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal", "rust", "sand", "ivory"])
    shards = [tmp_path / "s1", tmp_path / "s2"]
    with serve(not_an_image_ratio=1.0) as emu:
        for number, folder in enumerate(shards, 1):
            args = ("batch", str(job), "--out", str(folder), "--shard", f"{number}/2")
            run_cli(*args, "--no-progress", "--account-id", "acc", "--base-url", emu.base_url)
    kept = sorted(
        p.relative_to(folder).as_posix() for folder in shards for p in folder.rglob("*.bin")
    )
    assert len(kept) == 4
    merged = tmp_path / "merged" / "manifest.jsonl"
    done = run_cli(
        "manifest", "merge", *(str(f / "manifest.jsonl") for f in shards), "--out", str(merged),
        "--gallery",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        sorted(p.relative_to(merged.parent).as_posix() for p in merged.parent.rglob("*.bin"))
        == kept
    )
    page = (merged.parent / "index.html").read_text(encoding="utf-8")
    assert page.count("the answer's bytes</a>") == 4


def test_billed_or_held_items_are_pointed_at_resend_billed_not_at_a_plain_rerun(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    out = tmp_path / "out"
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        first = run_cli(*args, "--base-url", emu.base_url)
        held = run_cli(*args, "--base-url", emu.base_url)
    for run in (first, held):
        assert run.returncode == 1, run.stdout + run.stderr
        assert "rerun the same command to retry" not in run.stderr  # it would hold them again
        assert "check the Cloudflare dashboard, then rerun with --resend-billed" in run.stderr
    assert "a rerun holds them" in first.stderr
    assert "1 item(s) held" in held.stderr


def test_a_kept_answer_never_writes_over_a_file_edited_under_its_name(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    out = tmp_path / "out"
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        run_cli(*args, "--base-url", emu.base_url)
        (kept,) = (out / "unreadable").glob("*.bin")
        kept.write_bytes(b"edited by hand")
        again = run_cli(*args, "--base-url", emu.base_url, "--resend-billed")
        same = run_cli(*args, "--base-url", emu.base_url, "--resend-billed")
    assert again.returncode == 1, again.stdout + again.stderr
    assert kept.read_bytes() == b"edited by hand"
    beside = kept.with_name(kept.name.replace(".bin", ".1.bin"))
    assert beside.read_bytes().startswith(b"GIF89a")
    assert f"kept as unreadable/{beside.name}" in again.stderr
    # The same bytes again: found where they are, not written a third time.
    assert f"kept as unreadable/{beside.name}" in same.stderr
    assert {p.name for p in (out / "unreadable").iterdir()} == {kept.name, beside.name}


def test_a_file_where_the_unreadable_folder_goes_is_said_as_such(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    job = write_job(tmp_path / "job", products=["mug"], colors=["teal"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "unreadable").write_text("notes\n", encoding="utf-8")
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    with serve(not_an_image_ratio=1.0) as emu:
        run = run_cli(*args, "--base-url", emu.base_url)
    assert "a file is where its folder goes while keeping an answer" in run.stderr
    assert (out / "unreadable").read_text(encoding="utf-8") == "notes\n"
