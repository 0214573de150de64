"""``validate`` of a job file refuses what a run of it would refuse before sending anything:
settings the model does not take (steps, sizes, guidance, seeds), named by file, line and key,
and an output pattern the variables do not fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = """\
from flux2prompt import scene, template


@template
def card(color: str):
    return scene(f"a {color} greeting card")
"""


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("flux2-prompt"))
    return subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def job(folder: Path, model: str, settings: str, *, seeds: str = "seeds = 3") -> Path:
    (folder / "cards.py").write_text(TEMPLATE, encoding="utf-8")
    text = (
        'template = "cards.py:card"\n'
        f'model = "{model}"\n'
        'output = "{color}.{ext}"\n'
        f"{seeds}\n"
        "\n"
        "[parameters]\n"
        f"{settings}\n"
        "\n"
        "[variables.matrix]\n"
        'color = ["teal", "rust"]\n'
    )
    path = folder / "job.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("model", "settings", "key", "line", "words"),
    [
        ("klein-4b", "width = 512\nsteps = 20", "parameters.steps", 8, "does not take steps"),
        ("flux-2-dev", "height = 2048", "parameters.height", 7, "2048"),
        ("flux-2-dev", "width = 128", "parameters.width", 7, "256-1920"),
        ("flux-2-flex", "width = 4096\nheight = 4096", "parameters.width", 7, "4 megapixels"),
        ("flux-1-schnell", "steps = 30", "parameters.steps", 7, "30"),
        ("flux-2-flex", "guidance = 40", "parameters.guidance", 7, "40"),
    ],
)
def test_a_setting_the_model_refuses_is_reported_with_file_line_and_key(
    tmp_path: Path, model: str, settings: str, key: str, line: int, words: str
) -> None:
    path = job(tmp_path, model, settings, seeds="" if model == "flux-1-schnell" else "seeds = 3")
    run = cli(tmp_path, "batch", "job.toml", "--out", "out", "--dry-run")
    assert run.returncode == 2, "the run refuses it"
    done = cli(tmp_path, "validate", "job.toml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (message,) = done.stderr.strip().splitlines()
    assert message.startswith(f"error: job.toml:{line}: $.{key}: ")
    assert words in message
    assert message == run.stderr.strip().splitlines()[-1], "the run's words, the same"
    assert "ok" not in done.stdout
    report = json.loads(cli(tmp_path, "validate", "--json", "job.toml").stdout)
    problems = [p for r in report["results"] for p in r["problems"]]
    assert [(p["line"], p["message"]) for p in problems] == [
        (line, message.removeprefix("error: "))
    ]
    assert path.exists()


def test_a_seed_the_model_does_not_take_is_named_at_the_seeds_line(tmp_path: Path) -> None:
    job(tmp_path, "flux-1-schnell", "steps = 4", seeds="seeds = [1, 2]")
    done = cli(tmp_path, "validate", "job.toml")
    assert done.returncode == 2
    assert done.stderr.startswith("error: job.toml:4: $.seeds: ")


def test_settings_the_model_takes_are_ok(tmp_path: Path) -> None:
    job(tmp_path, "flux-2-dev", "width = 512\nheight = 512\nsteps = 20\nguidance = 4.5")
    done = cli(tmp_path, "validate", "job.toml")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (
        0,
        "job.toml: ok (2 variants)",
        "",
    )


@pytest.mark.parametrize(
    "settings",
    ["width = 128\nheight = 128", "width = 2048\nheight = 2048", "width = 64\nheight = 4096"],
)
def test_a_size_only_some_models_take_is_ok_on_one_that_takes_it(
    tmp_path: Path, settings: str
) -> None:
    # The job file's schema holds no one model's range: flex takes 64 pixels and up to 4 MP.
    job(tmp_path, "flux-2-flex", settings)
    done = cli(tmp_path, "validate", "job.toml")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (
        0,
        "job.toml: ok (2 variants)",
        "",
    )


def test_an_unknown_model_is_named_at_its_line_in_the_job_files_words(tmp_path: Path) -> None:
    job(tmp_path, "flux-2-dve", "width = 512")
    done = cli(tmp_path, "validate", "job.toml")
    run = cli(tmp_path, "batch", "job.toml", "--out", "out", "--dry-run")
    for result in (done, run):
        assert result.returncode == 2
        (message,) = result.stderr.strip().splitlines()
        assert message.startswith("error: job.toml:2: $.model: unknown model 'flux-2-dve': ")
        assert "did you mean 'flux-2-dev'" in message
        assert "allow_unknown_model" not in message  # a job file has no such key


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_setting_with_no_json_form_is_named_at_its_line(tmp_path: Path, value: str) -> None:
    job(tmp_path, "flux-2-dev", f"guidance = {value}")
    done = cli(tmp_path, "validate", "job.toml")
    run = cli(tmp_path, "batch", "job.toml", "--out", "out", "--dry-run")
    assert done.returncode == run.returncode == 2
    (message,) = done.stderr.strip().splitlines()
    assert message.startswith("error: job.toml:7: $.parameters.guidance: ")
    assert message == run.stderr.strip().splitlines()[-1]
