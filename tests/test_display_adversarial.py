"""The notebook view against hostile prompts: markup in every field, text of any size, many
subjects, colours, text elements and problems. What it shows is escaped, well formed, and
bounded: a prompt of megabytes must not become a notebook cell of megabytes (a saved notebook
keeps every output)."""

from __future__ import annotations

import io
from html.parser import HTMLParser

from rich.console import Console

from flux2prompt import PromptBuilder, load, scene, subject
from flux2prompt._display import html_render, html_render_error, rich_render
from flux2prompt._errors import PromptError

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;"\''


class _Checked(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def checked(markup: str) -> _Checked:
    tree = _Checked()
    tree.feed(markup)
    tree.close()
    assert tree.stack == []
    return tree


def test_markup_in_every_field_is_shown_as_text() -> None:
    prompt = (
        scene(HOSTILE)
        .subject(subject(HOSTILE, type=HOSTILE, pose=HOSTILE, colors=["#C0392B"]))
        .style(HOSTILE)
        .lighting(HOSTILE)
        .mood(HOSTILE)
        .background(HOSTILE)
        .palette("#1A1A1A", HOSTILE)
        .text(HOSTILE, language="en", font=HOSTILE, size=HOSTILE, placement=HOSTILE)
        .extra("note", {HOSTILE: [HOSTILE]})
        .compile()
    )
    tree = checked(html_render(prompt))
    assert "script" not in tree.tags
    assert "img" not in tree.tags
    assert HOSTILE in "".join(tree.text)


def test_a_huge_text_is_shown_cut_and_says_how_much_is_left_out() -> None:
    prompt = scene("dunes " * 100_000).style("x" * 120_000).compile()  # 600,000 characters
    out = html_render(prompt)
    checked(out)
    assert len(out) < 100_000, len(out)
    assert "more characters" in out
    assert prompt.fingerprint in out  # the header is whole


def test_many_subjects_colours_and_text_elements_are_bounded() -> None:
    builder = scene("a crowded market").palette(*[f"#{i:06X}" for i in range(2_000)])
    for i in range(1_000):
        builder = builder.subject(subject(f"stall {i}", colors=["#C0392B"] * 20))
    for i in range(1_000):
        builder = builder.text(f"sign {i}", language="en")
    out = html_render(builder.compile())
    checked(out)
    assert len(out) < 300_000, len(out)
    assert "stall 0" in out
    assert "sign 0" in out
    assert "and 950 more" in out  # subjects, text elements: the first 50 are shown


def test_a_document_with_huge_custom_values_keeps_its_view_bounded() -> None:
    prompt = load({"scene": "x", "notes": ["y" * 100_000] * 20}, extra_keys=["notes"])
    out = html_render(prompt)
    checked(out)
    assert len(out) < 100_000, len(out)


def test_an_error_with_many_problems_is_bounded() -> None:
    document = {"scene": "x", "subjects": [{"position": HOSTILE * 100}] * 2_000}
    try:
        load(document, profile="cloudflare")
    except PromptError as exc:
        error = exc
    out = html_render_error(error)
    tree = checked(out)
    assert "script" not in tree.tags
    assert len(out) < 200_000, len(out)
    assert "more problems" in out


def test_a_huge_plain_error_message_is_bounded() -> None:
    out = html_render_error(PromptError("x" * 1_000_000))
    checked(out)
    assert len(out) < 50_000


def test_an_empty_builder_still_shows_its_error() -> None:
    out = PromptBuilder()._repr_html_()
    assert "<code>$</code>" in out


def test_rich_view_of_a_huge_prompt_is_bounded() -> None:
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(*rich_render(scene("dunes " * 100_000).compile()))
    assert len(console.export_text()) < 100_000
