"""Benchmark of ``flux2-prompt lock --check`` over a large inventory, as CI runs it.

The project, built in a temporary folder: 1,000 prompt files (``prompts/p0000.prompt.toml``
...), a Python module with a ``@template`` and a job file expanding it over a 10,000-row CSV
(10,000 items, seeds derived per row). ``lock`` writes the lockfile once; then each round runs
``flux2-prompt lock --check`` as a whole process (start-up, discovery, loading, expanding,
building every request and comparing), and, as a second figure, a check with one CSV cell
changed (which exits 1 and names that variant; no git here, so fields are named by hash).

Run: .venv/bin/python benchmarks/bench_lock.py [--rounds 5] [--prompts 1000] [--items 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = """\
from flux2prompt import scene, template


@template
def banner(sku: str, color: str, title: str):
    return (
        scene(f"a water bottle on a desk, product {sku}")
        .mood("bright")
        .palette(color, "#FFFFFF")
        .text(title, language="en")
    )
"""

JOB = """\
template = "../prompts/banner.py:banner"
model = "klein-4b"
output = "{sku}.{ext}"
seeds = { derive = 7 }

[variables]
dataset = "products.csv"
"""


def build(root: Path, prompts: int, items: int) -> None:
    (root / "prompts").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / ".git").mkdir()  # the project's root, as in a repository
    for n in range(prompts):
        (root / "prompts" / f"p{n:04d}.prompt.toml").write_text(
            f'name = "p{n:04d}"\nmodel = "klein-4b"\n[parameters]\nseed = {n}\n'
            f'[prompt]\nscene = "a lighthouse number {n} at dusk"\ncolor_palette = ["#1A2B3C"]\n',
            encoding="utf-8",
        )
    (root / "prompts" / "banner.py").write_text(TEMPLATE, encoding="utf-8")
    rows = ["sku,color,title"]
    rows += [
        f"SKU-{i},#{i % 256:02X}{i * 7 % 256:02X}{i * 13 % 256:02X},Title {i}" for i in range(items)
    ]
    (root / "jobs" / "products.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "jobs" / "banners.toml").write_text(JOB, encoding="utf-8")


def _run(command: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("flux2-prompt")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "flux2prompt.cli"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        build(root, args.prompts, args.items)
        seconds, code = _run([*command, "lock"], root)
        assert code == 0, "lock failed"
        print(f"lock (write): {seconds:.2f} s")
        checks = []
        for _ in range(args.rounds):
            seconds, code = _run([*command, "lock", "--check"], root)
            assert code == 0, "lock --check failed on an unchanged project"
            checks.append(seconds)
        csv = root / "jobs" / "products.csv"
        csv.write_text(csv.read_text().replace("Title 5000\n", "Title 5000 (new)\n"))
        changed, code = _run([*command, "lock", "--check"], root)
        assert code == 1, "a changed cell must fail the check"
    print(
        f"lock --check, {args.prompts} prompt files + a {args.items}-item job: "
        f"median {statistics.median(checks):.2f} s, min {min(checks):.2f} s "
        f"over {args.rounds} rounds; one changed cell: {changed:.2f} s (exit 1)"
    )
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
