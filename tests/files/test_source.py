"""SOURCE resolution: prompt files and ``file.py:NAME``, and the errors that name the source."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from flux2prompt import Prompt, PromptError, PromptValidationError, SourceError
from flux2prompt._files._source import LoadedSource, load_source, resolve_source, split_source

BUILDERS = """\
import io
import sys
from pathlib import Path

from flux2prompt import scene, subject

hero = scene("a lighthouse at dusk").mood("calm")
compiled = hero.compile()
mug = subject("a white mug")
number = 3


def variant():
    return hero.style("oil painting")


def needs_args(style):
    return hero.style(style)


def returns_text():
    return "a lighthouse"
"""


@pytest.fixture
def builders(tmp_path: Path) -> Path:
    path = tmp_path / "builders.py"
    path.write_text(BUILDERS, encoding="utf-8")
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- forms of SOURCE --------------------------------------------------------------------------
def test_split_source() -> None:
    assert split_source("a/b.py:hero") == (Path("a/b.py"), "hero")
    assert split_source("a/b.py") == (Path("a/b.py"), None)
    assert split_source("a/b.json") == (Path("a/b.json"), None)
    assert split_source("a/b.json:x") == (Path("a/b.json:x"), None)


def test_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{"mood": "calm", "scene": "東京"}')
    prompt = resolve_source(str(path))
    assert isinstance(prompt, Prompt)
    assert prompt.to_json() == '{"scene":"東京","mood":"calm"}'


def test_builder_prompt_and_function(builders: Path) -> None:
    assert resolve_source(f"{builders}:hero").scene == "a lighthouse at dusk"
    assert resolve_source(f"{builders}:compiled").mood == "calm"
    assert resolve_source(f"{builders}:variant").style == "oil painting"


def test_profile_is_applied(builders: Path) -> None:
    with pytest.raises(PromptValidationError) as caught:
        resolve_source(f"{builders}:hero", profile="cloudflare")
    assert caught.value.issues[0].path == "$"
    with pytest.raises(PromptValidationError):
        resolve_source(f"{builders}:compiled", profile="cloudflare")


def test_file_can_import_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path, "shared_parts_f2p.py", "STYLE = 'pixel art'\n")
    code = "from shared_parts_f2p import STYLE\nfrom flux2prompt import scene\n"
    path = write(tmp_path, "uses.py", code + "p = scene('x').style(STYLE)\n")
    before = list(sys.path)
    assert resolve_source(f"{path}:p").style == "pixel art"
    assert sys.path == before


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path, "edit.py", "from flux2prompt import scene\np = scene('one')\n")
    assert resolve_source(f"{path}:p").scene == "one"
    path.write_text("from flux2prompt import scene\np = scene('two, edited')\n", encoding="utf-8")
    assert resolve_source(f"{path}:p").scene == "two, edited"


# -- errors -----------------------------------------------------------------------------------
def test_missing_files(tmp_path: Path) -> None:
    for source in (f"{tmp_path}/nope.json", f"{tmp_path}/nope.py:hero"):
        with pytest.raises(SourceError, match="no such file") as caught:
            resolve_source(source)
        assert str(tmp_path / "nope") in str(caught.value)


def test_empty_source() -> None:
    with pytest.raises(SourceError, match="empty SOURCE"):
        resolve_source(" ")


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.py", "x = 1\ndef (:\n")
    with pytest.raises(SourceError) as caught:
        resolve_source(f"{path}:x")
    assert caught.value.line == 2
    assert str(caught.value).startswith(f"{path}:2: syntax error")


def test_exception_while_importing(tmp_path: Path) -> None:
    path = write(tmp_path, "boom.py", "import math\nvalue = 1 / 0\n")
    with pytest.raises(SourceError) as caught:
        resolve_source(f"{path}:value")
    assert caught.value.line == 2
    assert "ZeroDivisionError: division by zero" in str(caught.value)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert not any(name.endswith("_boom") for name in sys.modules)


def test_system_exit_while_importing_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "quits.py", "import sys\nsys.exit(3)\n")
    with pytest.raises(SourceError, match=r"SystemExit\(3\)"):
        resolve_source(f"{path}:x")


def test_dsl_error_in_the_file_points_at_the_call(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dsl.py",
        "from flux2prompt import scene, subject\n\nhero = scene('x').subject(colors=['red'])\n",
    )
    with pytest.raises(PromptError) as caught:
        resolve_source(f"{path}:hero")
    assert not isinstance(caught.value, SourceError)
    assert str(caught.value).startswith("line 3: subject")


def test_unknown_name_suggests_a_close_one(builders: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_source(f"{builders}:hreo")
    assert str(caught.value) == f"{builders}: no name 'hreo' in this file; did you mean 'hero'?"


def test_unknown_name_lists_the_prompts(builders: Path) -> None:
    with pytest.raises(SourceError, match="prompts here: hero, compiled, variant, returns_text"):
        resolve_source(f"{builders}:zzz")


def test_name_is_required_for_python_files(builders: Path) -> None:
    for source in (str(builders), f"{builders}:"):
        with pytest.raises(SourceError, match=rf"for example {builders}:hero"):
            resolve_source(source)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("number", "'number' is an int; a SOURCE names a prompt builder"),
        ("mug", "'mug' is a Subject"),
        ("needs_args", "'needs_args' takes arguments"),
        ("returns_text", r"returns_text\(\) returned a str, not a prompt builder or Prompt"),
        ("Path", "'Path' is the class Path"),
        ("sys", "'sys' is a module"),
    ],
)
def test_names_of_the_wrong_type(builders: Path, name: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as caught:
        resolve_source(f"{builders}:{name}")
    assert str(builders) in str(caught.value)


def test_exception_inside_the_function(tmp_path: Path) -> None:
    path = write(tmp_path, "fails.py", "def make():\n    return {}['scene']\n")
    with pytest.raises(SourceError) as caught:
        resolve_source(f"{path}:make")
    assert caught.value.line == 2
    assert "calling make() raised KeyError: 'scene'" in str(caught.value)


# -- standard input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "stream",
    [
        io.BytesIO('\ufeff{"scene": "東京の夜"}'.encode()),
        io.StringIO('\ufeff{"scene": "東京の夜"}'),
        io.TextIOWrapper(io.BytesIO('{"scene": "東京の夜"}'.encode()), encoding="ascii"),
    ],
    ids=["bytes-with-bom", "text-with-bom", "ascii-text-over-utf8-bytes"],
)
def test_stdin_is_read_as_utf8(stream: io.IOBase) -> None:
    assert resolve_source("-", stdin=stream).scene == "東京の夜"  # type: ignore[arg-type]


def test_stdin_defaults_to_sys_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"scene": "fog"}'))
    assert resolve_source("-").scene == "fog"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{\n  "scene": "x",\n  "mood": }',
            "<stdin>:3: invalid JSON at column 11: Expecting value",
        ),
        (b'{"scene": "x",\n "scene": "y"}', "<stdin>:2: duplicate key 'scene'"),
        (b"", "<stdin>: standard input is empty; pipe a JSON prompt document into it"),
        (b" \n", "<stdin>: standard input is empty"),
        (b'{"scene": "\xff"}', "<stdin>: not UTF-8 text (byte 11)"),
    ],
)
def test_unreadable_stdin_names_it(data: bytes, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_source("-", stdin=io.BytesIO(data))
    assert str(caught.value).startswith(message)
    assert caught.value.source == "<stdin>"


def test_stdin_prompt_is_validated_under_the_profile() -> None:
    with pytest.raises(PromptValidationError) as caught:
        resolve_source("-", profile="cloudflare", stdin=io.BytesIO(b'{"scene": "x"}'))
    assert caught.value.issues[0].path == "$"
    with pytest.raises(PromptValidationError, match="must be a JSON object"):
        resolve_source("-", stdin=io.BytesIO(b"[1]"))


def test_closed_stdin_is_a_source_error() -> None:
    stream = io.BytesIO(b"{}")
    stream.close()
    with pytest.raises(SourceError, match="<stdin>: cannot read standard input"):
        resolve_source("-", stdin=stream)


def test_load_source_keeps_a_prompt_files_model_and_parameters(tmp_path: Path) -> None:
    path = tmp_path / "hero.prompt.toml"
    path.write_text(
        'name = "hero"\nmodel = "klein-4b"\n[parameters]\nwidth = 768\nseed = 7\n'
        '[prompt]\nscene = "a harbour"\n',
        encoding="utf-8",
    )
    loaded = load_source(str(path))
    assert (loaded.prompt.scene, loaded.model, dict(loaded.parameters)) == (
        "a harbour",
        "klein-4b",
        {"width": 768, "seed": 7},
    )


def test_load_source_of_other_sources_has_no_model_or_parameters(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text('{"scene": "fog"}', encoding="utf-8")
    stdin = io.BytesIO(b'{"scene": "rain"}')
    for source, scene_text in ((str(plain), "fog"), ("-", "rain")):
        loaded = load_source(source, stdin=stdin)
        assert isinstance(loaded, LoadedSource)
        assert (loaded.prompt.scene, loaded.model, dict(loaded.parameters)) == (
            scene_text,
            None,
            {},
        )


def test_load_source_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.prompt\.toml: no such file"):
        load_source(str(tmp_path / "missing.prompt.toml"))
    bad = tmp_path / "bad.prompt.toml"
    bad.write_text('name = "bad"\n[prompt]\nscene = 3\n', encoding="utf-8")
    with pytest.raises(PromptValidationError) as caught:
        load_source(str(bad), profile="cloudflare")
    assert str(caught.value).startswith(f"{bad}: prompt is invalid under profile 'cloudflare'")
    assert caught.value.issues[0].path.startswith("$.prompt")


def test_a_prompt_file_template_as_a_source_is_a_source_error_in_the_command_lines_words(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mug.prompt.toml"
    path.write_text('name = "mug"\n[prompt]\nscene = "a ${color} mug"\n', encoding="utf-8")
    expected = (
        f"{path}: is a template with placeholders ${{color}}; expand it with a job file, or "
        "check it with validate --var color=..."
    )
    for read in (resolve_source, load_source):
        with pytest.raises(SourceError) as caught:
            read(str(path))
        assert str(caught.value) == expected
