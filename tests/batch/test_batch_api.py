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


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    public = {name for name in vars(batch) if name.isidentifier() and not name.startswith("_")} - {
        "annotations"
    }
    assert set(batch.__all__) == public
    assert len(batch.__all__) == len(set(batch.__all__))

    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2), name

    assert batch.__all__ == sorted(batch.__all__, key=key)


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
    module_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # examples write files (out/...) where they run
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_templates_are_core_and_import_no_transport_batch_or_cli() -> None:
    source = inspect.getsource(importlib.import_module("flux2prompt._templates"))
    for layer in ("flux2prompt.transport", "flux2prompt.batch", "flux2prompt.cli"):
        assert f"from {layer}" not in source
        assert f"import {layer}" not in source


def test_batch_does_not_import_the_cli() -> None:
    for name in MODULES:
        if name.startswith("flux2prompt.batch"):
            source = inspect.getsource(importlib.import_module(name))
            assert "flux2prompt.cli" not in source, name
