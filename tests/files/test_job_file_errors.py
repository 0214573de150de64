"""Job files: a bad ``template`` value names the job file and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt._files._job_file import read_job_file

JOB = (
    'name = "cards"\n\ntemplate = "{spec}"\noutput = "{{color}}.{{ext}}"\n'
    '[variables.zip]\ncolor = ["teal"]\n'
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cards.py:1card", "template 'cards.py:1card': NAME in file.py:NAME must be a Python name"),
        ("cards.py", "template 'cards.py': name the template in the file, as cards.py:NAME"),
    ],
)
def test_a_bad_template_value_names_the_job_file_and_line(
    tmp_path: Path, spec: str, message: str
) -> None:
    (tmp_path / "cards.py").write_text("from flux2prompt import scene\n", encoding="utf-8")
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(spec=spec), encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        read_job_file(job)
    assert (caught.value.source, caught.value.line) == (str(job), 3)
    assert str(caught.value) == f"{job}:3: {message}"


DATASET_JOB = 'template = "mug.prompt.toml"\noutput = "{{color}}.{{ext}}"\n[variables]\n{line}\n'
TABLE = (
    'a dataset is a file name (dataset = "rows.csv") or a table with its path and format '
    '(dataset = { path = "rows.txt", format = "csv" }); the formats are csv and jsonl'
)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # The schema's own words were "'' is not valid under any of the given schemas".
        ('dataset = ""', f"$.variables.dataset: {TABLE}"),
        ('dataset = { path = "rows.csv", format = "tsv" }', f"$.variables.dataset: {TABLE}"),
        # It was "rows.tsv: unknown dataset type '.tsv'; ... pass format='csv'": Python's words,
        # and neither the job file nor its line.
        (
            'dataset = "rows.tsv"',
            "dataset 'rows.tsv': the suffix does not say whether it is CSV or JSON Lines; name a "
            '.csv, .jsonl or .ndjson file, or give the format: dataset = { path = "rows.tsv", '
            'format = "csv" } (or "jsonl")',
        ),
    ],
)
def test_a_dataset_the_job_cannot_read_names_the_job_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "mug.prompt.toml").write_text(
        'name = "mug"\n[prompt]\nscene = "a ${color} mug"\n', encoding="utf-8"
    )
    job = tmp_path / "job.toml"
    job.write_text(DATASET_JOB.format(line=line), encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        read_job_file(job)
    assert str(caught.value) == f"{job}:4: {message}"
