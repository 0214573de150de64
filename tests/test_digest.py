"""Fingerprints and canonical JSON: one writer for every ``sha256:`` value in the package."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import pytest

from flux2prompt._digest import canonical_json, sha256_file_fingerprint, sha256_fingerprint


def test_a_fingerprint_is_the_prefixed_hex_sha256_of_the_utf8_bytes() -> None:
    text = "夜の東京 «مرحبا»"
    expected = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert sha256_fingerprint(text) == expected
    assert sha256_fingerprint(text.encode("utf-8")) == expected


def test_a_file_fingerprint_equals_the_fingerprint_of_its_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "image.bin"
    path.write_bytes(data)
    with path.open("rb") as handle:
        assert sha256_file_fingerprint(handle) == sha256_fingerprint(data)
    assert sha256_file_fingerprint(io.BytesIO(data)) == sha256_fingerprint(data)


def test_canonical_json_is_sorted_compact_and_raw_utf8() -> None:
    value = {"b": [1, 2.5, None, True], "a": {"z": "東", "y": "é"}}
    assert canonical_json(value) == '{"a":{"y":"é","z":"東"},"b":[1,2.5,null,true]}'
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"x": object()}])
def test_canonical_json_refuses_what_is_not_json(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_json(bad)
