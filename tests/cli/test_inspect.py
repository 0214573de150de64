"""``flux2-prompt inspect``: the provenance that batch and generate write, against the lockfile.

A scratch project (a ``.git`` folder bounds the lockfile search) with a job over a dataset and
a prompt file: lock it, generate with the emulator, inspect, change a prompt, inspect again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux2prompt.batch import read_manifest, run_batch
from flux2prompt.cli import app
from flux2prompt.transport import read_provenance, strip_provenance

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def mug(i: int):
    return scene(f"a COLOR ceramic mug, pattern {i}").mood("calm")
"""

JOB = """\
name = "mugs"
template = "mugs.py:mug"
model = "klein-4b"
output = "{sku}.{ext}"
seeds = 5

[parameters]
width = 256
height = 256

[variables]
dataset = "rows.jsonl"
"""

POSTER = """\
name = "poster"

[prompt]
scene = "a night market poster"
mood = "lively"
"""


def run(project: Path, *args: str) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(old)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    (root / "mugs.py").write_text(TEMPLATE.replace("COLOR", "teal"), encoding="utf-8")
    (root / "job.toml").write_text(JOB, encoding="utf-8")
    rows = [(1, "A"), (1, "B"), (2, "C")]  # A and B send the same request: B is a copy
    (root / "rows.jsonl").write_text(
        "".join(json.dumps({"i": i, "sku": sku}) + "\n" for i, sku in rows), encoding="utf-8"
    )
    (root / "poster.prompt.toml").write_text(POSTER, encoding="utf-8")
    code, _, stderr = run(root, "lock")
    assert code == 0, stderr
    return root


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_batch_images_carry_their_request_and_inspect_says_they_are_current(
    project: Path,
) -> None:
    out = project / "out"
    report = run_batch(project / "job.toml", out, emulator=True, gallery=False)
    assert (report.generated, report.copied, report.failed) == (2, 1, 0)
    records = {r["file"]: r for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"}
    for name, record in records.items():
        image = out / name
        # The manifest's sha256 is of the bytes written, the record included.
        assert _sha256(image) == record["sha256"]
        provenance = read_provenance(image.read_bytes())
        assert provenance is not None
        assert provenance.request_fingerprint == record["request_fingerprint"]
        assert provenance.job == "mugs"
        assert provenance.seed == 5
        assert provenance.model == "@cf/black-forest-labs/flux-2-klein-4b"
        # The prompt as sent (prose, klein's form), with the fingerprint of the JSON prompt.
        assert provenance.prompt.startswith("A teal ceramic mug, pattern ")
        assert provenance.prompt_fingerprint.startswith("sha256:")
    # Copies of one request are byte-identical, so resume and copying keep working.
    assert (out / "A.jpg").read_bytes() == (out / "B.jpg").read_bytes()
    assert run_batch(project / "job.toml", out, emulator=True, gallery=False).skipped == 3

    code, stdout, stderr = run(project, "inspect", "out/A.jpg", "out/C.jpg")
    assert code == 0, stderr
    fingerprint = read_provenance((out / "A.jpg").read_bytes()).prompt_fingerprint  # type: ignore[union-attr]
    assert f"  prompt    {fingerprint}" in stdout
    assert "lock      current: mugs item 0 (rows.jsonl:1; seed 5)" in stdout
    assert "(and 1 more with the same request)" not in stdout  # the text line names one item
    assert stdout.count("current:") == 2

    code, stdout, _ = run(project, "inspect", "--json", "out/B.jpg")
    assert code == 0
    [data] = json.loads(stdout)
    assert data["status"] == "current"
    assert data["lock"]["copies"] == 1
    assert data["lock"]["file"] == "flux2prompt.lock"
    assert data["provenance"]["prompt_fingerprint"] == fingerprint
    assert data["provenance"]["seed"] == 5

    # The template changes and the lock is rewritten: the old images are no longer current.
    (project / "mugs.py").write_text(TEMPLATE.replace("COLOR", "rust"), encoding="utf-8")
    assert run(project, "lock")[0] == 0
    code, stdout, _ = run(project, "inspect", "out/A.jpg")
    assert code == 1
    assert "lock      changed since: job mugs (job.toml) is locked, but none of its 3" in stdout
    code, stdout, _ = run(project, "inspect", "--json", "out/A.jpg")
    assert json.loads(stdout)[0]["status"] == "changed"


def test_generate_writes_provenance_and_inspect_follows_the_prompt_file(project: Path) -> None:
    code, _, stderr = run(
        project,
        "generate",
        "poster.prompt.toml",
        "--out",
        "poster.png",
        "--emulator",
        "--seed",
        "3",
    )
    assert code == 0, stderr
    record = read_provenance((project / "poster.png").read_bytes())
    assert record is not None
    assert record.source == "poster.prompt.toml"
    assert record.seed == 3
    assert b"emulator-token" not in (project / "poster.png").read_bytes()
    code, stdout, _ = run(project, "inspect", "poster.png")
    # The lock's request has the model's default seed-less parameters: the prompt matches, the
    # request (a seed of 3) does not.
    assert code == 1
    assert "changed since: poster has this prompt but sends another request now" in stdout

    (project / "poster.prompt.toml").write_text(POSTER.replace("lively", "hushed"), "utf-8")
    assert run(project, "lock")[0] == 0
    code, stdout, _ = run(project, "inspect", "poster.png")
    assert code == 1
    assert "changed since: poster has changed since: the lockfile has prompt sha256:" in stdout


def test_no_provenance_bad_files_and_no_lockfile(project: Path, tmp_path: Path) -> None:
    run_batch(project / "job.toml", project / "out", emulator=True, gallery=False)
    image = (project / "out" / "C.jpg").read_bytes()
    (project / "stripped.jpg").write_bytes(strip_provenance(image))
    (project / "cut.jpg").write_bytes(image[: len(image) // 2])
    (project / "text.png").write_bytes(b"hello, not an image")
    (project / "empty.png").write_bytes(b"")
    (project / "folder.png").mkdir()
    code, stdout, stderr = run(
        project,
        "inspect",
        "stripped.jpg",
        "cut.jpg",
        "text.png",
        "missing.webp",
        "out/C.jpg",
        "empty.png",
        "folder.png",
    )
    assert code == 2
    assert "stripped.jpg: no provenance (stripped, or not written by flux2prompt)" in stdout
    assert "current: mugs item 2" in stdout  # the good image is still reported
    errors = stderr.splitlines()
    assert errors[0].startswith("error: cut.jpg: truncated JPEG")
    assert errors[1].startswith("error: text.png: not an image")
    assert errors[2].startswith("error: missing.webp: cannot read")
    assert errors[3] == (
        "error: empty.png: an empty file, not an image: provenance is read and written in PNG, "
        "JPEG and WebP"
    )
    assert errors[4] == "error: folder.png: cannot read: Is a directory"
    code, stdout, _ = run(project, "inspect", "--json", "stripped.jpg", "cut.jpg")
    assert [r["status"] for r in json.loads(stdout)] == ["no_provenance", "error"]

    # Outside any project: the record is shown, with nothing to compare it to.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".git").mkdir(parents=True)
    (elsewhere / "C.jpg").write_bytes(image)
    code, stdout, _ = run(elsewhere, "inspect", "C.jpg")
    assert code == 0
    assert "lock      no lockfile to compare with" in stdout
    # A corrupt lockfile is one clear line and exit 2.
    (elsewhere / "flux2prompt.lock").write_text("{", encoding="utf-8")
    code, _, stderr = run(elsewhere, "inspect", "C.jpg")
    assert code == 2
    assert stderr.startswith("error: ")
    # With --json it is still one document: each image's record, and why it is not compared.
    code, stdout, stderr = run(elsewhere, "inspect", "--json", "C.jpg", "missing.png")
    assert code == 2
    first, second = json.loads(stdout)
    assert first["status"] == "error"
    assert first["provenance"]["job"] == "mugs"
    assert first["error"].startswith("cannot compare with the lockfile: flux2prompt.lock:1: ")
    assert second["status"] == "error"
    assert second["error"].startswith("cannot read")
    assert stderr.startswith("error: flux2prompt.lock:1: ")


def test_inspect_imports_no_http_stack(project: Path) -> None:
    # Reading metadata needs neither httpx nor asyncio nor ssl: inspect starts as fast as lock.
    probe = (
        "import sys\nfrom flux2prompt.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'anyio', 'asyncio', 'ssl', 'flux2prompt.batch')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    (project / "tiny.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = subprocess.run(
        [sys.executable, "-c", probe, "inspect", "tiny.png"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "truncated PNG" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_an_image_that_never_ends_is_refused_not_read(tmp_path: Path) -> None:
    endless = tmp_path / "endless.png"
    endless.symlink_to("/dev/zero")
    code, out, _ = run(tmp_path, "inspect", "--json", str(endless))
    assert code == 2
    (report,) = json.loads(out)
    assert report["status"] == "error"
    assert report["error"] == "cannot read: larger than the 67,108,864 bytes an image may have"
