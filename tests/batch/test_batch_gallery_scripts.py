"""The gallery, screenshotted in headless Chromium, shows Japanese, Arabic and Hindi placeholder
text as real glyphs: the same batch drawn without a covering font (boxes) looks different, and
only inside the thumbnail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from flux2prompt import scene
from flux2prompt.batch import BatchJob, matrix, run_batch, template
from flux2prompt.emulator import _render

SAMPLES = ("東京へようこそ", "مرحبا بالعالم", "नमस्ते दुनिया")
NOTO = all((_render.face_for(t) or Path("")).name.startswith("Noto") for t in SAMPLES)
_CACHES = (
    _render._font_files,
    _render.face_for,
    _render._overlay,
    _render._render_cached,
    _render._base64_cached,
)


@template
def poster(word: str):
    builder = scene(f"a poster for {word}").palette("#234", "#567")
    for tag, content in zip(("ja", "ar", "hi"), SAMPLES, strict=True):
        builder = builder.text(content, language=tag)
    return builder


def gallery(out: Path) -> Path:
    job = BatchJob(
        name="scripts",
        template=poster,
        source=matrix(word=["tea"]),
        output="{word}.{ext}",
        model="klein-4b",
        parameters={"width": 320, "height": 320},
        seeds=1,
    )
    report = run_batch(job, out, emulator=True)
    assert report.ok
    assert report.gallery is not None
    return report.gallery


def screenshot(
    page: Path, chromium: Callable[..., subprocess.CompletedProcess[str]]
) -> Image.Image:
    target = page.with_name("screenshot.png")
    result = chromium(
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=700,700",
        f"--screenshot={target}",
        page.as_uri(),
    )
    assert target.is_file(), result.stderr[-2000:]
    return Image.open(target).convert("RGB")


@pytest.mark.browser
@pytest.mark.skipif(
    not NOTO,
    reason="Noto fonts are not installed (apt-get install fonts-noto-core fonts-noto-cjk; "
    ".ci/run installs them in CI)",
)
def test_the_gallery_screenshot_shows_the_scripts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    headless_chromium: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    real = screenshot(gallery(tmp_path / "real"), headless_chromium)
    # The same batch, drawn by an emulator that finds no font but Pillow's own.
    monkeypatch.setattr(_render, "_SYSTEM_FONT_DIRS", ())
    monkeypatch.setenv("FLUX2PROMPT_FONT_DIRS", str(tmp_path / "no-fonts"))
    for cached in _CACHES:
        cached.cache_clear()
    try:
        boxes = screenshot(gallery(tmp_path / "boxes"), headless_chromium)
    finally:
        for cached in _CACHES:
            cached.cache_clear()
    shutil.copy(tmp_path / "real" / "screenshot.png", tmp_path / "gallery-scripts.png")
    assert real.size == boxes.size == (700, 700)
    changed = ImageChops.difference(real, boxes).getbbox()
    assert changed is not None, "the placeholders look the same with and without Noto"
    # Everything else on the page (names, variables, fingerprints) is the same: the change is
    # confined to the thumbnail, a 320 px square under the header.
    left, top, right, bottom = changed
    assert top > 40
    assert right - left <= 330
    assert bottom - top <= 330
    # Where the three texts are drawn (the lower middle of the thumbnail), the two differ.
    middle = (left, top + (bottom - top) // 2, right, bottom - (bottom - top) // 8)
    assert ImageChops.difference(real.crop(middle), boxes.crop(middle)).getbbox() is not None
    assert len(real.crop(middle).getcolors(1 << 20) or ()) > 20  # anti-aliased, not flat
