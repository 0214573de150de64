"""Batch benchmarks: expansion speed and memory, and the runner's throughput against the emulator.

    .venv/bin/python benchmarks/bench_batch.py            # all four
    .venv/bin/python benchmarks/bench_batch.py expand     # or: plan, rate, latency
    .venv/bin/python benchmarks/bench_batch.py plan-stages plan-opcodes   # how planning spends

(a) ``expand``: 100,000 variants of a realistic template (a builder with a subject, palette,
    camera and a text element) through ``expand()``, seeds derived per item: prompts/s and the
    peak memory traced by tracemalloc, measured in a second pass.
(d) ``plan``: a 100,000-item dry run (plan, name, survey, price) against the bare expansion of
    the same items (template, build, compile), side by side in four alternating rounds (best,
    median and worst ratio, and what the dry run takes per item beyond the bare expansion, in
    µs); then the dry run's peak memory traced by tracemalloc. Targets: a median of at most
    1.3x, at most 40 MiB.
    ``plan-stages``: what the dry run takes per item beyond the bare expansion when it plans a
    stage of variants at a time (``STAGE_SIZE``) and one at a time, and what the bare expansion
    itself gains when staged the same way, in alternating runs of 2,520 items (the median of
    24). ``plan-opcodes``: the bytecode instructions a dry run
    executes per item in each function of the planner (exact, from ``sys.settrace``).
(b) ``rate``: 300 items against the emulator in a separate process limited to 600 requests/min;
    the job's rate limit is the same 600/min. The emulator's bucket holds 10 tokens (its default
    burst, limit/60), the runner's 1 (it spaces requests evenly), so the runner never asks
    faster than the bucket refills. Target: at least 95% of the limit, zero failures.
(c) ``latency``: 300 items, 200 ms emulator latency, concurrency 16, no rate limit to speak
    of: the ideal is 16 / 0.2 s = 80 images/s. Target: at least 90% of it.

Throughput is items divided by the time from the first request to the last record written
(planning and the gallery excluded).
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
import types
from pathlib import Path

from flux2prompt import scene, subject
from flux2prompt.batch import BatchJob, BatchRunner, Matrix, Variant, expand, matrix, template
from flux2prompt.emulator import EmulatorConfig, spawn


@template
def product(product: str, color: str, language: str, n: int):
    tagline = {"en": "Made to last", "ja": "長く使える", "de": "Gebaut für lange"}[language]
    return (
        scene(f"a studio product photograph of a {product}, variant {n}")
        .subject(
            subject(
                f"a {color} {product} with a brushed steel detail",
                type=product,
                position="foreground",
            )
        )
        .style("photorealistic commercial product photography")
        .palette("#1A1A1A", "#F4F1EA", "#C8A27A")
        .lighting("large softbox from the upper left")
        .camera(angle="eye level", lens="85mm", f_number=5.6)
        .text(tagline, language=language, placement="top centre", color="#1A1A1A")
    )


def _source(n_variants: int) -> Matrix:
    products = ["mug", "bottle", "lamp", "vase", "chair"]
    colors = ["teal", "coral", "graphite", "sand", "ivory", "olive", "navy", "rust"]
    languages = ["en", "ja", "de"]
    per = len(products) * len(colors) * len(languages)
    return matrix(
        product=products, color=colors, language=languages, n=range(-(-n_variants // per))
    )


def bench_expand(count: int = 100_000) -> None:
    source = _source(count)
    start = time.perf_counter()
    produced = sum(1 for _ in itertools.islice(expand(product, source, seeds={"derive": 1}), count))
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    for _ in itertools.islice(expand(product, source, seeds={"derive": 1}), count):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"(a) expand: {produced:,} variants in {elapsed:.2f} s = {produced / elapsed:,.0f} "
        f"prompts/s; peak traced memory {peak / 1024:.0f} KiB"
    )


def _plan_job(count: int) -> BatchJob:
    return BatchJob(
        name="plan",
        template=product,
        source=_source(count),
        output="{product}-{color}-{language}-{n}.{ext}",
        model="klein-4b",
        parameters={"width": 512, "height": 512},
        seeds={"derive": 1},
    )


def _bare(count: int) -> int:
    """The bare expansion: template, build and compile of every item, nothing else."""
    done = 0
    for variant in expand(product, _source(count), seeds={"derive": 1}):
        variant.prompt.to_json()
        _ = variant.prompt.fingerprint
        done += 1
    return done


def _dry(count: int, out: Path) -> int:
    return BatchRunner(_plan_job(count), out).dry_run().total


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover - not Linux


def bench_plan(count: int = 100_000, rounds: int = 4) -> bool:
    """(d) planning: a dry run of ``count`` items against the bare expansion of the same items,
    in alternating order, each ratio within a round; then the dry run's peak memory above the
    interpreter's baseline, traced (tracemalloc) in a pass of its own."""
    ratios: list[float] = []
    overheads: list[float] = []  # µs per item beyond the bare expansion
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        _dry(200, out)  # imports and caches warm
        _bare(200)
        for round_ in range(rounds):
            times: dict[str, float] = {}
            order = ("bare", "dry") if round_ % 2 == 0 else ("dry", "bare")
            for which in order:
                start = time.perf_counter()
                total = _bare(count) if which == "bare" else _dry(count, out)
                times[which] = time.perf_counter() - start
                times[f"{which} items"] = total
            assert times["bare items"] == times["dry items"]
            ratios.append(times["dry"] / times["bare"])
            overheads.append((times["dry"] - times["bare"]) / times["dry items"] * 1e6)
            print(
                f"(d) round {round_ + 1}: bare expansion {times['bare']:.2f} s, dry run "
                f"{times['dry']:.2f} s = {ratios[-1]:.2f}x, {overheads[-1]:+.1f} µs per item"
            )
        rss_before = _rss_kib()
        tracemalloc.start()
        _dry(count, out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = _rss_kib()
    mib = peak / 2**20
    ordered = sorted(ratios)
    median = statistics.median(ratios)
    # The median round decides: on a shared machine one round can be slowed by another load.
    ok = median <= 1.3 and mib <= 40
    rss = (rss_after - rss_before) / 1024
    print(
        f"(d) dry run of {count:,} items: best {ordered[0]:.2f}x, median {median:.2f}x, worst "
        f"{ordered[-1]:.2f}x the bare expansion (target <= 1.3x), median "
        f"{statistics.median(overheads):+.1f} µs per item beyond it; peak traced {mib:.1f} MiB "
        f"above the baseline = {peak / count:.0f} bytes per item (target <= 40 MiB); "
        f"RSS grew {rss:.1f} MiB -> {'PASS' if ok else 'FAIL'}"
    )
    return ok


def bench_plan_stages(count: int = 2_520, rounds: int = 24) -> None:
    """(d) the dry run's time per item beyond the bare expansion, planning a stage of
    variants at a time and one at a time (the median of alternating runs)."""
    from flux2prompt._versioning import _requests

    stage = _requests.STAGE_SIZE
    sizes = {f"planning a stage of {stage}": stage, "planning one at a time": 1, "staged bare": 0}
    beyond: dict[str, list[float]] = {name: [] for name in sizes}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        _dry(200, out)
        try:
            for round_ in range(rounds):
                start = time.perf_counter()
                _bare(count)
                bare = time.perf_counter() - start
                for name in sizes if round_ % 2 else reversed(sizes):
                    _requests.STAGE_SIZE = sizes[name] or stage
                    start = time.perf_counter()
                    total = _dry(count, out) if sizes[name] else _staged_bare(count, stage)
                    beyond[name].append((time.perf_counter() - start - bare) / total * 1e6)
        finally:
            _requests.STAGE_SIZE = stage
    for name, values in beyond.items():
        quartiles = statistics.quantiles(values, n=4)
        what = (
            f"(d) {name}: {statistics.median(values):+.1f} µs per item beyond the bare expansion"
            if sizes[name]
            else f"(d) the bare expansion itself a stage of {stage} at a time: "
            f"{statistics.median(values):+.1f} µs per item against the plain one"
        )
        print(
            f"{what} (quartiles {quartiles[0]:+.1f} to {quartiles[2]:+.1f}, {rounds} runs of "
            f"{count:,} items)"
        )


def _staged_bare(count: int, size: int) -> int:
    """:func:`_bare`, the variants expanded ``size`` at a time before they are compiled."""
    from flux2prompt._versioning._requests import staged

    def compiled(variant: Variant) -> None:
        variant.prompt.to_json()
        _ = variant.prompt.fingerprint

    source = expand(product, _source(count), seeds={"derive": 1})
    return sum(1 for _ in staged(source, compiled, size))


def bench_plan_opcodes(count: int = 600) -> None:
    """(d) bytecode instructions per item of a dry run, by function of the planner."""
    counted: collections.Counter[str] = collections.Counter()
    ours = ("/batch/", "/transport/", "/_versioning/")

    def trace(frame: types.FrameType, event: str, arg: object) -> object:
        path = frame.f_code.co_filename
        if not any(part in path for part in ours):
            return None
        frame.f_trace_opcodes = True
        where = f"{path.rpartition('/flux2prompt/')[2]}:{frame.f_code.co_qualname}"

        def count(frame: types.FrameType, event: str, arg: object) -> object:
            if event == "opcode":
                counted[where] += 1
            return count

        return count

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        _dry(200, out)
        sys.settrace(trace)
        try:
            total = _dry(count, out)
        finally:
            sys.settrace(None)
    print(f"(d) bytecode instructions per item of the planner: {sum(counted.values()) / total:.0f}")
    for where, number in counted.most_common():
        if number / total >= 1:
            print(f"    {number / total:6.0f}  {where}")


def _job(items: int, rate_limit: int, concurrency: int) -> BatchJob:
    @template
    def tile(i: int):
        return scene(f"benchmark tile {i}").mood("calm")

    return BatchJob(
        name="bench",
        template=tile,
        source=matrix(i=range(items)),
        output="tile-{i}.{ext}",
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=1,
        concurrency=concurrency,
        rate_limit=rate_limit,
    )


def _run(job: BatchJob, config: EmulatorConfig) -> tuple[float, int, int]:
    with spawn(config) as base_url, tempfile.TemporaryDirectory() as out:
        runner = BatchRunner(
            job,
            Path(out),
            base_url=base_url,
            account_id="bench",
            api_token="bench-token",
            gallery=False,
        )
        report = asyncio.run(runner.run())
    return report.rate, report.failed, report.rate_limited


def bench_rate(items: int = 300, limit: int = 600) -> bool:
    rate, failed, limited = _run(
        _job(items, rate_limit=limit, concurrency=16),
        EmulatorConfig(rate_limit_per_minute=limit, latency_ms=20),
    )
    share = rate / (limit / 60)
    ok = share >= 0.95 and failed == 0
    print(
        f"(b) rate limit {limit}/min: {rate:.2f} images/s = {share:.1%} of the limit, "
        f"{failed} failed, {limited} x HTTP 429 -> {'PASS' if ok else 'FAIL'} (target >= 95%)"
    )
    return ok


def bench_latency(items: int = 300, latency_ms: float = 200, concurrency: int = 16) -> bool:
    rate, failed, _ = _run(
        _job(items, rate_limit=60_000, concurrency=concurrency),
        EmulatorConfig(latency_ms=latency_ms),
    )
    ideal = concurrency / (latency_ms / 1000)
    share = rate / ideal
    ok = share >= 0.90 and failed == 0
    print(
        f"(c) {latency_ms:.0f} ms latency, concurrency {concurrency}: {rate:.1f} images/s = "
        f"{share:.1%} of the ideal {ideal:.0f}/s, {failed} failed -> "
        f"{'PASS' if ok else 'FAIL'} (target >= 90%)"
    )
    return ok


def main(argv: list[str]) -> int:
    which = set(argv) or {"expand", "plan", "rate", "latency"}
    sniffio = "present" if importlib.util.find_spec("sniffio") else "absent"
    print(
        f"python {platform.python_version()}, sniffio {sniffio}, {os.cpu_count()} cores, "
        f"{platform.machine()}"
    )
    results = []
    if "expand" in which:
        bench_expand()
    if "plan" in which:
        results.append(bench_plan())
    if "plan-stages" in which:
        bench_plan_stages()
    if "plan-opcodes" in which:
        bench_plan_opcodes()
    if "rate" in which:
        results.append(bench_rate())
    if "latency" in which:
        results.append(bench_latency())
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
