"""A real notebook, executed headless by nbclient in an ipykernel: the kernel's loop is running
while the cells run, as in Jupyter. run_batch completes there, and the builder, the prompt and
the batch report come back as text/html outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

SRC = str(Path(__file__).resolve().parents[1] / "src")

CELLS = [
    # The kernel's loop is running in this very thread: asyncio.run() would refuse here.
    "import asyncio\nasyncio.get_running_loop() is not None",
    "from flux2prompt import scene, subject\n"
    "builder = (scene('a tea house at dusk <b>')\n"
    "           .subject(subject('a ceramic teapot', position='foreground'))\n"
    "           .lighting('lantern glow').camera(angle='eye level')\n"
    "           .text('東京へようこそ', language='ja'))\n"
    "builder",
    "builder.compile()",
    "from flux2prompt import PromptBuilder\nPromptBuilder()",
    "from flux2prompt.batch import BatchJob, matrix, run_batch, template\n"
    "@template\n"
    "def sign(word: str):\n"
    "    return scene(f'a shop sign that reads {word}')\n"
    "job = BatchJob(name='signs', template=sign, source=matrix(word=['one', 'two']),\n"
    "               output='{word}.{ext}', model='klein-4b', seeds=1,\n"
    "               parameters={'width': 256, 'height': 256})\n"
    "report = run_batch(job, OUT, emulator=True)\n"
    "report",
    "report.generated, report.ok",
]


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # The kernel must be this interpreter (the test's venv), whatever kernels the machine has.
    folder = tmp_path / "jupyter"
    spec = folder / "kernels" / "flux2prompt-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "flux2prompt test", "language": "python"}),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    # The kernel imports this checkout's flux2prompt, installed or not.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    )
    assert "flux2prompt-test" in KernelSpecManager().find_kernel_specs()
    return "flux2prompt-test"


@pytest.mark.slow
def test_a_notebook_runs_a_batch_and_renders_html(tmp_path: Path, kernel_name: str) -> None:
    out = tmp_path / "out"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"OUT = {str(out)!r}")] + [
        nbformat.v4.new_code_cell(source) for source in CELLS
    ]
    client = NotebookClient(
        notebook, kernel_name=kernel_name, timeout=240, resources={"metadata": {"path": tmp_path}}
    )
    client.execute()

    def outputs(index: int) -> dict[str, str]:
        found: dict[str, str] = {}
        for output in notebook.cells[index + 1].outputs:
            assert output.output_type != "error", output
            found.update(output.get("data", {}))
        return found

    assert outputs(0)["text/plain"] == "True"
    built = outputs(1)["text/html"]
    assert "f2p-parts" in built
    assert "a tea house at dusk &lt;b&gt;" in built
    assert '<span lang="ja" dir="auto">東京へようこそ</span>' in built
    assert built == outputs(2)["text/html"]  # the builder's view is the compiled prompt's
    assert "f2p-error" in outputs(3)["text/html"]
    assert "<code>$</code>" in outputs(3)["text/html"]
    shown = outputs(4)["text/html"]
    assert "f2p-counts" in shown
    assert shown.count("data:image/jpeg;base64,") == 2
    assert outputs(5)["text/plain"] == "(2, True)"
    assert sorted(p.name for p in out.glob("*.jpg")) == ["one.jpg", "two.jpg"]
