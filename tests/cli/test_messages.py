"""Messages in the command line's words: its options, not the library's keyword arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROMPT = str(EXAMPLES / "prompts" / "mug-hero.prompt.toml")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_missing_credentials_name_the_options(
    no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["generate", PROMPT, "--out", "a.jpg"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--account-id" in err
    assert "CLOUDFLARE_ACCOUNT_ID" in err
    assert "CLOUDFLARE_API_TOKEN" in err
    assert "--emulator" in err
    assert "account_id=" not in err


def test_only_the_missing_credential_is_asked_for(
    no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["generate", PROMPT, "--out", "a.jpg", "--account-id", "abc"], capsys)
    assert code == 2
    assert "CLOUDFLARE_API_TOKEN" in err
    assert "--account-id" not in err


def test_batch_missing_credentials_name_the_options(
    no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["batch", str(EXAMPLES / "batch" / "job.toml"), "--out", "o"], capsys)
    assert code == 2
    assert "--account-id" in err
    assert "--emulator" in err


def test_an_unreadable_reference_image_is_named_by_its_option(
    no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", PROMPT, "--out", "a.jpg", "--emulator", "--image", "refs/nope.png"]
    code, _, err = run(args, capsys)
    assert code == 2
    assert err.startswith("error: --image refs/nope.png: cannot read the file")
    assert "images[0]" not in err


def test_a_mistyped_profile_gets_a_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--profile", "cloudfare", "x.json"], capsys)
    assert code == 2
    assert "did you mean 'cloudflare'?" in err
    assert "Value error" not in err


_WITHOUT_PILLOW = """
import sys

class NoPillow:
    def find_spec(self, name, path=None, target=None):
        if name == "PIL" or name.startswith("PIL."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoPillow())
from flux2prompt.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("args", "who"),
    [
        (["generate", PROMPT, "--out", "a.jpg", "--emulator"], "--emulator"),
        (["batch", str(EXAMPLES / "batch" / "job.toml"), "--out", "o", "--emulator"], "--emulator"),
        (["emulator"], "flux2-prompt emulator"),
    ],
)
def test_without_the_emulator_extra_one_line_and_exit_2(
    args: list[str], who: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PILLOW, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"error: {who} needs Pillow, which is not installed: pip install 'flux2-prompt[emulator]'\n"
    )


@pytest.mark.parametrize("variables", ["matrix", "dataset"])
def test_an_output_pattern_typo_exits_2_whatever_the_variable_source(
    variables: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bottle.py").write_text(
        (EXAMPLES / "batch" / "bottle.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "rows.csv").write_text("color,language\nglacier,en\n", encoding="utf-8")
    source = (
        '[variables.matrix]\ncolor = ["glacier"]\nlanguage = ["en"]\n'
        if variables == "matrix"
        else '[variables]\ndataset = "rows.csv"\n'
    )
    (tmp_path / "job.toml").write_text(
        'name = "x"\ntemplate = "bottle.py:bottle"\noutput = "{colour}-{language}.{ext}"\n'
        + source,
        encoding="utf-8",
    )
    for extra in ([], ["--dry-run"]):
        code, _, err = run(["batch", "job.toml", "--out", "o", "--emulator", *extra], capsys)
        assert code == 2, (extra, err)
        assert err == (
            "error: job.toml:3: output pattern '{colour}-{language}.{ext}': unknown field "
            "{colour}; did you mean {color}?\n"
        )


def test_every_problem_of_a_job_file_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.toml").write_text(
        'name = 3\ntemplate = "bottle.py:bottle"\noutput = "{color}.{ext}"\n'
        'concurrency = "many"\n[variables.matrix]\ncolor = ["a"]\n',
        encoding="utf-8",
    )
    expected = (
        "error: job.toml:1: $.name: expected a string, got integer 3\n"
        'error: job.toml:4: $.concurrency: expected an integer, got string "many"\n'
    )
    for args in (["batch", "job.toml", "--out", "o"], ["validate", "job.toml"]):
        code, out, err = run(args, capsys)
        assert (code, out, err) == (2, "", expected), args


@pytest.mark.parametrize(
    ("setting", "line", "expected"),
    [
        (
            "seeds = 18446744073709551616",
            5,
            "$.seeds: seed must be 0-18446744073709551615 for flux-2-klein-4b, got "
            "18446744073709551616",
        ),
        (
            "seeds = [1, 18446744073709551616]",
            5,
            "$.seeds: seed must be 0-18446744073709551615 for flux-2-klein-4b, got "
            "18446744073709551616",
        ),
        (
            "[parameters]\nsteps = 10",
            6,
            "$.parameters.steps: flux-2-klein-4b does not take steps (fixed at 4): leave steps "
            "unset",
        ),
    ],
)
def test_a_setting_the_model_refuses_names_the_job_line(
    setting: str,
    line: int,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The schema takes any seed of 0 or more and any steps; the model's own bounds are checked
    # when the first request is planned, and the error still points at the job file's line.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text(
        "from flux2prompt import scene, template\n\n\n"
        "@template\ndef t(color: str):\n    return scene(f'a {color} mug')\n",
        encoding="utf-8",
    )
    (tmp_path / "job.toml").write_text(
        'name = "x"\ntemplate = "t.py:t"\nmodel = "klein-4b"\noutput = "{color}.{ext}"\n'
        + setting
        + '\n\n[variables.matrix]\ncolor = ["teal"]\n',
        encoding="utf-8",
    )
    for extra in ([], ["--dry-run"]):
        code, out, err = run(["batch", "job.toml", "--out", "o", "--emulator", *extra], capsys)
        assert (code, out, err) == (2, "", f"error: job.toml:{line}: {expected}\n"), extra


_OUTPUT_COMMANDS = {
    "batch": ["batch", str(EXAMPLES / "batch" / "job.toml"), "--dry-run"],
    "review": ["review"],
}


@pytest.mark.parametrize("command", sorted(_OUTPUT_COMMANDS))
@pytest.mark.parametrize("given", ["", "  ", "a-file"])
def test_an_output_folder_that_is_empty_or_a_file_is_refused_before_anything_runs(
    command: str,
    given: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An unset shell variable (--out "$OUT") would otherwise write into the current folder.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    code, out, err = run([*_OUTPUT_COMMANDS[command], "--out", given], capsys)
    assert code == 2
    assert out == ""
    reason = "is a file; name a folder" if given == "a-file" else "the folder is empty"
    assert reason in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing written here
