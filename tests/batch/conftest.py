"""Fixtures for the batch tests: job folders, the batch CLI as a subprocess, a clean environment.

Test modules cannot import a sibling helper module under every import mode, so what they share
lives here as fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TOKEN = "tok-SECRET-5b1e0c9d-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"
SRC = str(Path(__file__).resolve().parents[2] / "src")

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str, n: int = 0):
    return scene(f"a {color} {product} on seamless paper, variant {n}").mood("calm")
"""


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Path]:
    """``make_job(products=5, colors=4, variants=10, **top_level_keys)`` -> path of a job file.

    The matrix has ``products * colors * variants`` items; images are 256x256 from klein-4b.
    """

    def make(
        products: int = 2,
        colors: int = 2,
        variants: int = 1,
        folder: str = "job",
        **keys: Any,
    ) -> Path:
        where = tmp_path / folder
        where.mkdir(parents=True, exist_ok=True)
        (where / "shots.py").write_text(TEMPLATE, encoding="utf-8")
        settings: dict[str, Any] = {
            "name": "shots",
            "template": "shots.py:shot",
            "model": "klein-4b",
            "output": "{product}-{color}-{n}.{ext}",
            "seeds": {"derive": 11},
            "concurrency": 8,
            "rate_limit": 6000,
            "retries": 8,
        }
        settings.update(keys)
        lines = [f"{key} = {toml_value(value)}" for key, value in settings.items()]
        lines += ["", "[parameters]", "width = 256", "height = 256", ""]
        lines += [
            "[variables.matrix]",
            f"product = {toml_value([f'product{i}' for i in range(products)])}",
            f"color = {toml_value([f'color{i}' for i in range(colors)])}",
            f"n = {toml_value(list(range(variants)))}",
            "",
        ]
        path = where / "job.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    return make


def batch_command(*args: str) -> list[str]:
    """The ``flux2-prompt`` command line, run with this interpreter."""
    return [sys.executable, "-c", "from flux2prompt.cli import main; main()", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``flux2-prompt ARGS`` in a subprocess with the test token in its environment."""

    def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            batch_command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=subprocess_env(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_ACCOUNT_ID=ACCOUNT, **env),
            check=False,
        )

    return run


@pytest.fixture
def start_cli() -> Callable[..., subprocess.Popen[str]]:
    """Start ``flux2-prompt ARGS`` in the background (stdout and stderr to files in ``logs``)."""

    def start(*args: str, logs: Path) -> subprocess.Popen[str]:
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "stdout.txt").open("a") as out, (logs / "stderr.txt").open("a") as err:
            return subprocess.Popen(
                batch_command(*args),
                stdout=out,
                stderr=err,
                text=True,
                env=subprocess_env(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_ACCOUNT_ID=ACCOUNT),
            )

    return start


@pytest.fixture
def token() -> str:
    """The API token the tests use; it must never appear in any output."""
    return TOKEN


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real credentials must never reach a test (or a test's output).
    for name in (
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_BASE_URL",
        "CLOUDFLARE_GATEWAY_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
