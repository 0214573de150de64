"""The public surface of flux2prompt.emulator, its docstring examples, and its documentation."""

from __future__ import annotations

import doctest
import importlib
import re
import types
from pathlib import Path

import pytest

import flux2prompt.emulator

MODULES = [
    "flux2prompt.emulator",
    "flux2prompt.emulator._config",
    "flux2prompt.emulator._faults",
    "flux2prompt.emulator._multipart",
    "flux2prompt.emulator._render",
    "flux2prompt.emulator._server",
    # _spawn's example starts a process; test_emulator_process covers spawn() already.
    "flux2prompt.emulator._protocol",
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    exported = flux2prompt.emulator.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(flux2prompt.emulator).items()
        # Skip submodules, the __future__ import, and names pytest's rewriter may inject.
        if name.isidentifier()
        and not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, types.ModuleType)
    }
    assert set(exported) == public
    assert {"Emulator", "EmulatorConfig", "RecordedRequest", "serve", "spawn"} <= set(exported)


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    for name in flux2prompt.emulator.__all__:
        doc = getattr(flux2prompt.emulator, name).__doc__ or ""
        assert doc.strip(), name


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docs_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {"__name__": "docs_emulator"})
