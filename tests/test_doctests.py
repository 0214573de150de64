"""Every docstring example in the package runs as a test, one test per module.

Examples are documentation that can rot; running them keeps them true. Modules are found with
``pkgutil.walk_packages``, so a new module is covered without being listed here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import flux2prompt


def _module_names() -> list[str]:
    names = [flux2prompt.__name__]
    for info in pkgutil.walk_packages(
        flux2prompt.__path__, prefix=f"{flux2prompt.__name__}.", onerror=lambda name: None
    ):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # importing it would run the program
        names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def test_modules_are_found() -> None:
    assert {"flux2prompt._builder", "flux2prompt._compile", "flux2prompt._schema"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, doctest_finder: doctest.DocTestFinder) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(flux2prompt.__name__):
            pytest.skip(f"{name} needs {exc.name}, which is not installed")
        raise
    tests = doctest_finder.find(module, name)
    report: list[str] = []
    runner = doctest.DocTestRunner(verbose=False)
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    if runner.failures:
        pytest.fail(f"{runner.failures} of {runner.tries} examples failed:\n{''.join(report)}")
