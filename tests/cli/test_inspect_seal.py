"""``inspect`` says whether an image is byte for byte the one flux2prompt wrote (its seal)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from flux2prompt.transport import (
    ImageResult,
    Provenance,
    build_request,
    stamp_provenance,
    write_provenance,
)


def _jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), (20, 90, 160))
    for x in range(64):
        image.putpixel((x, x % 48), (x * 4, 200, 10))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _inspect(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flux2prompt", "inspect", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
        check=False,
    )


def test_inspect_says_whether_the_seal_is_intact(tmp_path: Path) -> None:
    original = _jpeg()
    request = build_request('{"scene":"a fox"}', model="klein-4b", seed=3)
    stamped = stamp_provenance(ImageResult.from_bytes(original), request).data
    middle = stamped.find(original[len(original) // 2 : len(original) // 2 + 16])
    damaged = stamped[:middle] + bytes([stamped[middle] ^ 0x10]) + stamped[middle + 1 :]
    unsealed = write_provenance(original, Provenance.from_request(request))
    for name, data in (("a.jpg", stamped), ("b.jpg", damaged), ("c.jpg", unsealed)):
        (tmp_path / name).write_bytes(data)
    done = _inspect(tmp_path, "--json", "a.jpg", "b.jpg", "c.jpg")
    assert done.returncode == 0, done.stderr
    seals = {report["image"]: report["seal"] for report in json.loads(done.stdout)}
    assert seals == {"a.jpg": "intact", "b.jpg": "broken", "c.jpg": None}
    text = _inspect(tmp_path, "a.jpg", "b.jpg", "c.jpg").stdout
    assert "seal      intact: the file is byte for byte the one written" in text
    assert "seal      broken: the file was changed after it was written" in text
    assert text.count("seal ") == 2
