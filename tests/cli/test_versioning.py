"""``flux2-prompt diff`` and ``flux2-prompt lock``: output, exit codes, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux2prompt.cli import app

HARBOUR = """\
name = "harbour"
version = "1"

[prompt]
scene = "a quiet harbour at dawn"
mood = "calm"
effects = ["subtle film grain", "soft bloom"]

[prompt.camera]
angle = "eye level"
"""


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(old)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    a = write(tmp_path / "a" / "harbour.prompt.toml", HARBOUR)
    b = write(tmp_path / "b" / "harbour.prompt.toml", HARBOUR)
    edit(b, 'mood = "calm"', 'mood = "tense"')
    edit(b, ', "soft bloom"', "")
    edit(b, 'angle = "eye level"', 'angle = "eye level"\nlens = "85mm"')
    return a, b


# -- diff ---------------------------------------------------------------------------------------


def test_diff_prints_exactly_the_changed_paths(versions: tuple[Path, Path]) -> None:
    """Acceptance 4, on the command line."""
    a, b = versions
    code, stdout, _ = run("diff", str(a), str(b))
    assert code == 0
    assert stdout.splitlines() == [
        f"--- {a}",
        f"+++ {b}",
        '~ $.mood: "calm" → "tense"',
        '+ $.camera.lens: "85mm"',
        '- $.effects[1]: "soft bloom"',
    ]


def test_diff_json(versions: tuple[Path, Path]) -> None:
    a, b = versions
    code, stdout, _ = run("diff", "--json", str(a), str(b))
    assert code == 0
    data = json.loads(stdout)
    assert data["identical"] is False
    assert [(e["op"], e["path"]) for e in data["prompt"]] == [
        ("changed", "$.mood"),
        ("added", "$.camera.lens"),
        ("removed", "$.effects[1]"),
    ]
    assert data["metadata"] == []


def test_diff_identical_and_exit_code(versions: tuple[Path, Path]) -> None:
    a, b = versions
    code, stdout, _ = run("diff", str(a), str(a), "--exit-code")
    assert (code, stdout.strip()) == (0, f"no differences between {a} and {a}")
    assert json.loads(run("diff", "--json", str(a), str(a))[1])["identical"] is True
    assert run("diff", "--exit-code", str(a), str(b))[0] == 1


def test_diff_against_a_git_revision(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    path = write(tmp_path / "prompts" / "harbour.prompt.toml", HARBOUR)
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "v1"]):
        subprocess.run(["git", *command], cwd=tmp_path, env=env, check=True, capture_output=True)
    edit(path, 'mood = "calm"', 'mood = "stormy"')
    code, stdout, stderr = run(
        "diff", "HEAD:prompts/harbour.prompt.toml", "prompts/harbour.prompt.toml", cwd=tmp_path
    )
    assert code == 0, stderr
    assert stdout.splitlines()[2:] == ['~ $.mood: "calm" → "stormy"']
    code, _, stderr = run("diff", "v9:prompts/harbour.prompt.toml", str(path), cwd=tmp_path)
    assert code == 2
    assert stderr.startswith("error: v9: no such revision in this repository; give a commit")


def test_diff_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.prompt.toml", 'name = "x"\n[prompt\n')
    good = write(tmp_path / "good.prompt.toml", HARBOUR)
    code, _, stderr = run("diff", str(bad), str(good))
    assert code == 2
    assert stderr.startswith(f"error: {bad}:2: invalid TOML")
    invalid = write(tmp_path / "invalid.prompt.toml", 'name = "x"\n[prompt]\nscene = 3\n')
    code, _, stderr = run("diff", str(invalid), str(good))
    assert code == 1
    assert stderr.strip() == f"error: {invalid}: $.prompt.scene: expected a string, got integer 3"
    code, _, stderr = run("diff", str(tmp_path / "missing.json"), str(good))
    assert code == 2
    assert "no such file" in stderr
    plain = write(tmp_path / "plain.json", '{"scene": "fog", "mood": 3}')
    code, _, stderr = run("diff", str(good), str(plain))
    assert code == 1
    assert stderr.strip() == f"error: {plain}: $.mood: expected a string, got integer 3"


def test_diff_json_is_one_document_whatever_the_outcome(tmp_path: Path) -> None:
    """A diff that cannot be made still prints one JSON document, with the error line's text;
    the error line and the exit code are those of text."""
    command = str(Path(sys.executable).with_name("flux2-prompt"))
    good = write(tmp_path / "good.prompt.toml", HARBOUR)
    write(tmp_path / "invalid.prompt.toml", 'name = "x"\n[prompt]\nscene = 3\n')
    cases = [
        (
            ("missing.json", "good.prompt.toml"),
            2,
            "missing.json",
            "good.prompt.toml",
            "missing.json: no such file",
        ),
        (
            ("invalid.prompt.toml", "good.prompt.toml"),
            1,
            "invalid.prompt.toml",
            "good.prompt.toml",
            "invalid.prompt.toml: $.prompt.scene: expected a string, got integer 3",
        ),
        (("good.prompt.toml",), 2, "good.prompt.toml", None, "give two sources A and B"),
        (("--rev", "HEAD"), 2, "HEAD", "working tree", "HEAD: not in a git repository"),
        (("--no-such-option",), 2, None, None, "No such option: --no-such-option"),
    ]
    for args, code, a, b, said in cases:
        done = subprocess.run(
            [command, "diff", "--json", *args],
            cwd=tmp_path,
            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (args, done.stderr)
        document = json.loads(done.stdout)
        assert (document["a"], document["b"]) == (a, b)
        assert document["error"].startswith(said), document
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: {said}")
    assert good.is_file()


# -- lock ---------------------------------------------------------------------------------------


def test_lock_check_fails_on_a_changed_prompt_and_passes_after_lock(tmp_path: Path) -> None:
    """Acceptance 3."""
    harbour = write(tmp_path / "prompts" / "harbour.prompt.toml", HARBOUR)
    write(tmp_path / "prompts" / "notes.json", '{"not": "a prompt file"}')

    code, stdout, _ = run("lock", cwd=tmp_path)
    assert (code, stdout.strip()) == (0, "wrote flux2prompt.lock (1 prompt)")
    lock = json.loads((tmp_path / "flux2prompt.lock").read_text(encoding="utf-8"))
    assert list(lock["prompts"]) == ["harbour"]
    assert lock["prompts"]["harbour"]["path"] == "prompts/harbour.prompt.toml"

    code, stdout, _ = run("lock", "--check", cwd=tmp_path)
    assert (code, stdout.strip()) == (0, "flux2prompt.lock is up to date (1 prompt)")

    before = lock["prompts"]["harbour"]["prompt_fingerprint"]
    edit(harbour, 'mood = "calm"', 'mood = "tense"')
    code, stdout, stderr = run("lock", "--check", cwd=tmp_path)
    assert code == 1
    assert "flux2prompt.lock is out of date (1 change)" in stderr
    line, fields = stdout.splitlines()
    assert line.startswith("~ harbour (prompts/harbour.prompt.toml): prompt ")
    # Not in git: the lock names the fields whose hashes changed.
    assert fields.startswith("    fields changed: $.mood (the old values are not in git")
    assert before[:23] in line
    assert (tmp_path / "flux2prompt.lock").read_text(encoding="utf-8") == (
        json.dumps(lock, indent=2, sort_keys=True) + "\n"
    )  # --check writes nothing

    assert run("lock", cwd=tmp_path)[0] == 0
    assert run("lock", "--check", cwd=tmp_path)[0] == 0
    code, stdout, _ = run("lock", cwd=tmp_path)
    assert stdout.strip() == "unchanged: flux2prompt.lock (1 prompt)"


def test_lock_with_paths_and_file_option(tmp_path: Path) -> None:
    write(tmp_path / "p" / "a.prompt.toml", HARBOUR)
    explicit = write(tmp_path / "extra.toml", 'name = "extra"\n[prompt]\nscene = "x"\n')
    lock_file = tmp_path / "locks" / "prompts.lock"
    lock_file.parent.mkdir()
    code, _, stderr = run("lock", str(tmp_path / "p"), str(explicit), "--file", str(lock_file))
    assert code == 0, stderr
    data = json.loads(lock_file.read_text(encoding="utf-8"))
    assert {name: entry["path"] for name, entry in data["prompts"].items()} == {
        "extra": "../extra.toml",
        "harbour": "../p/a.prompt.toml",
    }
    args = ("lock", "--check", str(tmp_path / "p"), "--file", str(lock_file))
    code, stdout, _ = run(*args)
    assert code == 1
    assert stdout.strip() == "- extra: no longer found (was ../extra.toml)"


def test_lock_check_without_a_lockfile(tmp_path: Path) -> None:
    write(tmp_path / "a.prompt.toml", HARBOUR)
    code, _, stderr = run("lock", "--check", cwd=tmp_path)
    assert code == 1
    assert stderr.startswith(
        f"error: no lockfile: no flux2prompt.lock in {tmp_path} or its parents"
    )
    assert "run `flux2-prompt lock`" in stderr
    assert not (tmp_path / "flux2prompt.lock").exists()
    code, _, stderr = run("lock", "--check", "--file", "other.lock", cwd=tmp_path)
    assert (code, stderr.strip()) == (
        1,
        "error: other.lock: no lockfile; run `flux2-prompt lock` and commit it",
    )


def test_lock_errors(tmp_path: Path) -> None:
    a = write(tmp_path / "a.prompt.toml", HARBOUR)
    b = write(tmp_path / "b.prompt.toml", HARBOUR)
    code, _, stderr = run("lock", cwd=tmp_path)
    assert code == 2
    assert "duplicate prompt name 'harbour'" in stderr
    assert a.name in stderr
    assert b.name in stderr
    b.unlink()
    write(tmp_path / "flux2prompt.lock", "{ nope")
    code, _, stderr = run("lock", "--check", cwd=tmp_path)
    assert code == 2
    assert stderr.startswith("error: flux2prompt.lock:1: invalid JSON")
    code, _, stderr = run("lock", "missing-dir", cwd=tmp_path)
    assert (code, stderr.strip()) == (2, "error: missing-dir: no such file or directory")


def test_lock_warns_when_nothing_is_found(tmp_path: Path) -> None:
    code, stdout, stderr = run("lock", cwd=tmp_path)
    assert code == 0
    assert "no prompt files found" in stderr
    assert "(0 prompts)" in stdout


# -- lock from a subfolder ------------------------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository (``.git``) with prompts in two folders, inside a folder with a stray lock."""
    write(tmp_path / "flux2prompt.lock", "not the repository's lock, never read")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write(root / "prompts" / "harbour.prompt.toml", HARBOUR)
    write(root / "other" / "fox.prompt.toml", 'name = "fox"\n[prompt]\nscene = "a fox"\n')
    (root / "prompts" / "deep" / "er").mkdir(parents=True)
    return root


