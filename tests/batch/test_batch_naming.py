"""Output names: sanitised values, no path traversal, no collisions, no reserved names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError
from flux2prompt.batch import OutputPattern, sanitize_value
from flux2prompt.batch._naming import NameRegistry, inside, with_extension

FP = "sha256:" + "0123456789abcdef" * 4


def render(pattern: str, **variables: object) -> str:
    return with_extension(OutputPattern(pattern).render(variables, fingerprint=FP), "jpg")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mug", "mug"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path", "abs-path"),
        ("a\\b", "a-b"),
        ("..", "_"),
        (".hidden", "hidden"),
        ("", "_"),
        ("#1A1A1A", "1A1A1A"),
        ("two  words", "two-words"),
        ("東京 タワー", "東京-タワー"),
        ("नमस्ते", "नमस्ते"),  # combining marks are kept
        ("tab\tnew\nline\x00nul", "tab-new-line-nul"),
        ("a:b*c?d", "a-b-c-d"),
        ("x" * 100, "x" * 60),
        (3.5, "3.5"),
    ],
)
def test_values_are_sanitised(value: object, expected: str) -> None:
    assert sanitize_value(value) == expected


@given(st.text())
def test_no_value_can_escape_or_hide(value: str) -> None:
    name = render("{v}/{v}-{v}.{ext}", v=value)
    parts = name.split("/")
    assert len(parts) == 2
    for part in parts:
        assert part
        assert part not in (".", "..")
        assert not part.startswith(".")
        assert "\\" not in part
        assert "\x00" not in part
    assert inside(Path("out"), name) is not None


def test_pattern_fields_and_builtins() -> None:
    pattern = OutputPattern("{index:04d}-{product}-{seed}-{fingerprint}-{job}")
    assert pattern.fields == ("index", "product", "seed", "fingerprint", "job", "ext")
    name = pattern.render({"product": "mug"}, index=7, seed=42, fingerprint=FP, job="line")
    assert with_extension(name, "png") == "0007-mug-42-0123456789ab-line.png"
    unseeded = OutputPattern("{seed}").render({}, fingerprint=FP)
    assert with_extension(unseeded, "jpg") == "noseed.jpg"


def test_folders_come_from_the_pattern_only() -> None:
    assert render("{language}/{product}.{ext}", language="ja", product="a/b") == "ja/a-b.jpg"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("../{a}", "would leave the output folder"),
        ("/tmp/{a}", "absolute path"),
        ("{a}/../{b}", "would leave the output folder"),
        ("{a}//{b}", "empty folder name"),
        (".cache/{a}", "reserved"),
        ("{a.__class__}", "plain name"),
        ("{a[0]}", "plain name"),
        ("{a!r}", "conversions"),
        ("{a:{b}}", "nested"),
        ("{ext:>5}", "no format spec"),
        ("C:{a}", "':' is not allowed"),
        ("a\\{b}", "use '/'"),
        ("{a", "expected '}' before end of string"),
        ("", "non-empty"),
    ],
)
def test_bad_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        OutputPattern(pattern)


def test_specs_of_builtin_fields_are_checked_at_once_and_errors_name_the_origin() -> None:
    with pytest.raises(PromptError, match=r"^job.toml:4: output pattern '\{index:zz\}'"):
        OutputPattern("{index:zz}", origin="job.toml:4")
    with pytest.raises(PromptError, match=r"\{fingerprint:d\} does not fit"):
        OutputPattern("{fingerprint:d}")
    assert OutputPattern("{seed:06d}").render({}, seed=7) == "000007.\x00ext\x00"
    with pytest.raises(PromptError, match=r"^job.toml:4: output pattern '\{a\}': unknown"):
        OutputPattern("{a}", origin="job.toml:4").check_fields(["b"])


def test_unknown_fields_and_bad_specs_are_named() -> None:
    with pytest.raises(PromptError, match=r"unknown field \{colour\}; the fields are: color"):
        OutputPattern("{colour}").render({"color": "red"})
    with pytest.raises(PromptError, match=r"\{color:04d\} does not fit 'red'"):
        OutputPattern("{color:04d}").render({"color": "red"})


def test_reserved_and_device_names_are_prefixed() -> None:
    assert render("thumbnails/{a}.{ext}", a="x") == "_thumbnails/x.jpg"
    assert render("{a}.{ext}", a="CON") == "_CON.jpg"


def test_long_components_are_cut_and_keep_the_fingerprint() -> None:
    name = render("{a}-{b}-{c}-{d}.{ext}", a="é" * 60, b="x" * 60, c="y" * 60, d="z" * 60)
    assert len(name.encode("utf-8")) <= 210
    assert name.endswith("-0123456789.jpg")


def test_registry_settles_collisions_case_insensitively() -> None:
    names = NameRegistry()
    stem = "mug.\x00ext\x00"
    assert names.claim(stem, "sha256:" + "a" * 64) == stem
    second = names.claim("MUG.\x00ext\x00", "sha256:" + "b" * 64)
    assert with_extension(second, "jpg") == "MUG-bbbbbbbbbb.jpg"
    third = names.claim(stem, "sha256:" + "b" * 64)
    assert with_extension(third, "jpg") == "mug-" + "b" * 64 + ".jpg"
    assert len(names) == 3


def test_inside_refuses_paths_that_leave_the_folder() -> None:
    folder = Path("out")
    assert inside(folder, "a/b.jpg") == Path("out/a/b.jpg")
    for bad in ("../x.jpg", "/etc/passwd", "a/../../x", "a\\b", "", None, 3, "a//b"):
        assert inside(folder, bad) is None
