"""The lean plan (rows, names rendered through a compiled pattern, requests put together when
read) gives exactly what the full path gives."""

from __future__ import annotations

import json
import math
import re
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt import PromptError, scene
from flux2prompt._templates import Variant, template, zipped
from flux2prompt.batch import BatchJob, BatchRunner, OutputPattern, sanitize_value
from flux2prompt.batch._naming import (
    _EXT,
    RESERVED_NAMES,
    _finish,
    _finish_components,
)
from flux2prompt.batch._plan import MAX_VARIABLES_BYTES, plan_items, plan_rows, unwritable
from flux2prompt.batch._shard import Shard
from flux2prompt.transport import build_request

FP = "sha256:" + "0123456789abcdef" * 4

_PIECES = st.sampled_from(
    [
        "mug", "CON", "com1", "LPT9 ", "nul", "AUX", "index.html", "Manifest.JSONL",
        "thumbnails", "superseded", "batch.lock", ".", "-", " ", "/", "東京", "COM¹", "x" * 120,
        _EXT, "ß",
    ]
)  # fmt: skip


@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=6))
def test_a_plain_name_is_finished_as_the_general_walk_finishes_it(pieces: list[str]) -> None:
    path = "".join(pieces)
    assert _finish(path, FP) == _finish_components(path, FP)


def test_every_rule_the_shortcut_skips_still_applies() -> None:
    assert _finish(f"con.{_EXT}", FP) == f"_con.{_EXT}"
    assert _finish("Index.html", FP) == "_Index.html"
    assert all(_finish(name, FP) == f"_{name}" for name in RESERVED_NAMES)
    long = _finish("y" * 250 + f".{_EXT}", FP)
    assert long.endswith(f"-0123456789.{_EXT}")
    assert len(long) <= 200


_VALUES = st.one_of(
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.none(),
)


@given(value=_VALUES)
def test_a_value_is_written_as_format_writes_it(value: Any) -> None:
    name = OutputPattern("{v}-{index}.{ext}").render({"v": value}, index=3, fingerprint=FP)
    assert name == _finish(f"{sanitize_value(format(value, ''))}-3.{_EXT}", FP)


@given(value=_VALUES, spec=st.sampled_from(["", ">5", "^9", "05"]))
def test_a_job_renderer_renders_what_render_renders(value: Any, spec: str) -> None:
    pattern = OutputPattern(f"{{job}}/{{v:{spec}}}-{{seed}}-{{fingerprint}}.{{ext}}")
    expected: str | PromptError
    try:
        expected = pattern.render({"v": value}, index=1, seed=5, fingerprint=FP, job="j")
    except PromptError as exc:  # a value that does not fit the spec: the same error
        expected = exc
    if isinstance(expected, PromptError):
        with pytest.raises(PromptError, match=re.escape(str(expected))):
            pattern.renderer(job="j")({"v": value}, 1, 5, FP)
    else:
        assert pattern.renderer(job="j")({"v": value}, 1, 5, FP) == expected


def _reference_render(
    text: str, variables: dict[str, Any], index: int, seed: int | None, fingerprint: str
) -> str:
    """A name as the naming rules define it, field by field (format, then sanitize_value)."""
    pattern = text if "{ext}" in text else text + ".{ext}"
    builtins = {
        "index": index,
        "seed": "noseed" if seed is None else seed,
        "fingerprint": fingerprint.partition(":")[2][:12],
        "job": "j",
    }
    out: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(pattern):
        out.append(literal)
        if name is None:
            continue
        if name == "ext":
            out.append(_EXT)
            continue
        if name in builtins and name in variables:
            # A variable never stands in for the runner's own field: the row is refused.
            raise LookupError(name)
        value = variables[name] if name in variables else builtins[name]
        out.append(
            sanitize_value(
                value if not spec and isinstance(value, str) else format(value, spec or "")
            )
        )
    return _finish_components("".join(out), fingerprint)


@given(
    text=st.sampled_from(
        [
            "{a}-{b}.{ext}", "{a}/{b}", "{index}-{a}", "{a}-{seed}-{fingerprint}.{ext}",
            "{job}/{b}-{a}.{ext}", "{a:>4}-{b}", "{b}.{ext}.{a}",
        ]
    ),
    variables=st.dictionaries(
        st.sampled_from(["a", "b", "index"]),
        st.one_of(
            st.integers(), st.booleans(), st.floats(), st.none(),
            st.text(max_size=10),
            st.sampled_from(["CON", "index.html", "東京", "x" * 90, "..", "ß"]),
        ),
    ),
    seed=st.one_of(st.none(), st.integers(0, 2**32)),
)  # fmt: skip
def test_names_are_the_names_the_rules_define(
    text: str, variables: dict[str, Any], seed: int | None
) -> None:
    variables.setdefault("a", "mug")
    variables.setdefault("b", 7)
    pattern = OutputPattern(text)
    try:
        expected = _reference_render(text, variables, 4, seed, FP)
    except (TypeError, ValueError):  # a value that does not fit its spec
        with pytest.raises(PromptError):
            pattern.renderer(job="j")(variables, 4, seed, FP)
        return
    except LookupError as shadowed:  # a variable named like a built-in field the pattern uses
        with pytest.raises(PromptError, match=f"a variable is named '{shadowed.args[0]}' too"):
            pattern.renderer(job="j")(variables, 4, seed, FP)
        return
    assert pattern.renderer(job="j")(variables, 4, seed, FP) == expected
    assert pattern.render(variables, index=4, seed=seed, fingerprint=FP, job="j") == expected


