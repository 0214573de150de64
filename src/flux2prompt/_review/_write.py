"""The review written out: ``review.md`` for the pull request, ``review/index.html`` to look at.

``OUT/review.md`` is made to be posted as a pull-request comment: a table of the changed,
added and removed prompts (with the cost per image before and after, and links to the
images), the cost of one run of what changed, then each change's diff lines in a ``diff``
block. It stays under GitHub's comment limit (the last diffs give way to a pointer to the
page). ``OUT/review/index.html`` is one static page, readable offline, with no script and no
external resource: before and after side by side at the same seed and parameters, the diff
beside them, and the fingerprints. Its images are files in ``OUT/review/images/``, named by
their request fingerprint, linked by relative paths; all text is HTML-escaped.

Example:
    >>> _fence("a ``` b")
    '````'
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flux2prompt._atomic import atomic_write
from flux2prompt._review._images import Rendered
from flux2prompt._review._plan import ReviewChange, ReviewPlan, Side

__all__ = ["IMAGES", "MARKDOWN", "PAGE", "write_review"]

MARKDOWN = "review.md"
PAGE = "review/index.html"
IMAGES = "review/images"
#: GitHub refuses a comment over 65,536 characters; the diffs give way first, then the table.
COMMENT_LIMIT = 60_000
# Room kept after the table for the lines that always follow it (costs, failures, pointers).
_TAIL = 6_000
# At most this much of the comment lists the notes (files that did not read at BASE).
_NOTES_LIMIT = 12_000
_SHOWN_FAILURES = 10
_MARKS = {"added": "+", "removed": "-", "changed": "~"}
_OURS = re.compile(r"^[0-9a-f]{20}\.(?:jpg|png|webp)$")

_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --card: #fff; --bg: #f4f4f6;
  --line: #d9d9de; --add: #1a7f37; --del: #cf222e; --chg: #9a6700;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #f2f2f4; --muted: #a1a1a6; --card: #1f1f22;
  --bg: #121214; --line: #333338; --add: #3fb950; --del: #f85149; --chg: #d29922; } }
body { margin: 0; padding: 1.5rem; background: var(--bg); color: var(--fg); }
header h1 { margin: 0 0 .25rem; font-size: 1.4rem; }
header p { margin: .2rem 0; color: var(--muted); }
section.change { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  margin: 1.25rem 0; padding: .9rem 1rem; }
h2 { font-size: 1rem; margin: 0 0 .75rem; word-break: break-word; }
h2 .kind { color: var(--muted); font-weight: normal; }
.layout { display: grid; gap: 1rem; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); }
@media (max-width: 900px) { .layout { grid-template-columns: 1fr; } }
.pair { display: grid; gap: .75rem; grid-template-columns: 1fr 1fr; }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; border-radius: 6px; background: #0001; }
figcaption { font-weight: 600; margin-bottom: .35rem; }
.none { border: 1px dashed var(--line); border-radius: 6px; padding: 2rem .5rem;
  text-align: center; color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .6rem; margin: .5rem 0 0;
  font-size: .8rem; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-all; }
code, pre { font-family: ui-monospace, "SF Mono", Menlo, monospace; font-size: .8rem; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: .6rem;
  border-radius: 6px; margin: 0; max-height: 28rem; overflow: auto; }
.diff .added { color: var(--add); } .diff .removed { color: var(--del); }
.diff .changed { color: var(--chg); }
.note { color: var(--muted); font-size: .85rem; margin: .4rem 0 0; }
details { margin-top: .75rem; font-size: .85rem; }
"""


def _text(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return html.escape(shown, quote=True)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


# What Markdown reads inside the text of a cell, written as character references: a prompt's
# text, a dataset cell or a file name makes no link, image, emphasis or code span in the comment
# (`[x](https://...)`, `![x](...)` loading an image from elsewhere), and with _AUTOLINK no
# autolink (a bare https://, www. or e-mail address).
_MARKDOWN = str.maketrans(
    {
        **{char: f"&#{ord(char)};" for char in "\\`*_[]()!~|@"},
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
    }
)
_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=www)\.")


