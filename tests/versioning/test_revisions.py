"""A revision that cannot be read says why in the same words for every form of ``diff``: a
prompt file's ``REV:path`` (read with ``git show``) as for code and ``--rev`` (read by the
worker): no such revision, a shallow clone to fetch, no commit yet, no repository at all.

Real git repositories in temporary folders, the installed ``flux2-prompt`` in a subprocess.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
FOX = 'name = "fox"\n[prompt]\nscene = "a quiet fox"\n'
HERO = 'from flux2prompt import scene\nhero = scene("a lighthouse")\n'


def run(cwd: Path, *args: str, ceiling: Path | None = None) -> tuple[int, str]:
    env = {**os.environ}
    if ceiling is not None:  # git looks no higher, whatever folder the tests run under
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    done = subprocess.run(
        [COMMAND, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return done.returncode, lines[0]


def _files(folder: Path) -> None:
    (folder / "fox.prompt.toml").write_text(FOX, encoding="utf-8")
    (folder / "hero.py").write_text(HERO, encoding="utf-8")


SIDES = [
    ("{rev}:fox.prompt.toml", "fox.prompt.toml"),
    ("{rev}:hero.py:hero", "hero.py:hero"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _files(root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


@pytest.mark.parametrize("sides", SIDES, ids=["prompt file", "module"])
def test_a_revision_that_does_not_exist(repo: Path, sides: tuple[str, str]) -> None:
    code, line = run(repo, "diff", sides[0].format(rev="no-such-branch"), sides[1])
    assert code == 2
    assert line.startswith("error: no-such-branch: no such revision in this repository; give")


@pytest.mark.parametrize("sides", SIDES, ids=["prompt file", "module"])
def test_a_shallow_clone_says_how_to_fetch(repo: Path, sides: tuple[str, str]) -> None:
    (repo / "fox.prompt.toml").write_text(FOX.replace("quiet", "wild"), encoding="utf-8")
    git(repo, "commit", "-qam", "two")
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    code, line = run(clone, "diff", sides[0].format(rev="HEAD~1"), sides[1])
    assert code == 2
    assert line.startswith("error: HEAD~1: no such revision in this repository; this is a shallow")
    assert "git fetch --unshallow" in line


@pytest.mark.parametrize(
    "args",
    [("diff", "HEAD:fox.prompt.toml", "fox.prompt.toml"), ("diff", "--rev", "HEAD")],
    ids=["REV:path", "--rev"],
)
def test_a_repository_without_commits(tmp_path: Path, args: tuple[str, ...]) -> None:
    _files(tmp_path)
    git(tmp_path, "init", "-q")
    code, line = run(tmp_path, *args)
    assert code == 2
    assert line == "error: HEAD: the repository has no commit yet; commit first"


@pytest.mark.parametrize(
    "args",
    [("diff", "HEAD:fox.prompt.toml", "fox.prompt.toml"), ("diff", "--rev", "HEAD")],
    ids=["REV:path", "--rev"],
)
def test_outside_a_repository(tmp_path: Path, args: tuple[str, ...]) -> None:
    _files(tmp_path)
    code, line = run(tmp_path, *args, ceiling=tmp_path.parent)
    assert code == 2
    assert line.startswith("error: HEAD: not in a git repository")
    assert line.endswith("run this inside one")


def test_a_file_deleted_at_the_revision_names_it(repo: Path) -> None:
    git(repo, "rm", "-q", "fox.prompt.toml")
    git(repo, "commit", "-qm", "gone")
    (repo / "fox.prompt.toml").write_text(FOX, encoding="utf-8")
    code, line = run(repo, "diff", "HEAD:fox.prompt.toml", "fox.prompt.toml")
    assert code == 2
    assert line == (
        "error: HEAD:fox.prompt.toml: git cannot read it: path 'fox.prompt.toml' exists on disk, "
        "but not in 'HEAD'"
    )


# What git before 2.24 answers: it knows no --end-of-options, and takes it for a revision.
OLD_GIT = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "git version 2.20.1"; exit 0; fi
for word in "$@"; do
  if [ "$word" = "--end-of-options" ]; then
    echo "fatal: bad revision '--end-of-options'" >&2
    exit 128
  fi
done
exec "REAL_GIT" "$@"
"""


