"""``${name}`` placeholders: values that cannot be written out, and expansions kept bounded."""

from __future__ import annotations

import pytest

from flux2prompt import PromptError, placeholders, substitute
from flux2prompt._document import MAX_DOCUMENT_BYTES, MAX_STRING_CHARS


def test_an_integer_too_large_to_write_is_a_prompt_error_naming_the_variable() -> None:
    # Python refuses to write out an integer of more than 4,300 digits (a ValueError).
    with pytest.raises(PromptError, match=r"variable 'n' \(used at \$\.scene\) is an integer too"):
        substitute({"scene": "lot ${n}"}, {"n": 10**5000})
    assert substitute({"scene": "lot ${n}"}, {"n": 10**300}) == {"scene": f"lot {10**300}"}


def test_a_string_filled_in_past_the_string_bound_is_refused_with_its_path() -> None:
    document = {"subjects": [{"description": "${x} " * 10}]}
    with pytest.raises(PromptError, match=r"^the text at \$\.subjects\[0\]\.description would"):
        substitute(document, {"x": "y" * (MAX_STRING_CHARS // 8)})
    filled = substitute({"scene": "${x}"}, {"x": "y" * MAX_STRING_CHARS})
    assert len(filled["scene"]) == MAX_STRING_CHARS


def test_a_document_cannot_grow_past_the_document_bound() -> None:
    # Each string stays under the string bound; all of them together would not fit memory.
    value = "y" * (MAX_STRING_CHARS - 10)
    count = MAX_DOCUMENT_BYTES // len(value) + 2
    document = {"effects": ["${x}"] * count}
    with pytest.raises(PromptError, match=r"^the document would grow by more than 16,777,216"):
        substitute(document, {"x": value})
    assert placeholders(document) == {"x"}
