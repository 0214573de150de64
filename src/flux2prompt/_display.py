"""Showing a prompt to people who would rather look than read: notebooks and terminals.

In a notebook, :meth:`Prompt._repr_html_ <flux2prompt.Prompt._repr_html_>` shows the parts of
the prompt as readable rows (scene, subjects, style, lighting, camera...), the palette as colour
swatches, the text elements with their language, placement and colour, any lint advice, the
pretty JSON (folded) and the fingerprint (:func:`html_render`); a builder that does not compile
shows its error with the path of each problem (:func:`html_render_error`). In a terminal,
``rich.print(prompt)`` shows the same in a panel (:func:`rich_render`).

The HTML sets no text or background colour of its own: it inherits the notebook's theme, light
or dark, and draws its lines in translucent ``currentColor``.

Everything that comes from the prompt is escaped: in HTML with :func:`html.escape`, in rich by
wrapping it in :class:`rich.text.Text`, which never reads markup. And it is bounded, whatever the
prompt's size (a saved notebook keeps every output): a text shows its first
:data:`MAX_SHOWN_CHARS` characters, a list (subjects, colours, text elements, advice, problems)
its first :data:`MAX_SHOWN_ROWS` items, the JSON its first :data:`MAX_SHOWN_JSON` characters,
each saying how much more there is.

Example:
    >>> from flux2prompt import scene
    >>> "<pre" in html_render(scene("dunes at noon").palette("#E8C07D").compile())
    True
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flux2prompt._color import css_name_to_hex, is_hex
from flux2prompt._errors import PromptValidationError
from flux2prompt._lint import LintWarning, lint
from flux2prompt._model import Camera, Prompt, Subject, TextElement

__all__ = ["html_render", "html_render_error", "rich_render"]


#: The most characters of one text (a scene, a field, a colour, a message) the views show.
MAX_SHOWN_CHARS = 1_000
#: The most items of one list (subjects, colours, text elements, advice, problems) shown.
MAX_SHOWN_ROWS = 50
#: The most characters of the pretty JSON shown.
MAX_SHOWN_JSON = 20_000


def _cut(value: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value``, or its first ``limit`` characters and how many more there are.

    >>> _cut("a lighthouse at dusk", 12)
    'a lighthouse… (8 more characters)'
    """
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value) - limit:,} more characters)"


def _more(count: int, what: str) -> str:
    """The line that stands for the items of a list past :data:`MAX_SHOWN_ROWS`."""
    return f"… and {count:,} more {what} (prompt.to_json() has them all)"


def _resolved(color: str) -> str | None:
    """The hex code to paint a palette entry with: itself, a CSS name's code, or nothing."""
    if is_hex(color):
        return color
    return css_name_to_hex(color)


def _advice(prompt: Prompt) -> list[LintWarning]:
    # Display must never fail: advice is a bonus, so a bug in a lint rule must not hide the prompt.
    try:
        return lint(prompt)
    except Exception:  # pragma: no cover - lint is property-tested never to raise
        return []


def _palette_rows(prompt: Prompt) -> tuple[list[tuple[str, tuple[str, ...]]], int]:
    """The palettes to paint as swatches, at most ``2 * MAX_SHOWN_ROWS`` colours in all, and how
    many colours are left out."""
    rows: list[tuple[str, tuple[str, ...]]] = []
    budget = 2 * MAX_SHOWN_ROWS
    hidden = 0
    palettes = [("color_palette", prompt.color_palette or ())]
    for i, item in enumerate(prompt.subjects or ()):
        palettes.append((f"subjects[{i}]", (*(item.color_palette or ()), *(item.colors or ()))))
    for label, colors in palettes:
        shown = colors[:budget]
        budget -= len(shown)
        hidden += len(colors) - len(shown)
        if shown:
            rows.append((label, shown))
    return rows, hidden


# -- HTML -----------------------------------------------------------------------------------------
_BOX = (
    "display:inline-block;width:1.1em;height:1.1em;border:1px solid rgba(0,0,0,.35);"
    "border-radius:3px;vertical-align:middle;margin-right:.3em"
)
_LABEL = "font-weight:600;padding-right:.6em;white-space:nowrap;vertical-align:top"
_CELL = "padding:.15em .6em;text-align:left;vertical-align:top"
_TABLE = "border-collapse:collapse;margin:.3em 0"
# Translucent currentColor reads on a light and a dark notebook theme alike.
_RULE = "border:1px solid color-mix(in srgb,currentColor 25%,transparent);border-radius:4px"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_swatch(color: str) -> str:
    paint = _resolved(color)
    if paint is None:
        # A descriptive phrase ("matte black ceramic"): a labelled box, no colour to show.
        return (
            '<span class="f2p-swatch f2p-named" style="display:inline-block;'
            'border:1px dashed #888;border-radius:3px;padding:0 .35em;margin:0 .5em .2em 0">'
            f"{_e(_cut(color))}</span>"
        )
    return (
        f'<span class="f2p-swatch" title="{_e(paint)}" style="margin:0 .8em .2em 0;'
        f'white-space:nowrap"><span style="{_BOX};background:{_e(paint)}"></span>'
        f"<code>{_e(color)}</code></span>"
    )


