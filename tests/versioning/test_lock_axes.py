"""The lockfile covers a job's per-item reference images and random axes: a changed reference
file or a changed choice list changes the locked request fingerprints (``lock --check`` fails)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PIL")

PYPROJECT = """\
[project]
name = "shop"
version = "0"

[tool.flux2prompt]
modules = ["prompts/*.py"]
jobs = ["jobs/*.toml"]
"""

TEMPLATE = """\
from flux2prompt import scene, template


@template
def mug(sku: str, angle: str):
    return scene(f"a ceramic mug {sku} seen from the {angle}")
"""

JOB = """\
template = "../prompts/mugs.py:mug"
model = "klein-4b"
output = "{sku}.{ext}"
seeds = 3
images = ["refs/{sku}.png"]

[variables.zip]
sku = ["M-1", "M-2", "V-7"]

[variables.random]
seed = 11
angle = ["front", "top"]
"""


def png(shade: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, shade, shade)).save(buffer, format="PNG")
    return buffer.getvalue()


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "prompts").mkdir(parents=True)
    (root / "jobs" / "refs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "prompts" / "mugs.py").write_text(TEMPLATE, encoding="utf-8")
    (root / "jobs" / "mugs.toml").write_text(JOB, encoding="utf-8")
    for shade, sku in enumerate(("M-1", "M-2", "V-7")):
        (root / "jobs" / "refs" / f"{sku}.png").write_bytes(png(40 * shade))
    done = cli(root, "lock")
    assert done.returncode == 0, done.stderr
    assert cli(root, "lock", "--check").returncode == 0
    return root


def _requests(root: Path) -> dict[int, str]:
    rows = (root / "flux2prompt.lock.items").read_text(encoding="utf-8").splitlines()
    return {row["index"]: row["request_fingerprint"] for row in map(json.loads, rows)}


def test_the_lock_holds_the_requests_the_batch_sends(shop: Path) -> None:
    from flux2prompt.batch import load_job, plan_items

    job = load_job(shop / "jobs" / "mugs.toml")
    planned = {item.index: item.key for item in plan_items(job)}
    assert len(planned) == 3
    assert _requests(shop) == planned  # references and draws included, as the batch sends them
    angles = [dict(item.variant.variables)["angle"] for item in plan_items(job)]
    assert set(angles) <= {"front", "top"}


def test_a_changed_reference_image_changes_only_its_items_request(shop: Path) -> None:
    before = _requests(shop)
    (shop / "jobs" / "refs" / "M-2.png").write_bytes(png(250))
    done = cli(shop, "lock", "--check")
    assert done.returncode == 1, done.stdout + done.stderr
    changed = [line for line in done.stdout.splitlines() if line.startswith("~")]
    assert len(changed) == 1
    assert changed[0].startswith("~ jobs/mugs.toml [zipped item 1; seed 3]: request ")
    assert cli(shop, "lock").returncode == 0
    after = _requests(shop)
    assert [index for index in before if before[index] != after[index]] == [1]


def test_a_changed_choice_list_changes_the_lock(shop: Path) -> None:
    before = _requests(shop)
    job = shop / "jobs" / "mugs.toml"
    job.write_text(JOB.replace('["front", "top"]', '["left", "right"]'), encoding="utf-8")
    done = cli(shop, "lock", "--check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert cli(shop, "lock").returncode == 0
    after = _requests(shop)
    assert all(before[index] != after[index] for index in before)


def test_a_missing_reference_is_one_line_naming_it(shop: Path) -> None:
    (shop / "jobs" / "refs" / "V-7.png").unlink()
    done = cli(shop, "lock", "--check")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "refs/V-7.png" in done.stderr
