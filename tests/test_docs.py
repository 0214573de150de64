"""The code in the README and in docs/*.md runs, so the documentation cannot drift from the code.

Each page says in one line under its title how its Python blocks run, and they run so:
:data:`SCRIPT` (in order, in one namespace, in one fresh temporary folder) or :data:`SELF`
(each block alone, in a namespace and a temporary folder of its own). Every fenced block whose
info string is exactly ``python`` runs. A block made of ``>>>`` lines is a doctest, so the
output it shows is checked too. Mark a block that must not run as ```` ```python no-run ````,
or use another tag (``console``, ``toml``, ``json``). The ``flux2-prompt`` commands of
docs/cli.md's console blocks run from the repository's root, their output checked as shown
(``...`` matches anything).
"""

from __future__ import annotations

import doctest
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


@dataclass(frozen=True)
class Block:
    info: str
    code: str
    line: int  # 1-based line of the opening fence


def code_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, dedented, with their info strings."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        blocks.append(Block(match["info"].strip(), "\n".join(body) + "\n", i + 1))
        i = j + 1
    return blocks


def runnable(block: Block) -> bool:
    return block.info == "python"


def run_block(block: Block, namespace: dict[str, Any], where: str) -> None:
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block.code, namespace, where, where, block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # DocTest runs in a copy; later blocks see its names
        assert runner.failures == 0, f"{where}: doctest failed (see the output above)"
    else:
        exec(compile(block.code, where, "exec"), namespace)


# The line under each page's title that says how its blocks run (cli.md adds where its files are).
SCRIPT = (
    "*The Python blocks on this page run in order, as one script (each builds on the ones "
    "before); shell examples run from the repository's root"
)
SELF = (
    "*Each Python block on this page is self-contained and runs on its own; shell examples run "
    "from the repository's root"
)


def run_mode(text: str) -> str:
    """``"script"`` or ``"self"``: what the page's first paragraph says."""
    first = text.split("\n\n", 2)[1]
    if first.startswith(SCRIPT):
        return "script"
    if first.startswith(SELF):
        return "self"
    raise AssertionError(f"the line under the title says neither {SCRIPT!r} nor {SELF!r}")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text(encoding="utf-8")
    mode = run_mode(text)
    name = f"docs_{path.stem.replace('-', '_')}"
    namespace: dict[str, Any] = {"__name__": name}
    for number, block in enumerate(code_blocks(text)):
        if not runnable(block):
            continue
        if mode == "self":
            # A folder and a namespace of its own: a block that leans on another one fails.
            folder = tmp_path / f"block{number}"
            folder.mkdir()
            monkeypatch.chdir(folder)
            namespace = {"__name__": name}
        else:
            monkeypatch.chdir(tmp_path)
        run_block(block, namespace, f"{path.relative_to(ROOT)}:{block.line}")


def console_commands(text: str) -> list[tuple[int, str, str]]:
    """``(line, command, shown output)`` of each ``$ flux2-prompt ...`` in console blocks that
    runs as is: no pipe, redirection or shell-changing option."""
    found = []
    for block in code_blocks(text):
        if block.info != "console":
            continue
        lines = block.code.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ flux2-prompt "):
                continue
            output = []
            for after in lines[i + 1 :]:
                if after.startswith("$ "):
                    break
                output.append(after)
            command = line[2:].split("  #")[0].strip()
            if any(c in command for c in "|><") or "completion" in command:
                continue
            found.append((block.line + 1 + i, command, "\n".join(output)))
    return found


# Commands that only read: safe to run from the repository's root.
_READ_ONLY = ("compile", "validate", "lint", "fingerprint", "schema", "diff")


