"""References: images attached by name, cited by a marker that survives every form."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, Reference, lint, load, ref, scene
from flux2prompt._references import cited, references_of, resolve_citations


def _builder() -> object:
    return (
        scene(f"the mug from {ref('mug')} on a marble counter")
        .subject(f"a ceramic mug printed with the logo from {ref('logo')}")
        .reference("mug", b"<mug>", role="the product")
        .reference("logo", Path("brand/logo.png"), role="the brand's logo")
    )


def test_the_marker_survives_json_and_prose_and_the_fingerprint_covers_it() -> None:
    prompt = _builder().compile()  # type: ignore[attr-defined]
    assert "[ref:mug]" in prompt.to_json()
    assert "[ref:logo]" in prompt.to_prose()
    assert load(prompt.to_json()).fingerprint == prompt.fingerprint
    # The references travel beside the prompt, not in its JSON.
    assert [r.name for r in references_of(prompt)] == ["mug", "logo"]
    assert "brand/logo.png" not in prompt.to_json()
    # The same text without references has the same fingerprint: images are the request's.
    bare = scene(f"the mug from {ref('mug')} on a marble counter").subject(
        f"a ceramic mug printed with the logo from {ref('logo')}"
    )
    assert bare.compile().fingerprint == prompt.fingerprint


def test_a_name_attached_again_replaces_its_image_in_place() -> None:
    b = _builder().reference("mug", b"<new mug>")  # type: ignore[attr-defined]
    assert [(r.name, r.source) for r in b.references()] == [
        ("mug", b"<new mug>"),
        ("logo", Path("brand/logo.png")),
    ]
    assert _builder().references()[0].source == b"<mug>"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ref("Logo"), "ref(): a reference name is lowercase letters"),
        (lambda: scene("x").reference("my logo", b"x"), "reference('my logo'): a reference name"),
        (lambda: scene("x").reference("logo", b""), "reference('logo'): the image is empty"),
        (lambda: scene("x").reference("logo", "  "), "give image bytes, a path or an https"),
        (lambda: scene("x").reference("logo", 7), "expected image bytes, a path or an https"),  # type: ignore[arg-type]
    ],
)
def test_bad_references_are_one_line_errors(call: object, message: str) -> None:
    with pytest.raises(PromptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()  # type: ignore[operator]


def test_lint_a_reference_never_cited_and_a_citation_with_no_image() -> None:
    b = (
        scene(f"the mug from {ref('mug')}")
        .reference("logo", b"<png>", role="the brand's logo")
        .reference("mug", b"<mug>")
    )
    found = [(w.code, w.path) for w in lint(b)]
    assert found == [("F2P601", "$")]
    assert "'logo' (the brand's logo) is attached" in lint(b)[0].message
    missing = scene("a counter").subject(f"the cup from {ref('cup')}")
    (warning,) = lint(missing)
    assert (warning.code, warning.path) == ("F2P602", "$.subjects[0].description")
    assert "attach it with .reference('cup', path_or_bytes)" in warning.fix
    assert lint(_builder()) == []  # type: ignore[arg-type]


def test_resolution_counts_from_the_hosts_first_index() -> None:
    text = f"{ref('b')} beside {ref('a')}, again {ref('b')}"
    assert resolve_citations(text, ("a", "b"), base=0) == "image 1 beside image 0, again image 1"
    assert resolve_citations(text, ("a", "b"), base=1) == "image 2 beside image 1, again image 2"
    with pytest.raises(PromptError, match=r"no reference is named 'c' \(references: 'a'\)"):
        resolve_citations("[ref:c]", ("a",), base=0)


_NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)


@given(st.lists(_NAMES, min_size=1, max_size=6, unique=True), st.sampled_from([0, 1]))
def test_every_citation_resolves_to_its_own_index(names: list[str], base: int) -> None:
    text = " and ".join(ref(name) for name in reversed(names))
    assert cited(text) == tuple(reversed(names))
    resolved = resolve_citations(text, names, base=base)
    assert "[ref:" not in resolved
    expected = " and ".join(f"image {names.index(n) + base}" for n in reversed(names))
    assert resolved == expected


def test_reference_repr_does_not_print_the_bytes() -> None:
    assert repr(Reference("logo", b"\x89PNG" * 1000, role="logo")) == (
        "Reference('logo', <4000 bytes>, role='logo')"
    )
