"""git is never handed an option through a revision, and diff prints nothing raw."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt._versioning._git import read_git_file
from testkit import git

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.json").write_text('{"scene": "a red fox"}', encoding="utf-8")
    (root / "-dash.json").write_text('{"scene": "a grey fox"}', encoding="utf-8")
    git(root, "add", "--", ".")
    git(root, "commit", "-q", "-m", "one")
    (root / "a.json").write_text('{"scene": "a blue fox"}', encoding="utf-8")
    return root


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "--", "--output={target}:a.json", "a.json"],
        ["diff", "a.json", "--", "--output={target}:a.json"],
        ["diff", "--rev=--output={target}"],
    ],
)
def test_a_revision_that_looks_like_an_option_writes_nothing(
    repo: Path, tmp_path: Path, args: list[str]
) -> None:
    target = tmp_path / "written-by-git"
    done = run(*(arg.format(target=target) for arg in args), cwd=repo)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "cannot start with '-'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not target.exists()


def test_read_git_file_separates_revisions_from_options(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(SourceError, match="cannot start with '-'"):
        read_git_file(f"--output={target}", "a.json", cwd=repo)
    with pytest.raises(SourceError, match="cannot hold a NUL"):
        read_git_file("HEAD\x00--output=x", "a.json", cwd=repo)
    assert not target.exists()
    # A path that starts with '-' is still a path.
    assert b"grey fox" in read_git_file("HEAD", "-dash.json", cwd=repo)
    assert b"red fox" in read_git_file("HEAD", "a.json", cwd=repo)


def test_diff_prints_no_escape_sequence_from_a_file_name(repo: Path) -> None:
    hostile = "b\x1b[2J\u202e.json"
    (repo / hostile).write_text('{"scene": "a fox at dusk"}', encoding="utf-8")
    done = run("diff", "HEAD:a.json", hostile, cwd=repo)
    assert done.returncode in (0, 1), done.stderr
    assert "\x1b" not in done.stdout + done.stderr
    assert "\u202e" not in done.stdout + done.stderr
    assert "b\\x1b[2J\\u202e.json" in done.stdout
