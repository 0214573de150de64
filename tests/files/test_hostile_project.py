"""A project's files as they are on a real disk: named pipes beside the prompts, links to
nowhere and links in a loop, globs that are absolute, leave the root, or match nothing.

Discovery must never hang, never print a traceback, and say what it skipped or could not use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt._files._parse import is_job_file, read_bytes
from flux2prompt._files._project import discover_paths, find_project, read_project_config

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
PROMPT = 'name = "{name}"\n[prompt]\nscene = "a lighthouse"\n'


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A hang is the bug: the timeout fails the test instead of the run.
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.prompt.toml").write_text(PROMPT.format(name="a"), encoding="utf-8")
    return tmp_path


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")


@needs_fifo
def test_named_pipes_named_like_prompt_and_job_files_are_not_read(project: Path) -> None:
    # Each was opened and read: lock waited forever for a writer that never came.
    os.mkfifo(project / "b.prompt.toml")
    os.mkfifo(project / "job.toml")
    assert not is_job_file(project / "job.toml")
    found = find_project(project).discover()
    assert [path.name for path in found.prompt_files] == ["a.prompt.toml"]
    assert found.jobs == ()
    done = run("lock", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote flux2prompt.lock (1 prompt)\n"


@needs_fifo
def test_a_named_pipe_named_on_the_command_line_is_said_to_be_one(project: Path) -> None:
    os.mkfifo(project / "b.prompt.toml")
    with pytest.raises(SourceError) as caught:
        discover_paths([project / "b.prompt.toml"])
    assert str(caught.value) == (
        f"{project / 'b.prompt.toml'}: is not a file or a folder; name prompt files, job files, "
        "Python modules or folders of them"
    )  # it said "no such file or directory" of a file that ls shows


def test_a_link_to_nowhere_is_named_as_one(project: Path) -> None:
    (project / "gone.prompt.toml").symlink_to("renamed.prompt.toml")
    expected = (
        "gone.prompt.toml: is a symbolic link to 'renamed.prompt.toml', which does not exist; "
        "fix or remove the link"
    )
    for command in (["lock"], ["validate", "gone.prompt.toml"], ["lock", "gone.prompt.toml"]):
        done = run(*command, cwd=project)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.splitlines()[-1] == f"error: {expected}", command  # not "no such file"


def test_a_link_in_a_loop_is_named_as_one(project: Path) -> None:
    (project / "one.prompt.toml").symlink_to("two.prompt.toml")
    (project / "two.prompt.toml").symlink_to("one.prompt.toml")
    with pytest.raises(SourceError) as caught:
        read_bytes(project / "one.prompt.toml")
    assert str(caught.value).endswith(
        "one.prompt.toml: is a symbolic link that loops (it leads back to itself); fix or remove "
        "the link"
    )


@pytest.mark.parametrize(
    ("glob", "problem"),
    [
        ("/etc/*.toml", "is an absolute path; globs are relative to the project's root"),
        ("", "matches no file: write a glob of files, such as prompts/**/*.prompt.toml"),
        (".", "matches no file: write a glob of files"),
        ("../shared/*.prompt.toml", "leaves the project's root (this file's folder)"),
        ("prompts/**a.prompt.toml", "uses ** inside a name; ** stands for whole folders only"),
    ],
)
@pytest.mark.parametrize("key", ["prompts", "modules", "jobs"])
def test_a_glob_that_cannot_work_is_refused_with_the_key(
    project: Path, glob: str, problem: str, key: str
) -> None:
    # Absolute and empty globs were tracebacks (NotImplementedError, ValueError) from pathlib;
    # one that left the root matched files that were then dropped as "hidden" ('..').
    config = project / "flux2prompt.toml"
    config.write_text(f"[tool.flux2prompt]\n{key} = [{glob!r}]\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        read_project_config(config)
    assert str(caught.value).startswith(f"{config}: [tool.flux2prompt] {key}: {glob!r} {problem}")
    done = run("lock", cwd=project)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: flux2prompt.toml: [tool.flux2prompt] {key}: {glob!r}")


def test_a_glob_that_matches_nothing_is_said_to(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)  # the configuration is shown relative to the current folder
    (project / "flux2prompt.toml").write_text(
        '[tool.flux2prompt]\nprompts = ["*.prompt.toml", "promtps/*.prompt.toml"]\n'
        'jobs = ["jobs/*.toml"]\n',
        encoding="utf-8",
    )
    found = find_project(project).discover()
    assert [path.name for path in found.prompt_files] == ["a.prompt.toml"]
    assert found.scanned == (
        "prompt files matching *.prompt.toml, promtps/*.prompt.toml (flux2prompt.toml); no file "
        "matches promtps/*.prompt.toml",
        "job files matching jobs/*.toml; no file matches jobs/*.toml",
    )
    done = run("lock", cwd=project)
    assert "; no file matches promtps/*.prompt.toml" in done.stderr


def test_thousands_of_prompt_files_are_each_locked_once(project: Path) -> None:
    folder = project / "prompts"
    folder.mkdir()
    for number in range(2000):
        name = f"p{number:04d}"
        (folder / f"{name}.prompt.toml").write_text(PROMPT.format(name=name), encoding="utf-8")
    (project / "flux2prompt.toml").write_text(
        '[tool.flux2prompt]\nprompts = ["prompts/*.prompt.toml", "prompts/**/*.toml"]\n',
        encoding="utf-8",
    )
    found = find_project(project).discover()
    assert len(found.prompt_files) == len(set(found.prompt_files)) == 2000  # two globs, once each
    assert [path.name for path in found.prompt_files] == sorted(
        path.name for path in found.prompt_files
    )


def test_a_glob_the_shell_left_as_it_is_is_named_as_a_pattern(project: Path) -> None:
    # `validate prompts/*.json` with no such file: the shell passes the pattern on as it is.
    done = run("validate", "prompts/*.json", "a.prompt.toml", "shots?.py:hero", cwd=project)
    assert done.returncode == 2
    assert done.stderr == (
        "error: prompts/*.json: no such file, and no file matches it as a pattern\n"
        "error: shots?.py: no such file, and no file matches it as a pattern\n"
    )
    assert done.stdout == "a.prompt.toml: ok\n"
    (project / "hero.py").symlink_to("moved.py")
    done = run("compile", "hero.py:hero", cwd=project)
    assert done.stderr == (
        "error: hero.py: is a symbolic link to 'moved.py', which does not exist; fix or remove "
        "the link\n"
    )
