"""Importing a user's Python file: one cache, one way of reporting its errors, for every caller."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from flux2prompt import PromptError, SourceError
from flux2prompt._files._pysource import import_python_file, lookup, public_names, reraise
from flux2prompt.batch import load_job


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_is_imported_once_per_version(tmp_path: Path) -> None:
    path = write(tmp_path, "counted.py", "runs = 1\n")
    first = import_python_file(path)
    assert import_python_file(path) is first
    path.write_text("runs = 2  # edited, and longer\n", encoding="utf-8")
    again = import_python_file(path)
    assert again is not first
    assert again.runs == 2


def test_missing_files_and_folders_name_what_was_wanted(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no such file$"):
        import_python_file(tmp_path / "nope.py")
    with pytest.raises(SourceError, match=r"no such template file$"):
        import_python_file(tmp_path / "nope.py", what="template file")
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(SourceError, match=r"is not a template file$"):
        import_python_file(tmp_path / "folder.py", what="template file")


def test_errors_while_importing_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "quits.py", "import sys\n\nsys.exit(3)\n")
    with pytest.raises(SourceError, match=r"importing it raised SystemExit\(3\)") as caught:
        import_python_file(path)
    assert (caught.value.source, caught.value.line) == (str(path), 3)
    assert not any(name.endswith("_quits") for name in sys.modules)


def test_keyboard_interrupt_is_not_swallowed(tmp_path: Path) -> None:
    path = write(tmp_path, "interrupted.py", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        import_python_file(path)


def test_dsl_errors_stay_prompt_errors_with_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dsl.py", "from flux2prompt import scene\n\nx = scene('a').mood(3)\n")
    with pytest.raises(PromptError) as caught:
        import_python_file(path)
    assert not isinstance(caught.value, SourceError)
    assert str(caught.value).startswith("line 3: ")


def _reraised(exc: BaseException) -> None:
    reraise(exc, Path("shots.py"), "calling make()")


def test_reraise_keeps_the_cause() -> None:
    message = r"^shots\.py: calling make\(\) raised ValueError: invalid literal$"
    with pytest.raises(SourceError, match=message) as caught:
        _reraised(ValueError("invalid literal"))
    assert isinstance(caught.value.__cause__, ValueError)


def test_lookup_suggests_from_the_public_names() -> None:
    module = types.ModuleType("shots")
    module.__all__ = ["hero"]
    module.hero, module.heron = "a lighthouse", "a bird"
    assert public_names(module) == ["hero"]
    assert lookup(module, "heron", Path("shots.py")) == "a bird"
    with pytest.raises(SourceError, match=r"no name 'heroo' in this file; did you mean 'hero'\?$"):
        lookup(module, "heroo", Path("shots.py"), otherwise=lambda: "; never asked")
    with pytest.raises(SourceError, match=r"no name 'zzz' in this file; try hero$"):
        lookup(module, "zzz", Path("shots.py"), otherwise=lambda: "; try hero")
    with pytest.raises(SourceError, match=r"no name 'zzz' in this file$"):
        lookup(module, "zzz", Path("shots.py"))


def test_batch_templates_report_like_sources(tmp_path: Path) -> None:
    write(tmp_path, "quits.py", "import sys\nsys.exit('no')\n")
    job = write(
        tmp_path, "job.toml", 'template = "quits.py:x"\noutput = "{a}"\n[variables.zip]\na = [1]\n'
    )
    with pytest.raises(SourceError, match=r"SystemExit\('no'\)") as caught:
        load_job(job)
    assert caught.value.line == 2
