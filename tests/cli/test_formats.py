"""``--json`` and ``--format github`` of validate, lint and lock --check: the shapes docs/cli.md
documents, one document per invocation, annotations with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux2prompt.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

POSTER = """{
  "scene": "a harbour at dawn",
  "subjects": [{"description": "a fishing boat", "position": "left"}],
  "color_palette": ["#000000", "#111111", "#222222", "#333333"]
}
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "poster.json").write_text(POSTER, encoding="utf-8")
    (tmp_path / "hero.json").write_text('{"scene": "a lighthouse at dusk"}\n', encoding="utf-8")
    (tmp_path / "broken.json").write_text('{\n  "scene": \n}\n', encoding="utf-8")
    return tmp_path


def test_validate_json_is_one_document_with_every_result(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["validate", "--json", "-p", "cloudflare", "hero.json", "poster.json", "nope.json"]
    code, out, err = run(args, capsys)
    document = json.loads(out)  # one document: nothing else on stdout
    assert code == 2
    assert err == ""
    assert document["version"] == 1
    assert document["command"] == "validate"
    assert document["profile"] == "cloudflare"
    assert document["exit_code"] == 2
    assert document["summary"] == {
        "checked": 3,
        "ok": 0,
        "invalid": 2,
        "unreadable": 1,
        "advice": 0,
    }
    hero, poster, nope = document["results"]
    # hero.json lacks the subjects, palette ... that the cloudflare profile requires.
    assert hero["status"] == "invalid"
    assert poster["name"] == "poster.json"
    assert poster["file"] == "poster.json"
    assert poster["status"] == "invalid"
    assert poster["variant"] is False
    palette = next(p for p in poster["problems"] if p["path"] == "$.color_palette")
    assert palette == {
        "severity": "error",
        "code": None,
        "path": "$.color_palette",
        "message": "has 4 items; profile 'cloudflare' needs exactly 3",
        "fix": None,
        "line": 4,
    }
    assert nope["status"] == "unreadable"
    assert nope["problems"][0]["message"] == "nope.json: no such file"


def test_validate_json_of_a_valid_prompt(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "--format", "json", "hero.json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["results"] == [
        {
            "name": "hero.json",
            "source": "hero.json",
            "file": "hero.json",
            "variant": False,
            "status": "ok",
            "problems": [],
        }
    ]


def test_validate_json_of_a_job_lists_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    job = str(EXAMPLES / "batch" / "job.toml")
    code, out, _ = run(["validate", "--json", job], capsys)
    document = json.loads(out)
    assert code == 0
    assert len(document["results"]) == 8
    assert all(r["variant"] and r["source"] == job for r in document["results"])


def test_validate_github_annotations_carry_file_and_line(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["validate", "--format", "github", "-p", "cloudflare", "poster.json", "broken.json"]
    code, out, _ = run(args, capsys)
    lines = out.splitlines()
    assert code == 2
    assert (
        "::error file=poster.json,line=4,title=flux2-prompt validate::poster.json: "
        "$.color_palette: has 4 items; profile 'cloudflare' needs exactly 3"
    ) in lines
    assert any(
        line.startswith("::error file=poster.json,line=3,") and "$.subjects[0].position" in line
        for line in lines
    )
    broken = [line for line in lines if "broken.json" in line]
    assert broken[0].startswith("::error file=broken.json,line=3,title=flux2-prompt validate::")
    assert lines[-1] == "flux2-prompt validate: 2 checked, 1 invalid, 1 unreadable, 0 advice"


def test_github_annotations_escape_what_github_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a,b.json").write_text('{"scene": 1}\n', encoding="utf-8")
    _, out, _ = run(["validate", "--format", "github", "a,b.json"], capsys)
    assert out.splitlines()[0].startswith("::error file=a%2Cb.json,line=1,")


def test_standard_input_has_no_file_in_annotations(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"scene": 1}')))
    _, out, _ = run(["validate", "--format", "github", "-"], capsys)
    assert out.splitlines()[0].startswith("::error title=flux2-prompt validate::<stdin>: $.scene")


def test_lint_json_and_github(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "iso.json").write_text(
        '{\n  "scene": "a street",\n  "camera": {"ISO": 50}\n}\n', encoding="utf-8"
    )
    code, out, _ = run(["lint", "--json", "iso.json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["command"] == "lint"
    assert document["version"] == 1
    (result,) = document["results"]
    assert result["status"] == "ok"  # advice does not make a prompt invalid
    iso = next(p for p in result["problems"] if p["path"] == "$.camera.ISO")
    assert iso["severity"] == "warning"
    assert iso["code"] == "F2P402"
    assert iso["line"] == 3
    assert iso["fix"]
    assert document["summary"]["advice"] == len(result["problems"])

    code, out, _ = run(["lint", "--format", "github", "--strict", "iso.json"], capsys)
    assert code == 1
    assert any(
        line.startswith("::warning file=iso.json,line=3,title=flux2-prompt lint F2P402::")
        for line in out.splitlines()
    )


def test_an_unknown_format_has_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--format", "jsn", "x.json"], capsys)
    assert code == 2
    assert err == "error: --format: unknown format 'jsn'; did you mean 'json'?\n"
    code, _, err = run(["lint", "--json", "--format", "github", "x.json"], capsys)
    assert code == 2
    assert "exclude each other" in err


def test_lock_check_json_and_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    hero = prompts / "hero.prompt.json"
    hero.write_text(
        '{"schema_version": 1, "name": "hero", "prompt": {"scene": "a harbour"}}\n', "utf-8"
    )

    code, out, _ = run(["lock", "--check", "--json"], capsys)
    assert code == 1
    missing = json.loads(out)
    assert missing["version"] == 1
    assert missing["ok"] is False
    assert "no lockfile" in missing["error"]

    assert run(["lock"], capsys)[0] == 0
    code, out, _ = run(["lock", "--check", "--json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["version"] == 1
    assert document["ok"] is True
    assert set(document) >= {"file", "notes", "messages", "revision", "changes"}

    hero.write_text(
        '{"schema_version": 1, "name": "hero", "prompt": {"scene": "a port"}}\n', "utf-8"
    )
    code, out, _ = run(["lock", "--check", "--format", "github"], capsys)
    first, last = out.splitlines()[0], out.splitlines()[-1]
    assert code == 1
    assert first.startswith("::error file=prompts/hero.prompt.json,title=flux2-prompt lock")
    assert "run `flux2-prompt lock` and commit flux2prompt.lock" in first
    assert last == "flux2-prompt lock --check: flux2prompt.lock is out of date"

    code, _, err = run(["lock", "--format", "github"], capsys)
    assert code == 2
    assert "go with --check" in err


def test_generate_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    prompt = str(EXAMPLES / "prompts" / "mug-hero.prompt.toml")
    code, out, _ = run(["generate", prompt, "--out", "a.png", "--emulator", "--json"], capsys)
    document = json.loads(out)
    assert code == 0
    assert document["version"] == 1
    assert document["command"] == "generate"
    assert document["path"] == "a.png"
    assert document["format"] == "png"
    assert (document["width"], document["height"], document["seed"]) == (1024, 768, 42)
    assert document["bytes"] == (tmp_path / "a.png").stat().st_size
    assert document["prompt_fingerprint"].startswith("sha256:")
    assert document["request_fingerprint"].startswith("sha256:")
    assert document["emulator"] is True
    assert document["estimated_cost"] is None
    assert set(document) == {
        "version", "command", "path", "width", "height", "format", "bytes", "model", "seed",
        "prompt_fingerprint", "request_fingerprint", "prompt_format", "request_id", "elapsed",
        "attempts",
        "emulator", "estimated_cost", "billing_note", "effective_prompt", "note",
    }  # fmt: skip


def test_batch_json_and_dry_run_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    job = str(EXAMPLES / "batch" / "job.toml")
    code, out, _ = run(["batch", job, "--out", "o", "--dry-run", "--json"], capsys)
    dry = json.loads(out)
    assert code == 0
    assert dry["version"] == 1
    assert dry["dry_run"] is True
    assert (dry["total"], dry["to_generate"], dry["finished"]) == (8, 8, 0)
    assert dry["first"][0]["request_fingerprint"].startswith("sha256:")
    assert dry["prompt_format"] == "prose (auto for klein-4b)"
    assert '"いつも明るく"' in dry["first"][1]["prompt"]  # klein reads prose: the prose, as sent

    args = ["batch", job, "--out", "o", "--emulator", "--json", "--no-progress"]
    code, out, _ = run(args, capsys)
    report = json.loads(out)
    assert code == 0
    assert report["version"] == 1
    assert report["command"] == "batch"
    assert report["dry_run"] is False
    assert report["ok"] is True
    assert (report["total"], report["generated"], report["failed"]) == (8, 8, 0)
    assert report["manifest"] == str(Path("o") / "manifest.jsonl")
    assert report["failures"] == []

    code, out, _ = run(args, capsys)  # a rerun skips what is finished
    assert json.loads(out)["skipped"] == 8


def test_generate_says_the_form_it_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    prompt = str(EXAMPLES / "product_shot.py") + ":prompt"
    base = ["generate", prompt, "--out", "a.png", "--emulator", "--model", "klein-4b"]
    code, out, _ = run(base, capsys)
    assert code == 0
    assert "form      prose (auto for klein-4b)" in out
    code, out, _ = run([*base, "--prompt-format", "json", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["prompt_format"] == "json"
    code, _, err = run([*base, "--prompt-format", "xml"], capsys)
    assert code == 2
    assert "--prompt-format 'xml': use auto, json or prose" in err


def test_batch_json_counts_superseded_records_and_unwritable_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"color": "teal"}\n{"color": "coral"}\n', encoding="utf-8")
    (tmp_path / "mug.prompt.toml").write_text(
        'name = "mug"\n[prompt]\nscene = "a ${color} mug"\n', encoding="utf-8"
    )
    job = tmp_path / "job.toml"
    job.write_text(
        'name = "mugs"\ntemplate = "mug.prompt.toml"\noutput = "{color}.{ext}"\n'
        'model = "dev"\n[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    args = ["batch", str(job), "--out", "o", "--emulator", "--json", "--no-progress"]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert (json.loads(out)["generated"], json.loads(out)["superseded"]) == (2, 0)
    # One row removed; a new row holds a lone surrogate (a cut-off emoji, as JavaScript writes
    # it) in a column the template does not use: no manifest record can hold it.
    rows.write_text('{"color": "teal"}\n{"color": "sand", "note": "\\ud800"}\n', encoding="utf-8")
    code, out, _ = run(["batch", str(job), "--out", "o", "--dry-run", "--json"], capsys)
    dry = json.loads(out)
    assert code == 1, "a row that would fail is a failed check"
    assert (dry["ok"], dry["exit_code"]) == (False, 1)
    assert dry["superseded"] == 1
    assert dry["unwritable"] == 1
    assert "rows.jsonl:2" in dry["problems"][0]
    code, out, _ = run(args, capsys)
    report = json.loads(out)
    assert report["superseded"] == 1
    assert report["failed"] == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["validate", "--json", "--var", "novalue", "hero.json"], "--var 'novalue': expected"),
        (["validate", "--json", "--var", "a=1", "hero.json"], "--var is for templates"),
        (["validate", "--json", "-", "-"], "can be given only once"),
        (["lint", "--json", "--ignore", "F2P99", "hero.json"], "unknown lint code 'F2P99'"),
        (["validate", "--json", "--profile", "nope", "hero.json"], "'nope' is not one of"),
        (["lint", "--format=json", "--no-such-option", "hero.json"], "No such option"),
        (["validate", "--json"], "Missing argument"),
    ],
)
def test_a_usage_error_in_json_is_still_one_document(
    files: Path, args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    document = json.loads(out)  # one document on stdout, whatever the outcome
    assert code == 2
    assert document["version"] == 1
    assert document["command"] == args[0]
    assert document["exit_code"] == 2
    assert document["results"] == []
    assert said in document["error"]
    assert err.startswith("error: ")  # the error line stays on stderr
    assert said in err


def test_a_usage_error_in_github_format_is_an_annotation(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["lint", "--format", "github", "--ignore", "nope", "hero.json"], capsys)
    assert code == 2
    first, last = out.splitlines()
    assert first.startswith("::error title=flux2-prompt lint::--ignore: unknown lint code")
    assert last == "flux2-prompt lint: 0 checked, 0 invalid, 0 unreadable, 0 advice"


def test_a_usage_error_of_lock_check_json_is_its_document(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["lock", "--check", "--file", "my.lock", "--json", "--bogus"], capsys)
    assert code == 2
    assert json.loads(out) == {
        "version": 1,
        "file": "my.lock",
        "ok": False,
        "error": "No such option: --bogus",
    }
    code, out, err = run(["lock", "--json", "--bogus"], capsys)  # no --check: no document
    assert code == 2
    assert out == ""
    assert "No such option" in err


def test_annotations_in_a_toml_prompt_file_point_at_the_key_not_the_table(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # $.prompt.mood was placed on the [prompt] line: the path's own "prompt" was looked up under
    # [prompt] again ($.prompt.prompt.mood), and only the table matched.
    text = 'name = "card"\ndescription = "x"\n[prompt]\nscene = "a card"\nmood = 5\n'
    (files / "card.prompt.toml").write_text(text, encoding="utf-8")
    lint = 'name = "sign"\n[prompt]\nscene = "a street"\n[prompt.camera]\nISO = 50\n'
    (files / "sign.prompt.toml").write_text(lint, encoding="utf-8")
    _, out, _ = run(["validate", "--format", "github", "card.prompt.toml"], capsys)
    assert out.splitlines()[0].startswith("::error file=card.prompt.toml,line=5,")
    _, out, _ = run(["lint", "--format", "github", "sign.prompt.toml"], capsys)
    assert out.splitlines()[0].startswith("::warning file=sign.prompt.toml,line=5,")


def test_annotations_of_prompt_file_metadata_carry_each_problems_line(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = 'name = "card"\n\n[parameters]\nwidth = 0\nsteps = 0\n[prompt]\nscene = "a card"\n'
    (files / "card.prompt.toml").write_text(text, encoding="utf-8")
    code, out, _ = run(["validate", "--format", "github", "card.prompt.toml"], capsys)
    assert code == 2
    assert out.splitlines()[:2] == [
        "::error file=card.prompt.toml,line=4,title=flux2-prompt validate::card.prompt.toml:4: "
        "$.parameters.width: must be at least 1, got 0",
        "::error file=card.prompt.toml,line=5,title=flux2-prompt validate::card.prompt.toml:5: "
        "$.parameters.steps: must be at least 1, got 0",
    ]
