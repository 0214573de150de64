"""How fast a prompt compiles and validates, beside plain python-jsonschema.

A typical prompt: 3 subjects, a camera, a 3-colour palette and 2 text elements (~0.9 kB of JSON).

    (a) compile + validate    an already-built Prompt through the uncached path,
                              ``flux2prompt._compile.compile_json(prompt, "flux2")``, every call
    (b) build + compile       the whole DSL chain, from ``scene(...)`` to ``.compile()``
    baseline 1                ``json.dumps(doc)`` + ``jsonschema.validate(doc, schema)`` per call
    baseline 2                a cached ``Draft202012Validator(schema).validate`` + ``json.dumps``

Each figure is the median over several repeats of the mean time per call, with garbage
collection on as in real use. Goals on one core: (a) <= 20 us, (b) <= 100 us.

Run: ``.venv/bin/python benchmarks/bench_compile.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jsonschema
import pydantic_core
from referencing import Registry, Resource

import flux2prompt
from flux2prompt import Prompt, camera, scene, subject
from flux2prompt._compile import compile_json

GOAL_COMPILE_US = 20.0
GOAL_BUILD_US = 100.0


def build() -> Prompt:
    """The typical prompt, built through the DSL."""
    return (
        scene("a rooftop night market in Tokyo at dusk, lanterns strung between stalls")
        .subject(
            subject(
                "an elderly vendor in an indigo apron, silver hair tied back",
                type="street food vendor",
                pose="leaning on the counter, smiling",
                position="foreground",
                colors=["#1F3A5F"],
            )
        )
        .subject(
            "paper lanterns with hand-painted kanji",
            type="lanterns",
            pose="hanging in a gentle arc",
            position="midground",
        )
        .subject(
            "glass towers with lit windows",
            type="skyline",
            pose="static",
            position="background",
        )
        .style("cinematic street photography")
        .palette("#FF6B35", "#004E89", "#F7F7F2")
        .lighting("warm lantern glow against a blue-hour sky")
        .mood("bustling and nostalgic")
        .camera(
            camera(angle="eye level", distance="medium shot", lens="35mm", f_number=2.8, iso=400)
        )
        .text("夜市", language="ja", font="brush calligraphy", placement="top left", color="#FFF")
        .text(
            "Night Market",
            language="en",
            font="bold geometric sans",
            size="large headline",
            placement="bottom centre",
            color="#F7F7F2",
        )
        .compile()
    )


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(fn: Callable[[], Any], *, number: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean nanoseconds per call of ``fn`` (``number`` calls)."""
    for _ in range(max(1, number // 10)):  # warm caches and the allocator
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    repeats = 5 if args.quick else 9

    prompt = build()
    document = prompt.to_dict()
    schema = flux2prompt.schema("flux2")
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    cached = jsonschema.Draft202012Validator(schema, registry=registry)
    assert compile_json(prompt, "flux2") == prompt.to_json()

    def compile_validate() -> None:
        compile_json(prompt, "flux2")

    def baseline_per_call() -> None:
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        jsonschema.validate(document, schema)

    def baseline_cached() -> None:
        cached.validate(document)
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    rows = [
        ("(a) compile + validate (built prompt)", compile_validate, 20_000 // scale),
        ("(b) build + compile + validate (DSL)", build, 3_000 // scale),
        ("baseline: json.dumps + jsonschema.validate", baseline_per_call, 30 // scale or 3),
        ("baseline: cached Draft202012Validator + dumps", baseline_cached, 1_000 // scale),
    ]
    results = {label: measure(fn, number=n, repeats=repeats) / 1000 for label, fn, n in rows}
    per_call = results[rows[2][0]]
    cached_us = results[rows[3][0]]

    print(
        f"flux2prompt {flux2prompt.__version__}, Python {platform.python_version()}, "
        f"pydantic-core {pydantic_core.__version__}, jsonschema-rs {_version('jsonschema-rs')}, "
        f"jsonschema {_version('jsonschema')}"
    )
    print(
        f"{_cpu_model()}, {os.cpu_count()} CPUs; {len(prompt.to_bytes())} bytes of wire JSON; "
        f"median of {repeats} repeats"
    )
    print()
    header = f"{'case':48s} {'median us':>10s} {'prompts/s':>11s} {'vs per-call':>12s}"
    print(f"{header} {'vs cached':>10s}")
    print("-" * 95)
    for label, _, _ in rows:
        us = results[label]
        print(
            f"{label:48s} {us:10.1f} {1e6 / us:11,.0f} "
            f"{per_call / us:11.0f}x {cached_us / us:9.1f}x"
        )
    print()
    a, b = results[rows[0][0]], results[rows[1][0]]
    print(f"goal (a) <= {GOAL_COMPILE_US:.0f} us: {'met' if a <= GOAL_COMPILE_US else 'MISSED'}")
    print(f"goal (b) <= {GOAL_BUILD_US:.0f} us: {'met' if b <= GOAL_BUILD_US else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
