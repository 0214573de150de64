"""Batches from a notebook: run_batch inside a running loop, and the report's HTML view."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from flux2prompt import scene
from flux2prompt.batch import BatchJob, BatchRunner, matrix, run_batch, template


@template
def sign(word: str):
    return scene(f"a shop sign that reads {word}").mood("plain")


def job(words: list[str], name: str = "signs") -> BatchJob:
    return BatchJob(
        name=name,
        template=sign,
        source=matrix(word=words),
        output="{word}.{ext}",
        model="klein-4b",
        parameters={"width": 256, "height": 256},
        seeds=1,
    )


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_run_batch_inside_a_running_loop_completes(tmp_path: Path) -> None:
    # This coroutine runs in the test's event loop, as a Jupyter cell runs in the kernel's.
    loop_thread = threading.get_ident()
    asyncio.get_running_loop()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    report = run_batch(job(["one", "two"]), tmp_path / "out", emulator=True)
    assert threading.get_ident() == loop_thread
    assert report.ok
    assert report.generated == 2
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == ["one.jpg", "two.jpg"]
    # The async form leaves the caller's loop free meanwhile: the ticker keeps ticking.
    task = asyncio.create_task(ticker())
    again = await BatchRunner(job(["one", "two", "three"]), tmp_path / "out", emulator=True).run()
    task.cancel()
    assert again.generated == 1
    assert again.skipped == 2
    assert ticks > 1


def test_run_batch_without_a_loop_still_runs_in_this_thread(tmp_path: Path) -> None:
    report = run_batch(job(["solo"]), tmp_path / "out", emulator=True, gallery=False)
    assert report.ok
    assert report.generated == 1


def test_the_reports_html_has_counts_and_a_thumbnail_per_image(tmp_path: Path) -> None:
    hostile = "<b>&amp;"
    report = run_batch(
        job(["one", "two", hostile], name="<i>signs</i>"), tmp_path / "out", emulator=True
    )
    markup = report._repr_html_()
    assert "<b>" not in markup
    assert "<i>" not in markup
    parsed = Images()
    parsed.feed(markup)
    text = " ".join(t.strip() for t in parsed.text if t.strip())
    assert "batch <i>signs</i>" in text
    assert "generated 3" in text
    assert "failed 0" in text
    assert "total 3" in text
    assert len(parsed.sources) == 3
    for source in parsed.sources:
        # Embedded, so the view works away from the batch folder (a shared .ipynb).
        head, _, data = source.partition(",")
        assert head == "data:image/jpeg;base64"
        with Image.open(io.BytesIO(base64.b64decode(data))) as thumbnail:
            assert thumbnail.size == (256, 256)  # smaller than the gallery's 320: unscaled
    assert '{"word": "<b>&amp;"}' in text  # the variables, as written, once unescaped


INTERRUPTED = """
import asyncio, json, signal, sys, threading, time
from flux2prompt import scene
from flux2prompt.batch import BatchJob, matrix, read_manifest, run_batch, template
from flux2prompt.emulator import EmulatorConfig

@template
def sign(n: int):
    return scene(f"sign number {n}")

job = BatchJob(name="slow", template=sign, source=matrix(n=list(range(40))),
               output="{n}.{ext}", model="klein-4b", seeds=1,
               parameters={"width": 256, "height": 256})

async def cell():
    # The stop button of a notebook: a real SIGINT while the cell waits for run_batch.
    main = threading.main_thread().ident
    threading.Timer(0.8, signal.pthread_kill, (main, signal.SIGINT)).start()
    started = time.monotonic()
    try:
        run_batch(job, sys.argv[1], emulator=EmulatorConfig(latency_ms=300), concurrency=2)
    except KeyboardInterrupt:
        stopped = time.monotonic() - started
    else:
        raise SystemExit("the batch was not interrupted")
    alive = [t.name for t in threading.enumerate() if t.name.startswith("flux2prompt-batch")]
    done = [r for r in read_manifest(sys.argv[1] + "/manifest.jsonl") if r["status"] == "ok"]
    print(json.dumps({"stopped": stopped, "alive": alive, "done": len(done)}))

# As in ipykernel, SIGINT raises KeyboardInterrupt where the cell is (asyncio.run would
# instead turn it into a cancellation of its main task, seen only after the cell returns).
asyncio.new_event_loop().run_until_complete(cell())
"""


def test_interrupting_a_cell_stops_the_batch_in_its_thread(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["alive"] == []  # the batch's thread has ended, not left sending
    assert seen["stopped"] < 6  # 40 items at 300 ms, two at a time, would take 6 s or more
    assert seen["done"] < 40
    # What was written is kept, and a later run finishes the rest.
    report = run_batch(
        BatchJob(
            name="slow",
            template=template(lambda n: scene(f"sign number {n}")),
            source=matrix(n=list(range(40))),
            output="{n}.{ext}",
            model="klein-4b",
            seeds=1,
            parameters={"width": 256, "height": 256},
        ),
        out,
        emulator=True,
    )
    assert report.ok
    assert report.skipped == seen["done"]
    assert report.generated == 40 - seen["done"]