def test_lock_from_a_subfolder_uses_the_lockfile_at_the_root(repository: Path) -> None:
    assert run("lock", cwd=repository)[0] == 0
    recorded = (repository / "flux2prompt.lock").read_text(encoding="utf-8")
    deep = repository / "prompts" / "deep" / "er"

    code, stdout, stderr = run("lock", "--check", cwd=deep)
    assert (code, stdout.strip()) == (0, "../../../flux2prompt.lock is up to date (2 prompts)"), (
        stderr
    )

    # A change anywhere under the lockfile's folder, not only under the current one.
    edit(repository / "other" / "fox.prompt.toml", "a fox", "a wild fox")
    code, stdout, stderr = run("lock", "--check", cwd=deep)
    assert code == 1
    assert "../../../flux2prompt.lock is out of date (1 change)" in stderr
    assert stdout.startswith("~ fox (other/fox.prompt.toml): prompt ")

    # `lock` rewrites that lockfile, paths still relative to its folder, and writes no other.
    code, stdout, _ = run("lock", cwd=deep)
    assert (code, stdout.strip()) == (0, "wrote ../../../flux2prompt.lock (2 prompts)")
    assert not (deep / "flux2prompt.lock").exists()
    data = json.loads((repository / "flux2prompt.lock").read_text(encoding="utf-8"))
    assert {name: entry["path"] for name, entry in data["prompts"].items()} == {
        "fox": "other/fox.prompt.toml",
        "harbour": "prompts/harbour.prompt.toml",
    }
    assert data != json.loads(recorded)
    assert run("lock", "--check", cwd=repository / "other")[0] == 0


