"""Benchmark of the command line's start-up: whole processes, against a floor in the same run.

Each sample starts a new interpreter, as a user's shell does:

- floor:    ``python -c "import pydantic, jsonschema_rs; from pydantic import BaseModel"``, the
            least any validating command must import;
- validate: ``flux2-prompt validate FILE.json`` (a plain prompt document);
- compile:  ``flux2-prompt compile examples/product_shot.py:prompt`` (a Python SOURCE).

The three are interleaved (floor, validate, compile, floor, ...) so that a slow moment of this
shared machine hits all of them alike, and the figure is the ratio of medians. Before timing, the
package is byte-compiled (``compileall``) and one warm-up round runs, as an installed wheel would
have it: the first run of a fresh checkout otherwise pays for writing ``__pycache__``.
Goal: each command at most 2x the floor.

Run: .venv/bin/python benchmarks/bench_cli.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import flux2prompt

ROOT = Path(__file__).resolve().parents[1]
GOAL = 2.0


def _command(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", "flux2prompt.cli"]


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()

    package = Path(flux2prompt.__file__).parent
    compileall.compile_dir(str(package), quiet=1)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cli = _command("flux2-prompt")
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "prompt.json"
        document.write_text('{"scene": "a red fox in fresh snow", "mood": "calm"}\n', "utf-8")
        cases = {
            "floor": [
                sys.executable,
                "-c",
                "import pydantic, jsonschema_rs; from pydantic import BaseModel",
            ],
            "validate FILE.json": [*cli, "validate", str(document)],
            "compile product_shot.py:prompt": [
                *cli,
                "compile",
                str(ROOT / "examples" / "product_shot.py") + ":prompt",
            ],
        }
        for argv in cases.values():  # warm-up: caches of the OS and of Python's bytecode
            _time(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, argv in cases.items():
                samples[name].append(_time(argv, env))

    print(f"python {platform.python_version()} on {platform.machine()}, {args.rounds} rounds")
    # The median is the figure; the fastest run, which load from neighbours can only slow down,
    # is printed beside it to show how much of a median is the machine's noise.
    floor = statistics.median(samples["floor"])
    fastest_floor = min(samples["floor"])
    print(f"{'case':34} {'median':>9} {'vs floor':>9} {'fastest':>9} {'vs floor':>9}  goal")
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / floor
        goal = "" if name == "floor" else f"<= {GOAL:.1f}x {'ok' if ratio <= GOAL else 'MISSED'}"
        print(
            f"{name:34} {median * 1000:7.1f}ms {ratio:8.2f}x "
            f"{min(values) * 1000:7.1f}ms {min(values) / fastest_floor:8.2f}x  {goal}"
        )


if __name__ == "__main__":
    main()