@pytest.mark.parametrize(
    "args",
    [
        ("diff", "HEAD:fox.prompt.toml", "fox.prompt.toml"),
        ("diff", "HEAD:hero.py:hero", "hero.py:hero"),
        ("diff", "--rev", "HEAD"),
        ("review",),
    ],
    ids=["REV:path", "REV:module", "--rev", "review without BASE"],
)
def test_a_git_too_old_for_end_of_options_says_so(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    real = shutil.which("git")
    assert real is not None
    shim = tmp_path / "old-git"
    shim.mkdir()
    (shim / "git").write_text(OLD_GIT.replace("REAL_GIT", real), encoding="utf-8")
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    code, line = run(repo, *args)
    assert code == 2
    assert line == (
        f"error: {'review' if args == ('review',) else 'HEAD'}: git 2.20 is too old to read a "
        "revision safely; flux2prompt needs git 2.24 or later (for --end-of-options): upgrade git"
    )


def test_prompts_in_a_submodule_are_read_at_the_revision_too(tmp_path: Path) -> None:
    """``git archive`` leaves a submodule's folder empty: its prompts are read from the
    submodule at the commit the revision records, not taken for new ones."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "owl.prompt.toml").write_text(FOX.replace("fox", "owl"), encoding="utf-8")
    git(shared, "init", "-q")
    git(shared, "add", "-A")
    git(shared, "commit", "-qm", "owl")
    root = tmp_path / "project"
    root.mkdir()
    (root / "fox.prompt.toml").write_text(FOX, encoding="utf-8")
    git(root, "init", "-q")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(shared), "shared")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    done = subprocess.run(
        [COMMAND, "diff", "--rev", "HEAD"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no differences between HEAD and the working tree (2 unchanged)\n"
    owl = root / "shared" / "owl.prompt.toml"
    owl.write_text(owl.read_text(encoding="utf-8").replace("quiet", "wise"), encoding="utf-8")
    done = subprocess.run(
        [COMMAND, "diff", "--rev", "HEAD"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines()[2:] == [
        "~ owl: changed",
        '    ~ $.scene: "a quiet owl" → "a wise owl"',
    ]


def test_a_file_that_did_not_read_at_the_revision_is_left_out_with_a_note(repo: Path) -> None:
    """A prompt file that did not parse at BASE, or a module that failed to import there, cannot
    be fixed any more: the old side leaves it out and says so; the diff and the review still run
    (a pull request that fixes a broken prompt gets its review)."""
    (repo / "broken.prompt.toml").write_text('name = "owl"\n[prompt\n', encoding="utf-8")
    (repo / "failing.py").write_text("raise KeyError('sku')\n", encoding="utf-8")
    (repo / "copy.prompt.toml").write_text(FOX, encoding="utf-8")  # a second "fox"
    (repo / "pyproject.toml").write_text(
        '[tool.flux2prompt]\nmodules = ["*.py"]\n', encoding="utf-8"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "broken")
    (repo / "broken.prompt.toml").write_text(FOX.replace("fox", "owl"), encoding="utf-8")
    (repo / "failing.py").write_text(HERO.replace("hero", "sign"), encoding="utf-8")
    (repo / "copy.prompt.toml").unlink()
    done = subprocess.run(
        [COMMAND, "diff", "--rev", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2:] == ["+ owl: added", "+ failing.py:sign: added"]
    assert done.stderr.splitlines() == [
        "note: at HEAD, broken.prompt.toml:2: invalid TOML at column 8: Expected ']' at the end "
        "of a table declaration; left out of the old side, so what it holds now shows as added",
        "note: at HEAD, fox.prompt.toml: duplicate prompt name 'fox': also in copy.prompt.toml; "
        "give each prompt file its own name; left out of the old side, so what it holds now "
        "shows as added",
        "note: at HEAD, failing.py:1: importing it raised KeyError: 'sku'; left out of the old "
        "side, so what it holds now shows as added",
    ]
    done = subprocess.run(
        [COMMAND, "diff", "--json", "--rev", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [note.split(":")[0] for note in json.loads(done.stdout)["notes"]] == [
        "at HEAD, broken.prompt.toml",
        "at HEAD, fox.prompt.toml",
        "at HEAD, failing.py",
    ]
    done = subprocess.run(
        [COMMAND, "review", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    markdown = (repo / "review.md").read_text(encoding="utf-8")
    said = "Expected ']' at the end of a table declaration; left out of the old side"
    assert said in html.unescape(markdown)
    assert "0 changed, 2 added, 0 removed" in markdown


def test_a_rev_path_inside_a_submodule_is_read_from_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "owl.prompt.toml").write_text(FOX.replace("fox", "owl"), encoding="utf-8")
    git(shared, "init", "-q")
    git(shared, "add", "-A")
    git(shared, "commit", "-qm", "owl")
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(shared), "lib")
    git(root, "commit", "-qm", "one")
    owl = root / "lib" / "owl.prompt.toml"
    owl.write_text(owl.read_text(encoding="utf-8").replace("quiet", "wise"), encoding="utf-8")
    for old in ("HEAD:lib/owl.prompt.toml", "HEAD:./lib/owl.prompt.toml"):
        done = subprocess.run(
            [COMMAND, "diff", old, "lib/owl.prompt.toml"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[2:] == ['~ $.scene: "a quiet owl" → "a wise owl"']
    code, line = run(root, "diff", "HEAD:lib/gone.prompt.toml", "lib/owl.prompt.toml")
    assert code == 2
    assert line.startswith("error: HEAD:lib/gone.prompt.toml: in submodule lib at ")
    assert ": git cannot read it: path 'gone.prompt.toml' does not exist in '" in line
    # A clone that never checked the submodule out says how to.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    (clone / "owl.prompt.toml").write_text(FOX, encoding="utf-8")
    code, line = run(clone, "diff", "HEAD:lib/owl.prompt.toml", "owl.prompt.toml")
    assert code == 2
    assert line == (
        "error: HEAD:lib/owl.prompt.toml: lib is a submodule that is not checked out here; run "
        "git submodule update --init, then diff again"
    )


def test_a_path_outside_the_repository_has_no_revision(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "owl.prompt.toml").write_text(FOX.replace("fox", "owl"), encoding="utf-8")
    code, line = run(repo, "diff", "--rev", "HEAD", str(outside / "owl.prompt.toml"))
    assert code == 2
    assert line == (
        f"error: {outside / 'owl.prompt.toml'}: is outside the repository ({repo}), so it has "
        "no revision HEAD; give paths inside it"
    )


def test_rev_paths_of_code_are_from_the_root_as_for_prompt_files(repo: Path) -> None:
    """``REV:path`` is a path from the repository's root and ``REV:./path`` one from the current
    folder, for a module's ``file.py:NAME`` as for a prompt file (git's own rule)."""
    sub = repo / "pkg"
    sub.mkdir()
    _files(sub)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pkg")
    (sub / "hero.py").write_text(HERO.replace("lighthouse", "tower"), encoding="utf-8")
    (sub / "fox.prompt.toml").write_text(FOX.replace("quiet", "wild"), encoding="utf-8")
    for old, new in [
        ("HEAD:pkg/hero.py:hero", "hero.py:hero"),
        ("HEAD:./hero.py:hero", "hero.py:hero"),
        ("HEAD:pkg/fox.prompt.toml", "fox.prompt.toml"),
        ("HEAD:./fox.prompt.toml", "fox.prompt.toml"),
    ]:
        done = subprocess.run(
            [COMMAND, "diff", old, new], cwd=sub, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (old, done.stderr)
        assert len(done.stdout.splitlines()) == 3, (old, done.stdout)
    # From the root, hero.py is the root's own module, unchanged.
    done = subprocess.run(
        [COMMAND, "diff", "HEAD:hero.py:hero", "hero.py:hero"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("no differences"), done.stderr


def test_a_committed_link_out_of_the_repository_does_not_stop_the_old_side(repo: Path) -> None:
    """The tree of a revision is copied without the links that point out of it (an absolute
    path, ../): they are refused by tarfile's data filter, which must not end in a traceback."""
    (repo / "host").symlink_to("/etc/hostname")
    (repo / "up").symlink_to("../elsewhere")
    (repo / "inside").symlink_to("fox.prompt.toml")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "links")
    (repo / "fox.prompt.toml").write_text(FOX.replace("quiet", "wild"), encoding="utf-8")
    for args in (("diff", "--rev", "HEAD"), ("diff", "HEAD:hero.py:hero", "hero.py:hero")):
        done = subprocess.run(
            [COMMAND, *args], cwd=repo, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [COMMAND, "diff", "--rev", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines()[2:] == [
        "~ fox: changed",
        '    ~ $.scene: "a quiet fox" → "a wild fox"',
    ]


def _limited_files(limit: int) -> None:
    # In the child, before exec: files it writes stop at ``limit`` bytes (EFBIG, as a full disk
    # gives ENOSPC), and the signal that would kill it for that is ignored, as a write error.
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_revision_whose_files_do_not_fit_in_the_temporary_folder_says_so(repo: Path) -> None:
    """The old side's tree is written to a temporary folder; when a file of it cannot be written
    there (a full disk), the command says so in one line and how to give it room."""
    (repo / "clip.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a large file")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [COMMAND, "diff", "--rev", "HEAD"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limited_files(1024 * 1024),
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot copy the revision's files into a temporary folder" in lines[0]
    assert "File too large" in lines[0]
    assert "set TMPDIR to a folder with room" in lines[0]


def test_a_revision_with_large_committed_files_reads_its_prompts(repo: Path) -> None:
    """Large files beside the prompts (assets, datasets) are copied into the old side's tree
    whole and byte for byte: the prompts at the revision read as they were."""
    (repo / "assets").mkdir()
    (repo / "assets" / "clip.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    (repo / "hero.py").write_text(
        HERO + "from pathlib import Path\n"
        "assert Path(__file__).with_name('assets').joinpath('clip.bin').stat().st_size == "
        f"{24 * 1024 * 1024}\n",
        encoding="utf-8",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "assets")
    (repo / "hero.py").write_text(
        HERO.replace("a lighthouse", "a lighthouse at night"), encoding="utf-8"
    )
    done = subprocess.run(
        [COMMAND, "diff", "HEAD:hero.py:hero", "hero.py:hero"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert '~ $.scene: "a lighthouse" → "a lighthouse at night"' in done.stdout, done.stdout
