"""Settings shared by every test: Hypothesis profiles, the finder of docstring examples, and
the headless Chromium that the page tests (gallery, review) open pages in.

``HYPOTHESIS_PROFILE=ci`` selects a derandomised profile (the same examples on every run, so a CI
failure reproduces); the default profile explores new examples each run. Neither has a deadline:
timings on a shared CI machine vary too much for per-example limits to mean anything.
"""

from __future__ import annotations

import doctest
import inspect
import os
import shutil
import signal
import subprocess
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# A test run started with SIGINT ignored (under nohup, or as a background job of a shell script)
# would pass that on to every process a test starts, and the tests of Ctrl-C could not interrupt
# them. Python's own handler here is reset to the default in each child, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class _HomeModuleFinder(doctest.DocTestFinder):
    """A doctest finder that finds each example in the module that defines it.

    Public packages rewrite ``__module__`` of what they export (``flux2prompt.Prompt``, not
    ``flux2prompt._model.Prompt``), which makes the standard finder look for a class's examples
    in the package instead, with the package's names in scope. This one goes by where the code
    is: a function by its globals, a class by its source file.
    """

    def _from_module(self, module: types.ModuleType | None, object: object) -> bool:
        if module is None:
            return True
        if inspect.isfunction(object):
            return object.__globals__ is module.__dict__
        if inspect.isclass(object):
            try:
                return inspect.getfile(object) == module.__file__
            except TypeError:  # a built-in class
                return False
        return bool(super()._from_module(module, object))  # type: ignore[misc]


@pytest.fixture
def doctest_finder() -> doctest.DocTestFinder:
    """Finds the docstring examples of a module, including those of the names it exports."""
    return _HomeModuleFinder(exclude_empty=True)


#: Debian's chromium, which .ci/run installs; the page tests are skipped (saying why) without it.
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
# A closed network: without the background-networking flags Chromium keeps trying to connect.
_HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
)


@pytest.fixture
def headless_chromium(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run headless Chromium with a new profile and the given arguments (``--dump-dom URL``,
    ``--screenshot=FILE URL``...), returning the finished process; skips without Chromium."""
    if CHROMIUM is None:
        pytest.skip(
            "chromium is not installed (apt-get install chromium; .ci/run installs it in CI)"
        )
    runs = iter(range(1 << 30))

    def run(*arguments: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        assert CHROMIUM is not None
        profile = tmp_path / f"chromium-profile-{next(runs)}"
        command = [CHROMIUM, *_HEADLESS, f"--user-data-dir={profile}", *arguments]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    return run
