"""Provenance in batch images: per request, in the manifest's sha256, and resume-safe.

The record of an image is its request's, so copies of one request are byte-identical and a
finished image is recognised by the sha256 of the bytes written. A folder written before images
carried provenance (the same manifest, images without a record) still resumes without a request.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flux2prompt import scene
from flux2prompt.batch import BatchJob, BatchReport, dataset, read_manifest, run_batch, template
from flux2prompt.emulator import Emulator, serve
from flux2prompt.transport import read_provenance, strip_provenance


@template
def tile(i: int):
    return scene(f"a ceramic tile, pattern {i}").mood("calm")


def rows_job(folder: Path, output: str = "{sku}.{ext}") -> BatchJob:
    rows = [(1, "A"), (1, "B"), (2, "C")]  # A and B send one request: B is a copy of A
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps({"i": i, "sku": s}) + "\n" for i, s in rows), "utf-8")
    return BatchJob(
        name="tiles",
        template=tile,
        source=dataset(path),
        output=output,
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=5,
        rate_limit=60_000,
    )


def run(job: BatchJob, out: Path, emu: Emulator) -> BatchReport:
    return run_batch(
        job, out, base_url=emu.base_url, account_id="acc", api_token="tok-never-in-an-image"
    )


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_every_image_holds_its_request_and_the_manifest_hashes_the_bytes_written(
    tmp_path: Path,
) -> None:
    job = rows_job(tmp_path)
    with serve() as emu:
        run(job, tmp_path / "one", emu)
        run(rows_job(tmp_path, output="{i}-{sku}.{ext}"), tmp_path / "two", emu)
    records = list(read_manifest(tmp_path / "one" / "manifest.jsonl"))
    assert sorted(r["file"] for r in records if r["status"] == "ok") == ["A.jpg", "B.jpg", "C.jpg"]
    for record in records:
        data = (tmp_path / "one" / record["file"]).read_bytes()
        assert sha256(data) == record["sha256"]
        assert len(data) == record["bytes"]
        provenance = read_provenance(data)
        assert provenance is not None
        assert provenance.request_fingerprint == record["request_fingerprint"]
        assert provenance.job == "tiles"
        assert provenance.seed == 5
        assert b"tok-never-in-an-image" not in data
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "A.jpg").read_bytes() == (one / "B.jpg").read_bytes()
    # Another folder, other names: the same request gives the same bytes, record included.
    assert (one / "A.jpg").read_bytes() == (two / "1-A.jpg").read_bytes()
    assert (one / "C.jpg").read_bytes() == (two / "2-C.jpg").read_bytes()
    assert (one / "A.jpg").read_bytes() != (one / "C.jpg").read_bytes()


def _as_before_provenance(out: Path) -> None:
    """Make ``out`` look like a run of a version that wrote no provenance: images without a
    record, and a manifest whose sha256 and sizes are of those images."""
    lines = []
    for line in (out / "manifest.jsonl").read_text("utf-8").splitlines():
        record: dict[str, Any] = json.loads(line)
        if record.get("status") == "ok":
            path = out / record["file"]
            bare = strip_provenance(path.read_bytes())
            path.write_bytes(bare)
            record["sha256"], record["bytes"] = sha256(bare), len(bare)
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    (out / "manifest.jsonl").write_text("".join(lines), "utf-8")


def test_a_folder_from_before_provenance_resumes_and_copies_without_a_request(
    tmp_path: Path,
) -> None:
    job = rows_job(tmp_path)
    out = tmp_path / "out"
    with serve() as emu:
        run(job, out, emu)
        _as_before_provenance(out)
        assert read_provenance((out / "A.jpg").read_bytes()) is None
        sent = posts(emu)
        again = run(job, out, emu)
        assert (again.skipped, again.generated, again.copied, posts(emu)) == (3, 0, 0, sent)
        # A lost copy is written again from the old image, still byte-identical, still free.
        (out / "B.jpg").unlink()
        report = run(job, out, emu)
        assert (report.copied, report.generated, posts(emu)) == (1, 0, sent)
        assert (out / "B.jpg").read_bytes() == (out / "A.jpg").read_bytes()
        # A lost original is generated again, now with its record; its copy stays as it was.
        (out / "C.jpg").unlink()
        report = run(job, out, emu)
        assert (report.generated, posts(emu)) == (1, sent + 1)
    assert read_provenance((out / "C.jpg").read_bytes()) is not None
    latest = {r["file"]: r for r in read_manifest(out / "manifest.jsonl")}
    for name in ("A.jpg", "B.jpg", "C.jpg"):
        assert sha256((out / name).read_bytes()) == latest[name]["sha256"]
