"""``flux2-prompt review`` on the command line: help, completion, lazy import, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_help_lists_review_and_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["-h"], capsys)
    assert code == 0
    assert "review" in out
    code, out, _ = run(["review", "-h"], capsys)
    assert code == 0
    for option in ("--out", "--limit", "--live", "--max-cost", "--cache", "--seed"):
        assert option in out
    assert "BASE" in out


def test_completion_knows_review(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_FLUX2_PROMPT_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "flux2-prompt rev")
    monkeypatch.setenv("COMP_CWORD", "1")
    code, out, _ = run([], capsys)
    assert (code, out.split()) == (0, ["review"])
    monkeypatch.setenv("COMP_WORDS", "flux2-prompt review --max")
    monkeypatch.setenv("COMP_CWORD", "2")
    code, out, _ = run([], capsys)
    assert (code, out.split()) == (0, ["--max-cost"])


def test_the_command_line_does_not_import_review_until_it_runs(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from flux2prompt.cli import main\n"
        "try:\n    main(['validate', '-h'])\nexcept SystemExit:\n    pass\n"
        "print('flux2prompt._review' in sys.modules, 'flux2prompt.cli._review' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_outside_a_repository_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, _, err = run(["review"], capsys)
    assert code == 2
    assert err.startswith("error: ")
    assert "not in a git repository" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "review.md").exists()


def test_an_out_that_is_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("x", encoding="utf-8")
    code, _, err = run(["review", "HEAD", "--out", "taken"], capsys)
    assert code == 2
    assert "taken" in err
    assert err.count("\n") == 1
