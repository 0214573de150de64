"""A batch sends each prompt in its model's form, and an upgrade never pays twice: a folder made
before forms keeps the form its manifest recorded (JSON), unless another form is asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux2prompt import SourceError, scene
from flux2prompt.batch import (
    BatchJob,
    BatchRunner,
    load_job,
    read_manifest,
    run_batch,
    template,
    zipped,
)
from flux2prompt.cli import app
from flux2prompt.emulator import serve


@template
def mug(color: str):
    return scene(f"a {color} ceramic mug").lighting("soft window light")


def mugs(prompt_format: str = "auto") -> BatchJob:
    return BatchJob(
        name="mugs",
        template=mug,
        source=zipped(color=["teal", "rust"]),
        output="{color}.{ext}",
        model="klein-4b",
        seeds=7,
        parameters={"width": 256, "height": 256},
        prompt_format=prompt_format,
    )


def _run(job: BatchJob, out: Path) -> tuple[object, list[str]]:
    with serve() as emu:
        report = run_batch(job, out, base_url=emu.base_url, account_id="a", api_token="t")
        prompts = [r.fields["prompt"] for r in emu.requests if r.method == "POST"]
    return report, prompts


def test_klein_is_sent_prose_and_the_manifest_records_the_form(tmp_path: Path) -> None:
    _, prompts = _run(mugs(), tmp_path)
    assert sorted(prompts) == [
        "A rust ceramic mug. Lit by soft window light.",
        "A teal ceramic mug. Lit by soft window light.",
    ]
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert {r["prompt_format"] for r in records} == {"prose"}
    # The record keeps the JSON prompt (what the prompt is), and says it went as prose.
    assert records[0]["prompt"]["lighting"] == "soft window light"
    assert BatchRunner(mugs(), tmp_path / "new").dry_run().prompt_format == (
        "prose (auto for klein-4b)"
    )
    assert BatchRunner(mugs(), tmp_path).dry_run().prompt_format.startswith("prose (recorded")
    assert _run(mugs(), tmp_path)[1] == []  # a rerun resumes


def test_a_folder_made_before_forms_resumes_as_json_without_a_request(tmp_path: Path) -> None:
    # JSON records carry no form field: exactly what a runner before forms wrote.
    _run(mugs(prompt_format="json"), tmp_path)
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert all("prompt_format" not in r for r in records)
    dry = BatchRunner(mugs(), tmp_path).dry_run()
    assert dry.prompt_format == "json (recorded in the manifest; --prompt-format prose changes it)"
    assert (dry.finished, dry.to_generate) == (2, 0)
    report, prompts = _run(mugs(), tmp_path)
    assert prompts == []
    assert (report.skipped, report.generated) == (2, 0)  # type: ignore[attr-defined]


def test_asking_for_another_form_sends_again(tmp_path: Path) -> None:
    _run(mugs(prompt_format="json"), tmp_path)
    dry = BatchRunner(mugs(prompt_format="prose"), tmp_path).dry_run()
    assert (dry.prompt_format, dry.to_generate) == ("prose (asked)", 2)
    _, prompts = _run(mugs(prompt_format="prose"), tmp_path)
    assert len(prompts) == 2
    assert all(p.startswith("A ") for p in prompts)
    # From then on the folder's form is prose: a rerun without asking sends nothing.
    assert BatchRunner(mugs(), tmp_path).dry_run().prompt_format.startswith("prose (recorded")
    assert _run(mugs(), tmp_path)[1] == []


def _job_file(folder: Path, extra: str = "") -> Path:
    (folder / "t.py").write_text(
        "from flux2prompt import scene\ndef mug(color):\n    return scene(f'a {color} mug')\n",
        encoding="utf-8",
    )
    path = folder / "job.toml"
    path.write_text(
        'template = "t.py:mug"\nmodel = "klein-4b"\noutput = "{color}.{ext}"\n'
        f'{extra}[variables.matrix]\ncolor = ["teal"]\n',
        encoding="utf-8",
    )
    return path


def test_a_job_file_names_its_form(tmp_path: Path) -> None:
    assert load_job(_job_file(tmp_path, 'prompt_format = "json"\n')).prompt_format == "json"
    assert load_job(_job_file(tmp_path)).prompt_format == "auto"
    with pytest.raises(SourceError, match="prompt_format") as caught:
        load_job(_job_file(tmp_path, 'prompt_format = "yaml"\n'))
    assert caught.value.line == 4


def test_the_command_line_says_the_form_and_takes_another(tmp_path: Path) -> None:
    job = _job_file(tmp_path)
    out = tmp_path / "out"
    runner = CliRunner()
    dry = runner.invoke(app, ["batch", str(job), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "form      prose (auto for klein-4b)" in dry.output
    assert "A teal mug." in dry.output
    asked = runner.invoke(
        app, ["batch", str(job), "--out", str(out), "--dry-run", "--prompt-format", "json"]
    )
    assert "form      json (asked)" in asked.output
    document = runner.invoke(
        app,
        ["batch", str(job), "--out", str(out), "--dry-run", "--json", "--prompt-format", "json"],
    )
    assert json.loads(document.output)["first"][0]["prompt"] == '{"scene":"a teal mug"}'
    bad = runner.invoke(app, ["batch", str(job), "--out", str(out), "--prompt-format", "yaml"])
    assert bad.exit_code == 2
    assert "--prompt-format 'yaml': use auto, json or prose" in bad.output