def _reference_unwritable(variables: dict[str, Any]) -> bool:
    """Whether a manifest record cannot hold ``variables``, by serialising them."""
    try:
        text = json.dumps(variables, ensure_ascii=False, allow_nan=False)
        return len(text.encode("utf-8")) > MAX_VARIABLES_BYTES
    except (ValueError, UnicodeEncodeError):
        return True


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(
            st.integers(),
            st.booleans(),
            st.floats(),
            st.text(max_size=8),
            st.none(),
            st.just("\ud800"),
            st.just("x" * (MAX_VARIABLES_BYTES // 5)),
        ),
    )
)
def test_unwritable_rows_are_the_rows_json_cannot_hold(variables: dict[str, Any]) -> None:
    variant = Variant(0, variables, None, None, "rows.csv:2")
    assert (unwritable(variant) is not None) == _reference_unwritable(variables)


@template
def _mug(color: str, n: int):  # type: ignore[no-untyped-def]
    return scene(f"a {color} mug, {n}").lighting("soft window light")


_PARAMETERS: dict[str, dict[str, int]] = {
    "klein-4b": {"width": 512, "height": 512},
    "dev": {"width": 512, "height": 768, "steps": 20},
    "flex": {"width": 512, "height": 512, "steps": 8},
}


def _job(colors: list[str], ns: list[int], model: str, output: str) -> BatchJob:
    return BatchJob(
        name="lean",
        template=_mug,
        source=zipped(color=colors, n=ns),
        output=output,
        model=model,
        parameters=_PARAMETERS[model],
        seeds={"derive": 3},
    )


_ROWS = st.lists(
    st.tuples(st.sampled_from(["teal", "rust", "Teal", "CON"]), st.integers(0, 3)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(
    rows=_ROWS,
    model=st.sampled_from(["klein-4b", "dev", "flex"]),
    output=st.sampled_from(["{color}.{ext}", "{color}-{n}.{ext}", "{job}/{fingerprint}.{ext}"]),
    shard=st.sampled_from([None, Shard(1, 2), Shard(2, 2)]),
)
def test_planned_items_carry_the_requests_build_request_builds(
    rows: list[tuple[str, int]], model: str, output: str, shard: Shard | None
) -> None:
    job = _job([c for c, _ in rows], [n for _, n in rows], model, output)
    items = list(plan_items(job, shard=shard))
    rows = list(plan_rows(job, shard=shard))
    assert [(r[0], r[2], r[3], r[4], r[5], r[1].fingerprint) for r in rows] == [
        (i.variant, i.name, i.original, i.unwritable, i.inputs, i.key) for i in items
    ]
    for item, row in zip(items, rows, strict=True):
        alone = build_request(
            item.variant.prompt, model=model, seed=item.variant.seed, **_PARAMETERS[model]
        )
        assert item.request == alone
        assert item.key == alone.fingerprint == item.planned.fingerprint
        assert row[6] == int(alone.fingerprint[7:39], 16)
        assert item.planned.seed == alone.seed
        assert item.planned.model is alone.model
        if alone.model.pricing is not None:
            assert item.planned.estimated_cost == alone.estimated_cost


@settings(max_examples=10, deadline=None)
@given(rows=_ROWS, model=st.sampled_from(["klein-4b", "flex"]))
def test_the_dry_run_counts_and_prices_what_the_requests_say(
    rows: list[tuple[str, int]], model: str
) -> None:
    job = _job([c for c, _ in rows], [n for _, n in rows], model, "{color}-{n}.{ext}")
    items = list(plan_items(job))
    with tempfile.TemporaryDirectory() as folder:
        dry = BatchRunner(job, Path(folder) / "out").dry_run()
    sent = {item.key: item for item in items if not item.is_copy}
    assert dry.total == len(items)
    assert dry.to_copy == len(items) - len(sent)
    assert [item.request for item in dry.first] == [item.request for item in items][
        : len(dry.first)
    ]
    if dry.estimated_cost is not None:
        expected = sum(build_request(
            i.variant.prompt, model=model, seed=i.variant.seed, **_PARAMETERS[model]
        ).estimated_cost for i in sent.values())  # fmt: skip
        assert math.isclose(dry.estimated_cost, expected, rel_tol=1e-9)
