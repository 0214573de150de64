"""A job file whose values its reader refuses is still a job file: ``lock`` names its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_lock_names_the_line_of_a_job_setting_with_no_json_form(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "cards.py").write_text(
        "from flux2prompt import scene, template\n\n\n@template\n"
        "def card(color: str):\n    return scene(f'a {color} card')\n",
        encoding="utf-8",
    )
    (tmp_path / "job.toml").write_text(
        'template = "cards.py:card"\noutput = "{color}.{ext}"\n\n[parameters]\n'
        'guidance = nan\n\n[variables.matrix]\ncolor = ["teal"]\n',
        encoding="utf-8",
    )
    command = str(Path(sys.executable).with_name("flux2-prompt"))
    done = subprocess.run(
        [command, "lock", "job.toml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "job.toml:5: $.parameters.guidance: nan (not a number)" in done.stderr
