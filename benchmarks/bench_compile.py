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

``--bounds`` measures how far the design is from the goal instead: (b) against the floor as
shipped, and with ``subject()``, ``camera()``, ``text()`` and ``.palette()`` swapped for
straight versions that make the same prompt (the same models, through the real builder steps
and the real ``compile()``): once with the same checks inline but no error paths, once with no
checks at all. Each version is checked to make the benchmark's prompt, byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import jsonschema_rs
import pydantic_core
from referencing import Registry, Resource

import flux2prompt
import flux2prompt._builder as builder_module
from flux2prompt import Camera, Prompt, Subject, TextElement, camera, load, scene, subject
from flux2prompt._color import _NORMAL_HEX, normalize_hex
from flux2prompt._compile import compile_json
from flux2prompt._model import _node_of
from flux2prompt._text import check_language_tag

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
    parser.add_argument(
        "--bounds", action="store_true", help="(b) with straight factories, checking and not"
    )
    args = parser.parse_args()
    if args.bounds:
        return bounds(rounds=5 if args.quick else 25)
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


# -- --bounds: the same chain with straight factories --------------------------------------------


def _text_ok(value: Any) -> Any:
    if value.__class__ is str and value and value.isascii() and value.isprintable():
        return value
    raise ValueError(value)


def _hex_ok(value: Any) -> Any:
    if value.__class__ is str and _NORMAL_HEX.fullmatch(value):
        return value
    return normalize_hex(value)


def _as_is(value: Any) -> Any:
    return value


def _straight(check_text: Callable[[Any], Any], check_hex: Callable[[Any], Any]) -> dict[str, Any]:
    """Straight ``subject``, ``camera``, ``text`` and ``palette`` for the benchmark's calls,
    checking text and hex with the given checks (the real ones inline, or none)."""
    checking = check_text is _text_ok

    def subject(
        description: Any = None,
        *,
        type: Any = None,
        pose: Any = None,
        action: Any = None,
        position: Any = None,
        color_palette: Any = None,
        colors: Any = None,
        color_match: Any = None,
        detail_preservation: Any = None,
    ) -> Subject:
        document: dict[str, Any] = {}
        if type is not None:
            document["type"] = check_text(type)
        if description is not None:
            document["description"] = check_text(description)
        if pose is not None:
            document["pose"] = check_text(pose)
        if position is not None:
            document["position"] = check_text(position)
        if colors is not None:
            colors = tuple([check_hex(c) for c in colors])
            document["colors"] = list(colors)
        state = {
            "type": type,
            "description": description,
            "pose": pose,
            "action": action,
            "position": position,
            "color_palette": color_palette,
            "colors": colors,
            "color_match": color_match,
            "detail_preservation": detail_preservation,
            "_document": document,
        }
        return _node_of(Subject, state, set(document), None)

    def camera(
        *,
        angle: Any = None,
        distance: Any = None,
        focus: Any = None,
        lens: Any = None,
        lens_mm: Any = None,
        f_number: Any = None,
        iso: Any = None,
        depth_of_field: Any = None,
    ) -> Camera:
        stop = f"f/{f_number:g}"
        if checking and not (iso.__class__ is int and iso > 0 and 0 < f_number < float("inf")):
            raise ValueError(iso)
        document = {
            "angle": check_text(angle),
            "distance": check_text(distance),
            "lens": check_text(lens),
            "f-number": check_text(stop),
            "ISO": iso,
        }
        state = {
            "angle": angle,
            "distance": distance,
            "focus": focus,
            "lens": lens,
            "lens_mm": lens_mm,
            "f_number": stop,
            "iso": iso,
            "depth_of_field": depth_of_field,
            "_document": document,
        }
        return _node_of(Camera, state, {"angle", "distance", "lens", "f_number", "iso"}, None)

    def text(
        content: Any,
        *,
        language: Any = None,
        font: Any = None,
        size: Any = None,
        placement: Any = None,
        color: Any = None,
    ) -> TextElement:
        document: dict[str, Any] = {"content": content}
        if language is not None:
            if checking and check_language_tag(language) is not None:
                raise ValueError(language)
            document["language"] = language
        if font is not None:
            document["font"] = check_text(font)
        if size is not None:
            document["size"] = check_text(size)
        if placement is not None:
            document["placement"] = check_text(placement)
        if color is not None:
            color = check_hex(color) if checking else normalize_hex(color)
            document["color"] = color
        state = {
            "content": content,
            "language": language,
            "font": font,
            "size": size,
            "placement": placement,
            "color": color,
            "_document": document,
        }
        return _node_of(TextElement, state, set(document), None)

    def palette(self: Any, *colors: Any, resolve_names: bool = False) -> Any:
        return self._set("_palette", tuple([check_hex(c) for c in colors]))

    return {"subject": subject, "camera": camera, "text": text, "palette": palette}


@contextlib.contextmanager
def _swapped(factories: dict[str, Any] | None) -> Iterator[None]:
    """The builder (and this module's ``build()``) using ``factories`` for the duration."""
    if factories is None:
        yield
        return
    saved = (
        builder_module.subject,
        builder_module.camera,
        builder_module.text,
        builder_module.PromptBuilder.palette,
        globals()["subject"],
        globals()["camera"],
    )
    builder_module.subject = factories["subject"]
    builder_module.camera = factories["camera"]
    builder_module.text = factories["text"]
    builder_module.PromptBuilder.palette = factories["palette"]  # type: ignore[method-assign]
    globals()["subject"], globals()["camera"] = factories["subject"], factories["camera"]
    try:
        yield
    finally:
        (
            builder_module.subject,
            builder_module.camera,
            builder_module.text,
            builder_module.PromptBuilder.palette,  # type: ignore[method-assign]
            globals()["subject"],
            globals()["camera"],
        ) = saved


def bounds(*, rounds: int) -> int:
    """(b) against the floor as shipped, with straight checking factories, with none."""
    prompt = build()
    wire = prompt.to_json()
    document = prompt.to_dict()
    compiled = jsonschema_rs.validator_for(flux2prompt.schema("flux2"))

    def floor() -> None:
        compiled.is_valid(document)
        pydantic_core.to_json(document)

    variants = {
        "(b) as shipped": None,
        "(b) straight factories, same checks inline": _straight(_text_ok, _hex_ok),
        "(b) straight factories, no checks at all": _straight(_as_is, _as_is),
    }
    print(f"{_cpu_model()}, {os.cpu_count()} CPUs; each variant against the floor, {rounds} rounds")
    print()
    for label, factories in variants.items():
        with _swapped(factories):
            assert build().to_json() == wire, label  # the same prompt, byte for byte
            samples = interleaved([("floor", floor, 2_000), (label, build, 200)], rounds=rounds)
        ratio = statistics.median(
            t / f for t, f in zip(samples[label], samples["floor"], strict=True)
        )
        best = min(samples[label]) / min(samples["floor"])
        print(f"{label:48s} {ratio:6.2f}x the floor (best {best:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