# The parts shown as rows, in the order FLUX.2 weighs them; subjects and camera get their own.
_PLAIN_PARTS = ("scene", "style", "lighting", "mood", "background", "composition")


def _fields(node: Subject | Camera) -> list[tuple[str, str]]:
    """A node's set fields as (wire name, shown value); colours are left to the palette rows."""
    shown: list[tuple[str, str]] = []
    for key, value in node.model_dump(by_alias=True, exclude_none=True).items():
        if key in ("color_palette", "colors"):
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        shown.append((key, _cut(text)))
    return shown


def _part_rows(prompt: Prompt) -> list[tuple[str, list[tuple[str, str]] | str]]:
    """Every part with a value: a plain text, or (for subjects and camera) named fields."""
    rows: list[tuple[str, list[tuple[str, str]] | str]] = []
    for name in _PLAIN_PARTS[:1]:
        value = getattr(prompt, name)
        if value:
            rows.append((name, _cut(value)))
    subjects = prompt.subjects or ()
    for i, item in enumerate(subjects[:MAX_SHOWN_ROWS]):
        rows.append((f"subjects[{i}]", _fields(item)))
    if len(subjects) > MAX_SHOWN_ROWS:
        more = _more(len(subjects) - MAX_SHOWN_ROWS, "subjects")
        rows.append((f"subjects[{MAX_SHOWN_ROWS}:]", more))
    for name in _PLAIN_PARTS[1:]:
        value = getattr(prompt, name)
        if value:
            rows.append((name, _cut(value)))
    if prompt.camera is not None:
        rows.append(("camera", _fields(prompt.camera)))
    if prompt.effects:
        rows.append(("effects", _cut(", ".join(prompt.effects))))
    return rows


def _html_part_value(value: list[tuple[str, str]] | str) -> str:
    if isinstance(value, str):
        return f'<span dir="auto">{_e(value)}</span>'
    return "".join(
        f'<span style="margin-right:.9em;white-space:nowrap"><span style="opacity:.65">'
        f'{_e(key)}</span> <span dir="auto">{_e(text)}</span></span> '
        for key, text in value
    )


def _html_text_row(element: TextElement) -> str:
    lang = f' lang="{_e(element.language)}"' if element.language else ""
    color = _html_swatch(element.color) if element.color else ""
    cells = [
        f'<span{lang} dir="auto">{_e(_cut(element.content))}</span>',
        _e(element.language or ""),
        _e(_cut(element.font or "")),
        _e(_cut(element.size or "")),
        _e(_cut(element.placement or "")),
        color,
    ]
    return "<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in cells) + "</tr>"


