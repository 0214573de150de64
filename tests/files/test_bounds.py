"""Hostile files: deep nesting, huge documents, huge strings and numbers, endless files.

Each is refused with one line that names the file and the limit (exit 2), never a traceback,
by the installed command and by the Python API alike.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt import SourceError, dataset, load, load_prompt_file
from flux2prompt._document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_STRING_CHARS,
    check_bounds,
    parse_json,
)
from flux2prompt._files import parse_toml

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE = {
    "deep.prompt.json": '{"name": "x", "prompt": {"scene": "s", "extras": ' + nested(900) + "}}",
    "deeper.prompt.json": '{"name": "x", "prompt": {"scene": "s", "e": ' + nested(5000) + "}}",
    "deep.json": '{"scene": "s", "e": ' + nested(900) + "}",
    "deep.prompt.toml": 'name = "x"\n[prompt]\nscene = "s"\nfoo = ' + nested(900) + "\n",
    "inline.prompt.toml": 'name = "x"\n[prompt]\nscene = "s"\nfoo = '
    + "{a = " * 600
    + "1"
    + "}" * 600
    + "\n",
    "dotted.prompt.toml": 'name = "x"\n[prompt]\nscene = "s"\n' + ".".join(["k"] * 300) + " = 1\n",
    "big-int.json": '{"scene": "s", "camera": {"ISO": 1' + "0" * 309 + "}}",
    "big-int.prompt.json": '{"name": "x", "prompt": {"scene": "s", "camera": {"ISO": 1'
    + "0" * 400
    + "}}}",
    "big-int.prompt.toml": 'name = "x"\n[prompt]\nscene = "s"\n[prompt.camera]\nISO = 1'
    + "0" * 309
    + "\n",
    "huge-float.json": '{"scene": "s", "camera": {"ISO": 1e400}}',
    "long.prompt.json": '{"name": "x", "prompt": {"scene": "'
    + "x" * (MAX_STRING_CHARS + 1)
    + '"}}',
}
EXPECTED = {
    "deep": f"nested more than {MAX_DEPTH} levels deep",
    "deeper": f"nested more than {MAX_DEPTH} levels deep",
    "inline": f"nested more than {MAX_DEPTH} levels deep",
    "dotted": f"nested more than {MAX_DEPTH} levels deep",
    "big-int": "is too large for a JSON number",
    "huge-float": "out of the range of a JSON number",
    "long": f"more than the {MAX_STRING_CHARS:,}",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, text in HOSTILE.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", [["validate"], ["lint"], ["compile", "--prose"]])
def test_the_command_refuses_hostile_files_in_one_line(
    hostile: Path, name: str, command: list[str]
) -> None:
    done = run(*command, name, cwd=hostile)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {name}")
    assert EXPECTED[name.split(".")[0]] in lines[0]
    assert len(lines[0]) < 400  # the limit is named, the hostile value is not echoed


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_python_api_refuses_them_too(hostile: Path, name: str) -> None:
    reader = load_prompt_file if ".prompt." in name else load
    with pytest.raises(SourceError) as caught:
        reader(hostile / name)
    assert str(caught.value).startswith(str(hostile / name))


def test_a_document_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.write(b'{"scene": "')
        handle.seek(MAX_DOCUMENT_BYTES + 10)
        handle.write(b'"}')
    done = run("validate", "huge.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: huge.json: is larger than the {MAX_DOCUMENT_BYTES:,} bytes a document may "
        "have; split it"
    )


def test_an_endless_file_is_refused(tmp_path: Path) -> None:
    done = run("validate", "/dev/zero", cwd=tmp_path)
    assert done.returncode == 2
    assert "is larger than the" in done.stderr


def test_numbers_within_the_bounds_still_load(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text(
        '{"scene": "s", "camera": {"ISO": 1' + "0" * 300 + "}}", encoding="utf-8"
    )
    done = run("validate", "ok.json", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    deep = {"scene": "s"}
    for _ in range(3):
        deep = {"scene": "s", "nest": deep}  # type: ignore[dict-item]
    check_bounds(deep, "fine.json")


def test_a_job_file_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    (tmp_path / "job.toml").write_text(
        'template = "t.py:t"\noutput = "{i}"\n[variables.zip]\ni = ' + nested(900) + "\n",
        encoding="utf-8",
    )
    done = run("batch", "job.toml", "--out", "out", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"job.toml: nested more than {MAX_DEPTH} levels deep" in done.stderr


def test_dataset_rows_are_bounded(tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"a": 1}\n{"b": ' + nested(900) + "}\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"deep.jsonl:2: nested more than {MAX_DEPTH}"):
        list(dataset(deep))
    long = tmp_path / "long.jsonl"
    long.write_text('{"a": "' + "x" * (MAX_STRING_CHARS + 1) + '"}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"long.jsonl:1: \$.a: a string of 131,073"):
        list(dataset(long))
    wide = tmp_path / "wide.csv"
    wide.write_text("a,b\n1,2\n3," + "x" * (MAX_STRING_CHARS + 1) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"wide.csv:3: a value is longer than the 131,072"):
        list(dataset(wide))
    # NaN in a row is the batch's to refuse as a failed item: the dataset still reads it.
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"a": NaN}\n', encoding="utf-8")
    assert len(list(dataset(nan))) == 1


def test_a_dataset_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "endless.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b" " * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(SourceError, match=r"endless.jsonl:2: the line is longer"):
        list(dataset(path))


@settings(max_examples=60)
@given(
    st.integers(min_value=0, max_value=300) | st.integers(min_value=60, max_value=70),
    st.sampled_from(["[", "{"]),
)
def test_any_depth_is_parsed_or_refused_cleanly(depth: int, opener: str) -> None:
    text = "[" * depth + "]" * depth if opener == "[" else '{"a": ' * depth + "1" + "}" * depth
    if depth <= MAX_DEPTH:
        parse_json(text or "1", source="p.json")
    else:
        with pytest.raises(SourceError, match="levels deep"):
            parse_json(text, source="p.json")
    # In TOML the document itself is a table: one level more.
    toml = "x = " + ("[" * depth + "]" * depth if depth else "1")
    if depth + 1 <= MAX_DEPTH:
        parse_toml(toml, "p.toml")
    else:
        with pytest.raises(SourceError, match="levels deep"):
            parse_toml(toml, "p.toml")


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_the_depth_limit_is_exact(depth: int) -> None:
    text = "[" * depth + "]" * depth
    if depth <= MAX_DEPTH:
        assert parse_json(text) is not None
    else:
        with pytest.raises(SourceError, match="levels deep"):
            parse_json(text)


def test_a_dict_built_in_python_with_a_huge_camera_number_is_refused() -> None:
    from flux2prompt import PromptValidationError, lint

    with pytest.raises(PromptValidationError) as caught:
        load({"scene": "s", "camera": {"ISO": 10**309}})
    assert caught.value.issues[0].path == "$.camera.ISO"
    # Within a float's range it loads, and lint and prose do not crash on it.
    prompt = load({"scene": "s", "camera": {"ISO": 10**300}})
    assert any(w.code == "F2P402" for w in lint(prompt))


def test_endless_standard_input_is_refused(tmp_path: Path) -> None:
    with (tmp_path / "zero").open("wb") as handle:
        handle.truncate(MAX_DOCUMENT_BYTES + 4096)
    with (tmp_path / "zero").open("rb") as stdin:
        done = subprocess.run(
            [COMMAND, "validate", "-"], stdin=stdin, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: <stdin>: is larger than the {MAX_DOCUMENT_BYTES:,} bytes a document may "
        "have; split it"
    )
