"""The layers of the package hold: the import-linter contracts in pyproject.toml pass, and fail
with the contract's message when a module imports upward (imports inside functions count).

``make test`` runs ``lint-imports`` itself; these tests also show that the contract can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "flux2prompt",
        tmp_path / "src" / "flux2prompt",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_the_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward", "contract"),
    [
        # A core module reaching the transport from inside a function.
        ("_compile.py", "flux2prompt.transport", "Layers:"),
        # The transport reaching the batch runner, above it.
        ("transport/_request.py", "flux2prompt.batch", "Layers:"),
        # A leaf reaching the files layer.
        ("_color.py", "flux2prompt._files", "Layers:"),
        # The emulator is a server beside the layers: it may not use the transport.
        ("emulator/_render.py", "flux2prompt.transport", "The emulator is a server"),
        # The batch runner reaching past the transport's face into a private module.
        ("batch/_runner.py", "flux2prompt.transport._provenance", "The batch runner uses"),
    ],
)
def test_an_upward_import_breaks_the_contract(
    tmp_path: Path, module: str, upward: str, contract: str
) -> None:
    tree = _copy_of_the_package(tmp_path)
    path = tree / "src" / "flux2prompt" / module
    path.write_text(
        path.read_text(encoding="utf-8")
        + f"\n\ndef _upward() -> None:\n    import {upward}  # noqa: F401\n",
        encoding="utf-8",
    )
    result = _lint_imports(tree)
    importer = "flux2prompt." + module.removesuffix(".py").replace("/", ".")
    assert result.returncode != 0
    broken = result.stdout[result.stdout.index("Broken contracts") :]
    assert contract in broken
    assert f"{importer} -> {upward}" in broken