def _runs_here(command: str) -> bool:
    """A read-only command whose files all exist from the root (not `HEAD~1:...` or `--rev`)."""
    words = command.split()
    if len(words) == 2 and words[1] in ("--help", "-h", "--version", "-V"):
        return True
    if len(words) < 2 or words[1] not in _READ_ONLY or "--rev" in words:
        return False
    for word in words[2:]:
        if word.startswith("-") or not any(c in word for c in "/."):
            continue
        path = word.rsplit(":", 1)[0] if ".py:" in word else word
        if not ((ROOT / path).exists() or ("*" in path and any(ROOT.glob(path)))):
            return False
    return True


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples_run_as_shown(path: Path) -> None:
    import os
    import subprocess
    import sys

    commands = [c for c in console_commands(path.read_text(encoding="utf-8")) if _runs_here(c[1])]
    if path.name == "cli.md":
        assert len(commands) >= 8
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "COLUMNS": "100",
    }
    checker = doctest.OutputChecker()
    where = path.relative_to(ROOT)
    for line, command, shown in commands:
        done = subprocess.run(
            command,
            shell=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        got = done.stdout + done.stderr
        assert "Traceback" not in got, f"{where}:{line}: {command}\n{got}"
        # A usage error (exit 2) is shown with its message; an example shown without output
        # runs: exit 0, or 1 for a check that finds problems.
        assert shown.strip() or done.returncode in (0, 1), f"{where}:{line}: {command}\n{got}"
        if shown.strip():
            options = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
            assert checker.check_output(shown + "\n", got, options), (
                f"{where}:{line}: {command}\nshown:\n{shown}\ngot:\n{got}"
            )


def test_block_parser() -> None:
    text = (
        "a\n```python\nif x:\n    x = 1\n```\n\n"
        "  ```python no-run\n  y = 2\n  ```\n~~~console\n$ z\n~~~\n"
    )
    blocks = code_blocks(text)
    assert [(b.info, b.code, b.line) for b in blocks] == [
        ("python", "if x:\n    x = 1\n", 2),
        ("python no-run", "y = 2\n", 7),
        ("console", "$ z\n", 10),
    ]
    assert [runnable(b) for b in blocks] == [True, False, False]


def test_readme_sets_up_with_exactly_make_demo_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = [b.code for b in code_blocks(readme) if b.info in ("console", "sh", "bash")]
    assert "make demo\nmake test\n" in setup


# Pages written alongside these docs by other parts of the project: linked before they exist.
PAGES_BY_OTHERS = {
    "transport.md",
    "emulator.md",
    "batch.md",
    "versioning.md",
    "lint.md",
    "performance.md",
}
_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    missing = [
        target
        for target in _LINK.findall(path.read_text(encoding="utf-8"))
        if not (path.parent / target).exists() and Path(target).name not in PAGES_BY_OTHERS
    ]
    assert missing == []


def test_the_readme_lock_check_passes_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project's own flux2prompt.lock (over examples/, configured in pyproject.toml) is up
    to date: change an example's prompt and this fails until `flux2-prompt lock` is run and the
    lockfile committed. --check writes nothing, so no test rewrites the committed file."""
    from flux2prompt.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "$ .venv/bin/flux2-prompt lock --check" in readme
    before = (ROOT / "flux2prompt.lock").read_bytes()
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as done:
        main(["lock", "--check"])
    out, err = capsys.readouterr()
    assert done.value.code == 0, out + err
    assert out.startswith("flux2prompt.lock is up to date (")
    assert (ROOT / "flux2prompt.lock").read_bytes() == before


def _report_matches(shown: str, got: str) -> bool:
    """Whether ``generate``'s report ``got`` is the one ``shown``: the lines shown, in the same
    order; a shown value ending in ``...`` is a prefix; the image's size in KB, the time and a
    BFL task id (which vary from run to run, and with the fonts installed) are not compared."""
    shown_lines = [line.rstrip() for line in shown.strip().splitlines()]
    got_lines = [line.rstrip() for line in got.strip().splitlines()]
    if len(shown_lines) > len(got_lines):
        return False
    # A page may show only the report's first lines (`wrote fox.jpg`).
    for want, have in zip(shown_lines, got_lines[: len(shown_lines)], strict=True):
        key = want.split()[0]
        if key in ("time", "task"):
            continue
        if key == "image":
            want, have = want.rsplit(",", 1)[0], have.rsplit(",", 1)[0]
        if want.endswith("..."):
            if not have.startswith(want[:-3]):
                return False
        elif want != have:
            return False
    return True


def _examples_in_a_folder() -> list[tuple[str, int, str, str]]:
    """Console examples that test_console_examples_run_as_shown cannot run from the root:
    ``generate --emulator`` (it writes an image), and read-only commands on a file that the
    page's own Python writes (the quickstart's fox.json)."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        python = "".join(block.code for block in code_blocks(text) if runnable(block))
        for line, command, shown in console_commands(text):
            words = command.split()
            generate = words[1] == "generate" and "--emulator" in words
            made_by_the_page = (
                words[1] in _READ_ONLY
                and not _runs_here(command)
                and bool(_files_named(command))
                # a file of the repository, or one in the current folder that the page's
                # Python names ("fox.json")
                and all(
                    (ROOT / f).exists() or ("/" not in f and f'"{f}"' in python)
                    for f in _files_named(command)
                )
            )
            if shown.strip() and (generate or made_by_the_page):
                found.append((path.name, line, command, shown))
    return found


def _files_named(command: str) -> list[str]:
    """The files a command's SOURCE arguments name (not what --out writes)."""
    words = command.split()[2:]
    files = []
    for i, word in enumerate(words):
        if word.startswith("-") or (i and words[i - 1] in ("--out", "-o")) or "." not in word:
            continue
        files.append(word.rsplit(":", 1)[0] if ".py:" in word else word)
    return files


def _page_path(page: str) -> Path:
    return ROOT / page if page == "README.md" else ROOT / "docs" / page


@pytest.mark.parametrize(
    ("page", "line", "command", "shown"),
    _examples_in_a_folder(),
    ids=lambda value: str(value) if isinstance(value, int | str) and len(str(value)) < 20 else "",
)
def test_console_examples_run_as_shown_in_a_folder(
    page: str, line: int, command: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from a folder that holds the repository's docs/ and examples/ (an image is written
    # there rather than into the repository), after the page's own Python when it names a file
    # that the page writes.
    import os
    import subprocess
    import sys

    for name in ("docs", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    if not all((tmp_path / f).exists() for f in _files_named(command)):
        text = _page_path(page).read_text(encoding="utf-8")
        assert run_mode(text) == "script", f"{page}:{line}: {command}: a file does not exist"
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, Any] = {"__name__": f"docs_{page}"}
        for block in code_blocks(text):
            if runnable(block):
                run_block(block, namespace, f"{page}:{block.line}")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        "COLUMNS": "100",
    }
    done = subprocess.run(
        command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    got = done.stdout + done.stderr
    assert "Traceback" not in got, f"{page}:{line}: {command}\n{got}"
    if command.split()[1] == "generate":
        assert done.returncode == 0, f"{page}:{line}: {command}\n{done.stderr}"
        matches = _report_matches(shown, done.stdout)
    else:
        options = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        matches = doctest.OutputChecker().check_output(shown + "\n", got, options)
    assert matches, f"{page}:{line}: {command}\nshown:\n{shown}\ngot:\n{got}"