def html_render(prompt: Prompt) -> str:
    """The prompt as an HTML fragment for notebooks: palette swatches, text elements, lint
    advice, the pretty JSON in a ``<pre>`` and the fingerprint. All prompt text is escaped.

    >>> from flux2prompt import scene
    >>> out = html_render(scene("<b>bold</b> harbour").text("港", language="ja").compile())
    >>> "&lt;b&gt;bold&lt;/b&gt;" in out, '<span lang="ja" dir="auto">港</span>' in out
    (True, True)
    """
    out = [
        '<div class="flux2prompt" style="font-family:system-ui,sans-serif;line-height:1.45">',
        '<div class="f2p-header" style="margin-bottom:.4em"><strong>FLUX.2 prompt</strong> '
        f'<code class="f2p-fingerprint" style="opacity:.7">{_e(prompt.fingerprint)}</code></div>',
    ]
    parts = _part_rows(prompt)
    if parts:
        rows = "".join(
            f'<tr class="f2p-{_e(label.partition("[")[0])}"><td style="{_LABEL}">{_e(label)}</td>'
            f'<td style="{_CELL}">{_html_part_value(value)}</td></tr>'
            for label, value in parts
        )
        out.append(f'<table class="f2p-parts" style="{_TABLE}">{rows}</table>')
    palettes, hidden = _palette_rows(prompt)
    if palettes:
        out.append('<table class="f2p-palette" style="border-collapse:collapse;margin:.3em 0">')
        for label, colors in palettes:
            swatches = "".join(_html_swatch(color) for color in colors)
            out.append(f'<tr><td style="{_LABEL}">{_e(label)}</td><td>{swatches}</td></tr>')
        if hidden:
            out.append(f'<tr><td></td><td style="{_CELL}">{_e(_more(hidden, "colours"))}</td></tr>')
        out.append("</table>")
    if prompt.text:
        head = "".join(
            f'<th style="{_CELL}">{name}</th>'
            for name in ("text", "language", "font", "size", "placement", "color")
        )
        rows = "".join(_html_text_row(element) for element in prompt.text[:MAX_SHOWN_ROWS])
        if len(prompt.text) > MAX_SHOWN_ROWS:
            more = _more(len(prompt.text) - MAX_SHOWN_ROWS, "text elements")
            rows += f'<tr><td colspan="6" style="{_CELL}">{_e(more)}</td></tr>'
        out.append(
            '<table class="f2p-text" style="border-collapse:collapse;margin:.3em 0">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    warnings = _advice(prompt)
    if warnings:
        items = "".join(
            f"<li><code>{_e(w.code)}</code> <code>{_e(_cut(w.path))}</code> {_e(_cut(w.message))}"
            f'<br><span style="opacity:.75">fix: {_e(_cut(w.fix))}</span></li>'
            for w in warnings[:MAX_SHOWN_ROWS]
        )
        if len(warnings) > MAX_SHOWN_ROWS:
            items += f"<li>{_e(_more(len(warnings) - MAX_SHOWN_ROWS, 'pieces of advice'))}</li>"
        out.append(f'<ul class="f2p-lint" style="margin:.3em 0;padding-left:1.2em">{items}</ul>')
    # Folded: the rows above say the same, and a long JSON would push the next cell away.
    out.append(
        '<details class="f2p-json" style="margin:.3em 0"><summary style="cursor:pointer">JSON'
        f'</summary><pre style="margin:.3em 0;padding:.5em;overflow-x:auto;{_RULE}">'
        f"{_e(_cut(prompt.to_json(pretty=True), MAX_SHOWN_JSON))}</pre></details>"
    )
    out.append("</div>")
    return "\n".join(out)


def html_render_error(error: Exception) -> str:
    """A builder that does not compile, as HTML: the message and, for a validation error, one
    row per problem with its JSON path. Everything is escaped.

    >>> from flux2prompt import scene
    >>> from flux2prompt._errors import PromptError
    >>> try:
    ...     scene("x").compile(profile="cloudflare")
    ... except PromptError as exc:
    ...     out = html_render_error(exc)
    >>> "<code>$</code>" in out, "f2p-error" in out
    (True, True)
    """
    out = [
        '<div class="flux2prompt f2p-error" style="font-family:system-ui,sans-serif;'
        'line-height:1.45">',
        "<div><strong>FLUX.2 prompt</strong> "
        '<span style="opacity:.7">does not compile</span></div>',
    ]
    if isinstance(error, PromptValidationError):
        out.append(
            f'<div style="margin:.3em 0">profile <code>{_e(error.profile)}</code>: '
            f"{len(error.issues)} problem{'s' if len(error.issues) != 1 else ''}</div>"
        )
        rows = "".join(
            f'<tr><td style="{_CELL}"><code>{_e(_cut(issue.path))}</code></td>'
            f'<td style="{_CELL}">{_e(_cut(issue.message))}</td></tr>'
            for issue in error.issues[:MAX_SHOWN_ROWS]
        )
        if len(error.issues) > MAX_SHOWN_ROWS:
            more = f"… and {len(error.issues) - MAX_SHOWN_ROWS:,} more problems"
            rows += f'<tr><td colspan="2" style="{_CELL}">{_e(more)}</td></tr>'
        out.append(f'<table class="f2p-issues" style="{_TABLE}">{rows}</table>')
    else:
        message = _cut(str(error), 10 * MAX_SHOWN_CHARS)
        out.append(f'<pre style="margin:.3em 0;white-space:pre-wrap">{_e(message)}</pre>')
    out.append("</div>")
    return "\n".join(out)


# -- rich -----------------------------------------------------------------------------------------
def _rich_swatches(colors: Sequence[str]) -> Text:
    line = Text()
    for color in colors:
        paint = _resolved(color)
        if paint is not None:
            line.append("  ", style=f"on {paint}")
            line.append(f" {color}  ")
        else:
            line.append(f"‹{_cut(color)}›  ", style="italic")
    return line


def _rich_text_table(every: Sequence[TextElement]) -> Table:
    elements = every[:MAX_SHOWN_ROWS]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    # Columns no element uses are left out, so the rest fit a narrow terminal. The text itself
    # comes last: terminals and rich disagree on the width of some scripts' marks (Devanagari's
    # spacing vowel signs count 0 cells in rich, 1 in most terminals), and with nothing after it
    # a row's text can never push the next column out of line. It folds rather than being cut.
    columns = [
        name
        for name in ("language", "font", "size", "placement", "color")
        if any(getattr(element, name) for element in elements)
    ]
    for name in columns:
        table.add_column(name, overflow="fold", min_width=min(len(name), 8))
    longest = max(cell_len(_cut(element.content)) for element in elements)
    table.add_column("text", min_width=min(longest, 20), overflow="fold")
    for element in elements:
        cells: list[Text] = []
        for name in columns:
            value = getattr(element, name)
            if name == "color":
                cells.append(_rich_swatches((value,)) if value else Text(""))
            else:
                cells.append(Text(_cut(value or "")))
        cells.append(Text(_cut(element.content)))
        table.add_row(*cells)
    if len(every) > MAX_SHOWN_ROWS:
        more = _more(len(every) - MAX_SHOWN_ROWS, "text elements")
        table.add_row(*[Text("") for _ in columns], Text(more, style="dim"))
    return table


def rich_render(prompt: Prompt) -> Iterator[RenderableType]:
    """Rich renderables for ``prompt``: one ruled panel with the scene, palette swatches, text
    elements, lint advice, the JSON and the fingerprint. This is what ``rich.print(prompt)``
    shows. Prompt text is wrapped in :class:`~rich.text.Text`, so ``[bold]`` stays literal.

    >>> import io
    >>> from rich.console import Console
    >>> from flux2prompt import scene
    >>> console = Console(record=True, width=100, file=io.StringIO())
    >>> console.print(*rich_render(scene("dunes at noon").compile()))
    >>> "dunes at noon" in console.export_text()
    True
    """
    summary = Table.grid(padding=(0, 1))
    summary.add_column(style="bold", no_wrap=True)
    # Fold, never ellipsis: CJK has no spaces to wrap at, and the rest of the text must show.
    summary.add_column(overflow="fold")
    for label, value in _part_rows(prompt):
        if isinstance(value, str):
            summary.add_row(label, Text(value))
        else:
            line = Text()
            for key, shown in value:
                line.append(f"{key} ", style="dim")
                line.append(f"{shown}  ")
            line.rstrip()
            summary.add_row(label, line)
    palettes, hidden = _palette_rows(prompt)
    for label, colors in palettes:
        summary.add_row(label, _rich_swatches(colors))
    if hidden:
        summary.add_row("", Text(_more(hidden, "colours"), style="dim"))
    parts: list[RenderableType] = []
    if summary.row_count:
        parts.append(summary)
    if prompt.text:
        parts.append(_rich_text_table(prompt.text))
    warnings = _advice(prompt)
    if warnings:
        advice = Text()
        for w in warnings[:MAX_SHOWN_ROWS]:
            advice.append(f"{w.code} ", style="bold yellow")
            advice.append(f"{_cut(w.path)} ", style="cyan")
            advice.append(f"{_cut(w.message)}\n")
        if len(warnings) > MAX_SHOWN_ROWS:
            advice.append(_more(len(warnings) - MAX_SHOWN_ROWS, "pieces of advice"), style="dim")
        advice.rstrip()
        parts.append(advice)
    pretty = prompt.to_json(pretty=True)
    if len(pretty) > MAX_SHOWN_JSON:
        # Too long to show whole: its beginning, plain, and how much is left out.
        parts.append(Text(_cut(pretty, MAX_SHOWN_JSON), overflow="fold"))
    else:
        document = JSON(prompt.to_json())
        # rich.json.JSON crops long lines; folded, a long CJK string stays readable to its end.
        document.text.no_wrap = False
        document.text.overflow = "fold"
        parts.append(document)
    parts.append(Text(prompt.fingerprint, style="dim"))
    # Rules above and below, no side borders: a right border would be pushed out of line by any
    # text whose width the terminal counts differently from rich (see _rich_text_table).
    yield Panel(Group(*parts), title="FLUX.2 prompt", title_align="left", box=box.HORIZONTALS)
