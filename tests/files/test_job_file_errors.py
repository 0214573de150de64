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
