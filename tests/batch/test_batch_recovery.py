"""An image paid for and written, but not recorded, is recovered by the next run, never bought
again: the run killed between the image and its record, the record that did not fit on the
disk, the temporary file a kill inside the write left. Anything else under the item's name (a
truncated or damaged image, one without provenance, another prompt's, a user's own file) keeps
what a run always did with it: the item is sent, the file set aside.

The kill is real: the batch runs as a ``flux2-prompt batch`` subprocess whose files may not
grow past a limit (``RLIMIT_FSIZE``) that every image stays under and the manifest is already
at, so the kernel stops it (``SIGXFSZ``) at the one write that crosses it, a record's append,
right after that item's image was written. With the signal ignored, the same append fails with
``EFBIG`` instead: a record that does not fit on the disk.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import os
import random
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt.batch import read_manifest, run_batch
from flux2prompt.batch._lock import FolderLock
from flux2prompt.emulator import Emulator, serve
from flux2prompt.emulator._render import render_image
from flux2prompt.transport import read_provenance, strip_provenance, write_provenance

SRC = str(Path(__file__).resolve().parents[2] / "src")
TOKEN = "tok-recovery-0123456789"


def posts(emu: Emulator) -> list[str]:
    """The prompts of the image requests the emulator answered (each one billed)."""
    return [r.fields.get("prompt", "") for r in emu.requests if r.method == "POST"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def limited_run(
    *args: str, limit: int, ignore_signal: bool = False
) -> subprocess.CompletedProcess[str]:
    """``flux2-prompt ARGS`` in a process whose files may not grow past ``limit`` bytes."""
    action = "SIG_IGN" if ignore_signal else "SIG_DFL"
    code = "\n".join(
        [
            "import resource, signal",
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))",
            "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))",
            # Python ignores SIGXFSZ from the start (a write past the limit fails with EFBIG);
            # the kernel's default action stops the process at that write.
            f"signal.signal(signal.SIGXFSZ, signal.{action})",
            "from flux2prompt.cli import main",
            "main()",
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    # No bytecode written either: the limit is for the batch's own files.
    env.update(
        PYTHONPATH=SRC,
        PYTHONDONTWRITEBYTECODE="1",
        CLOUDFLARE_API_TOKEN=TOKEN,
        CLOUDFLARE_ACCOUNT_ID="acc",
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def images(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".jpg", ".png")}


def ok_records(out: Path) -> list[dict[str, Any]]:
    return [r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"]


def drop_record(out: Path, file: str) -> dict[str, Any]:
    """The manifest as a run leaves it when it stops before appending ``file``'s record."""
    manifest = out / "manifest.jsonl"
    kept, dropped = [], None
    for line in manifest.read_bytes().splitlines(keepends=True):
        if json.loads(line).get("file") == file:
            dropped = json.loads(line)
        else:
            kept.append(line)
    assert dropped is not None, file
    manifest.write_bytes(b"".join(kept))
    return dropped


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- a real crash between an image and its record ------------------------------------------------


