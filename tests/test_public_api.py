"""The public names: one sorted ``__all__`` per public package, exactly the public objects.

The habit comes from httpx: private modules re-exported from ``__init__``, and a test that what
is exported is exactly what is public, so nothing leaks in and nothing is forgotten.
"""

from __future__ import annotations
import __future__

import importlib
import re
import subprocess
import sys
import types

import pytest

PACKAGES = ["flux2prompt", "flux2prompt.transport", "flux2prompt.batch", "flux2prompt.emulator"]


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("flux2prompt"):
            pytest.skip(f"{name} needs {exc.name}, which is not installed")
        raise


def _ruff_order(name: str) -> tuple[int, list[str | int]]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, Classes, then the rest, each
    in natural order (digits compared as numbers)."""
    if name.isupper() or not any(c.isalpha() for c in name):
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    natural: list[str | int] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return group, natural


def _public_names(module: types.ModuleType) -> set[str]:
    # dir(), not vars(): the package root loads the transport's names on first use (PEP 562),
    # and its __dir__ lists them whether or not they are loaded yet.
    names = set()
    for name in dir(module):
        if name.startswith("_") or not name.isidentifier():
            continue  # private, or pytest's assertion-rewriting helpers ("@py_builtins")
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) and value.__name__.startswith(f"{module.__name__}."):
            continue  # a submodule, bound by importing it
        if isinstance(value, __future__._Feature):
            continue  # `from __future__ import annotations` is a compiler switch, not an export
        names.add(name)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted(package: str) -> None:
    exported = list(_import(package).__all__)
    assert exported == sorted(exported, key=_ruff_order)
    assert len(exported) == len(set(exported))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists_and_is_public(package: str) -> None:
    module = _import(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    private = [name for name in module.__all__ if name.startswith("_")]
    assert missing == []
    assert private == []


@pytest.mark.parametrize("package", PACKAGES)
def test_the_exported_names_are_exactly_the_public_ones(package: str) -> None:
    module = _import(package)
    assert _public_names(module) == set(module.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_reports_a_public_package(package: str) -> None:
    """``flux2prompt.SourceError.__module__ == "flux2prompt"``: a traceback or ``help()`` shows
    the package that documents a name, never the private module that defines it."""
    module = _import(package)
    private = {}
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type | types.FunctionType):
            home = value.__module__
            if any(part.startswith("_") for part in home.split(".")) or home not in PACKAGES:
                private[name] = home
    assert private == {}


def test_names_report_the_package_that_documents_them() -> None:
    import flux2prompt
    import flux2prompt.batch
    import flux2prompt.transport

    assert flux2prompt.SourceError.__module__ == "flux2prompt"
    assert flux2prompt.Prompt.__module__ == "flux2prompt"
    assert flux2prompt.load.__module__ == "flux2prompt"
    # Raised before sending, by the core, the runner and the client alike: the root documents it.
    assert flux2prompt.transport.ParameterError is flux2prompt.ParameterError
    assert flux2prompt.transport.ParameterError.__module__ == "flux2prompt"
    assert flux2prompt.transport.WorkersAI.__module__ == "flux2prompt.transport"
    assert flux2prompt.batch.BatchRunner.__module__ == "flux2prompt.batch"


def test_models_rebuild_after_their_module_is_rewritten() -> None:
    # pydantic resolves annotations through the class's module; publishing rewrites __module__
    # after the models are complete, so a forced rebuild must still find every name.
    import flux2prompt

    for model in (flux2prompt.Camera, flux2prompt.Subject, flux2prompt.TextElement):
        assert model.model_rebuild(force=True) is True
    assert flux2prompt.Prompt.model_rebuild(force=True) is True
    rebuilt = flux2prompt.Prompt(scene="x", subjects=(flux2prompt.Subject(description="a"),))
    assert rebuilt.to_json() == '{"scene":"x","subjects":[{"description":"a"}]}'
    with pytest.raises(flux2prompt.PromptError):
        flux2prompt.load({"scene": 3})


def test_star_import_gives_the_exported_names() -> None:
    namespace: dict[str, object] = {}
    exec("from flux2prompt import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(
        importlib.import_module("flux2prompt").__all__
    )


def test_the_transport_names_load_on_first_use() -> None:
    code = (
        "import sys, flux2prompt\n"
        "assert 'httpx' not in sys.modules, 'import flux2prompt imported httpx'\n"
        "assert set(flux2prompt.__all__) <= set(dir(flux2prompt))\n"
        "from flux2prompt.transport import WorkersAI\n"
        "assert flux2prompt.WorkersAI is WorkersAI\n"
        "assert 'WorkersAI' in vars(flux2prompt)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazily_exported_names_report_the_root_whoever_loads_them_first() -> None:
    # The root loads its layout, lint, template and dataset names on first use; the batch package
    # re-exports some of them and is imported here before the root has loaded any.
    code = (
        "import sys, flux2prompt.batch as batch\n"
        "assert 'template' not in vars(sys.modules['flux2prompt'])\n"
        "assert batch.template.__module__ == 'flux2prompt', batch.template.__module__\n"
        "assert batch.Template.__module__ == 'flux2prompt', batch.Template.__module__\n"
        "assert batch.dataset.__module__ == 'flux2prompt', batch.dataset.__module__\n"
        "assert batch.Dataset.__module__ == 'flux2prompt.batch', batch.Dataset.__module__\n"
        "import flux2prompt\n"
        "assert flux2prompt.template is batch.template and flux2prompt.lint.__module__ == "
        "'flux2prompt'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'WorkersAl'"):
        importlib.import_module("flux2prompt").WorkersAl  # noqa: B018


def test_version_is_exposed() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", importlib.import_module("flux2prompt").__version__)


def test_the_docs_table_of_public_names_matches_all() -> None:
    from pathlib import Path

    import flux2prompt

    page = Path(__file__).resolve().parents[1] / "docs" / "index.md"
    text = page.read_text(encoding="utf-8")
    table = text[text.index("## The public names") :]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    first_column = [row.split("|")[1] for row in rows]
    documented = {name for cell in first_column for name in re.findall(r"`([A-Za-z_]\w*)`", cell)}
    assert documented == set(flux2prompt.__all__)
