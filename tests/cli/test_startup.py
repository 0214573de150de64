"""The command line starts fast: each command imports only what it uses.

Commands that only read, compile and check prompts (``compile``, ``validate``, ``lint``,
``fingerprint``, ``schema``, ``lock``, ``diff``) must not import the HTTP stack, asyncio, the
batch runner or the emulator. This checks the import set, not the time (that is
``benchmarks/bench_cli.py``'s job): each command runs in a fresh interpreter, which then reports
what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "httpx",
    "httpcore",
    "anyio",
    "asyncio",
    "ssl",
    "flux2prompt.batch",
    "flux2prompt.emulator",
    "flux2prompt.transport._client",
)
# The package's own modules that a command loads only when it uses them: the layout and the
# linter (lint), templates, datasets and job files (their variants), the report's TOML lines.
OPTIONAL = (
    "flux2prompt._layout",
    "flux2prompt._lint",
    "flux2prompt._templates",
    "flux2prompt._files._dataset",
    "flux2prompt._files._job_file",
    "flux2prompt._files._variants",
)
# The report runs after the command, whatever its exit code.
_PROBE = """
import json, sys
from flux2prompt.cli import main
watched = sys.argv.pop(1).split(",")
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(name for name in watched if name in sys.modules)), file=sys.stderr)
"""


def _imports_after(args: list[str], cwd: Path, watched: tuple[str, ...] = HEAVY) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(watched), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    imported: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return imported


@pytest.fixture
def project(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "fox.json").write_text('{"scene": "a red fox in snow"}', encoding="utf-8")
    (tmp_path / "mug.prompt.toml").write_text(
        'name = "mug"\nmodel = "klein-4b"\n[prompt]\nscene = "a mug"\n', encoding="utf-8"
    )
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "fox.json"],
        ["compile", "fox.json"],
        ["compile", str(ROOT / "examples" / "product_shot.py") + ":prompt"],
        ["lint", "fox.json"],
        ["fingerprint", "mug.prompt.toml"],
        ["schema", "--profile", "cloudflare"],
        ["lock", "."],
        ["lock", "--check", "."],
        ["diff", "fox.json", "fox.json"],
        ["validate", "missing.json"],
        ["--help"],
    ],
    ids=lambda args: " ".join(args)[:40],
)
def test_a_prompt_command_imports_no_http_stack(args: list[str], project: Path) -> None:
    assert _imports_after(args, project) == []


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["validate", "fox.json"], ["flux2prompt._files._variants"]),
        (["validate", "mug.prompt.toml"], ["flux2prompt._files._variants"]),
        (["compile", "fox.json"], []),
        (["compile", str(ROOT / "examples" / "product_shot.py") + ":prompt"], []),
        (["fingerprint", "mug.prompt.toml"], []),
        (["schema", "--profile", "cloudflare"], []),
        (
            ["lint", "fox.json"],
            ["flux2prompt._files._variants", "flux2prompt._layout", "flux2prompt._lint"],
        ),
    ],
    ids=["validate", "validate-toml", "compile", "compile-py", "fingerprint", "schema", "lint"],
)
def test_a_prompt_command_loads_only_the_modules_it_uses(
    args: list[str], loaded: list[str], project: Path
) -> None:
    # One prompt to read: no layout, linter, templates, datasets or job files unless it lints.
    assert _imports_after(args, project, OPTIONAL) == loaded


def test_the_probe_sees_what_a_job_file_loads(project: Path) -> None:
    # The check can fail: validating a job file does load the job-file reader.
    (project / "rows.csv").write_text("color\nteal\n", encoding="utf-8")
    (project / "job.toml").write_text(
        'template = "mug.prompt.toml"\ndataset = "rows.csv"\n', encoding="utf-8"
    )
    imported = _imports_after(["validate", "job.toml"], project, OPTIONAL)
    assert "flux2prompt._files._job_file" in imported


def test_importing_the_command_line_imports_no_http_stack(project: Path) -> None:
    code = f"import sys, flux2prompt.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=project
    )
    assert result.stdout.strip() == "[]"


def test_the_probe_sees_what_a_sending_command_imports(project: Path) -> None:
    # The check can fail: generate does bring the HTTP client (it is about to send).
    imported = _imports_after(["generate", "fox.json", "--out", "x.png", "--emulator"], project)
    assert "httpx" in imported


def test_the_table_of_command_modules_names_every_command() -> None:
    # A command missing from the table would only be reachable through the whole app (and a
    # stale entry would stop its command): the table and the app agree, in --help's order.
    import flux2prompt.cli as cli

    registered = [
        info.name or (info.callback.__name__ if info.callback else "")
        for info in cli.app.registered_commands
    ] + [
        group.name or (group.typer_instance.info.name if group.typer_instance else "")
        for group in cli.app.registered_groups
    ]
    assert sorted(registered) == sorted(cli._COMMAND_MODULES)
