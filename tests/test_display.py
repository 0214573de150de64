"""Notebook (HTML) and terminal (rich) display: structure, swatches, escaping."""

from __future__ import annotations

import io
import re
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
    # The text table's cells (the part rows above it carry dir="auto" too, without a language).
    table = html_render(POSTER).split('class="f2p-text"', 1)[1].split("</table>", 1)[0]
    in_table = Tree()
    in_table.feed(table)
    spans = [attrs for tag, attrs in in_table.tags if tag == "span" and attrs.get("dir") == "auto"]
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


# -- notebooks: readable rows, folded JSON, the builder, wide scripts -------------------------
RICH = (
    scene("a tea house at dusk")
    .subject(subject("a ceramic teapot", type="product", position="foreground"))
    .style("ink wash")
    .lighting("lantern glow from the left")
    .camera(angle="eye level", lens_mm=50, f_number="f/2.8")
    .effects("film grain", "soft vignette")
    .compile()
)


def rows_of(markup: str) -> dict[str, str]:
    """The part rows' labels and their text, as a reader sees them (tags removed)."""
    table = markup.split('class="f2p-parts"', 1)[1].split("</table>", 1)[0]
    shown: dict[str, str] = {}
    for row in table.split("<tr")[1:]:
        tree = Tree()
        tree.feed("<tr" + row.split("</tr>", 1)[0] + "</tr>")
        label, *rest = [t for t in tree.text if t.strip()]
        shown[label] = " ".join(t.strip() for t in rest)
    return shown


def test_html_shows_the_parts_as_readable_rows() -> None:
    markup = html_render(RICH)
    parse(markup)
    assert rows_of(markup) == {
        "scene": "a tea house at dusk",
        "subjects[0]": "type product description a ceramic teapot position foreground",
        "style": "ink wash",
        "lighting": "lantern glow from the left",
        "camera": "angle eye level lens-mm 50 f-number f/2.8",
        "effects": "film grain, soft vignette",
    }


def test_html_json_is_folded_and_the_view_sets_no_colours_of_its_own() -> None:
    markup = html_render(RICH)
    tree = parse(markup)
    names = [tag for tag, _ in tree.tags]
    assert names.index("details") < names.index("summary") < names.index("pre")
    details = next(attrs for tag, attrs in tree.tags if tag == "details")
    assert details.get("open") is None  # folded until clicked
    # Theme-neutral: no foreground or page background is set, so a dark theme stays readable.
    styles = " ".join(attrs.get("style") or "" for _, attrs in tree.tags)
    assert re.search(r"(^|[;\s\"])color:", styles) is None
    assert "background:#" not in styles.replace("background:#1A1A1A", "")  # only swatches


def test_html_part_rows_escape_the_prompt() -> None:
    evil = "<img src=x onerror=alert(1)>"
    markup = html_render(scene("x").lighting(evil).camera(angle=evil).compile())
    assert "<img" not in markup
    assert rows_of(markup)["lighting"] == evil
    assert rows_of(markup)["camera"] == f"angle {evil}"


def test_a_builder_shows_the_compiled_prompts_view() -> None:
    builder = scene("a tea house at dusk").style("ink wash")
    assert builder._repr_html_() == html_render(builder.compile())


def test_a_builder_that_does_not_compile_shows_the_error_with_its_path() -> None:
    from flux2prompt import PromptBuilder

    markup = PromptBuilder()._repr_html_()  # nothing set yet: the empty prompt is invalid
    tree = parse(markup)
    assert "f2p-error" in markup
    rows = markup.split('class="f2p-issues"', 1)[1]
    assert "<code>$</code>" in rows
    assert "the prompt is empty; add at least a scene" in " ".join(tree.text)


def test_the_error_view_escapes_paths_and_messages() -> None:
    from flux2prompt._display import html_render_error
    from flux2prompt._errors import PromptValidationError, ValidationIssue

    evil = "<script>alert(1)</script>"
    error = PromptValidationError([ValidationIssue(f"$.{evil}", evil)], "flux2")
    markup = html_render_error(error)
    tree = parse(markup)
    assert "<script" not in markup
    assert all(tag != "script" for tag, _ in tree.tags)
    assert f"$.{evil}" in tree.text
    assert "<script" not in html_render_error(ValueError(evil))


def test_rich_keeps_cjk_and_devanagari_whole_and_aligned() -> None:
    from rich.cells import cell_len

    poem = "東京へようこそ、いらっしゃいませ"
    hindi = "नमस्ते दुनिया स्वागत है"
    prompt = (
        scene("港の夜明け、静かな海と灯台のある風景")
        .text(poem, language="ja", placement="top centre")
        .text(hindi, language="hi")
        .compile()
    )
    for width in (50, 80, 120):
        out = Console(record=True, width=width, file=io.StringIO())
        out.print(prompt)
        lines = out.export_text().splitlines()
        # Every line fills the panel exactly, as rich measures cells: CJK counts two cells.
        # (Devanagari's spacing vowel signs count none in rich 15's table, and one in tmux's:
        # there a line with them overflows by their number. That is rich's measure, not ours.)
        assert {cell_len(line) for line in lines} == {width}
        # Nothing is cut off with an ellipsis: folded lines put together give the whole text.
        joined = "".join(line.strip("│ ") for line in lines)
        assert "…" not in joined
        assert poem in joined.replace(" ", "") or poem in joined
        # Devanagari wraps only between words: each word is whole on some line.
        assert all(any(word in line for line in lines) for word in hindi.split())


def test_rich_view_puts_text_last_and_draws_no_side_border() -> None:
    # Terminals count Devanagari's spacing vowel signs as one cell each, rich as none: with the
    # text last and no right border, no column or border can be pushed out of line by it.
    import io

    from rich.console import Console

    from flux2prompt import scene

    prompt = (
        scene("night market")
        .text("रात्रि बाज़ार", language="hi", placement="top")
        .text("夜市", language="ja", placement="top left")
        .compile()
    )
    console = Console(record=True, width=80, file=io.StringIO())
    console.print(prompt)
    lines = console.export_text().splitlines()
    rows = [line.rstrip() for line in lines if line.strip().startswith(("hi ", "ja "))]
    assert [
        row.endswith(text) for row, text in zip(rows, ("रात्रि बाज़ार", "夜市"), strict=True)
    ] == [
        True,
        True,
    ]
    assert not any(line.rstrip().endswith(("│", "|")) for line in lines)
