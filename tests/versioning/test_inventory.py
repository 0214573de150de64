"""The prompt inventory in a real git repository: modules, a job over a CSV, the lockfile, diffs
at a revision read by a separate interpreter (issue 8, acceptance 1 to 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

HERO = """\
import os
from pathlib import Path

from flux2prompt import scene, template

# A side effect on import: each import appends this file's path to a log.
log = os.environ.get("F2P_IMPORT_LOG")
if log:
    with open(log, "a", encoding="utf-8") as stream:
        stream.write(str(Path(__file__).resolve()) + "\\n")

hero = scene("a lighthouse at dusk").palette("#112233", "#FFCC00")


@template
def banner(sku: str, color: str):
    return scene(f"a {color} water bottle, product {sku}").palette("#224466")


@template
def unused(city: str):
    return scene(f"a poster of {city}")
"""

JOB = """\
template = "../prompts/hero.py:banner"
model = "klein-4b"
output = "{sku}.{ext}"
seeds = { derive = 7 }

[variables]
dataset = "products.csv"
"""

CSV = "sku,color\nA-1,teal\nB-2,coral\nC-3,sand\n"

PYPROJECT = """\
[project]
name = "shop"
version = "0"

[tool.flux2prompt]
modules = ["prompts/*.py"]
jobs = ["jobs/*.toml"]
"""


def cli(cwd: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    if log is not None:
        env["F2P_IMPORT_LOG"] = str(log)
    return subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "prompts").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "prompts" / "hero.py").write_text(HERO, encoding="utf-8")
    (root / "jobs" / "bottles.toml").write_text(JOB, encoding="utf-8")
    (root / "jobs" / "products.csv").write_text(CSV, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "prompts")
    return root


def test_lock_then_check_covers_modules_and_every_job_item(shop: Path) -> None:
    """Acceptance 1: lock, then check; one hex in the module, one cell of the CSV."""
    done = cli(shop, "lock")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote flux2prompt.lock (1 prompt, 1 job (3 items))"
    assert "scanned: " in done.stderr
    assert "note: prompts/hero.py:unused: not locked: no variables" in done.stderr
    lock = json.loads((shop / "flux2prompt.lock").read_text(encoding="utf-8"))
    assert lock["lock_version"] == 2
    assert list(lock["prompts"]) == ["prompts/hero.py:hero"]
    assert lock["jobs"]["jobs/bottles.toml"]["items"] == 3
    rows = (shop / "flux2prompt.lock.items").read_text(encoding="utf-8").splitlines()
    assert [json.loads(row).get("origin") for row in rows][1:] == [
        "jobs/products.csv:2",
        "jobs/products.csv:3",
        "jobs/products.csv:4",
    ]
    assert cli(shop, "lock", "--check").returncode == 0
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "lock")

    hero = shop / "prompts" / "hero.py"
    hero.write_text(HERO.replace('"#112233"', '"#112244"'), encoding="utf-8")
    done = cli(shop, "lock", "--check")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("~ prompts/hero.py:hero (prompts/hero.py): prompt sha256:")
    # The old side is rebuilt from the commit that wrote the lockfile: the real field diff.
    assert lines[1] == '    ~ $.color_palette[0]: "#112233" → "#112244"'
    hero.write_text(HERO, encoding="utf-8")

    csv = shop / "jobs" / "products.csv"
    csv.write_text(CSV.replace("B-2,coral", "B-2,olive"), encoding="utf-8")
    done = cli(shop, "lock", "--check", "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    (change,) = data["changes"]
    assert change["kind"] == "changed"
    assert change["job"] == "jobs/bottles.toml"
    assert "jobs/products.csv:3" in change["name"]
    assert {"op": "changed", "path": "$.scene", "old": "a coral water bottle, product B-2",
            "new": "a olive water bottle, product B-2"} in change["fields"]  # fmt: skip
    assert any(f["path"] == "$.parameters.seed" for f in change["fields"])
    done = cli(shop, "lock", "--check")
    assert "jobs/bottles.toml [jobs/products.csv:3; sku=B-2, color=olive" in done.stdout
    assert '~ $.scene: "a coral water bottle, product B-2" → "a olive' in done.stdout


def test_a_lock_not_in_git_names_the_fields_that_changed(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    (root / "prompts").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "prompts" / "hero.py").write_text(HERO, encoding="utf-8")
    (root / "jobs" / "bottles.toml").write_text(JOB, encoding="utf-8")
    (root / "jobs" / "products.csv").write_text(CSV, encoding="utf-8")
    assert cli(root, "lock").returncode == 0
    (root / "jobs" / "bottles.toml").write_text(JOB.replace("derive = 7", "derive = 8"))
    done = cli(root, "lock", "--check")
    assert done.returncode == 1
    assert done.stdout.count("fields changed: parameters.seed") == 3


def test_diff_at_a_revision_never_imports_the_working_tree(shop: Path, tmp_path: Path) -> None:
    """Acceptance 2: the old side is imported from the commit's tree, in another interpreter."""
    hero = shop / "prompts" / "hero.py"
    hero.write_text(HERO.replace('"#112233"', '"#445566"'), encoding="utf-8")
    log = tmp_path / "imports.log"
    done = cli(shop, "diff", "HEAD:prompts/hero.py:hero", "prompts/hero.py:hero", log=log)
    assert done.returncode == 0, done.stderr
    assert '~ $.color_palette[0]: "#112233" → "#445566"' in done.stdout
    imported = log.read_text(encoding="utf-8").splitlines()
    working = str(hero.resolve())
    # Once from the working tree (the new side), once from a temporary tree (the old side).
    assert imported.count(working) == 1
    (old_side,) = [line for line in imported if line != working]
    assert "flux2prompt-rev-" in old_side

    log.unlink()
    done = cli(shop, "diff", "--rev", "HEAD", log=log)
    assert done.returncode == 0, done.stderr
    assert "~ prompts/hero.py:hero: changed" in done.stdout
    assert '    ~ $.color_palette[0]: "#112233" → "#445566"' in done.stdout
    assert "jobs/bottles.toml" not in done.stdout  # the job's template did not change
    imported = log.read_text(encoding="utf-8").splitlines()
    assert imported.count(working) == 1
    assert len(imported) == 2


