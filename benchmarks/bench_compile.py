"""How fast a prompt compiles and validates, against the floor of doing the same by hand.

A typical prompt: 3 subjects, a camera, a 3-colour palette and 2 text elements (~1 kB of JSON).

    floor                     what any library must at least do with the same document as a plain
                              dict: a compiled ``jsonschema_rs`` validator's ``is_valid`` (built
                              once) plus ``pydantic_core.to_json``
    (a) compile + validate    an already-built Prompt through the uncached path,
                              ``flux2prompt._compile.compile_json(prompt, "flux2")``, every call:
                              the builder wrote the prompt's document from its parts', so this
                              validates that document under the profile and writes it
    (a0) first compile        the same for a prompt just loaded from a dict, never compiled
                              before (each call takes a fresh one): pydantic-core converts the
                              model to its document first, and no cache can help it
    (b) build + compile       the whole DSL chain, from ``scene(...)`` to ``.compile()``
    baseline 1                ``json.dumps(doc)`` + ``jsonschema.validate(doc, schema)`` per call
    baseline 2                a cached ``Draft202012Validator(schema).validate`` + ``json.dumps``

The floor, (a), (a0) and (b) are measured interleaved: each round times a batch of each, in an
order that rotates from round to round, so a neighbour's load on a shared machine falls on all
four alike; the ratios are taken within each round, then the median over the rounds is reported,
beside the best ratio (each case's fastest round against the floor's fastest: load from
neighbours can only slow a round down).
Garbage collection stays on, as in real use. Goals: (a) <= 1.5x the floor, (b) <= 6x the floor.

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
import jsonschema_rs
import pydantic_core
from referencing import Registry, Resource

import flux2prompt
from flux2prompt import Prompt, camera, load, scene, subject
from flux2prompt._compile import compile_json

GOAL_COMPILE_RATIO = 1.5
GOAL_BUILD_RATIO = 6.0


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


def _batch_ns(fn: Callable[[], Any], number: int) -> float:
    """Mean nanoseconds per call of ``fn`` over ``number`` calls."""
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number


def measure(fn: Callable[[], Any], *, number: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean nanoseconds per call of ``fn`` (``number`` calls)."""
    for _ in range(max(1, number // 10)):  # warm caches and the allocator
        fn()
    return statistics.median(_batch_ns(fn, number) for _ in range(repeats))


def interleaved(
    cases: list[tuple[str, Callable[[], Any], int]], *, rounds: int
) -> dict[str, list[float]]:
    """Nanoseconds per call of each case in each round, the cases' order rotating by round."""
    for _, fn, number in cases:  # warm caches and the allocator
        for _ in range(max(1, number // 10)):
            fn()
    samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for index in range(rounds):
        shift = index % len(cases)
        for label, fn, number in cases[shift:] + cases[:shift]:
            samples[label].append(_batch_ns(fn, number))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    rounds = 6 if args.quick else 30
    repeats = 5 if args.quick else 9

    prompt = build()
    document = prompt.to_dict()
    schema = flux2prompt.schema("flux2")
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    cached = jsonschema.Draft202012Validator(schema, registry=registry)
    compiled = jsonschema_rs.validator_for(schema)
    assert compile_json(prompt, "flux2") == prompt.to_json()
    assert compiled.is_valid(document)
    assert pydantic_core.to_json(document).decode() == prompt.to_json()

    def floor() -> None:
        compiled.is_valid(document)
        pydantic_core.to_json(document)

    def compile_validate() -> None:
        compile_json(prompt, "flux2")

    # (a) compiles one prompt again and again; (a0) shows that nothing it keeps helps: each call
    # takes the next of enough freshly loaded prompts for the warm-up and every round.
    first_number = 200 // scale
    fresh = iter([load(document) for _ in range(first_number * (rounds + 1))])

    def first_compile() -> None:
        compile_json(next(fresh), "flux2")

    def baseline_per_call() -> None:
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        jsonschema.validate(document, schema)

    def baseline_cached() -> None:
        cached.validate(document)
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    floor_label = "floor: jsonschema_rs is_valid + to_json"
    compile_label = "(a) compile + validate (built prompt)"
    first_label = "(a0) first compile + validate (loaded prompt)"
    build_label = "(b) build + compile + validate (DSL)"
    samples = interleaved(
        [
            (floor_label, floor, 4_000 // scale),
            (compile_label, compile_validate, 2_000 // scale),
            (first_label, first_compile, first_number),
            (build_label, build, 300 // scale),
        ],
        rounds=rounds,
    )
    results = {label: statistics.median(times) / 1000 for label, times in samples.items()}
    ratios = {
        label: statistics.median(
            t / f for t, f in zip(samples[label], samples[floor_label], strict=True)
        )
        for label in (compile_label, first_label, build_label)
    }
    per_call_label = "baseline: json.dumps + jsonschema.validate"
    cached_label = "baseline: cached Draft202012Validator + dumps"
    results[per_call_label] = (
        measure(baseline_per_call, number=30 // scale or 3, repeats=repeats) / 1000
    )
    results[cached_label] = measure(baseline_cached, number=1_000 // scale, repeats=repeats) / 1000
    floor_us = results[floor_label]
    best = {
        label: min(samples[label]) / min(samples[floor_label])
        for label in (compile_label, first_label, build_label)
    }

    print(
        f"flux2prompt {flux2prompt.__version__}, Python {platform.python_version()}, "
        f"pydantic-core {pydantic_core.__version__}, jsonschema-rs {_version('jsonschema-rs')}, "
        f"jsonschema {_version('jsonschema')}"
    )
    print(
        f"{_cpu_model()}, {os.cpu_count()} CPUs; {len(prompt.to_bytes())} bytes of wire JSON; "
        f"floor, (a), (a0) and (b) interleaved over {rounds} rounds, baselines median of {repeats}"
    )
    print()
    print(f"{'case':48s} {'median us':>10s} {'prompts/s':>11s} {'vs floor':>9s} {'best':>8s}")
    print("-" * 90)
    for label, us in results.items():
        ratio = ratios.get(label, us / floor_us)
        shown = f"{best[label]:7.2f}x" if label in best else ""
        print(f"{label:48s} {us:10.1f} {1e6 / us:11,.0f} {ratio:8.2f}x {shown:>8s}")
    print()
    for name, label, goal in (
        ("(a)", compile_label, GOAL_COMPILE_RATIO),
        ("(b)", build_label, GOAL_BUILD_RATIO),
    ):
        ratio = ratios[label]
        print(
            f"goal {name} <= {goal:g}x the floor: {ratio:.2f}x (best {best[label]:.2f}x), "
            f"{'met' if ratio <= goal else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
