"""A pytest plugin: assert that a compiled prompt equals its reviewed snapshot.

Installed with flux2prompt (entry point ``pytest11: flux2prompt``), it adds the
``prompt_snapshot`` fixture and the ``--update-prompt-snapshots`` option::

    from flux2prompt import scene

    def test_hero(prompt_snapshot):
        prompt_snapshot.assert_match(scene("a lighthouse at dusk").mood("calm"))

The snapshot is the pretty JSON of the compiled prompt, stored beside the test file in
``__prompt_snapshots__/<test module>/<name>.json`` (``name`` defaults to the test's name) and
committed with it, so a prompt change shows in review as a change of that file. A missing
snapshot fails and says how to create it; a different one fails with the semantic diff (see
:func:`flux2prompt._versioning.diff`) and both fingerprints. ``pytest --update-prompt-snapshots``
writes every snapshot the run compares.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from flux2prompt._atomic import atomic_write
from flux2prompt._digest import FINGERPRINT_PREFIX, sha256_fingerprint

__all__ = ["PromptSnapshot", "prompt_snapshot", "pytest_addoption"]

_OPTION = "--update-prompt-snapshots"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\[\]-]*$")
# The longest snapshot name: with ".json" and a "-2" it stays well under the 255 bytes a file
# name may have.
_LONGEST = 120
_written = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flux2prompt", "flux2prompt prompt snapshots")
    group.addoption(
        _OPTION,
        action="store_true",
        default=False,
        help="write (create or replace) the snapshots compared by the prompt_snapshot fixture",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_written] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    written = config.stash.get(_written, [])
    if written:
        noun = "snapshot" if len(written) == 1 else "snapshots"
        terminalreporter.write_line(f"flux2prompt: wrote {len(written)} prompt {noun}")


def _write(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


class PromptSnapshot:
    """Compares compiled prompts with the snapshots of one test (the ``prompt_snapshot`` fixture).

    ``directory`` holds the snapshots; ``default_name`` names the first unnamed snapshot of the
    test (later unnamed ones get ``-2``, ``-3``, ...); with ``update``, snapshots are written
    instead of compared.
    """

    def __init__(
        self, directory: Path, default_name: str, *, update: bool = False, config: Any = None
    ) -> None:
        self.directory = directory
        self.default_name = _default_name(default_name)
        self.update = update
        self._config = config
        self._unnamed = 0
        self._used: set[str] = set()

    def path_for(self, name: str) -> Path:
        """The snapshot file of ``name``."""
        return self.directory / f"{name}.json"

    def _next_name(self, name: str | None) -> str:
        if name is None:
            self._unnamed += 1
            name = self.default_name + ("" if self._unnamed == 1 else f"-{self._unnamed}")
        elif not isinstance(name, str):
            raise TypeError(f'snapshot name {name!r}: give a string, such as name="poster-lisbon"')
        elif len(name) > _LONGEST:
            raise ValueError(
                f"snapshot name {name[:40]!r}...: at most {_LONGEST} characters, so that its file "
                "name fits every file system; give a shorter one"
            )
        elif not _NAME.match(name):
            raise ValueError(
                f"snapshot name {name!r}: use letters, digits, '_', '-', '.', '[' and ']', no path "
                "separators, not starting with '.' or '-'"
            )
        if name in self._used:
            raise ValueError(f"snapshot name {name!r} is used twice in this test; give another")
        self._used.add(name)
        return name

    def assert_match(self, prompt: Any, name: str | None = None) -> None:
        """Fail unless the compiled ``prompt`` equals the snapshot ``name``.

        ``prompt`` may be a :class:`~flux2prompt.Prompt`, a builder, a loaded prompt file or a
        dict. With ``--update-prompt-snapshots`` the snapshot is written instead.
        """
        from flux2prompt._compile import dumps_compact, fingerprint_of
        from flux2prompt._files import PromptFile, load
        from flux2prompt._versioning import diff

        compiled = load(prompt.prompt if isinstance(prompt, PromptFile) else prompt)
        name = self._next_name(name)
        path = self.path_for(name)
        text = compiled.to_json(pretty=True) + "\n"
        shown = self._shown(path)
        recorded, unreadable = _read_snapshot(path)
        if recorded == text:
            return
        folder = unreadable is not None and path.is_dir()
        if folder:
            pytest.fail(
                f"prompt snapshot {shown} is a folder, not a file; remove it, then run: "
                f"pytest {_OPTION}",
                pytrace=False,
            )
        if self.update:
            _write(path, text)
            if self._config is not None:
                self._config.stash[_written].append(path)
            return
        if unreadable is not None:
            pytest.fail(
                f"prompt snapshot {shown} cannot be read ({unreadable}); rewrite it with: "
                f"pytest {_OPTION}",
                pytrace=False,
            )
        if recorded is None:
            pytest.fail(
                f"no prompt snapshot {name!r} at {shown}\n"
                f"review the prompt below, then create the snapshot with: pytest {_OPTION}\n"
                f"{text}",
                pytrace=False,
            )
        try:
            document = json.loads(recorded)
        except json.JSONDecodeError as exc:
            pytest.fail(
                f"prompt snapshot {shown} is not valid JSON (line {exc.lineno}: {exc.msg}); "
                f"rewrite it with: pytest {_OPTION}",
                pytrace=False,
            )
        except RecursionError:
            pytest.fail(
                f"prompt snapshot {shown} is nested too deeply to be a prompt; "
                f"rewrite it with: pytest {_OPTION}",
                pytrace=False,
            )
        except ValueError:  # an integer of more digits than Python converts
            document = None
        strict = _strictly_invalid(recorded)
        if strict is not None:
            # Edited by hand, or merged: a duplicate key, NaN, a number past a float's range.
            pytest.fail(
                f"prompt snapshot {shown} is not valid JSON ({strict}); rewrite it with: "
                f"pytest {_OPTION}",
                pytrace=False,
            )
        changes = diff(document, compiled.to_dict()) if isinstance(document, dict) else None
        if changes is None:
            body = "  the snapshot is not a JSON object"
        elif changes:
            body = "\n".join(f"  {line}" for line in changes.render().splitlines())
        else:
            body = "  same keys and values; the key order or formatting differs"
        recorded_fingerprint = fingerprint_of(dumps_compact(document))
        pytest.fail(
            f"prompt does not match snapshot {name!r} ({shown}):\n{body}\n"
            f"  snapshot fingerprint: {recorded_fingerprint}\n"
            f"  current fingerprint:  {compiled.fingerprint}\n"
            f"if the change is intended, review it and run: pytest {_OPTION}",
            pytrace=False,
        )

    def _shown(self, path: Path) -> str:
        try:
            return os.path.relpath(path)
        except ValueError:  # another drive on Windows
            return str(path)


def _strictly_invalid(text: str) -> str | None:
    """Why ``text`` is no JSON a snapshot could hold, as strict parsing says it (``line 2:
    duplicate key 'scene': ...``), or ``None`` when it parses."""
    from flux2prompt._document import parse_json
    from flux2prompt._errors import SourceError

    try:
        parse_json(text, source="snapshot")
    except SourceError as exc:
        if exc.line is None:
            return str(exc).removeprefix(f"{exc.source}: ")
        return f"line {exc.line}: " + str(exc).removeprefix(f"{exc.source}:{exc.line}: ")
    return None


def _read_snapshot(path: Path) -> tuple[str | None, str | None]:
    """The text of the snapshot at ``path`` (``None`` when there is none), and why it cannot be
    read when it cannot: a file edited into another encoding than UTF-8, a folder in its place.
    Lines end in ``\\n`` however they were saved (a checkout with ``core.autocrlf``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, "a folder"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})"
    # A BOM (an editor's on Windows) is no part of the snapshot, as in the lockfile.
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"), None


def _default_name(test: str) -> str:
    """A file name for the test ``test`` (``Class.test_name[params]``), distinct per test: when
    characters had to be replaced, a hash of the real name keeps ``[a/b]`` and ``[a_b]`` apart."""
    name = re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", test).strip("_.-") or "prompt"
    if len(name) > _LONGEST - 9:
        # A long parameter (a prompt's text as a test id): cut, the hash keeps tests apart.
        name = name[: _LONGEST - 9].rstrip("_.-")
    if name != test:
        name += "-" + sha256_fingerprint(test).removeprefix(FINGERPRINT_PREFIX)[:8]
    return name


@pytest.fixture
def prompt_snapshot(request: pytest.FixtureRequest) -> PromptSnapshot:
    """Compare compiled prompts with their reviewed snapshots; see :class:`PromptSnapshot`."""
    test_file = Path(request.node.path)
    return PromptSnapshot(
        test_file.parent / "__prompt_snapshots__" / test_file.stem,
        # Class names too: TestMug::test_hero and TestVase::test_hero are two snapshots.
        ".".join(request.node.nodeid.split("::")[1:]) or request.node.name,
        update=bool(request.config.getoption(_OPTION)),
        config=request.config,
    )
