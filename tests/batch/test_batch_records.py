"""Manifest records: the on-disk format is the one earlier runners wrote, and their manifests
resume; a runner is a configuration, each run keeps its state to itself."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from flux2prompt import scene
from flux2prompt.batch import BatchJob, BatchRunner, read_manifest, run_batch, template, zipped
from flux2prompt.emulator import serve

DATA = Path(__file__).parent / "data"
# Written on 2026-12-01 by the runner before records were typed: two failures (one of them a copy
# whose original failed), then the three images (one a copy), with their image hashes and sizes
# left as placeholders that the test fills in.
OLD_MANIFEST = DATA / "manifest-2026-12.jsonl.txt"


@template
def mug(color: str):
    return scene(f"a {color} ceramic mug").mood("calm")


def mugs(retries: int = 0, prompt_format: str = "auto") -> BatchJob:
    return BatchJob(
        name="mugs",
        template=mug,
        source=zipped(color=["teal", "teal", "rust"], sku=["A", "B", "C"]),
        output="{sku}.{ext}",
        model="klein-4b",
        seeds=7,
        parameters={"width": 256, "height": 256},
        retries=retries,
        prompt_format=prompt_format,
    )


IMAGES = {"A": b"teal mug", "B": b"teal mug", "C": b"rust mug"}


def _old_manifest() -> str:
    """The old manifest, its placeholders filled in with the hashes and sizes of IMAGES."""
    text = OLD_MANIFEST.read_text(encoding="utf-8")
    for name, data in IMAGES.items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        text = text.replace("{sha256_" + name + "}", digest)
        text = text.replace("{bytes_" + name + "}", str(len(data)))
    return text


def _old_manifest_in(out: Path) -> None:
    for name, data in IMAGES.items():
        (out / f"{name}.jpg").write_bytes(data)
    (out / "manifest.jsonl").write_text(_old_manifest(), encoding="utf-8")


def test_a_manifest_in_the_old_format_resumes_without_a_request(tmp_path: Path) -> None:
    _old_manifest_in(tmp_path)
    assert BatchRunner(mugs(), tmp_path).dry_run().finished == 3
    with serve() as emu:
        report = run_batch(
            mugs(), tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok"
        )
        assert emu.requests == []
    assert (report.skipped, report.generated, report.copied, report.failed) == (3, 0, 0, 0)


def test_an_old_manifest_image_under_an_old_name_is_copied_from_it(tmp_path: Path) -> None:
    _old_manifest_in(tmp_path)
    (tmp_path / "B.jpg").unlink()  # B is a copy of A: its image comes from A's file
    with serve() as emu:
        report = run_batch(
            mugs(), tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok"
        )
        assert emu.requests == []
    assert (report.skipped, report.copied) == (2, 1)
    assert (tmp_path / "B.jpg").read_bytes() == b"teal mug"


def test_records_are_written_with_the_keys_in_the_old_order(tmp_path: Path) -> None:
    # The old runner sent JSON to klein; sending JSON now writes the very same records.
    old = [json.loads(line) for line in _old_manifest().splitlines()]
    job = mugs(prompt_format="json")
    with serve(error_ratios={500: 1.0}) as emu:
        run_batch(job, tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok")
    with serve() as emu:
        run_batch(job, tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok")
    new = read_manifest(tmp_path / "manifest.jsonl")
    assert len(new) == len(old) == 6

    def kind(record: dict[str, object]) -> tuple[object, bool, object]:
        return (record["status"], record["copied_from"] is None, record["index"])

    old_by_kind = {kind(r): list(r) for r in old}
    for record in new:
        assert list(record) == old_by_kind[kind(record)], kind(record)
    ignored = {"started_at", "finished_at", "elapsed", "request_id", "sha256", "bytes"}

    def stable(record: dict[str, object]) -> dict[str, object]:
        error = record.get("error")
        kept = {k: v for k, v in record.items() if k not in ignored}
        if isinstance(error, dict):
            kept["error"] = {k: v for k, v in error.items() if k != "message"}
        return kept

    assert sorted(map(stable, new), key=str) == sorted(map(stable, old), key=str)


def test_a_runner_runs_twice_and_a_dry_run_leaves_nothing_behind(tmp_path: Path) -> None:
    runner_dir = tmp_path / "out"
    runner = BatchRunner(mugs(), runner_dir, gallery=False)
    before = dict(vars(runner))
    dry = runner.dry_run()
    assert vars(runner) == before
    assert not runner_dir.exists()  # a dry run writes nothing either
    assert (dry.total, dry.to_generate, dry.to_copy) == (3, 2, 1)
    with serve() as emu:
        runner.connect(base_url=emu.base_url, account_id="acc", api_token="tok")
        connected = dict(vars(runner))
        assert set(connected) == set(before)
        first = asyncio.run(runner.run())
        assert vars(runner) == connected
        second = asyncio.run(runner.run())
        assert vars(runner) == connected
        assert len([r for r in emu.requests if r.method == "POST"]) == 2
    assert (first.generated, first.copied, first.skipped) == (2, 1, 0)
    assert (second.generated, second.copied, second.skipped) == (0, 0, 3)


def test_a_proxied_job_records_the_prompt_the_host_ran(tmp_path: Path) -> None:
    job = BatchJob(
        name="cranes",
        template=mug,
        source=zipped(color=["teal"], sku=["A"]),
        output="{sku}.{ext}",
        model="flex",
        seeds=3,
        parameters={"width": 64, "height": 64},
    )
    with serve() as emu:
        report = run_batch(job, tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok")
        assert [r.method for r in emu.requests] == ["POST", "GET"]
    assert report.generated == 1
    (record,) = read_manifest(tmp_path / "manifest.jsonl")
    assert record["model"] == "black-forest-labs/flux-2-flex"
    assert record["parameters"]["prompt_upsampling"] is False
    # Sent as written, run as written: the manifest keeps the host's word for it, last.
    assert record["effective_prompt"] == json.dumps(record["prompt"], separators=(",", ":"))
    assert list(record)[-1] == "effective_prompt"


def test_a_record_without_an_effective_prompt_has_no_such_key(tmp_path: Path) -> None:
    with serve() as emu:
        run_batch(mugs(), tmp_path, base_url=emu.base_url, account_id="acc", api_token="tok")
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert records
    assert all("effective_prompt" not in record for record in records)
