"""The gallery: ``DIR/index.html``, a static page to review a batch, readable offline.

One card per generated image: a thumbnail linking to the full image (a FLUX 3 layout's boxes
drawn over it, with their ids), the file name, the
variables, the seed, the request and prompt fingerprints and the pretty-printed prompt; failed
items are listed below with their errors. The page has no script and no external resource;
every path is relative (thumbnails live in ``DIR/thumbnails/``, named by the image's sha256, so
a rerun reuses them), and all text is HTML-escaped.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> page = write_gallery(folder, [], title="empty <batch>")
    >>> "empty &lt;batch&gt;" in page.read_text(encoding="utf-8")
    True
"""

from __future__ import annotations

import html
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flux2prompt._atomic import atomic_write
from flux2prompt._layout import GRID, read_layout_prompt
from flux2prompt.batch._manifest import effective_records, record_order
from flux2prompt.batch._naming import inside
from flux2prompt.transport._images import image_size

__all__ = ["GALLERY_NAME", "THUMBNAIL_SIZE", "write_gallery"]

GALLERY_NAME = "index.html"
THUMBNAIL_SIZE = 320
#: The most pixels an image may have (from its header) for the gallery to decode it; a larger
#: one gets a card with a note instead (a decompression bomb never reaches Pillow).
MAX_GALLERY_PIXELS = 64_000_000
_HEADER_BYTES = 256 * 1024

_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --card: #fff; --bg: #f4f4f6;
  --line: #d9d9de; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #f2f2f4; --muted: #a1a1a6; --card: #1f1f22;
  --bg: #121214; --line: #333338; } }
