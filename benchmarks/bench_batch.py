"""Batch benchmarks: expansion speed and memory, and the runner's throughput against the emulator.

    .venv/bin/python benchmarks/bench_batch.py            # all three
    .venv/bin/python benchmarks/bench_batch.py expand     # or: rate, latency

(a) ``expand``: 100,000 variants of a realistic template (a builder with a subject, palette,
    camera and a text element) through ``expand()``, seeds derived per item: prompts/s and the
    peak memory traced by tracemalloc, measured in a second pass.
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
import importlib.util
import itertools
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from flux2prompt import scene, subject
from flux2prompt.batch import BatchJob, BatchRunner, Matrix, expand, matrix, template
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
    which = set(argv) or {"expand", "rate", "latency"}
    sniffio = "present" if importlib.util.find_spec("sniffio") else "absent"
    print(
        f"python {platform.python_version()}, sniffio {sniffio}, {os.cpu_count()} cores, "
        f"{platform.machine()}"
    )
    results = []
    if "expand" in which:
        bench_expand()
    if "rate" in which:
        results.append(bench_rate())
    if "latency" in which:
        results.append(bench_latency())
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
