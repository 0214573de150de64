"""The manifest: durable appends, torn lines, effective views, merging and comparing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from flux2prompt import SourceError
from flux2prompt.batch import (
    TIMING_FIELDS,
    ManifestWriter,
    comparable_records,
    effective_records,
    manifests_equivalent,
    merge_manifests,
    read_manifest,
    record_key,
)


def record(key: str, status: str = "ok", index: int = 0, **extra: Any) -> dict[str, Any]:
    return {"request_fingerprint": f"sha256:{key}", "index": index, "status": status, **extra}


def test_every_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with ManifestWriter(tmp_path / "m.jsonl") as log:
        log.append(record("a"))
        log.append(record("b", prompt={"scene": "東京"}))
    assert len(synced) == 2
    lines = (tmp_path / "m.jsonl").read_bytes().splitlines()
    assert json.loads(lines[1])["prompt"]["scene"] == "東京"
    assert "東京".encode() in lines[1]  # raw UTF-8, one record per line


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    whole = json.dumps(record("a")) + "\n"
    full = json.dumps(record("b"))
    # Cut short anywhere before its closing brace: never committed.
    for torn in ('{"request_fing', full[:-1], full[: len(full) // 2], "{", '{"x": [1, {'):
        path.write_text(whole + torn, encoding="utf-8")
        assert [r["request_fingerprint"] for r in read_manifest(path)] == ["sha256:a"]
        with ManifestWriter(path) as log:
            log.append(record("c"))
        keys = [r["request_fingerprint"] for r in read_manifest(path)]
        assert keys == ["sha256:a", "sha256:c"]


@pytest.mark.parametrize("before", ["", json.dumps(record("a")) + "\n"])
def test_a_whole_last_record_without_its_newline_is_kept_and_ended(
    tmp_path: Path, before: str
) -> None:
    # The crash came after the record and before its newline (or another tool wrote the file
    # without a final newline): the record is complete, so the image it names stays paid for.
    path = tmp_path / "m.jsonl"
    last = json.dumps(record("b", index=1, prompt={"scene": "東京"}), ensure_ascii=False)
    path.write_text(before + last, encoding="utf-8")
    expected = ["sha256:a", "sha256:b"] if before else ["sha256:b"]
    assert [r["request_fingerprint"] for r in read_manifest(path)] == expected
    with ManifestWriter(path) as log:
        log.append(record("c", index=2))
    text = path.read_text(encoding="utf-8")
    assert (
        text
        == before + last + "\n" + json.dumps(record("c", index=2), separators=(",", ":")) + "\n"
    )
    assert [r["request_fingerprint"] for r in read_manifest(path)] == [*expected, "sha256:c"]
    # Opened again with nothing to add, it stays as it is.
    ManifestWriter(path).close()
    assert path.read_text(encoding="utf-8") == text


def test_a_last_line_that_is_whole_json_but_no_record_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(record("a")) + "\n" + '{"no": "key"}', encoding="utf-8")
    with pytest.raises(SourceError, match="not a manifest record") as caught:
        read_manifest(path)
    assert caught.value.line == 2


def test_a_torn_line_longer_than_a_block_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(record("a")) + "\n" + "x" * 10_000, encoding="utf-8")
    ManifestWriter(path).close()
    assert path.read_text(encoding="utf-8") == json.dumps(record("a")) + "\n"
    path.write_text("y" * 9000, encoding="utf-8")
    ManifestWriter(path).close()
    assert path.read_bytes() == b""


def test_a_broken_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps(record("a")) + "\n{broken\n" + json.dumps(record("b")) + "\n", encoding="utf-8"
    )
    with pytest.raises(SourceError, match="broken manifest record") as caught:
        read_manifest(path)
    assert (caught.value.source, caught.value.line) == (str(path), 2)
    path.write_text('{"no": "key"}\n', encoding="utf-8")
    with pytest.raises(SourceError, match="not a manifest record"):
        read_manifest(path)
    assert read_manifest(tmp_path / "missing.jsonl") == []


def test_the_effective_view_prefers_the_last_success() -> None:
    records = [
        record("a", "failed", error={"message": "503"}),
        record("a", "ok", file="a1.jpg"),
        record("a", "failed"),
        record("a", "ok", file="a2.jpg"),
        record("b", "failed", error={"message": "first"}),
        record("b", "failed", error={"message": "second"}),
    ]
    view = effective_records(records)
    assert view[("sha256:a", 0)]["file"] == "a2.jpg"
    assert view[("sha256:b", 0)]["error"] == {"message": "second"}


def test_copies_share_a_fingerprint_but_are_items_of_their_own() -> None:
    original = record("a", index=0, file="A.jpg", copied_from=None)
    copied_from = {"request_fingerprint": "sha256:a", "index": 0, "file": "A.jpg"}
    copy = record("a", index=1, file="B.jpg", copied_from=copied_from)
    renamed = record("a", index=1, file="new/B.jpg", copied_from=copied_from)
    assert record_key(copy) == ("sha256:a", 1)
    view = effective_records([original, copy, record("a", "failed", index=1), renamed])
    assert [(key, r["file"]) for key, r in view.items()] == [
        (("sha256:a", 0), "A.jpg"),
        (("sha256:a", 1), "new/B.jpg"),
    ]
    assert [r["file"] for r in comparable_records([renamed, original])] == ["A.jpg", "new/B.jpg"]


def test_comparison_leaves_out_timing_and_order() -> None:
    a = [
        record("b", index=1, elapsed=1.0, started_at="x", attempts=3, request_id="r1"),
        record("a", index=0, finished_at="y"),
    ]
    b = [record("a", index=0, elapsed=9.9), record("b", index=1, request_id="r2")]
    assert comparable_records(a) == comparable_records(b)
    assert [r["index"] for r in comparable_records(a)] == [0, 1]
    assert {
        "started_at",
        "finished_at",
        "elapsed",
        "attempts",
        "request_id",
        "recovered",
    } == TIMING_FIELDS
    c = [record("a", index=0), record("b", index=1, file="other.jpg")]
    assert comparable_records(a) != comparable_records(c)


def test_merge_dedupes_keeps_success_and_sorts(tmp_path: Path) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    with ManifestWriter(first) as log:
        log.append(record("b", "ok", index=1))
        log.append(record("c", "failed", index=2))
    with ManifestWriter(second) as log:
        log.append(record("c", "ok", index=2))
        log.append(record("a", "failed", index=0))
        log.append(record("b", "ok", index=1))
    out = tmp_path / "merged" / "m.jsonl"
    report = merge_manifests([first, second], out)
    assert (report.read, report.written, report.ok, report.failed) == (5, 3, 2, 1)
    merged = read_manifest(out)
    assert [(r["index"], r["status"]) for r in merged] == [(0, "failed"), (1, "ok"), (2, "ok")]
    again = tmp_path / "again.jsonl"
    merge_manifests([out, first], again)
    assert manifests_equivalent(out, again)
    with pytest.raises(SourceError, match="no such manifest"):
        merge_manifests([tmp_path / "missing.jsonl"], out)


def test_a_full_disk_while_ending_the_last_record_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    path = tmp_path / "m.jsonl"
    last = json.dumps(record("a"))
    path.write_text(last, encoding="utf-8")

    def full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(SourceError, match="cannot repair the manifest's last line: No space") as e:
        ManifestWriter(path)
    assert e.value.source == str(path)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == last, "the record is kept as it was"
    assert [r["request_fingerprint"] for r in read_manifest(path)] == ["sha256:a"]
    with ManifestWriter(path) as log:  # space freed: the next run goes on
        log.append(record("b", index=1))
    assert [r["index"] for r in read_manifest(path)] == [0, 1]


def test_a_record_longer_than_a_line_may_be_is_written_without_its_longest_texts(
    tmp_path: Path,
) -> None:
    # A template that writes a prompt of megabytes: its record must stay readable, or no
    # later run could read the manifest (and every image of the batch would be bought again).
    from flux2prompt.batch._manifest import MAX_RECORD_BYTES

    path = tmp_path / "m.jsonl"
    huge = {"scene": "a long scene " * 400_000}
    with ManifestWriter(path) as log:
        log.append(record("a", prompt={"scene": "short"}))
        log.append(record("b", index=1, prompt=huge, file="b.jpg", sha256="sha256:00"))
        log.append(record("c", "failed", index=2, prompt=huge, error={"message": "e" * 5_000_000}))
    lines = path.read_bytes().splitlines()
    assert all(len(line) <= MAX_RECORD_BYTES for line in lines)
    a, b, c = read_manifest(path)
    assert a["prompt"] == {"scene": "short"}
    assert "omitted" not in a
    assert (b["prompt"], b["file"], b["sha256"], b["index"]) == (None, "b.jpg", "sha256:00", 1)
    assert b["omitted"] == {"prompt": len(json.dumps(huge, separators=(",", ":")))}
    assert c["prompt"] is None
    assert c["error"]["message"].startswith("eee")
    assert set(c["omitted"]) == {"prompt", "error"}


def test_a_manifest_saved_with_a_byte_order_mark_still_reads(tmp_path: Path) -> None:
    # An editor that saves "UTF-8 with BOM" puts three bytes before the first record.
    path = tmp_path / "m.jsonl"
    lines = json.dumps(record("a")) + "\n" + json.dumps(record("b", index=1)) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + lines.encode("utf-8"))
    assert [r["index"] for r in read_manifest(path)] == [0, 1]
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record("a")).encode("utf-8"))  # no newline
    assert [r["index"] for r in read_manifest(path)] == [0]
    with ManifestWriter(path) as log:
        log.append(record("b", index=1))
    assert [r["index"] for r in read_manifest(path)] == [0, 1]


def test_merging_a_folder_says_which_file_to_give(tmp_path: Path) -> None:
    (tmp_path / "shard-1").mkdir()
    with pytest.raises(SourceError, match=r"is a folder, not a manifest: give .*shard-1/manifest"):
        merge_manifests([tmp_path / "shard-1"], tmp_path / "all.jsonl")
