"""The code in the README and in docs/*.md runs, so the documentation cannot drift from the code.

Every fenced block whose info string is exactly ``python`` runs, in order, in one namespace per
file, inside a fresh temporary folder. A block made of ``>>>`` lines is a doctest, so the output
it shows is checked too. Mark a block that must not run as ```` ```python no-run ````, or use
another tag (``console``, ``toml``, ``json``).
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


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    for block in code_blocks(path.read_text(encoding="utf-8")):
        if runnable(block):
            run_block(block, namespace, f"{path.relative_to(ROOT)}:{block.line}")


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
