"""The public surface of flux2prompt.transport: exports, docstrings, examples that run."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil

import pytest

import flux2prompt.transport as transport

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(transport.__path__, prefix="flux2prompt.transport.")
)


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    # isidentifier(): pytest's assertion rewriting may add "@py_builtins" to module namespaces.
    public = {
        name for name in vars(transport) if name.isidentifier() and not name.startswith("_")
    } - {"annotations"}
    assert set(transport.__all__) == public
    assert len(transport.__all__) == len(set(transport.__all__))

    def key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else (1 if name[0].isupper() else 2)
        return kind, name

    assert transport.__all__ == sorted(transport.__all__, key=key)


@pytest.mark.parametrize("name", transport.__all__)
def test_every_public_name_has_a_docstring_with_an_example(name: str) -> None:
    obj = getattr(transport, name)
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # constants and type aliases
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example"
    if inspect.isclass(obj):
        assert obj.__module__ == "flux2prompt.transport"


def test_the_exception_module_draws_the_tree() -> None:
    from flux2prompt.transport import _errors

    doc = _errors.__doc__ or ""
    for name in _errors.__all__:
        if name[0].isupper():
            assert name in doc, f"{name} is missing from the tree"
            assert issubclass(
                getattr(_errors, name), transport.ParameterError | transport.APIError
            ) or (name == "ConfigurationError")


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0


def test_the_core_does_not_import_the_transport() -> None:
    import flux2prompt

    core = [
        name
        for name in ("_model", "_builder", "_compile", "_schema", "_load", "_files")
        if importlib.util.find_spec(f"flux2prompt.{name}") is not None
    ]
    for name in core:
        source = inspect.getsource(importlib.import_module(f"flux2prompt.{name}"))
        assert "from flux2prompt.transport" not in source
        assert "import flux2prompt.transport" not in source
    assert core, "the core modules were not found"
    assert flux2prompt.__name__ == "flux2prompt"
