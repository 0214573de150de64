"""The email-based multipart reader: bytes-exact parts and precise refusals."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt.emulator._multipart import (
    MULTIPART_REQUIRED,
    FormPart,
    is_multipart,
    parse_form,
    validate_form,
)
from flux2prompt.emulator._protocol import ApiError

DEV = "@cf/black-forest-labs/flux-2-dev"


def encode(files: dict[str, object]) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x", files=files)  # type: ignore[arg-type]
    return request.headers["content-type"], request.read()


# Bytes that stress a line-based parser: CR, LF, CRLF, dashes that look like boundaries.
hostile = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"--", b"-", b"\x00", b"\xff", b"a", b" "]), max_size=60
).map(b"".join) | st.binary(max_size=2000)


@settings(max_examples=60, deadline=None)
@given(data=hostile, text=st.text(max_size=80), filename=st.text(min_size=1, max_size=20))
def test_parts_round_trip_exactly(data: bytes, text: str, filename: str) -> None:
    content_type, body = encode(
        {
            "prompt": (None, text),
            "input_image_0": (filename, data, "image/png"),
        }
    )
    parts = {part.name: part for part in parse_form(content_type, body)}
    assert parts["input_image_0"].data == data
    assert parts["input_image_0"].content_type == "image/png"
    assert parts["input_image_0"].is_file
    assert parts["prompt"].text() == text
    assert not parts["prompt"].is_file


def test_utf8_names_and_filenames() -> None:
    content_type, body = encode({"prömpt": (None, "x"), "f": ("résumé.png", b"1", "image/png")})
    parts = {part.name: part for part in parse_form(content_type, body)}
    assert parts["f"].filename == "résumé.png"
    assert "prömpt" in parts


def test_declared_charset_is_honoured() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n'
        b"Content-Type: text/plain; charset=latin-1\r\n\r\ncaf\xe9\r\n--b--\r\n"
    )
    [part] = parse_form("multipart/form-data; boundary=b", body)
    assert part.text() == "café"


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        ("application/json", b"{}", MULTIPART_REQUIRED),
        ("multipart/form-data", b"--b\r\n\r\n--b--\r\n", "no boundary or no parts"),
        ("multipart/form-data; boundary=b", b"just text", "no boundary or no parts"),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            "has no Content-Disposition name",
        ),
    ],
)
def test_unparseable_bodies(content_type: str, body: bytes, fragment: str) -> None:
    with pytest.raises(ApiError, match=fragment.replace("'", ".")) as caught:
        parse_form(content_type, body)
    assert (caught.value.status, caught.value.code) == (400, 5006)


def test_is_multipart() -> None:
    assert is_multipart("Multipart/Form-Data; boundary=x")
    assert not is_multipart("multipart/mixed; boundary=x")
    assert not is_multipart("")


def test_validate_form_defaults_and_values() -> None:
    parts = [
        FormPart("prompt", None, "", b"a fox", "utf-8"),
        FormPart("width", None, "", b" 512 ", "utf-8"),
        FormPart("guidance", None, "", b"4", "utf-8"),
        FormPart("seed", None, "", b"0", "utf-8"),
    ]
    job = validate_form(DEV, parts)
    assert (job.prompt, job.width, job.height, job.guidance, job.seed, job.steps) == (
        "a fox",
        512,
        768,
        4.0,
        0,
        None,
    )


def test_invalid_utf8_text_field() -> None:
    with pytest.raises(ApiError, match="'/prompt' is not valid utf-8 text"):
        validate_form(DEV, [FormPart("prompt", None, "", b"\xff\xfe", "utf-8")])


def test_an_integer_too_long_to_convert_is_bad_input_not_a_crash() -> None:
    # int() refuses more than 4,300 digits with a ValueError; that must be a 400, not a 500.
    parts = [
        FormPart("prompt", None, "", b"x", "utf-8"),
        FormPart("width", None, "", b"9" * 5000, "utf-8"),
    ]
    with pytest.raises(ApiError, match="'/width' is out of range") as info:
        validate_form(DEV, parts)
    assert len(str(info.value)) < 300  # the field is quoted by its start only


def test_an_undecodable_image_is_named_without_internal_reprs() -> None:
    parts = [
        FormPart("prompt", None, "", b"x", "utf-8"),
        FormPart("input_image_0", "a.png", "image/png", b"junk", "utf-8"),
    ]
    with pytest.raises(ApiError, match="'/input_image_0' is not a decodable image") as info:
        validate_form(DEV, parts)
    assert "BytesIO" not in str(info.value)
    assert " at 0x" not in str(info.value)