def test_two_local_python_sources_and_two_jobs_diff(shop: Path) -> None:
    other = shop / "prompts" / "other.py"
    other.write_text(HERO.replace("at dusk", "at dawn"), encoding="utf-8")
    done = cli(shop, "diff", "prompts/hero.py:hero", "prompts/other.py:hero")
    assert done.returncode == 0, done.stderr
    assert '~ $.scene: "a lighthouse at dusk" → "a lighthouse at dawn"' in done.stdout
    changed = shop / "jobs" / "more.toml"
    changed.write_text(JOB.replace("derive = 7", "derive = 7\nparameters = { width = 512 }"))
    (shop / "jobs" / "more.toml").write_text(
        JOB + "\n[parameters]\nwidth = 512\n", encoding="utf-8"
    )
    done = cli(shop, "diff", "--json", "jobs/bottles.toml", "jobs/more.toml")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["changes"]) == 3
    assert all(
        {"op": "changed", "path": "$.parameters.width", "old": 1024, "new": 512} in c["fields"]
        for c in data["changes"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("diff", "--", "--output=x:prompts/hero.py:hero", "prompts/hero.py:hero"), "cannot"),
        (("diff", "nope:prompts/hero.py:hero", "prompts/hero.py:hero"), "no such revision"),
        (("diff", "--rev", "nope"), "no such revision"),
    ],
)
def test_bad_revisions_are_one_line_and_exit_2(
    shop: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli(shop, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_module_that_fails_to_import_is_one_line(shop: Path) -> None:
    (shop / "prompts" / "broken.py").write_text("x = (\n", encoding="utf-8")
    done = cli(shop, "lock")
    assert done.returncode == 2
    assert "prompts/broken.py" in done.stderr
    assert "syntax error" in done.stderr
    assert not (shop / "flux2prompt.lock").exists()  # nothing written half


def test_a_job_whose_dataset_is_missing_is_one_line(shop: Path) -> None:
    (shop / "jobs" / "products.csv").unlink()
    done = cli(shop, "lock")
    assert done.returncode == 2
    assert "products.csv" in done.stderr
    assert "Traceback" not in done.stderr


def test_lockfiles_of_version_1_migrate_and_keep_their_fingerprints(tmp_path: Path) -> None:
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a red fox"\n', encoding="utf-8"
    )
    assert cli(tmp_path, "lock").returncode == 0
    lock = json.loads((tmp_path / "flux2prompt.lock").read_text(encoding="utf-8"))
    entry = lock["prompts"]["fox"]
    old = {
        "lock_version": 1,
        "schema_version": 1,
        "prompts": {
            "fox": {
                "path": entry["path"],
                "prompt_fingerprint": entry["prompt_fingerprint"],
                "request_fingerprint": entry["request_fingerprint"],
            }
        },
    }
    (tmp_path / "flux2prompt.lock").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "flux2prompt.lock.items").unlink()
    done = cli(tmp_path, "lock", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "format version 1" in done.stderr
    assert "run `flux2-prompt lock` to rewrite it" in done.stderr
    (tmp_path / "flux2prompt.lock").write_text(
        json.dumps({**old, "lock_version": 9}), encoding="utf-8"
    )
    done = cli(tmp_path, "lock", "--check")
    assert done.returncode == 2
    assert "upgrade flux2prompt" in done.stderr


def test_without_configuration_the_old_side_is_discovered_from_the_same_root(
    tmp_path: Path,
) -> None:
    root = tmp_path / "plain"
    (root / "jobs").mkdir(parents=True)
    (root / "jobs" / "cards.py").write_text(HERO, encoding="utf-8")
    (root / "jobs" / "bottles.toml").write_text(
        JOB.replace("../prompts/hero.py", "cards.py"), encoding="utf-8"
    )
    (root / "jobs" / "products.csv").write_text(CSV, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    assert cli(root, "lock").returncode == 0
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "all")
    (root / "jobs" / "products.csv").write_text(CSV.replace("C-3,sand", "C-3,rust"))
    # From a subfolder: the lockfile and the discovery root are the repository's root.
    done = cli(root / "jobs", "lock", "--check")
    assert done.returncode == 1
    assert '~ $.scene: "a sand water bottle, product C-3" → "a rust' in done.stdout
    assert "[jobs/products.csv:4; sku=C-3, color=rust" in done.stdout
    done = cli(root / "jobs", "diff", "--rev", "HEAD")
    assert done.returncode == 0, done.stderr
    changed = [line for line in done.stdout.splitlines() if line.startswith(("~ ", "+ ", "- "))]
    assert len(changed) == 1
    assert changed[0].startswith("~ jobs/bottles.toml [jobs/products.csv:4; sku=C-3")


def test_a_corrupt_lockfile_is_one_line_and_exit_2(shop: Path) -> None:
    assert cli(shop, "lock").returncode == 0
    (shop / "flux2prompt.lock.items").write_text("not json\n", encoding="utf-8")
    done = cli(shop, "lock", "--check")
    assert done.returncode == 2
    assert "flux2prompt.lock.items: line 1" in done.stderr
    (shop / "flux2prompt.lock").write_text("{", encoding="utf-8")
    done = cli(shop, "lock", "--check")
    assert done.returncode == 2
    assert "invalid JSON" in done.stderr


def test_the_lock_records_the_request_fingerprints_the_batch_plan_sends() -> None:
    """One direction of data: the lock's items are the batch plan's requests, by construction."""
    from flux2prompt._versioning import build_inventory
    from flux2prompt.batch import load_job, plan_items

    job = Path(__file__).resolve().parents[2] / "examples" / "batch" / "job.toml"
    inventory = build_inventory([job], base=job.parent)
    items = [e.request_fingerprint for e in inventory.entries if e.kind == "item"]
    assert items == [item.key for item in plan_items(load_job(job))]
    assert len(items) == 8


def test_a_job_at_a_revision_diffs_as_its_expansion(shop: Path) -> None:
    (shop / "jobs" / "products.csv").write_text(CSV + "D-4,plum\n", encoding="utf-8")
    (shop / "jobs" / "bottles.toml").write_text(
        JOB.replace("derive = 7", "derive = 7") + "\n[parameters]\nwidth = 768\n",
        encoding="utf-8",
    )
    done = cli(shop, "diff", "HEAD:jobs/bottles.toml", "jobs/bottles.toml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    changed = [line for line in lines if line.startswith("~ jobs/bottles.toml [")]
    added = [line for line in lines if line.startswith("+ jobs/bottles.toml [")]
    assert len(changed) == 3
    assert added == [
        "+ jobs/bottles.toml [jobs/products.csv:5; sku=D-4, color=plum; seed "
        + lines[-1].split("seed ")[1]
    ]
    assert lines.count("    ~ $.parameters.width: 1024 → 768") == 3


def test_the_old_side_imports_the_old_neighbours_even_with_the_tree_on_pythonpath(
    shop: Path,
) -> None:
    """An editable install puts the working tree on sys.path; the old tree must still win."""
    prompts = shop / "prompts"
    (prompts / "palette.py").write_text('ACCENT = "#AA0000"\n', encoding="utf-8")
    (prompts / "poster.py").write_text(
        "from flux2prompt import scene\nfrom palette import ACCENT\n"
        "poster = scene('a poster').palette(ACCENT)\n",
        encoding="utf-8",
    )
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "poster")
    (prompts / "palette.py").write_text('ACCENT = "#00AA00"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(prompts), "NO_COLOR": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), "diff",
         "HEAD:prompts/poster.py:poster", "prompts/poster.py:poster"],
        cwd=shop, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '~ $.color_palette[0]: "#AA0000" → "#00AA00"' in done.stdout


def test_diff_rev_takes_paths_to_limit_what_is_compared(shop: Path) -> None:
    (shop / "prompts" / "hero.py").write_text(
        HERO.replace('"#112233"', '"#445566"'), encoding="utf-8"
    )
    (shop / "jobs" / "products.csv").write_text(CSV.replace("coral", "amber"), encoding="utf-8")
    (shop / "prompts" / "extra.py").write_text(
        "from flux2prompt import scene\nextra = scene('a new poster')\n", encoding="utf-8"
    )
    everything = cli(shop, "diff", "--rev", "HEAD")
    assert "jobs/bottles.toml [jobs/products.csv:3" in everything.stdout
    assert "prompts/hero.py:hero: changed" in everything.stdout
    # One module: its prompts only, not the job's items.
    done = cli(shop, "diff", "--rev", "HEAD", "prompts/hero.py")
    assert done.returncode == 0, done.stderr
    assert "~ prompts/hero.py:hero: changed" in done.stdout
    assert "jobs/bottles.toml" not in done.stdout
    assert "extra.py" not in done.stdout
    # A file that is new since BASE is added; the data agrees.
    done = cli(shop, "diff", "--rev", "HEAD", "--json", "prompts/extra.py")
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)["changes"]
    assert [(c["kind"], c["name"]) for c in changes] == [("added", "prompts/extra.py:extra")]
    # A folder scans all three kinds; the job brings its rows.
    done = cli(shop, "diff", "--rev", "HEAD", "jobs")
    assert "jobs/bottles.toml [jobs/products.csv:3" in done.stdout
    missing = cli(shop, "diff", "--rev", "HEAD", "prompts/nope.py")
    assert missing.returncode == 2
    assert "prompts/nope.py: no such file or folder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_lock_check_names_a_change_of_form_as_such(tmp_path: Path) -> None:
    """A lock written when klein jobs were sent as JSON: the items' requests change only by the
    form, and lock --check says so (and how to keep the old form)."""
    root = tmp_path / "forms"
    (root / "prompts").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "prompts" / "hero.py").write_text(HERO, encoding="utf-8")
    pinned = JOB.replace('model = "klein-4b"\n', 'model = "klein-4b"\nprompt_format = "json"\n')
    (root / "jobs" / "bottles.toml").write_text(pinned, encoding="utf-8")
    (root / "jobs" / "products.csv").write_text(CSV, encoding="utf-8")
    assert cli(root, "lock").returncode == 0
    items = (root / "flux2prompt.lock.items").read_text(encoding="utf-8")
    assert "prompt_format" not in items  # a JSON item is locked as it always was
    (root / "jobs" / "bottles.toml").write_text(JOB, encoding="utf-8")  # auto: prose for klein
    done = cli(root, "lock", "--check")
    assert done.returncode == 1
    assert done.stdout.count("prompt form json → prose") == 3
    assert 'pin the old one with prompt_format = "json" in the job file' in done.stdout
    (root / "jobs" / "bottles.toml").write_text(pinned, encoding="utf-8")
    assert cli(root, "lock", "--check").returncode == 0
