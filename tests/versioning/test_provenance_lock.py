"""An image's record against a lockfile: current, changed since (and why), or not locked."""

from __future__ import annotations

import pytest

from flux2prompt._versioning._lock import ItemLock, JobLock, Lock, LockEntry
from flux2prompt._versioning._provenance import match_lock
from flux2prompt.transport import Provenance

LOCK = Lock(
    prompts={
        "hero": LockEntry(
            "prompts/hero.prompt.toml", "sha256:hero-p", "sha256:hero-r", source="hero"
        ),
        "prompts/shots.py:wide": LockEntry(
            "prompts/shots.py",
            "sha256:wide-p",
            "sha256:wide-r",
            source="prompts/shots.py:wide",
        ),
    },
    jobs={
        "jobs/mugs.toml": JobLock(
            "jobs/mugs.toml", "mugs", "mugs.py:mug", "@cf/m", {}, "cloudflare", 3, "sha256:d"
        )
    },
    items={
        "jobs/mugs.toml": (
            ItemLock(0, "rows.csv:2", "v0", 5, "sha256:item-r0", "sha256:item-p0"),
            ItemLock(1, "rows.csv:3", "v1", 5, "sha256:item-r0", "sha256:item-p0"),
            ItemLock(2, "rows.csv:4", "v2", 5, "sha256:item-r2", "sha256:item-p2"),
        )
    },
)


def record(prompt: str, request: str, **extra: str) -> Provenance:
    return Provenance("{}", prompt, request, "@cf/m", {"seed": 5}, **extra)


def test_an_entry_sending_the_same_request_makes_the_image_current() -> None:
    match = match_lock(record("sha256:hero-p", "sha256:hero-r"), LOCK)
    assert (match.status, match.name, match.ok) == ("current", "hero", True)
    assert match.locked_request_fingerprint == "sha256:hero-r"
    item = match_lock(record("sha256:item-p0", "sha256:item-r0", job="mugs"), LOCK)
    assert (item.status, item.name, item.origin, item.copies) == (
        "current",
        "mugs item 0",
        "rows.csv:2; seed 5",
        1,
    )
    assert "and 1 more with the same request" in item.detail


def test_the_same_prompt_under_other_settings_has_changed() -> None:
    match = match_lock(record("sha256:hero-p", "sha256:old-r"), LOCK)
    assert (match.status, match.name) == ("changed", "hero")
    assert "the model, a parameter or the seed changed" in match.detail
    item = match_lock(record("sha256:item-p2", "sha256:old-r", job="mugs"), LOCK)
    assert (item.status, item.name, item.origin) == ("changed", "mugs item 2", "rows.csv:4; seed 5")


def test_a_job_whose_prompts_all_changed_is_named() -> None:
    match = match_lock(record("sha256:old-p", "sha256:old-r", job="mugs"), LOCK)
    assert (match.status, match.name) == ("changed", "mugs")
    assert "job mugs (jobs/mugs.toml) is locked, but none of its 3 items" in match.detail


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("hero", "hero"),
        ("prompts/hero.prompt.toml", "hero"),
        ("./prompts/hero.prompt.toml", "hero"),
        ("hero.prompt.toml", "hero"),  # typed from inside prompts/
        ("/home/me/project/prompts/hero.prompt.toml", "hero"),
        ("prompts/shots.py:wide", "prompts/shots.py:wide"),
        ("shots.py:wide", "prompts/shots.py:wide"),
    ],
)
def test_a_changed_prompt_is_found_by_its_source(source: str, name: str) -> None:
    match = match_lock(record("sha256:old-p", "sha256:old-r", source=source), LOCK)
    assert (match.status, match.name) == ("changed", name)
    assert "has changed since: the lockfile has prompt sha256:" in match.detail


@pytest.mark.parametrize(
    "extra",
    [{}, {"source": "other/hero.prompt.toml"}, {"source": "shots.py:tall"}, {"job": "cups"}],
)
def test_anything_else_is_not_locked(extra: dict[str, str]) -> None:
    match = match_lock(record("sha256:old-p", "sha256:old-r", **extra), LOCK)
    assert (match.status, match.name, match.ok) == ("not_locked", None, False)
    assert match.to_dict()["status"] == "not_locked"