@pytest.mark.parametrize("ignore_signal", [False, True], ids=["killed", "record-does-not-fit"])
def test_an_image_written_but_not_recorded_is_recovered_and_billed_once(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    ignore_signal: bool,
) -> None:
    items = 6 * 5
    out = tmp_path / "out"
    orphan = "product3-color0-0.jpg"
    with serve() as emu:
        # 15 items first, whose records make the manifest larger than any image; then the
        # whole batch (the products are the outer axis: the first 15 keep their indices) in a
        # process whose files may not grow past the manifest: its first append stops it, just
        # after the first new image was written. One request at a time, one a second: nothing
        # else is in flight then.
        job = make_job(products=3, colors=5)
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_cli(*args, "--no-progress").returncode == 0
        limit = (out / "manifest.jsonl").stat().st_size
        assert limit > max(len(data) for data in images(out).values())
        make_job(products=6, colors=5)
        crashed = limited_run(
            *args, "--no-progress", "--concurrency", "1", "--rate-limit", "60",
            limit=limit, ignore_signal=ignore_signal,
        )  # fmt: skip
        if ignore_signal:
            assert crashed.returncode == 1, crashed.stdout + crashed.stderr
            assert "Traceback" not in crashed.stderr
            assert (
                f"error: product3-color0-0.*: {orphan} was written, its record not (File too "
                "large): the next run records it (not recorded: File too large)"
            ) in crashed.stderr
            assert "File too large while writing " + str(out / "manifest.jsonl") in crashed.stderr
        else:
            assert crashed.returncode == -signal.SIGXFSZ, crashed.stdout + crashed.stderr
        # One image on disk has no record: the one the stopped run paid for last.
        recorded = {r["file"] for r in ok_records(out)}
        on_disk = images(out)
        assert len(recorded) == 15
        assert set(on_disk) - recorded == {orphan}
        assert len(posts(emu)) == 16

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["finished"], dry["to_recover"], dry["to_generate"]) == (15, 1, 14)
        assert images(out) == on_disk, "a dry run writes nothing"

        resumed = run_cli(*args, "--no-progress")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "14 generated, 15 already done, 0 failed" in resumed.stdout
        assert "  recovered 1 (written by a run that stopped before recording them" in (
            resumed.stdout
        )
        # Billed exactly once per item, across the crash and the resume.
        billed = collections.Counter(posts(emu))
        assert len(billed) == items
        assert set(billed.values()) == {1}
        again = as_json(run_cli(*args, "--json"))
        assert (again["generated"], again["skipped"], again["recovered"]) == (0, items, 0)
        assert len(posts(emu)) == items

    records = ok_records(out)
    assert len(records) == items == len({r["request_fingerprint"] for r in records})
    (record,) = [r for r in records if r["file"] == orphan]
    assert record["recovered"] is True
    assert (record["attempts"], record["request_id"], record["copied_from"]) == (0, None, None)
    # The image itself is the one the stopped run paid for, untouched; nothing was set aside.
    assert (out / orphan).read_bytes() == on_disk[orphan]
    assert record["sha256"] == sha256(on_disk[orphan])
    assert record["bytes"] == len(on_disk[orphan])
    assert (record["format"], record["width"], record["height"]) == ("jpeg", 256, 256)
    assert not (out / "superseded").exists()
    assert sum(1 for r in records if r.get("recovered")) == 1
    for r in records:
        assert sha256((out / r["file"]).read_bytes()) == r["sha256"]


