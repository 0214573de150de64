"""The Kubernetes and GitHub Actions recipes of docs/batch.md do what the page says: their shape
is the documented one, and their commands, expanded as the pod's shell or the workflow's matrix
would expand them, split the batch into shards that together are the whole, each item once, and
merge back into the unsharded run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt.batch import manifests_equivalent

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).with_name("flux2-prompt")


def yaml_blocks() -> list[str]:
    text = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
    return re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def recipe(marker: str) -> str:
    [found] = [block for block in yaml_blocks() if marker in block]
    return found


def keys(block: str) -> dict[str, list[str]]:
    """``key -> values`` for every ``key: value`` line of a YAML block (a structural reading
    that is enough for these recipes: each key the test checks occurs once per value)."""
    found: dict[str, list[str]] = {}
    for line in block.splitlines():
        match = re.match(r"^\s*(?:- )?([A-Za-z][\w-]*):\s*(.*?)\s*$", line)
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def commands(block: str) -> list[str]:
    """The flux2-prompt command lines of a block, as written (one per line)."""
    found = []
    for line in block.splitlines():
        match = re.match(r"^\s*(?:- |- run: |run: )(flux2-prompt .+?)\s*$", line)
        if match:
            found.append(match[1].strip())
    return found


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    clean["PATH"] = f"{COMMAND.parent}{os.pathsep}{clean.get('PATH', '')}"
    clean["NO_COLOR"] = "1"
    return clean


def dry_run(argv: list[str], tmp_path: Path) -> dict[str, object]:
    """Run a shard's command as a dry run (no network), its folder moved under ``tmp_path``."""
    out = argv.index("--out")
    argv = [*argv[: out + 1], str(tmp_path / argv[out + 1].lstrip("/")), *argv[out + 2 :]]
    done = subprocess.run(
        [*argv, "--dry-run", "--json"], cwd=ROOT, env=env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def whole_batch() -> int:
    done = subprocess.run(
        [str(COMMAND), "batch", "examples/batch/job.toml", "--out", "-", "--dry-run", "--json"],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    total = json.loads(done.stdout)["total"]
    assert isinstance(total, int)
    return total


def test_the_kubernetes_indexed_job_maps_its_index_to_every_shard(tmp_path: Path) -> None:
    block = recipe("kind: Job")
    found = keys(block)
    assert found["apiVersion"] == ["batch/v1"]
    assert found["completionMode"] == ["Indexed"]
    [completions] = map(int, found["completions"])
    assert found["restartPolicy"] == ["Never"]
    assert {"CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"} <= set(found["name"])
    assert "secretKeyRef" in block  # the token comes from a Secret, never from the manifest
    [command] = commands(block)
    assert f"/{completions}" in command
    assert "$((JOB_COMPLETION_INDEX + 1))" in command
    shards = []
    for index in range(completions):
        # The container runs its args with /bin/sh -c: expand them as that shell does.
        shell = {**env(), "JOB_COMPLETION_INDEX": str(index)}
        expanded = subprocess.run(
            ["/bin/sh", "-c", f"printf '%s' \"{command}\""], env=shell, capture_output=True,
            text=True, check=True,
        ).stdout  # fmt: skip
        argv = shlex.split(expanded)
        assert argv[:2] == ["flux2-prompt", "batch"]
        assert argv[argv.index("--shard") + 1] == f"{index + 1}/{completions}"
        assert argv[argv.index("--out") + 1] == f"/shards/shard-{index + 1}"
        shards.append(dry_run(argv, tmp_path))
    assert [shard["shard"] for shard in shards] == [
        f"{i}/{completions}" for i in range(1, completions + 1)
    ]
    assert sum(int(str(shard["total"])) for shard in shards) == whole_batch()


def test_the_github_actions_matrix_runs_every_shard_and_merges_them(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    block = recipe("strategy:")
    found = keys(block)
    [values] = [value for value in found["shard"] if value]  # the job's key has no value
    numbers = json.loads(values)
    assert numbers == list(range(1, len(numbers) + 1))
    assert found["fail-fast"] == ["false"]
    assert found["needs"] == ["shard"]
    assert "${{ secrets.CLOUDFLARE_API_TOKEN }}" in found["CLOUDFLARE_API_TOKEN"]
    [command, merge] = commands(block)
    assert f"--shard ${{{{ matrix.shard }}}}/{len(numbers)}" in command
    # Each shard uploads its own folder; the merge job downloads them all under shards/.
    assert "name: shard-${{ matrix.shard }}" in block
    assert "path: shards/shard-${{ matrix.shard }}" in block
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for number in numbers:
        line = command.replace("${{ matrix.shard }}", str(number))
        argv = [*shlex.split(line), "--emulator"]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"the job's 720 shared by {len(numbers)} shards" in done.stdout
    done = subprocess.run(
        merge, shell=True, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    total = whole_batch()
    assert f"{total} items, {total} ok, 0 failed" in done.stdout
    whole = tmp_path / "whole"
    subprocess.run(
        [str(COMMAND), "batch", "examples/batch/job.toml", "--out", str(whole), "--emulator",
         "--no-progress"],
        cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert manifests_equivalent(tmp_path / "all" / "manifest.jsonl", whole / "manifest.jsonl")
