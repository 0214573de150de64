"""A batch report as a notebook shows it: its counts and a grid of thumbnails.

The thumbnails are the gallery's own (``DIR/thumbnails/``, made once per image), embedded as
``data:`` URIs: a notebook's output is shown away from the batch folder (a shared ``.ipynb``,
a rendered page) where a relative path would not resolve. At most :data:`MAX_THUMBNAILS` are
embedded, so a large batch does not bloat the notebook; the gallery page has them all. Every
text is HTML-escaped.

Example:
    >>> import tempfile
    >>> from flux2prompt import scene
    >>> from flux2prompt.batch import BatchJob, template, zipped, run_batch
    >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
    ...                source=zipped(city=["Oslo"]), output="{city}.{ext}",
    ...                model="klein-4b", parameters={"width": 256, "height": 256})
    >>> report = run_batch(job, tempfile.mkdtemp(), emulator=True, gallery=False)
    >>> "data:image/jpeg;base64," in report_html(report)
    True
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux2prompt._atomic import read_at_most
from flux2prompt.batch._gallery import _thumbnail
from flux2prompt.batch._manifest import effective_records, iter_manifest, record_order
from flux2prompt.batch._naming import inside

if TYPE_CHECKING:
    from flux2prompt.batch._runner import BatchReport

__all__ = ["MAX_THUMBNAILS", "report_html"]

#: Thumbnails embedded in a report's notebook view; the rest are counted and in the gallery.
MAX_THUMBNAILS = 48
# An image embedded whole (Pillow could not make a thumbnail) above this size is only linked.
_MAX_EMBEDDED_BYTES = 1_500_000
_MEDIA = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
_RULE = "color-mix(in srgb,currentColor 22%,transparent)"


def _e(value: object) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _records(report: BatchReport) -> list[Mapping[str, Any]]:
    try:
        return sorted(effective_records(iter_manifest(report.manifest)).values(), key=record_order)
    except OSError:
        return []


def _tile(folder: Path, record: Mapping[str, Any]) -> str | None:
    relative = str(record["file"])
    thumb, size, _note = _thumbnail(folder, record)
    if thumb is None:
        return None  # not shown (too many pixels, not an image): the gallery says why
    path = folder / thumb
    try:
        data = read_at_most(path, _MAX_EMBEDDED_BYTES)
    except OSError:  # unreadable, or too large to embed
        return None
    media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
    source = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
    variables = json.dumps(record.get("variables") or {}, ensure_ascii=False)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return (
        f'<figure style="margin:0;border:1px solid {_RULE};border-radius:6px;overflow:hidden">'
        f'<img src="{source}" alt="{_e(relative)}"{dims} '
        'style="display:block;width:100%;height:auto">'
        f'<figcaption style="padding:.25em .4em;font-size:.8em;word-break:break-all">'
        f'<div dir="auto">{_e(relative)}</div>'
        f'<div dir="auto" style="opacity:.7">{_e(variables)}</div></figcaption></figure>'
    )


def report_html(report: BatchReport) -> str:
    """The report as an HTML fragment: counts, why it stopped, failures, a thumbnail grid.

    >>> from flux2prompt.batch import BatchReport
    >>> empty = BatchReport("x", Path("out"), Path("out/none.jsonl"), None,
    ...                     0, 0, 0, 0, 0, 0, 0, 0, 0.0, 1)
    >>> "f2p-counts" in report_html(empty), "<img" in report_html(empty)
    (True, False)
    """
    folder = Path(report.out_dir)
    counts = [
        ("total", report.total),
        ("generated", report.generated),
        ("copied", report.copied),
        *([("recovered", report.recovered)] if report.recovered else []),
        ("skipped", report.skipped),
        ("failed", report.failed),
        ("pending", report.pending),
        ("duplicates", report.duplicates),
        ("rate limited", report.rate_limited),
        ("retries", report.retries),
    ]
    cells = "".join(
        f'<td style="padding:.1em .8em .1em 0"><span style="opacity:.7">{_e(name)}</span> '
        f"<strong>{_e(value)}</strong></td>"
        for name, value in counts
    )
    status = "finished" if report.ok else "not finished"
    out = [
        '<div class="flux2prompt f2p-batch" style="font-family:system-ui,sans-serif;'
        'line-height:1.45">',
        f"<div><strong>batch {_e(report.job)}</strong> "
        f'<span class="f2p-status" style="opacity:.7">{status} in {report.elapsed:.1f} s · '
        f"<code>{_e(folder)}</code></span></div>",
        f'<table class="f2p-counts" style="border-collapse:collapse;margin:.3em 0"><tr>{cells}'
        "</tr></table>",
    ]
    if report.stopped:
        out.append(f'<div class="f2p-stopped">stopped: {_e(report.stopped)}</div>')
    if report.failures:
        items = "".join(
            f"<li><code>{_e(name)}</code> {_e(message)}</li>" for name, message in report.failures
        )
        out.append(f'<ul class="f2p-failures" style="margin:.3em 0">{items}</ul>')
    tiles: list[str] = []
    images = 0
    for record in _records(report):
        if record.get("status") != "ok" or not record.get("file"):
            continue
        path = inside(folder, record["file"])
        if path is None or not path.is_file():
            continue
        images += 1
        if len(tiles) < MAX_THUMBNAILS:
            tile = _tile(folder, record)
            if tile is not None:
                tiles.append(tile)
    if tiles:
        out.append(
            '<div class="f2p-thumbnails" style="display:grid;gap:.5em;margin:.4em 0;'
            f'grid-template-columns:repeat(auto-fill,minmax(160px,1fr))">{"".join(tiles)}</div>'
        )
    if images > len(tiles):
        out.append(f'<div style="opacity:.7">{images - len(tiles)} more in the gallery</div>')
    if report.gallery is not None:
        out.append(f"<div>gallery: <code>{_e(report.gallery)}</code></div>")
    out.append("</div>")
    return "\n".join(out)
