"""``validate`` of a large job: rows are checked one at a time, in the memory of one, and a
dataset that stops being readable part-way is named at the line where it did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str):
    return scene(f"a {product} on seamless paper").mood("calm")
"""

# Runs the installed command's entry point and reports the process's peak memory on stderr.
PEAK = """\
import resource, sys
from flux2prompt.cli import main
try:
    main(sys.argv[1:])
finally:
    print("peak-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _job(folder: Path, rows: list[str]) -> Path:
    folder.mkdir()
    (folder / "shots.py").write_text(TEMPLATE, encoding="utf-8")
    (folder / "rows.jsonl").write_text("".join(line + "\n" for line in rows), encoding="utf-8")
    job = folder / "job.toml"
    job.write_text(
        'name = "shots"\ntemplate = "shots.py:shot"\nmodel = "klein-4b"\n'
        'output = "{product}.{ext}"\n\n[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    return job


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PEAK, "validate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _peak_kib(done: subprocess.CompletedProcess[str]) -> int:
    line = next(line for line in done.stderr.splitlines() if line.startswith("peak-kib "))
    return int(line.split()[1])


def test_ten_times_the_rows_needs_no_more_memory_to_validate(tmp_path: Path) -> None:
    peaks = {}
    for rows in (2_000, 20_000):
        job = _job(
            tmp_path / str(rows), [json.dumps({"product": f"mug no. {i}"}) for i in range(rows)]
        )
        for output in ("text", "github"):
            done = _validate("--format", output, str(job))
            assert done.returncode == 0, done.stderr
            peaks[rows, output] = _peak_kib(done)
        assert f"job.toml: ok ({rows} variants)" in _validate(str(job)).stdout
    # Holding each checked row would take some 30 MB more for the 18,000 more rows.
    for output in ("text", "github"):
        assert peaks[20_000, output] - peaks[2_000, output] < 12_000, peaks


def test_a_dataset_broken_part_way_is_named_at_its_line_and_not_summed_up(
    tmp_path: Path,
) -> None:
    job = _job(
        tmp_path / "job",
        ['{"product": "mug"}', '{"product": "vase"}', '{"product": ', '{"product": "lamp"}'],
    )
    done = _validate(str(job))
    assert done.returncode == 2
    assert "rows.jsonl:3: invalid JSON" in done.stderr
    assert "variants" not in done.stdout
    report = json.loads(_validate("--format", "json", str(job)).stdout)
    assert report["exit_code"] == 2
    assert report["summary"]["unreadable"] == 1
    assert report["summary"]["ok"] == 2  # the rows before the damage were checked
    assert report["summary"]["checked"] == len(report["results"]) == 3
