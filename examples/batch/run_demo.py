"""Run the demo batch (``job.toml`` here) through a local emulator and return its gallery.

    .venv/bin/python examples/batch/run_demo.py out/bottles

``examples/demo.py`` calls :func:`run_demo_batch` for ``make demo``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flux2prompt.batch import BatchReport, run_batch

JOB = Path(__file__).resolve().parent / "job.toml"


def run_demo_batch(out_dir: str | Path) -> Path:
    """Generate the demo batch into ``out_dir`` with an in-process emulator; return the path of
    its gallery (``out_dir/index.html``). A second call finds everything done and only rewrites
    the gallery.
    """
    return _gallery_of(run_batch(JOB, out_dir, emulator=True))


def _gallery_of(report: BatchReport) -> Path:
    print(
        f"{report.generated} generated, {report.skipped} already done, {report.failed} failed "
        f"of {report.total} in {report.elapsed:.1f} s; manifest {report.manifest}"
    )
    if not report.ok or report.gallery is None:
        raise RuntimeError(f"the demo batch did not finish: {report}")
    return report.gallery


if __name__ == "__main__":
    print(run_demo_batch(sys.argv[1] if len(sys.argv) > 1 else "out/bottles"))