def test_a_recovery_that_cannot_be_recorded_stops_the_batch_before_it_sends_anything(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    job = make_job(products=3, colors=5)  # 15 items: the manifest outgrows any image
    out = tmp_path / "out"
    lost = ["product1-color1-0.jpg", "product2-color4-0.jpg"]
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        for name in lost:
            drop_record(out, name)
        limit = (out / "manifest.jsonl").stat().st_size
        # The disk is full when the recovered record is appended: the item fails without a
        # request, and the batch stops (every other write would fail the same way).
        full = limited_run(*args, "--no-progress", limit=limit, ignore_signal=True)
        assert full.returncode == 1, full.stdout + full.stderr
        assert "Traceback" not in full.stderr
        assert (
            "error: product1-color1-0.*: cannot recover product1-color1-0.jpg: File too large "
            "(not recorded: File too large)"
        ) in full.stderr
        assert "stopped early, 1 item(s) not sent: File too large while recording" in full.stderr
        assert len(posts(emu)) == 15
        assert (out / "manifest.jsonl").stat().st_size == limit

        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"], report["ok"]) == (2, 0, True)
        assert len(posts(emu)) == 15
    assert sorted(r["file"] for r in ok_records(out) if r.get("recovered")) == lost


# -- the temporary file a kill inside the write left ---------------------------------------------


def test_a_whole_temporary_file_is_recovered_under_the_lock_and_a_dry_run_touches_nothing(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    job = make_job()  # 4 items
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        name = "product1-color1-0.jpg"
        data = (out / name).read_bytes()
        drop_record(out, name)
        # Killed after the bytes were written, before the rename (and before the chmod).
        temporary = out / f".{name}.k2j3x9ab.tmp"
        os.replace(out / name, temporary)
        temporary.chmod(0o600)
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["finished"], dry["to_recover"], dry["to_generate"]) == (3, 1, 0)
        text = run_cli(*args, "--dry-run")
        assert "items     4 (3 already done, 0 to generate, 1 to recover)" in text.stdout
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

        with FolderLock(out):
            refused = run_cli(*args, "--no-progress")
            assert refused.returncode == 2, refused.stdout + refused.stderr
        assert temporary.read_bytes() == data, "only the lock's holder touches the folder"

        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"], report["skipped"]) == (1, 0, 3)
        assert report["ok"] is True
        assert len(posts(emu)) == 4, "the image in the temporary file was bought again"
    assert (out / name).read_bytes() == data
    assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~_umask()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    (record,) = [r for r in ok_records(out) if r["file"] == name]
    assert (record["recovered"], record["sha256"]) == (True, sha256(data))


def test_a_half_written_temporary_file_is_deleted_and_the_item_sent_again(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    job = make_job()
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        name = "product0-color1-0.jpg"
        data = (out / name).read_bytes()
        drop_record(out, name)
        (out / name).unlink()
        # Killed in the middle of the write: the provenance is there, the end of the image not.
        (out / f".{name}.a1b2c3d4.tmp").write_bytes(data[: len(data) * 2 // 3])
        assert read_provenance(data) is not None

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["to_recover"], dry["to_generate"]) == (0, 1)
        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"]) == (0, 1)
        assert len(posts(emu)) == 5
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not (out / "superseded").exists()
    assert (out / name).read_bytes() == data  # the emulator draws the same request alike


def test_a_temporary_file_in_another_batchs_folder_is_left_to_that_batch(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    # `--out out` and `--out out/test`: out/test's temporary files are that run's, maybe in
    # flight; the outer run neither deletes nor recovers them.
    job = make_job(output="test/{product}-{color}-{n}.{ext}")
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        name = "product0-color0-0.jpg"
        drop_record(out, f"test/{name}")
        temporary = out / "test" / f".{name}.q1w2e3r4.tmp"
        os.replace(out / "test" / name, temporary)
        (out / "test" / "batch.lock").write_text("4242\n", encoding="utf-8")

        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"]) == (0, 1)
        assert len(posts(emu)) == 5
    assert temporary.exists()


# -- anything else under the item's name: as before ----------------------------------------------


def _truncated(data: bytes, other: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _zeroed_tail(data: bytes, other: bytes) -> bytes:
    # A power cut after the size grew, before the last blocks were: zeros where the data was.
    return data[:-512] + bytes(512)


def _stripped(data: bytes, other: bytes) -> bytes:
    return strip_provenance(data)


def _another_prompt(data: bytes, other: bytes) -> bytes:
    return other


def _another_job(data: bytes, other: bytes) -> bytes:
    record = read_provenance(data)
    assert record is not None
    return write_provenance(data, dataclasses.replace(record, job="someone-elses"))


def _a_users_photo(data: bytes, other: bytes) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def _garbled_scan(data: bytes, other: bytes) -> bytes:
    # A JPEG: 64 bytes of garbage in the middle of its scan, whose structure stays whole.
    at = (data.rindex(b"\xff\xda") + len(data)) // 2
    garbage = bytes(random.Random(7).randrange(256) for _ in range(64)).replace(b"\xff", b"\x00")
    return data[:at] + garbage + data[at + 64 :]


def _a_flipped_pixel_byte(data: bytes, other: bytes) -> bytes:
    # A PNG: one byte inside its pixel data (after the provenance chunk) changed.
    at = data.index(b"IDAT") + 40
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("damage", "image_format"),
    [
        (_truncated, "jpeg"),
        (_zeroed_tail, "jpeg"),
        (_stripped, "jpeg"),
        (_another_prompt, "jpeg"),
        (_another_job, "jpeg"),
        (_a_users_photo, "jpeg"),
        (_garbled_scan, "jpeg"),
        (_a_flipped_pixel_byte, "png"),
        (_truncated, "png"),
    ],
    ids=lambda value: str(getattr(value, "__name__", value)).strip("_"),
)
def test_a_file_that_is_not_exactly_this_items_image_is_set_aside_as_before(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    damage: Callable[[bytes, bytes], bytes],
    image_format: str,
) -> None:
    job = make_job()
    out = tmp_path / "out"
    ext = "jpg" if image_format == "jpeg" else "png"
    with serve(image_format=image_format) as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        name, other = f"product1-color0-0.{ext}", f"product0-color0-0.{ext}"
        data = (out / name).read_bytes()
        drop_record(out, name)
        found = damage(data, (out / other).read_bytes())
        assert found != data
        (out / name).write_bytes(found)

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["finished"], dry["to_recover"], dry["to_generate"]) == (3, 0, 1)
        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"], report["ok"]) == (0, 1, True)
        assert len(posts(emu)) == 5
    # Never adopted, never deleted: the file waits under superseded/, the item has its image.
    aside = out / "superseded" / f"{Path(name).stem}.{sha256(found)[7:19]}.{ext}"
    assert aside.read_bytes() == found
    assert (out / name).read_bytes() == data
    assert not any(r.get("recovered") for r in ok_records(out))


def test_an_image_changed_after_it_was_recorded_is_not_recovered(
    make_job: Callable[..., Path],
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    # Retouched in an editor that keeps XMP: a whole image, this item's provenance, other
    # bytes than its record says. The item has its record: it is sent again, as before.
    from PIL import Image

    job = make_job()
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
        name = "product0-color0-0.jpg"
        data = (out / name).read_bytes()
        record = read_provenance(data)
        assert record is not None
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).save(buffer, "JPEG", quality=40)
        retouched = write_provenance(buffer.getvalue(), record)
        assert read_provenance(retouched) == record
        (out / name).write_bytes(retouched)

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["finished"], dry["to_recover"], dry["to_generate"]) == (3, 0, 1)
        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["generated"]) == (0, 1)
        assert len(posts(emu)) == 5
    aside = out / "superseded" / f"{Path(name).stem}.{sha256(retouched)[7:19]}.jpg"
    assert aside.read_bytes() == retouched
    assert (out / name).read_bytes() == data


# -- copies, and Black Forest Labs ---------------------------------------------------------------


def test_an_original_recovered_gives_its_copies_their_image_without_a_request(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "shots.py").write_text(
        "from flux2prompt import scene\nfrom flux2prompt.batch import template\n\n\n"
        "@template\ndef shot(product: str, color: str):\n"
        '    return scene(f"a {color} {product} on seamless paper")\n',
        encoding="utf-8",
    )
    rows = [("mug", "teal", "A"), ("mug", "teal", "B"), ("vase", "rust", "C")]
    (folder / "rows.jsonl").write_text(
        "".join(json.dumps({"product": p, "color": c, "sku": s}) + "\n" for p, c, s in rows),
        encoding="utf-8",
    )
    job = folder / "job.toml"
    job.write_text(
        'name = "shots"\ntemplate = "shots.py:shot"\nmodel = "klein-4b"\n'
        'output = "{sku}.{ext}"\nseeds = 5\n\n[parameters]\nwidth = 256\nheight = 256\n\n'
        '[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    with serve() as emu:
        args = ("batch", str(job), "--out", str(out), "--base-url", emu.base_url)
        first = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (first["generated"], first["copied"]) == (2, 1)
        # Killed after A's image, before its record: B (its copy) was never written.
        data = (out / "A.jpg").read_bytes()
        drop_record(out, "A.jpg")
        drop_record(out, "B.jpg")
        (out / "B.jpg").unlink()

        dry = as_json(run_cli(*args, "--dry-run", "--json"))
        assert (dry["to_recover"], dry["to_copy"], dry["to_generate"]) == (1, 1, 0)
        report = as_json(run_cli(*args, "--no-progress", "--json"))
        assert (report["recovered"], report["copied"], report["generated"]) == (1, 1, 0)
        assert len(posts(emu)) == 2
    assert (out / "A.jpg").read_bytes() == (out / "B.jpg").read_bytes() == data
    by_file = {r["file"]: r for r in ok_records(out)}
    assert by_file["A.jpg"]["recovered"] is True
    assert by_file["B.jpg"]["copied_from"]["file"] == "A.jpg"


def test_a_flux3_image_on_black_forest_labs_is_recovered_without_polling_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "desk.py").write_text(
        "from flux2prompt import scene, template\n\n\n@template\ndef desk(n: int):\n"
        '    return scene().caption(f"A <mug_1> on an oak desk, study {n}").element(\n'
        '        "mug_1", "a mug in soft daylight", "centre"\n'
        "    )\n",
        encoding="utf-8",
    )
    job = folder / "job.toml"
    job.write_text(
        'name = "desk"\ntemplate = "desk.py:desk"\nprovider = "bfl"\nmodel = "flux-3-image"\n'
        'output = "desk-{n}.{ext}"\n\n[variables.matrix]\nn = [0, 1, 2]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    monkeypatch.setenv("BFL_API_KEY", TOKEN)
    with serve(token=TOKEN, bfl_task_ms=20.0) as emu:
        assert run_batch(job, out, base_url=emu.bfl_base_url).generated == 3
        drop_record(out, "desk-1.jpg")
        seen = len(emu.requests)
        report = run_batch(job, out, base_url=emu.bfl_base_url)
        assert (report.recovered, report.generated, report.skipped, report.ok) == (1, 0, 2, True)
        assert len(emu.requests) == seen, "the recorded task was polled (or submitted) again"
        # The notebook view counts it too.
        assert "recovered</span> <strong>1</strong>" in report._repr_html_()
    (record,) = [r for r in ok_records(out) if r["file"] == "desk-1.jpg"]
    assert record["recovered"] is True
    assert "effective_prompt" not in record  # the file does not say what FLUX 3 ran


# -- what counts as a whole image ----------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp"])
@settings(max_examples=60, deadline=None)
@given(cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_every_cut_short_image_is_refused(image_format: str, cut: float) -> None:
    from flux2prompt.batch._orphans import image_problem

    data = render_image('{"scene": "a lighthouse"}', 3, 96, 64, image_format)
    assert image_problem(data) is None
    assert image_problem(data[: int(len(data) * cut)]) is not None


@settings(max_examples=80, deadline=None)
@given(at=st.integers(min_value=8), flip=st.integers(min_value=1, max_value=255))
def test_every_changed_byte_of_a_png_is_refused(at: int, flip: int) -> None:
    from flux2prompt.batch._orphans import image_problem

    data = render_image('{"scene": "a lighthouse"}', 3, 96, 64, "png")
    at = 8 + at % (len(data) - 8)
    changed = data[:at] + bytes([data[at] ^ flip]) + data[at + 1 :]
    assert image_problem(changed) is not None


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"subsampling": 0},
        {"subsampling": 2, "quality": 30},
        {"optimize": True},
        {"progressive": True},
        {"restart_marker_blocks": 3},
        {"restart_marker_rows": 1, "subsampling": 1},
        {"mode": "L"},
        {"mode": "CMYK"},
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()) or "baseline",
)
def test_jpegs_of_every_common_encoding_are_whole_until_cut(options: dict[str, Any]) -> None:
    from PIL import Image

    from flux2prompt.batch._orphans import image_problem

    mode = options.pop("mode", "RGB")
    picture = Image.open(io.BytesIO(render_image('{"scene": "a fox"}', 4, 200, 150, "png")))
    buffer = io.BytesIO()
    picture.convert(mode).save(buffer, "JPEG", **options)
    data = buffer.getvalue()
    assert image_problem(data) is None
    # Cut at the scan's end, where the structure alone cannot tell: the blocks are missing.
    # A progressive JPEG's scans are checked for their structure only.
    end = data.rindex(b"\xff\xd9")
    cut = image_problem(data[: end - 40] + data[end:])
    assert (cut is not None) == (not options.get("progressive"))


