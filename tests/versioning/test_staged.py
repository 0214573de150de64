"""Requests are planned a stage at a time, and a consumer sees what one item at a time gives:
the same results, then the same first error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, scene
from flux2prompt._templates import template, zipped
from flux2prompt._versioning._requests import staged
from flux2prompt.batch import BatchJob, BatchRunner, plan_items


class _Bad(Exception):
    pass


def _consume(results: Iterator[int]) -> tuple[list[int], str | None]:
    seen: list[int] = []
    try:
        for result in results:
            seen.append(result)
    except _Bad as exc:
        return seen, str(exc)
    return seen, None


@given(
    count=st.integers(0, 40),
    taking_fails_at=st.one_of(st.none(), st.integers(0, 40)),
    stepping_fails_at=st.one_of(st.none(), st.integers(0, 40)),
    size=st.integers(1, 9),
)
def test_staged_gives_what_map_gives(
    count: int, taking_fails_at: int | None, stepping_fails_at: int | None, size: int
) -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for n in range(count):
            if n == taking_fails_at:
                raise _Bad(f"taking {n}")
            taken.append(n)
            yield n

    def step(n: int) -> int:
        if n == stepping_fails_at:
            raise _Bad(f"stepping {n}")
        return n * 3

    given_staged = _consume(staged(items(), step, size=size))
    ahead = len(taken)
    given_one_by_one = _consume(map(step, items()))
    assert given_staged == given_one_by_one
    # Never more than one stage ahead of what was given.
    assert ahead <= len(given_one_by_one[0]) + 1 + size


@template
def _mug(color: str, n: object):  # type: ignore[no-untyped-def]
    if color == "bad":
        raise ValueError("no such colour")
    return scene(f"a {color} mug")


def _job(colors: list[str], ns: list[object]) -> BatchJob:
    return BatchJob(
        name="order", template=_mug, source=zipped(color=colors, n=ns),
        output="{n:03d}.{ext}", model="klein-4b", seeds=1,
    )  # fmt: skip


def test_a_bad_name_before_a_bad_row_is_the_error_given(tmp_path: object) -> None:
    # Item 2 cannot be named ({n:03d} of a str); item 3 cannot be expanded.
    job = _job(["teal", "rust", "sand", "bad"], [1, 2, "x", 4])
    with pytest.raises(PromptError, match="item 2"):
        list(plan_items(job))


def test_a_bad_row_before_a_bad_name_is_the_error_given() -> None:
    job = _job(["teal", "bad", "sand"], [1, 2, "x"])
    with pytest.raises(PromptError) as raised:
        list(plan_items(job))
    assert "item 2" not in str(raised.value)
    assert "no such colour" in str(raised.value)


def test_a_bad_row_stops_a_dry_run_before_anything_is_sent(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "out"
    job = _job(["teal"] * 40 + ["bad"], list(range(41)))
    with pytest.raises(PromptError, match="no such colour"):
        BatchRunner(job, out).dry_run()
    assert not (out / "manifest.jsonl").exists()
