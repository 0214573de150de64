"""The gallery: escaped text, relative paths, offline, and every image loads in a real browser."""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flux2prompt import scene
from flux2prompt.batch import BatchJob, matrix, read_manifest, run_batch, template, write_gallery

HOSTILE = "<script>alert(\"x\")</script> & 'quotes'"


@template
def label(name: str, note: str = ""):
    return scene(f"a label that reads {name} {note}").mood("plain")


def generate(out: Path, **options: Any) -> Path:
    job = BatchJob(
        name=options.pop("name", "labels"),
        template=label,
        source=options.pop("source", matrix(name=["one", "two", "three"])),
        output=options.pop("output", "{name}.{ext}"),
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=1,
        **options,
    )
    report = run_batch(job, out, emulator=True)
    assert report.ok
    assert report.gallery is not None
    return report.gallery


def test_gallery_escapes_everything_and_uses_relative_paths(tmp_path: Path) -> None:
    page = generate(
        tmp_path,
        name=HOSTILE,
        source=matrix(name=["東京 #1", "a&b"], note=[HOSTILE]),
        output="{name}/{note}.{ext}",
    )
    text = page.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert html.escape(HOSTILE, quote=True) in text
    sources = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert sources, "no image links"
    for source in sources:
        assert not source.startswith(("/", "http:", "https:", "file:")), source
        assert "://" not in source
    assert "東京-1/" in text or "%E6%9D%B1%E4%BA%AC-1/" in text
    records = read_manifest(tmp_path / "manifest.jsonl")
    for record in records:
        assert html.escape(record["request_fingerprint"][:23]) in text
        assert f"<dd>{record['seed']}</dd>" in text
    assert '"scene": "a label that reads' in html.unescape(text)  # the pretty prompt


def test_thumbnails_are_made_once_and_reused(tmp_path: Path) -> None:
    generate(tmp_path)
    thumbnails = sorted((tmp_path / "thumbnails").iterdir())
    assert len(thumbnails) == 3
    stamps = [p.stat().st_mtime_ns for p in thumbnails]
    write_gallery(tmp_path, read_manifest(tmp_path / "manifest.jsonl"))
    assert [p.stat().st_mtime_ns for p in thumbnails] == stamps


def test_records_without_a_safe_file_get_no_card(tmp_path: Path) -> None:
    records = [
        {"request_fingerprint": "sha256:1", "status": "ok", "file": "../outside.jpg"},
        {"request_fingerprint": "sha256:2", "status": "ok", "file": "missing.jpg"},
        {"request_fingerprint": "sha256:3", "status": "failed", "error": {"message": "<b>"}},
    ]
    text = write_gallery(tmp_path, records, title="t").read_text(encoding="utf-8")
    assert "<article" not in text
    assert "&lt;b&gt;" in text
    assert "1 failed" in text


CHECK_SCRIPT = """
<script>
addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const out = document.createElement("pre");
  out.id = "flux2prompt-check";
  out.textContent = `images=${images.length} loaded=${loaded}`;
  document.body.append(out);
});
</script>
"""


@pytest.mark.browser
def test_every_image_loads_in_headless_chromium(
    tmp_path: Path, headless_chromium: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    out = tmp_path / "out"
    page = generate(out, source=matrix(name=["one", "two", "three", "four"], note=["a", "b"]))
    # The gallery has no script of its own: a copy next to it gets one that counts the images.
    check = out / "check.html"
    check.write_text(
        page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
        encoding="utf-8",
    )
    result = headless_chromium("--dump-dom", check.as_uri())
    match = re.search(r"images=(\d+) loaded=(\d+)", result.stdout)
    assert match is not None, result.stderr[-2000:]
    images, loaded = int(match.group(1)), int(match.group(2))
    assert images == 8
    assert loaded == images


def test_the_demo_batch_makes_a_gallery(tmp_path: Path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "batch" / "run_demo.py"
    spec = importlib.util.spec_from_file_location("flux2prompt_examples_batch_demo", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.run_demo_batch(tmp_path / "bottles")
    assert page == tmp_path / "bottles" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("<article") == 8
    assert "いつも明るく" in text  # the Japanese tagline, in the pretty prompt
    assert module.run_demo_batch(tmp_path / "bottles") == page  # a rerun only redraws it


def test_a_failure_whose_answer_was_kept_links_to_its_bytes_and_only_inside_the_folder(
    tmp_path: Path,
) -> None:
    kept = {
        "request_fingerprint": "sha256:1",
        "index": 0,
        "status": "failed",
        "error": {"message": "the image is GIF, not JPEG, PNG or WebP (43 bytes)"},
        "kept": "unreadable/mug teal.0123456789ab.bin",
    }
    outside = {**kept, "request_fingerprint": "sha256:2", "index": 1, "kept": "../../etc/passwd"}
    hostile = {**kept, "request_fingerprint": "sha256:3", "index": 2, "kept": "javascript:x"}
    for relative in (kept["kept"], hostile["kept"]):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"GIF89a")
    gone = {**kept, "request_fingerprint": "sha256:4", "index": 3, "kept": "unreadable/gone.bin"}
    records = [kept, outside, hostile, gone]
    page = write_gallery(tmp_path, records).read_text(encoding="utf-8")
    assert page.count("the answer's bytes</a>") == 2  # none outside, none to a missing file
    assert 'href="unreadable/mug%20teal.0123456789ab.bin"' in page
    assert 'etc/passwd"' not in page
    assert 'href="javascript%3Ax"' in page  # a relative path, its colon escaped: never a scheme