def _cell(text: str) -> str:
    """Text for a Markdown table cell: HTML-escaped, no line break, and nothing Markdown reads.

    >>> _cell("[x](https://e.test) www.e.test")
    '<code>&#91;x&#93;&#40;https&#58;//e.test&#41; www&#46;e.test</code>'
    >>> _cell("'a' & <b> hero.py:hero")
    '<code>&#x27;a&#x27; &amp; &lt;b&gt; hero.py:hero</code>'
    """
    escaped = " ".join(text.split()).translate(_MARKDOWN)  # HTML's escapes among them
    escaped = _AUTOLINK.sub(lambda found: f"&#{ord(found.group())};", escaped)
    return f"<code>{escaped}</code>"


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def image_name(fingerprint: str, path: Path) -> str:
    """The file name of an image in ``review/images/``: its request fingerprint's first 20 hex
    digits, and the cached file's extension."""
    return fingerprint.removeprefix("sha256:")[:20] + path.suffix


def _copy_images(folder: Path, rendered: Rendered) -> dict[str, str]:
    """Copy each image into ``folder`` (``OUT/review/images``); its name by fingerprint. Files
    of an earlier review that are not shown now are removed (only files named as ours)."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for fingerprint, path in rendered.images.items():
        name = image_name(fingerprint, path)
        target = folder / name
        # Replaced, never written through: OUT is often a folder of the checkout, and a link
        # planted there under an image's name must not have its target overwritten.
        if (
            target.is_symlink()
            or not target.is_file()
            or target.stat().st_size != path.stat().st_size
        ):
            atomic_write(target, path.read_bytes())
        names[fingerprint] = name
    keep = set(names.values())
    for old in folder.iterdir():
        if old.is_file() and _OURS.match(old.name) and old.name not in keep:
            old.unlink()
    return names


def _side_cost(side: Side | None) -> float | None:
    return None if side is None or side.request is None else side.cost


def _cost_cell(change: ReviewChange) -> str:
    before, after = change.before, change.after
    if before is not None and after is not None:
        return f"{_money(_side_cost(before))} → {_money(_side_cost(after))}"
    return _money(_side_cost(before or after))


def _summary(plan: ReviewPlan) -> str:
    counts = plan.counts
    return ", ".join(f"{counts[kind]} {kind}" for kind in ("changed", "added", "removed"))


def _source_words(live: bool) -> str:
    if live:
        return "Workers AI (billed)"
    return "the local emulator (deterministic placeholders, no cost)"


def _cost_line(plan: ReviewPlan) -> str:
    delta = plan.cost_after - plan.cost_before
    sign = "+" if delta >= 0 else "-"
    line = (
        f"One run of the changed prompts costs {_money(plan.cost_before)} before, "
        f"{_money(plan.cost_after)} after ({sign}${abs(delta):.4f}), from the catalogue's "
        "published prices (the daily free allowance not subtracted)"
    )
    if plan.unpriced:
        line += f"; {plan.unpriced} request(s) on a model without a published price not counted"
    return line + "."


def _markdown_link(
    side: Side | None, names: Mapping[str, str], link_base: str | None, what: str
) -> str:
    if side is None:
        return "—"
    fingerprint = side.fingerprint
    if fingerprint is None or fingerprint not in names:
        return "no image"
    relative = f"{IMAGES}/{names[fingerprint]}"
    if link_base:
        url = html.escape(f"{link_base.rstrip('/')}/{quote(relative)}", quote=True)
        return f'<a href="{url}"><img src="{url}" width="160" alt="{what}"></a>'
    return f"[{what}]({quote(relative)})"


def markdown(
    plan: ReviewPlan,
    names: Mapping[str, str],
    rendered: Rendered,
    *,
    live: bool,
    limit: int | None,
    link_base: str | None = None,
) -> str:
    """The text of ``review.md``."""
    lines = [f"## Prompt review: {_summary(plan)}", ""]
    lines.append(
        f"Base {_cell(plan.base.label)} ({_cell(plan.base.short)}) → working tree · "
        f"{plan.before_count} prompts before, {plan.after_count} after · images from "
        f"{_source_words(live)}."
    )
    lines.append("")
    if plan.diff.notes:
        # A base revision broken in hundreds of files: its notes give way first, to a pointer.
        room = _NOTES_LIMIT
        for position, note in enumerate(plan.diff.notes):
            line = f"> Note: {_cell(note)}"
            room -= len(line) + 1
            if room < 0:
                lines.append(
                    f"> … {len(plan.diff.notes) - position} more note(s) are on the page "
                    f"(`{PAGE}`)."
                )
                break
            lines.append(line)
        lines.append("")
    if not plan.diff.changes:
        lines.append(
            f"No prompt or job item changed its request ({plan.diff.unchanged} unchanged): "
            "nothing to draw."
        )
        return "\n".join(lines) + "\n"
    lines += [
        "| | Prompt | Fields | Cost per image | Before | After |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    # The table gives way too (a large --limit): what follows it must still fit.
    budget = COMMENT_LIMIT - _TAIL - sum(len(line) + 1 for line in lines)
    for position, change in enumerate(plan.changes):
        kind = change.change.kind
        fields = str(len(change.change.fields)) if kind == "changed" else "—"
        row = (
            f"| {_MARKS[kind]} | {_cell(change.change.label)} | {fields} | {_cost_cell(change)} "
            f"| {_markdown_link(change.before, names, link_base, 'before')} "
            f"| {_markdown_link(change.after, names, link_base, 'after')} |"
        )
        budget -= len(row) + 1
        if budget < 0:
            lines.append("")
            lines.append(
                f"… {len(plan.changes) - position} more change(s) of the table are on the page "
                f"(`{PAGE}`)."
            )
            break
        lines.append(row)
    lines.append("")
    if plan.left_out:
        lines.append(
            f"{plan.left_out} more change(s) not shown (--limit {limit}); they are in "
            "`flux2-prompt diff --rev` and in the costs."
        )
        lines.append("")
    lines.append(_cost_line(plan))
    if rendered.failures:
        lines.append("")
        lines.append(f"{len(rendered.failures)} image(s) could not be drawn:")
        messages = list(dict.fromkeys(rendered.failures.values()))
        lines += [f"- {_cell(message)}" for message in messages[:_SHOWN_FAILURES]]
        if len(messages) > _SHOWN_FAILURES:
            lines.append(f"- … {len(messages) - _SHOWN_FAILURES} more, on the page")
    lines.append("")
    lines.append(f"Before and after side by side: `{PAGE}`.")
    lines.append("")
    lines.append("### Diffs")
    lines.append("")
    head = "\n".join(lines)
    blocks: list[str] = []
    size = len(head)
    for position, change in enumerate(plan.changes):
        body = "\n".join(change.change.lines())
        fence = _fence(body)
        mark = _MARKS[change.change.kind]
        block = (
            f"<details><summary>{mark} {_cell(change.change.label)}: {change.change.kind}"
            f"</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n"
        )
        if size + len(block) > COMMENT_LIMIT:
            blocks.append(
                f"… the diffs of {len(plan.changes) - position} more change(s) are on the page "
                f"(`{PAGE}`).\n"
            )
            break
        blocks.append(block)
        size += len(block) + 1
    return head + "\n" + "\n".join(blocks)


# A JSON string in a diff line: "..." with its escapes.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _isolated(line: str) -> str:
    """A diff line as HTML, each quoted value in its own ``<bdi>``: a right-to-left value on
    either side of ``→`` is laid out on its own, so the old value stays left of the arrow and the
    new one right of it (without it, two Hebrew or Arabic values swap places on screen).

    >>> _isolated('~ $.scene: "a" → "<b>"')
    '~ $.scene: <bdi>&quot;a&quot;</bdi> → <bdi>&quot;&lt;b&gt;&quot;</bdi>'
    """
    out: list[str] = []
    end = 0
    for found in _QUOTED.finditer(line):
        out.append(_text(line[end : found.start()]))
        out.append(f"<bdi>{_text(found.group())}</bdi>")
        end = found.end()
    out.append(_text(line[end:]))
    return "".join(out)


def _diff_html(change: ReviewChange) -> str:
    rows = []
    for line in change.change.lines():
        stripped = line.lstrip()
        kind = {"+": "added", "-": "removed", "~": "changed"}.get(stripped[:1], "")
        shown = _isolated(line)
        rows.append(f'<span class="{kind}">{shown}</span>' if kind else shown)
    return "<pre>" + "\n".join(rows) + "</pre>"


def _figure(side: Side | None, what: str, names: Mapping[str, str], rendered: Rendered) -> str:
    if side is None:
        word = "added" if what == "before" else "removed"
        return (
            f'<figure class="{what}"><figcaption>{what}</figcaption>'
            f'<div class="none">none: {word}</div></figure>'
        )
    entry = side.entry
    fingerprint = side.fingerprint
    drawn = fingerprint is not None and fingerprint in names
    if fingerprint is not None and fingerprint in names:
        label = _text(f"{what}: {entry.label}")
        picture = f'<img src="images/{_text(quote(names[fingerprint]))}" alt="{label}">'
    elif fingerprint is not None and fingerprint in rendered.failures:
        picture = f'<div class="none">not drawn: {_text(rendered.failures[fingerprint])}</div>'
    else:
        picture = f'<div class="none">{_text(side.note or "no image")}</div>'
    rows: list[tuple[str, str]] = []
    if side.request is not None:
        params = dict(side.request.params)
        rows.append(("model", side.request.model.id))
        rows.append(("seed", str(params.pop("seed", "none"))))
        if params:
            rows.append(("parameters", ", ".join(f"{k}={v}" for k, v in params.items())))
        rows.append(("request", side.request.fingerprint))
        rows.append(("prompt", side.request.prompt_fingerprint))
        if entry.request_fingerprint and entry.request_fingerprint != side.request.fingerprint:
            rows.append(("locked request", entry.request_fingerprint))
        rows.append(("cost", _money(side.cost)))
    else:
        rows.append(("prompt", entry.prompt_fingerprint))
    if entry.origin:
        rows.append(("row", entry.origin))
    listing = "".join(f"<dt>{_text(k)}</dt><dd><code>{_text(v)}</code></dd>" for k, v in rows)
    note = f'<p class="note">{_text(side.note)}</p>' if side.note and drawn else ""
    return (
        f'<figure class="{what}"><figcaption>{what}</figcaption>{picture}{note}'
        f"<dl>{listing}</dl></figure>"
    )


def _prompt_html(side: Side | None, what: str) -> str:
    if side is None or side.entry.document is None:
        return ""
    pretty = json.dumps(side.entry.document, ensure_ascii=False, indent=2, allow_nan=False)
    return f'<h3>{what}</h3><pre class="prompt-{what}">{_text(pretty)}</pre>'


def _section(
    position: int, change: ReviewChange, names: Mapping[str, str], rendered: Rendered
) -> str:
    kind = change.change.kind
    return (
        f'<section class="change {kind}" id="change-{position}">'
        f"<h2>{_MARKS[kind]} {_text(change.change.label)} "
        f'<span class="kind">{kind}</span></h2><div class="layout">'
        f'<div class="pair">{_figure(change.before, "before", names, rendered)}'
        f"{_figure(change.after, 'after', names, rendered)}</div>"
        f'<div class="diff"><figcaption>diff</figcaption>{_diff_html(change)}</div></div>'
        "<details><summary>Prompts</summary>"
        f"{_prompt_html(change.before, 'before')}{_prompt_html(change.after, 'after')}"
        "</details></section>"
    )


def page(
    plan: ReviewPlan,
    names: Mapping[str, str],
    rendered: Rendered,
    *,
    live: bool,
    limit: int | None,
) -> str:
    """The text of ``review/index.html``."""
    facts = [
        f"Base {plan.base.label} ({plan.base.short}) → working tree: {_summary(plan)}; "
        f"{plan.diff.unchanged} unchanged.",
        f"Images from {_source_words(live)}; {rendered.generated} drawn, {rendered.reused} "
        "from the cache.",
        _cost_line(plan),
    ]
    if plan.left_out:
        facts.append(f"{plan.left_out} more change(s) not shown (--limit {limit}).")
    facts += [f"Note: {note}." for note in plan.diff.notes]
    if not plan.diff.changes:
        facts.append("No prompt or job item changed its request.")
    header = "".join(f"<p>{_text(fact)}</p>" for fact in facts)
    sections = "".join(
        _section(position, change, names, rendered) for position, change in enumerate(plan.changes)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Prompt review: {_text(_summary(plan))} · flux2prompt</title>"
        f"<style>{_STYLE}</style></head><body><header><h1>Prompt review: "
        f"{_text(_summary(plan))}</h1>{header}</header>"
        f'<main id="changes">{sections}</main></body></html>\n'
    )


def write_review(
    out: Path,
    plan: ReviewPlan,
    rendered: Rendered,
    *,
    live: bool = False,
    limit: int | None = None,
    link_base: str | None = None,
) -> tuple[Path, Path]:
    """Write ``OUT/review/images/``, ``OUT/review/index.html`` and ``OUT/review.md`` (in
    that order, each file atomically); their paths, markdown first."""
    names = _copy_images(out / IMAGES, rendered)
    page_path = atomic_write(
        out / PAGE, page(plan, names, rendered, live=live, limit=limit).encode("utf-8")
    )
    text = markdown(plan, names, rendered, live=live, limit=limit, link_base=link_base)
    return atomic_write(out / MARKDOWN, text.encode("utf-8")), page_path
