"""The public surface of flux2prompt.batch: exports, docstrings, examples that run, layering."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import flux2prompt.batch as batch

MODULES = [
    *sorted(
        name for _, name, _ in pkgutil.iter_modules(batch.__path__, prefix="flux2prompt.batch.")
    ),
    "flux2prompt._templates",
    "flux2prompt.cli._batch",
]


# That __all__ is sorted and exactly the public names is checked for every public package by
# tests/test_public_api.py.


@pytest.mark.parametrize("name", batch.__all__)
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    obj = getattr(batch, name)
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # constants
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example"


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(
    module_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    doctest_finder: doctest.DocTestFinder,
) -> None:
    monkeypatch.chdir(tmp_path)  # examples write files (out/...) where they run
    module = importlib.import_module(module_name)
    finder = doctest_finder
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
