"""The shipped CI files: the GitHub Actions workflow in examples/ci/ and .pre-commit-hooks.yaml
parse as YAML, and every flux2-prompt command they run exists, with the options they give."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

import flux2prompt.cli as cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "prompts.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def commands_in(script: str) -> list[list[str]]:
    """Each ``flux2-prompt ...`` command of a shell script, as its words after the program."""
    joined = script.replace("\\\n", " ")
    found = []
    for part in re.split(r"\|\||&&|;|\n", joined):
        words = shlex.split(part)
        if words and words[0] == "flux2-prompt":
            found.append(words[1:])
    return found


def check_command(words: list[str]) -> None:
    """The command exists and takes every option given (``--opt`` and ``--opt=value``)."""
    assert words, "flux2-prompt with no command"
    name = words[0]
    assert name in cli._COMMAND_MODULES, f"no command {name!r}"
    group: Any = typer.main.get_command(cli.app)
    command = group.commands[name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in words[1:]:
        if word.startswith("-") and word != "-":
            assert word.split("=")[0] in options, f"{name} has no option {word}"


def test_the_workflow_runs_lock_check_and_posts_the_review() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers
    assert workflow["permissions"]["pull-requests"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    commands = [words for step in steps for words in commands_in(step.get("run", ""))]
    assert [w[0] for w in commands] == ["lock", "review"]
    assert commands[0][:2] == ["lock", "--check"]
    for words in commands:
        check_command(words)
    # The review's folder is what is uploaded and posted.
    out = commands[1][commands[1].index("--out") + 1]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == out
    post = next(s for s in steps if "gh pr comment" in s.get("run", ""))
    assert f"--body-file {out}/review.md" in post["run"]
    assert post["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_the_pre_commit_hooks_run_lock_check_and_validate() -> None:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"flux2-prompt-lock", "flux2-prompt-validate"}
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        re.compile(hook["files"])
        (words,) = commands_in(hook["entry"])
        check_command(words)
    assert shlex.split(by_id["flux2-prompt-lock"]["entry"]) == ["flux2-prompt", "lock", "--check"]
    assert by_id["flux2-prompt-lock"]["pass_filenames"] is False  # the whole inventory
    assert shlex.split(by_id["flux2-prompt-validate"]["entry"]) == ["flux2-prompt", "validate"]
    assert by_id["flux2-prompt-validate"]["pass_filenames"] is True
    files = re.compile(by_id["flux2-prompt-validate"]["files"])
    assert files.search("prompts/hero.prompt.toml")
    assert not files.search("pyproject.toml")


def test_the_check_sees_a_command_that_does_not_exist() -> None:
    with pytest.raises(AssertionError, match="no command"):
        check_command(["lokc", "--check"])
    with pytest.raises(AssertionError, match="no option"):
        check_command(["lock", "--chek"])
