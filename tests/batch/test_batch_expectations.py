"""What a user expects of a batch, driven from outside: names that say what the image is, a
manifest whose last whole record counts, a dry run whose exit code says what a run would do,
reference images found before anything is paid, and job settings checked as the run checks
them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from flux2prompt.batch import effective_records, read_manifest
from flux2prompt.emulator import Emulator, serve

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene(f"a {color} {product} on seamless paper")
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def write_job(folder: Path, *lines: str, variables: str, template: str = TEMPLATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shots.py").write_text(template, encoding="utf-8")
    text = [
        'name = "shots"',
        'template = "shots.py:shot"',
        'model = "klein-4b"',
        "seeds = 5",
        "rate_limit = 60000",
        "retries = 0",
        *lines,
        "",
        "[parameters]",
        "width = 256",
        "height = 256",
        "",
        variables,
        "",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def matrix(**axes: list[str]) -> str:
    return "[variables.matrix]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in axes.items())


DATASET = '[variables]\ndataset = "rows.csv"'


def batch(
    run_cli: Run, job: Path, out: Path, emu: Emulator, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc",
        "--base-url", emu.base_url, *extra,
    )  # fmt: skip


# -- a manifest's last record without its newline ------------------------------------------------


def test_a_last_record_without_its_newline_is_not_bought_again(
    tmp_path: Path, run_cli: Run
) -> None:
    job = write_job(
        tmp_path / "job", 'output = "{product}-{color}.{ext}"', variables=matrix(
            product=["mug", "vase"], color=["teal", "rust"])
    )  # fmt: skip
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    with serve() as emu:
        first = batch(run_cli, job, out, emu)
        assert first.returncode == 0, first.stdout + first.stderr
        assert posts(emu) == 4
        # The newline of the last record never reached the disk.
        manifest.write_bytes(manifest.read_bytes().removesuffix(b"\n"))
        again = batch(run_cli, job, out, emu)
        assert again.returncode == 0, again.stdout + again.stderr
        assert posts(emu) == 4, "the last image, recorded whole, was bought again"
        assert "0 generated, 4 already done" in again.stdout
        # A batch that grows appends its records each on a line of its own.
        bigger = write_job(
            tmp_path / "job", 'output = "{product}-{color}.{ext}"', variables=matrix(
                product=["mug", "vase"], color=["teal", "rust", "sand"])
        )  # fmt: skip
        manifest.write_bytes(manifest.read_bytes().removesuffix(b"\n"))
        grown = batch(run_cli, bigger, out, emu)
        assert grown.returncode == 0, grown.stdout + grown.stderr
        assert posts(emu) == 6
    lines = manifest.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert all(json.loads(line) for line in lines[:-1])
    view = effective_records(read_manifest(manifest))
    assert len(view) == 6