def test_the_nearest_lockfile_wins(repository: Path) -> None:
    assert run("lock", cwd=repository)[0] == 0
    prompts = repository / "prompts"
    code, stdout, _ = run("lock", cwd=prompts)  # the root's lock: nothing changed
    assert stdout.strip() == "unchanged: ../flux2prompt.lock (2 prompts)"
    code, stdout, _ = run("lock", "--file", "flux2prompt.lock", cwd=prompts)
    assert (code, stdout.strip()) == (0, "wrote flux2prompt.lock (1 prompt)")
    code, stdout, _ = run("lock", "--check", cwd=prompts / "deep")
    assert (code, stdout.strip()) == (0, "../flux2prompt.lock is up to date (1 prompt)")


def test_the_search_stops_at_the_repository_root(repository: Path) -> None:
    deep = repository / "prompts" / "deep"
    code, _, stderr = run("lock", "--check", cwd=deep)
    assert code == 1
    assert stderr.strip() == (
        f"error: no lockfile: no flux2prompt.lock in {deep} or its parents up to {repository} "
        "(the repository's root); run `flux2-prompt lock` and commit it"
    )
    code, _, stderr = run("lock", "--check", cwd=repository)
    assert stderr.startswith(f"error: no lockfile: no flux2prompt.lock in {repository} (the ")

    # Without one, `lock` writes a lockfile in the current folder, covering the current folder.
    code, stdout, _ = run("lock", cwd=repository / "prompts")
    assert (code, stdout.strip()) == (0, "wrote flux2prompt.lock (1 prompt)")
    assert (repository / "prompts" / "flux2prompt.lock").is_file()
    assert not (repository / "flux2prompt.lock").exists()


def test_a_git_file_marks_the_root_too(repository: Path) -> None:
    """In a worktree or a submodule, ``.git`` is a file."""
    sub = repository / "vendor" / "module"
    write(sub / ".git", "gitdir: ../../.git/modules/module\n")
    assert run("lock", cwd=repository)[0] == 0
    code, _, stderr = run("lock", "--check", cwd=sub)
    assert code == 1
    assert f"no flux2prompt.lock in {sub} (the repository's root)" in stderr
