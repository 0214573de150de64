"""The public surface of flux2prompt.transport: exports, docstrings, examples that run."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil

import pytest

import flux2prompt._errors
import flux2prompt.transport as transport

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(transport.__path__, prefix="flux2prompt.transport.")
)


# That __all__ is sorted and exactly the public names is checked for every public package by
# tests/test_public_api.py.


@pytest.mark.parametrize("name", transport.__all__)
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    obj = getattr(transport, name)
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # constants and type aliases
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example"
    if inspect.isclass(obj):
        # Errors raised before sending live in the one error module, documented by the root.
        home = "flux2prompt" if name in flux2prompt._errors.__all__ else "flux2prompt.transport"
        assert obj.__module__ == home


def test_the_one_error_module_draws_the_whole_tree() -> None:
    from flux2prompt.transport import _errors

    tree = flux2prompt._errors.__doc__ or ""
    for name in _errors.__all__:
        if name[0].isupper():
            assert name in tree, f"{name} is missing from the tree"
            obj = getattr(_errors, name)
            if not (isinstance(obj, type) and issubclass(obj, BaseException)):
                # What errors carry (an error_chain entry, a billing risk), named beside the tree.
                assert name in tree.split("Carried by the errors")[1].split("Warnings")[0]
                continue
            assert issubclass(obj, transport.ParameterError | transport.APIError) or (
                name == "ConfigurationError"
            )
    # The transport's module points at the tree instead of drawing a second one.
    assert "├──" not in (_errors.__doc__ or "")
    assert "flux2prompt._errors" in (_errors.__doc__ or "")


def test_every_error_class_of_the_package_is_in_the_tree() -> None:
    import flux2prompt

    tree = flux2prompt._errors.__doc__ or ""
    found = set()
    for info in pkgutil.walk_packages(flux2prompt.__path__, prefix="flux2prompt."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, flux2prompt.Flux2PromptError)
                and not name.startswith("_")
            ):
                found.add(value.__name__)
    assert {"SourceError", "FileValidationError", "CapacityError"} <= found
    missing = sorted(name for name in found if name not in tree)
    assert missing == []


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str, doctest_finder: doctest.DocTestFinder) -> None:
    module = importlib.import_module(module_name)
    finder = doctest_finder
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