@pytest.mark.parametrize("image_format", ["jpeg", "png", "webp"])
def test_any_stretch_of_an_images_data_changed_is_never_recovered(
    make_job: Callable[..., Path], tmp_path: Path, image_format: str
) -> None:
    # Garbage inside a JPEG's scan often still decodes to exactly its blocks (Huffman codes
    # fall back in step): the seal in the image's provenance catches what decoding cannot,
    # whatever the image looks like.
    from flux2prompt.batch import BatchRunner, load_job

    job = load_job(make_job())
    out = tmp_path / "out"
    ext = {"jpeg": "jpg", "png": "png", "webp": "webp"}[image_format]
    with serve(image_format=image_format) as emu:
        assert run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t").ok
    name = f"product1-color0-0.{ext}"
    data = (out / name).read_bytes()
    drop_record(out, name)
    record = read_provenance(data)
    assert record is not None
    assert record.verifies(data)
    # The second half of the image's own bytes: pixel data, past the packet.
    start = len(data) - len(strip_provenance(data)) // 2
    runner = BatchRunner(job, out, base_url="http://127.0.0.1:9", account_id="a", api_token="t")
    (out / name).write_bytes(data)
    assert runner.dry_run().to_recover == 1  # unchanged, it is recovered
    rng = random.Random(2026)
    for _ in range(25):
        at = rng.randrange(start, len(data) - 80)
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 65)))
        if image_format == "jpeg":
            garbage = garbage.replace(b"\xff", b"\x00")  # no marker: the structure stays whole
        damaged = data[:at] + garbage + data[at + len(garbage) :]
        if damaged == data:
            continue
        (out / name).write_bytes(damaged)
        assert runner.dry_run().to_recover == 0, (at, garbage.hex())