body { margin: 0; padding: 1.5rem; background: var(--bg); color: var(--fg); }
header h1 { margin: 0 0 .25rem; font-size: 1.4rem; }
header p { margin: 0 0 1.25rem; color: var(--muted); }
main { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
article { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; display: flex; flex-direction: column; }
article > a { display: block; background: #0001; text-align: center; }
article img { display: block; width: 100%; height: auto; }
.body { padding: .75rem .9rem 1rem; }
h2 { font-size: .95rem; margin: 0 0 .5rem; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .75rem; margin: 0;
  font-size: .85rem; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-word; }
code { font-family: ui-monospace, "SF Mono", Menlo, monospace; font-size: .8rem; }
details { margin-top: .6rem; font-size: .85rem; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: .6rem;
  border-radius: 6px; max-height: 24rem; overflow: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); font-size: .85rem; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
section { margin-top: 2rem; }
.note { padding: 2rem 1rem; margin: 0; color: var(--muted); font-size: .85rem; }
dd img.input { display: inline; width: auto; vertical-align: middle; border-radius: 3px; }
article > a.boxed { position: relative; }
.box { position: absolute; border: 2px solid #ff3b30; box-sizing: border-box; text-align: left; }
.box b { font: 600 .7rem ui-monospace, monospace; background: #ff3b30; color: #fff;
  padding: 0 .25rem; }
"""


def _text(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return html.escape(shown, quote=True)


def _href(relative: str) -> str:
    return html.escape(quote(relative, safe="/"), quote=True)


def _header_size(path: Path) -> tuple[int, int] | None:
    """The image's size from its header (read without decoding), or ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            head = handle.read(_HEADER_BYTES)
    except OSError:
        return None
    return image_size(head)


def _thumbnail(
    folder: Path, record: Mapping[str, Any]
) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """The thumbnail's relative path and size; the image itself when Pillow cannot make one;
    no path and a note when the image is not shown (its header claims too many pixels, or it
    is not an image the header reader knows)."""
    relative = str(record["file"])
    size = _header_size(folder / relative)
    if size is None:
        return None, None, "not shown: the file's header is not that of a JPEG, PNG or WebP image"
    if size[0] * size[1] > MAX_GALLERY_PIXELS:
        return (
            None,
            None,
            f"not shown: its header says {size[0]}x{size[1]}, more than the "
            f"{MAX_GALLERY_PIXELS // 1_000_000} MP the gallery decodes",
        )
    digest = str(record.get("sha256") or "").partition(":")[2][:20]
    if not digest:
        return relative, None, None
    thumb = f"thumbnails/{digest}.jpg"
    target = folder / thumb
    if (folder / "thumbnails").is_symlink():
        return relative, None, None  # never written through a link
    try:
        from PIL import Image
    except ImportError:
        return relative, None, None
    try:
        if target.is_file():
            with Image.open(target) as done:
                return thumb, done.size, None
        with Image.open(folder / relative) as image:
            image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=82)
        atomic_write(target, buffer.getvalue())
        return thumb, small.size, None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, None, "not shown: the image could not be decoded"


def _inputs(folder: Path, record: Mapping[str, Any]) -> str:
    """The reference images sent with the item: a small thumbnail (made in ``thumbnails/``,
    so the page stays self-contained) when the file can be read, with its name and hash."""
    shown: list[str] = []
    for entry in record.get("images") or ():
        if not isinstance(entry, Mapping):
            continue
        name, digest = str(entry.get("file") or "(bytes)"), str(entry.get("sha256") or "")
        source = {"file": str(Path(name).absolute()), "sha256": digest}
        thumb, size, _ = (
            _thumbnail(folder, source) if digest and entry.get("file") else (None, None, None)
        )
        image = (
            f'<img src="{_href(thumb)}" alt="{_text(name)}" width="{size[0] * 64 // max(size)}" '
            f'height="{size[1] * 64 // max(size)}" class="input"> '
            if size and thumb is not None
            else ""
        )
        shown.append(f'<span title="{_text(digest)}">{image}{_text(Path(name).name)}</span>')
    return "<br>".join(shown)


#: The labels a card gives the runner's own fields.
_CARD_LABELS = frozenset({"seed", "request", "prompt", "inputs", "size", "index"})


def _card(folder: Path, record: Mapping[str, Any]) -> str:
    relative = str(record["file"])
    thumb, size, note = _thumbnail(folder, record)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    picture = (
        f'<img src="{_href(thumb)}" alt="{_text(relative)}"{dims}>'
        if thumb is not None
        else f'<p class="note">{_text(note or "not shown")}</p>'
    )
    # A variable named like one of the card's own labels (a dataset column "seed") says so:
    # the card's "seed" is the seed the image was made with.
    rows = [
        f"<dt>{_text(name if name not in _CARD_LABELS else f'{name} (variable)')}</dt>"
        f"<dd>{_text(value)}</dd>"
        for name, value in (record.get("variables") or {}).items()
    ]
    seed = record.get("seed")
    rows.append(f"<dt>seed</dt><dd>{_text('none' if seed is None else seed)}</dd>")
    for label, key in (("request", "request_fingerprint"), ("prompt", "prompt_fingerprint")):
        value = str(record.get(key) or "")
        rows.append(
            f'<dt>{label}</dt><dd><code title="{_text(value)}">{_text(value[:23])}</code></dd>'
        )
    inputs = _inputs(folder, record)
    if inputs:
        rows.append(f"<dt>inputs</dt><dd>{inputs}</dd>")
    width, height = record.get("width"), record.get("height")
    if width and height:
        rows.append(f"<dt>size</dt><dd>{_text(f'{width}x{height}')}</dd>")
    prompt = record.get("prompt")
    pretty = (
        prompt
        if isinstance(prompt, str)
        else json.dumps(prompt, ensure_ascii=False, indent=2, allow_nan=False)
    )
    boxes = _boxes(prompt) if isinstance(prompt, str) else ""
    boxed = ' class="boxed"' if boxes else ""
    return (
        f'<article id="item-{_text(record.get("index", ""))}">'
        f'<a href="{_href(relative)}"{boxed}>{picture}{boxes}</a>'
        f'<div class="body"><h2>{_text(relative)}</h2><dl>{"".join(rows)}</dl>'
        f"<details><summary>Prompt</summary><pre>{_text(pretty)}</pre></details></div>"
        "</article>"
    )


def _boxes(prompt: str) -> str:
    """The layout boxes of a FLUX 3 prompt (a caption and its element table), drawn over the
    thumbnail with their ids, so the gallery shows whether the layout is what the code meant."""
    layout = read_layout_prompt(prompt)
    if layout is None:
        return ""
    spans = []
    for element_id, box, desc in layout[1]:
        top, left, bottom, right = (max(0, min(GRID, v)) for v in box)
        style = (
            f"top:{top / 10:g}%;left:{left / 10:g}%;"
            f"height:{max(0, bottom - top) / 10:g}%;width:{max(0, right - left) / 10:g}%"
        )
        spans.append(
            f'<span class="box" style="{style}" title="{_text(f"{element_id}: {desc}")}">'
            f"<b>{_text(element_id)}</b></span>"
        )
    return "".join(spans)


def _failure_row(folder: Path, record: Mapping[str, Any]) -> str:
    error = record.get("error") or {}
    message = error.get("message", "") if isinstance(error, Mapping) else str(error)
    variables = json.dumps(record.get("variables") or {}, ensure_ascii=False)
    kept = record.get("kept")
    path = inside(folder, kept) if isinstance(kept, str) else None
    link = ""
    if isinstance(kept, str) and path is not None and path.is_file():
        # The bytes of an answer that was no image (paid for, maybe), kept in the folder.
        link = f' <a href="{_href(kept)}">the answer\'s bytes</a>'
    return (
        f"<tr><td>{_text(record.get('index', ''))}</td><td><code>{_text(variables)}</code></td>"
        f"<td>{_text(record.get('seed'))}</td><td>{_text(message)}{link}</td></tr>"
    )


def write_gallery(
    folder: str | Path, records: Iterable[Mapping[str, Any]], *, title: str = "batch"
) -> Path:
    """Write ``folder/index.html`` for the manifest ``records`` (any order, repeats allowed).

    Only successful records whose file is present get a card; failures get a table row.
    Returns the page's path.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> failed = {"request_fingerprint": "sha256:1", "status": "failed",
        ...           "error": {"message": "HTTP 500"}}
        >>> "1 failed" in write_gallery(folder, [failed]).read_text(encoding="utf-8")
        True
    """
    folder = Path(folder)
    view = sorted(effective_records(records).values(), key=record_order)
    cards: list[str] = []
    failures: list[str] = []
    for record in view:
        if record.get("status") == "ok" and record.get("file"):
            path = inside(folder, record["file"])
            if path is not None and path.is_file():
                cards.append(_card(folder, record))
        else:
            failures.append(_failure_row(folder, record))
    summary = f"{len(cards)} image{'s' if len(cards) != 1 else ''}"
    if failures:
        summary += f", {len(failures)} failed"
    failed_section = ""
    if failures:
        failed_section = (
            '<section id="failed"><h2>Failed</h2><table><thead><tr><th>#</th><th>variables</th>'
            f"<th>seed</th><th>error</th></tr></thead><tbody>{''.join(failures)}</tbody></table>"
            "</section>"
        )
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)} · flux2prompt gallery</title><style>{_STYLE}</style></head>"
        f"<body><header><h1>{_text(title)}</h1><p>{summary} · made with flux2prompt</p></header>"
        f'<main id="assets">{"".join(cards)}</main>{failed_section}</body></html>\n'
    )
    return atomic_write(folder / GALLERY_NAME, page.encode("utf-8"))
