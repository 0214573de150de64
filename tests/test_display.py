"""Notebook (HTML) and terminal (rich) display: structure, swatches, escaping."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest
import rich
from rich.console import Console

from flux2prompt import scene, subject
from flux2prompt._display import html_render, rich_render

VOID = {"br", "hr", "img", "meta", "link", "input"}


class Tree(HTMLParser):
    """Records start tags with attributes and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, f"</{tag}> closes the wrong element"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> Tree:
    tree = Tree()
    tree.feed(markup)
    tree.close()
    assert tree.stack == [], f"unclosed elements: {tree.stack}"
    return tree


POSTER = (
    scene("a minimalist concert poster")
    .subject(subject("a violinist", position="foreground", colors=["#c0392b"]))
    .palette("#1A1A1A", "coral", "matte black ceramic")
    .background("a wall in color #F2EFE9")
    .text("東京へようこそ", language="ja", placement="top centre", color="#fff")
    .text("مرحبا", language="ar", font="naskh", size="large")
    .text("LIVE")
    .compile()
)


# -- HTML -----------------------------------------------------------------------------------------
def test_html_is_well_formed_and_has_every_part() -> None:
    markup = html_render(POSTER)
    tree = parse(markup)
    classes = [attrs.get("class") for _, attrs in tree.tags]
    for expected in ("flux2prompt", "f2p-palette", "f2p-text", "f2p-json", "f2p-fingerprint"):
        assert expected in classes
    text = "".join(tree.text)
    assert POSTER.fingerprint in text
    assert "a minimalist concert poster" in text
    # The pretty JSON, unescaped by the parser, is exactly the prompt's pretty JSON.
    assert [tag for tag, _ in tree.tags].count("pre") == 1
    assert POSTER.to_json(pretty=True) in text


def test_html_palette_swatches() -> None:
    markup = html_render(POSTER)
    # Hex colours are painted boxes with their code.
    assert "background:#1A1A1A" in markup
    assert "<code>#1A1A1A</code>" in markup
    # CSS colour names are painted with their resolved code and labelled with the name.
    assert "background:#FF7F50" in markup
    assert "<code>coral</code>" in markup
    # Descriptive phrases are labelled boxes.
    assert 'class="f2p-swatch f2p-named"' in markup
    assert ">matte black ceramic</span>" in markup
    # Subject colours get their own row.
    assert ">subjects[0]</td>" in markup
    assert "background:#C0392B" in markup


def test_html_text_elements_carry_lang_and_dir() -> None:
    tree = parse(html_render(POSTER))
    spans = [attrs for tag, attrs in tree.tags if tag == "span" and attrs.get("dir") == "auto"]
    assert spans == [{"lang": "ja", "dir": "auto"}, {"lang": "ar", "dir": "auto"}, {"dir": "auto"}]
    markup = html_render(POSTER)
    assert '<span lang="ja" dir="auto">東京へようこそ</span>' in markup
    assert '<span lang="ar" dir="auto">مرحبا</span>' in markup
    headers = [tag for tag, _ in tree.tags if tag == "th"]
    assert len(headers) == 6
    assert "top centre" in markup
    assert "background:#FFFFFF" in markup  # the text colour swatch


def test_html_escapes_everything_from_the_prompt() -> None:
    evil = "<script>alert('x')</script>"
    p = (
        scene(evil)
        .subject(f"{evil} & co", position='"><img src=x onerror=alert(1)>')
        .palette(evil, "#000", "#fff")
        .text(evil, language="en", font=evil, placement=evil)
        .extra("note", evil)
        .compile()
    )
    markup = html_render(p)
    assert "<script" not in markup
    assert "<img" not in markup
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in markup
    tree = parse(markup)
    assert all(tag not in ("script", "img") for tag, _ in tree.tags)
    # After unescaping, the user's text is shown as written.
    assert evil in "".join(tree.text)


def test_html_shows_lint_advice() -> None:
    markup = html_render(scene("a square, no people").camera(iso=50).compile())
    tree = parse(markup)
    items = [tag for tag, _ in tree.tags if tag == "li"]
    assert len(items) == 2
    assert "<code>F2P101</code> <code>$.scene</code>" in markup
    assert "<code>F2P402</code> <code>$.camera.ISO</code>" in markup
    assert 'class="f2p-lint"' not in html_render(scene("an empty square").compile())


def test_minimal_prompt_has_no_empty_sections() -> None:
    markup = html_render(scene("dunes").compile())
    assert "f2p-palette" not in markup
    assert "f2p-text" not in markup
    parse(markup)


def test_repr_html_is_html_render() -> None:
    assert POSTER._repr_html_() == html_render(POSTER)


# -- rich -----------------------------------------------------------------------------------------
def console() -> Console:
    return Console(
        record=True, width=100, file=io.StringIO(), color_system="truecolor", force_terminal=True
    )


def test_rich_print_shows_scene_text_json_and_fingerprint() -> None:
    out = console()
    out.print(POSTER)
    exported = out.export_text()
    assert "a minimalist concert poster" in exported
    assert POSTER.fingerprint in exported
    assert "東京へようこそ" in exported
    assert "مرحبا" in exported
    assert '"color_palette": [' in exported  # the JSON
    assert "FLUX.2 prompt" in exported


def test_rich_swatches_are_painted() -> None:
    out = console()
    out.print(POSTER)
    styled = out.export_text(styles=True, clear=False)
    assert "\x1b[48;2;26;26;26m" in styled  # #1A1A1A as a background
    assert "\x1b[48;2;255;127;80m" in styled  # coral, resolved
    assert "‹matte black ceramic›" in out.export_text()


def test_rich_never_reads_markup_from_the_prompt() -> None:
    out = console()
    out.print(scene("[bold red]loud[/bold red] harbour").text("[link=x]hi[/link]").compile())
    exported = out.export_text()
    assert "[bold red]loud[/bold red] harbour" in exported
    assert "[link=x]hi[/link]" in exported


def test_rich_print_module_function(capsys: pytest.CaptureFixture[str]) -> None:
    rich.print(scene("fog over the bay").compile())
    captured = capsys.readouterr().out
    assert "fog over the bay" in captured
    assert "sha256:" in captured


def test_rich_render_yields_renderables() -> None:
    renderables = list(rich_render(POSTER))
    assert len(renderables) == 1
    out = console()
    out.print(*renderables)
    assert POSTER.fingerprint in out.export_text()


def test_rich_shows_lint_advice() -> None:
    out = console()
    out.print(scene("x").camera(iso=50).compile())
    assert "F2P402 $.camera.ISO ISO 50 is outside the usual 100-6400" in out.export_text()
