"""Showing a prompt to people who would rather look than read: notebooks and terminals.

In a notebook, :meth:`Prompt._repr_html_ <flux2prompt.Prompt._repr_html_>` shows the palette as
colour swatches, the text elements with their language, placement and colour, any lint advice,
the pretty JSON and the fingerprint (:func:`html_render`). In a terminal, ``rich.print(prompt)``
shows the same in a panel (:func:`rich_render`).

Everything that comes from the prompt is escaped: in HTML with :func:`html.escape`, in rich by
wrapping it in :class:`rich.text.Text`, which never reads markup.

Example:
    >>> from flux2prompt import scene
    >>> "<pre" in html_render(scene("dunes at noon").palette("#E8C07D").compile())
    True
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flux2prompt._color import css_name_to_hex, is_hex
from flux2prompt._lint import LintWarning, lint
from flux2prompt._model import Prompt, TextElement

__all__ = ["html_render", "rich_render"]


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


def _palette_rows(prompt: Prompt) -> list[tuple[str, tuple[str, ...]]]:
    rows: list[tuple[str, tuple[str, ...]]] = []
    if prompt.color_palette:
        rows.append(("color_palette", prompt.color_palette))
    for i, item in enumerate(prompt.subjects or ()):
        colors = (*(item.color_palette or ()), *(item.colors or ()))
        if colors:
            rows.append((f"subjects[{i}]", colors))
    return rows


# -- HTML -----------------------------------------------------------------------------------------
_BOX = (
    "display:inline-block;width:1.1em;height:1.1em;border:1px solid rgba(0,0,0,.35);"
    "border-radius:3px;vertical-align:middle;margin-right:.3em"
)
_LABEL = "font-weight:600;padding-right:.6em;white-space:nowrap;vertical-align:top"
_CELL = "padding:.15em .6em;text-align:left;vertical-align:top"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_swatch(color: str) -> str:
    paint = _resolved(color)
    if paint is None:
        # A descriptive phrase ("matte black ceramic"): a labelled box, no colour to show.
        return (
            '<span class="f2p-swatch f2p-named" style="display:inline-block;'
            'border:1px dashed #888;border-radius:3px;padding:0 .35em;margin:0 .5em .2em 0">'
            f"{_e(color)}</span>"
        )
    return (
        f'<span class="f2p-swatch" title="{_e(paint)}" style="margin:0 .8em .2em 0;'
        f'white-space:nowrap"><span style="{_BOX};background:{_e(paint)}"></span>'
        f"<code>{_e(color)}</code></span>"
    )


def _html_text_row(element: TextElement) -> str:
    lang = f' lang="{_e(element.language)}"' if element.language else ""
    color = _html_swatch(element.color) if element.color else ""
    cells = [
        f'<span{lang} dir="auto">{_e(element.content)}</span>',
        _e(element.language or ""),
        _e(element.font or ""),
        _e(element.size or ""),
        _e(element.placement or ""),
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
    if prompt.scene:
        out.append(f'<div class="f2p-scene" style="margin-bottom:.4em">{_e(prompt.scene)}</div>')
    palettes = _palette_rows(prompt)
    if palettes:
        out.append('<table class="f2p-palette" style="border-collapse:collapse;margin:.3em 0">')
        for label, colors in palettes:
            swatches = "".join(_html_swatch(color) for color in colors)
            out.append(f'<tr><td style="{_LABEL}">{_e(label)}</td><td>{swatches}</td></tr>')
        out.append("</table>")
    if prompt.text:
        head = "".join(
            f'<th style="{_CELL}">{name}</th>'
            for name in ("text", "language", "font", "size", "placement", "color")
        )
        rows = "".join(_html_text_row(element) for element in prompt.text)
        out.append(
            '<table class="f2p-text" style="border-collapse:collapse;margin:.3em 0">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    warnings = _advice(prompt)
    if warnings:
        items = "".join(
            f"<li><code>{_e(w.code)}</code> <code>{_e(w.path)}</code> {_e(w.message)}"
            f'<br><span style="opacity:.75">fix: {_e(w.fix)}</span></li>'
            for w in warnings
        )
        out.append(f'<ul class="f2p-lint" style="margin:.3em 0;padding-left:1.2em">{items}</ul>')
    out.append(
        '<pre class="f2p-json" style="margin:.3em 0;padding:.5em;overflow-x:auto">'
        f"{_e(prompt.to_json(pretty=True))}</pre>"
    )
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
            line.append(f"‹{color}›  ", style="italic")
    return line


def _rich_text_table(elements: Sequence[TextElement]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for name in ("text", "language", "font", "size", "placement", "color"):
        table.add_column(name)
    for element in elements:
        color = _rich_swatches((element.color,)) if element.color else Text("")
        table.add_row(
            Text(element.content),
            Text(element.language or ""),
            Text(element.font or ""),
            Text(element.size or ""),
            Text(element.placement or ""),
            color,
        )
    return table


def rich_render(prompt: Prompt) -> Iterator[RenderableType]:
    """Rich renderables for ``prompt``: one panel with the scene, palette swatches, text
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
    summary.add_column()
    if prompt.scene:
        summary.add_row("scene", Text(prompt.scene))
    for label, colors in _palette_rows(prompt):
        summary.add_row(label, _rich_swatches(colors))
    parts: list[RenderableType] = []
    if summary.row_count:
        parts.append(summary)
    if prompt.text:
        parts.append(_rich_text_table(prompt.text))
    warnings = _advice(prompt)
    if warnings:
        advice = Text()
        for w in warnings:
            advice.append(f"{w.code} ", style="bold yellow")
            advice.append(f"{w.path} ", style="cyan")
            advice.append(f"{w.message}\n")
        advice.rstrip()
        parts.append(advice)
    parts.append(JSON(prompt.to_json()))
    parts.append(Text(prompt.fingerprint, style="dim"))
    yield Panel(Group(*parts), title="FLUX.2 prompt", title_align="left", box=box.ROUNDED)
