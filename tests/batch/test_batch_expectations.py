"""What a user expects of a batch, driven from outside: names that say what the image is, a
manifest whose last whole record counts, a dry run whose exit code says what a run would do,
reference images found before anything is paid, and job settings checked as the run checks
them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flux2prompt.batch import effective_records, read_manifest
from flux2prompt.emulator import Emulator, serve

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene(f"a {color} {product} on seamless paper")
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


def posts(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST")


def write_job(folder: Path, *lines: str, variables: str, template: str = TEMPLATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shots.py").write_text(template, encoding="utf-8")
    text = [
        'name = "shots"',
        'template = "shots.py:shot"',
        'model = "klein-4b"',
        "seeds = 5",
        "rate_limit = 60000",
        "retries = 0",
        *lines,
        "",
        "[parameters]",
        "width = 256",
        "height = 256",
        "",
        variables,
        "",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def matrix(**axes: list[str]) -> str:
    return "[variables.matrix]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in axes.items())


DATASET = '[variables]\ndataset = "rows.csv"'


def batch(
    run_cli: Run, job: Path, out: Path, emu: Emulator, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc",
        "--base-url", emu.base_url, *extra,
    )  # fmt: skip


# -- a manifest's last record without its newline ------------------------------------------------


def test_a_last_record_without_its_newline_is_not_bought_again(
    tmp_path: Path, run_cli: Run
) -> None:
    job = write_job(
        tmp_path / "job", 'output = "{product}-{color}.{ext}"', variables=matrix(
            product=["mug", "vase"], color=["teal", "rust"])
    )  # fmt: skip
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    with serve() as emu:
        first = batch(run_cli, job, out, emu)
        assert first.returncode == 0, first.stdout + first.stderr
        assert posts(emu) == 4
        # The newline of the last record never reached the disk.
        manifest.write_bytes(manifest.read_bytes().removesuffix(b"\n"))
        again = batch(run_cli, job, out, emu)
        assert again.returncode == 0, again.stdout + again.stderr
        assert posts(emu) == 4, "the last image, recorded whole, was bought again"
        assert "0 generated, 4 already done" in again.stdout
        # A batch that grows appends its records each on a line of its own.
        bigger = write_job(
            tmp_path / "job", 'output = "{product}-{color}.{ext}"', variables=matrix(
                product=["mug", "vase"], color=["teal", "rust", "sand"])
        )  # fmt: skip
        manifest.write_bytes(manifest.read_bytes().removesuffix(b"\n"))
        grown = batch(run_cli, bigger, out, emu)
        assert grown.returncode == 0, grown.stdout + grown.stderr
        assert posts(emu) == 6
    lines = manifest.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert all(json.loads(line) for line in lines[:-1])
    view = effective_records(read_manifest(manifest))
    assert len(view) == 6


# -- a variable named like one of the runner's own fields ----------------------------------------


def test_a_column_named_like_a_runner_field_never_labels_a_file(
    tmp_path: Path, run_cli: Run
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "rows.csv").write_text("product,color,seed,index\nmug,teal,999,77\n", "utf-8")
    for field, meaning in (("seed", "the seed the request is sent with"),
                           ("index", "the item's position in the batch")):  # fmt: skip
        job = write_job(folder, f'output = "{{product}}-{{{field}}}.{{ext}}"', variables=DATASET)
        out = tmp_path / f"out-{field}"
        dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
        with serve() as emu:
            run = batch(run_cli, job, out, emu)
            assert posts(emu) == 0
        for result in (dry, run):
            assert result.returncode == 2, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            assert result.stderr.strip().splitlines() == [
                f"error: {job}:7: output pattern '{{product}}-{{{field}}}.{{ext}}': {{{field}}} "
                f"is {meaning}, and a variable is named '{field}' too ({folder / 'rows.csv'}:2): "
                f"rename that column or variable (say '{field}_label', then write "
                f"{{{field}_label}} where the pattern means it)"
            ]
        assert not list(out.glob("*.jpg"))


def test_a_matrix_variable_named_like_a_runner_field_is_refused_at_the_output_line(
    tmp_path: Path, run_cli: Run
) -> None:
    job = write_job(
        tmp_path / "job", 'output = "{job}-{product}.{ext}"',
        variables=matrix(product=["mug"], color=["teal"], job=["spring"]),
    )  # fmt: skip
    result = run_cli("validate", str(job))
    dry = run_cli("batch", str(job), "--out", str(tmp_path / "out"), "--dry-run")
    assert dry.returncode == 2
    assert f"error: {job}:7: output pattern" in dry.stderr
    assert "{job} is the job's name, and a variable is named 'job' too" in dry.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    assert "{job} is the job's name" in result.stdout + result.stderr


def test_a_column_the_pattern_does_not_name_stays_a_variable(tmp_path: Path, run_cli: Run) -> None:
    # A column `seed` is a variable like any other (the template may use it); the record's and
    # the card's seed is the one the image was made with.
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "rows.csv").write_text("product,color,seed\nmug,teal,999\n", "utf-8")
    job = write_job(folder, 'output = "{product}-{color}.{ext}"', variables=DATASET)
    out = tmp_path / "out"
    with serve() as emu:
        result = batch(run_cli, job, out, emu)
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = read_manifest(out / "manifest.jsonl")
    assert (record["seed"], record["variables"]["seed"], record["file"]) == (
        5,
        "999",
        "mug-teal.jpg",
    )
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<dt>seed (variable)</dt><dd>999</dd>" in page
    assert "<dt>seed</dt><dd>5</dd>" in page


# -- a dry run's exit code ----------------------------------------------------------------------


def test_a_dry_run_that_finds_rows_a_run_would_fail_exits_1(tmp_path: Path, run_cli: Run) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    rows = folder / "rows.jsonl"
    rows.write_text(
        '{"product": "mug", "color": "teal"}\n{"product": "vase", "color": "rust", "n": NaN}\n'
        '{"product": "bowl", "color": "sand", "n": Infinity}\n',
        encoding="utf-8",
    )
    job = write_job(
        folder, 'output = "{product}.{ext}"', variables='[variables]\ndataset = "rows.jsonl"'
    )
    out = tmp_path / "out"
    dry = run_cli("batch", str(job), "--out", str(out), "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert f"{rows}:2: column 'n' holds nan" in dry.stdout
    assert f"{rows}:3: column 'n' holds inf" in dry.stdout
    assert dry.stderr.startswith("error: 2 item(s) would fail without a request")
    document = json.loads(
        run_cli("batch", str(job), "--out", str(out), "--dry-run", "--json").stdout
    )
    assert (document["ok"], document["exit_code"], document["unwritable"]) == (False, 1, 2)
    # Fixed, the dry run passes.
    rows.write_text('{"product": "mug", "color": "teal"}\n', encoding="utf-8")
    fixed = run_cli("batch", str(job), "--out", str(out), "--dry-run", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert (json.loads(fixed.stdout)["ok"], json.loads(fixed.stdout)["exit_code"]) == (True, 0)
    assert not out.exists(), "a dry run writes nothing"


# -- reference images found before anything is paid ---------------------------------------------

REFERENCE_TEMPLATE = """\
from flux2prompt import ref, scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene(f"a {color} {product} like {ref('p')}").reference("p", f"refs/{product}.png")
"""


def _png(path: Path, rgb: tuple[int, int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), rgb).save(path)


def cli_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``flux2-prompt ARGS`` run from ``folder`` (a template's own paths are relative to the
    folder it runs in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env["CLOUDFLARE_API_TOKEN"] = "tok-expectations"
    command = [sys.executable, "-c", "from flux2prompt.cli import main; main()", *args]
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_a_templates_missing_reference_is_named_with_its_row_before_any_request(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "rows.csv").write_text("product,color\nmug,teal\nvase,rust\nmug,sand\n", "utf-8")
    write_job(folder, 'output = "{product}-{color}.{ext}"', variables=DATASET,
              template=REFERENCE_TEMPLATE)  # fmt: skip
    _png(folder / "refs" / "mug.png", (1, 2, 3))
    expected = [
        "error: rows.csv:3: reference image refs/vase.png (images[0]): cannot "
        "read the file: No such file or directory; add the file or correct the row"
    ]
    dry = cli_in(folder, "batch", "job.toml", "--out", "out", "--dry-run")
    assert (dry.returncode, dry.stderr.strip().splitlines()) == (1, expected)
    with serve() as emu:
        args = ("--out", "out", "--no-progress", "--account-id", "acc", "--base-url", emu.base_url)
        run = cli_in(folder, "batch", "job.toml", *args)
        assert (run.returncode, run.stderr.strip().splitlines()) == (1, expected)
        assert posts(emu) == 0, "nothing is sent while a row's reference is missing"
        checked = cli_in(folder, "validate", "job.toml")
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "rows.csv:3: reference image refs/vase.png (images[0]): cannot read" in (
            checked.stdout + checked.stderr
        )
        _png(folder / "refs" / "vase.png", (4, 5, 6))
        fixed = cli_in(folder, "batch", "job.toml", *args)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert posts(emu) == 3


def test_a_reference_deleted_during_a_streamed_run_stops_it_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The survey found every file. A run with more items than it keeps plans them again as a
    # stream; a file deleted meanwhile stops the sending with one line naming the row, and
    # the requests in flight finish and are recorded (nothing paid for is lost).
    from flux2prompt import scene
    from flux2prompt.batch import BatchJob, BatchRunner, _runner, run_batch, template, zipped

    monkeypatch.chdir(tmp_path)
    # More files than the reader keeps in its cache (32), so the stream reads s35 again.
    skus = [f"s{i}" for i in range(40)]
    for number, sku in enumerate(skus):
        _png(tmp_path / "refs" / f"{sku}.png", (number, 9, 9))

    @template
    def restyle(sku: str):
        return scene(f"the product in the reference image, {sku}")

    job = BatchJob(
        name="restyle", template=restyle, source=zipped(sku=skus), output="{sku}.{ext}",
        model="klein-4b", parameters={"width": 256, "height": 256}, images=["refs/{sku}.png"],
        seeds=1, concurrency=2,
    )  # fmt: skip
    monkeypatch.setattr(_runner, "PLAN_BUFFER", 2)
    survey = BatchRunner._survey

    def survey_then_delete(self: BatchRunner, *, keep: bool = False) -> object:
        found = survey(self, keep=keep)
        (tmp_path / "refs" / "s35.png").unlink()
        return found

    monkeypatch.setattr(BatchRunner, "_survey", survey_then_delete)
    with serve() as emu:
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "tok"}
        report = run_batch(job, "out", gallery=False, **options)
        assert report.stopped is not None
        assert report.stopped.startswith("zipped item 35: reference image refs/s35.png")
        assert report.exit_code == 1
        sent = posts(emu)
        records = read_manifest(tmp_path / "out" / "manifest.jsonl")
        assert len(records) == report.generated == sent, "every image paid for is recorded"
        assert sorted(r["index"] for r in records) == list(range(sent))
        monkeypatch.setattr(BatchRunner, "_survey", survey)
        _png(tmp_path / "refs" / "s35.png", (35, 9, 9))
        again = run_batch(job, "out", gallery=False, **options)
        assert (again.exit_code, again.skipped, again.generated) == (0, sent, 40 - sent)
        assert posts(emu) == 40


# -- a full disk before anything is sent ----------------------------------------------------------


def test_a_folder_that_cannot_take_the_lock_s_pid_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from flux2prompt import SourceError, scene
    from flux2prompt.batch import BatchJob, run_batch, template, zipped
    from flux2prompt.batch._lock import FolderLock

    job = BatchJob(
        name="full", template=template(lambda sku: scene(f"product {sku}")),
        source=zipped(sku=["a", "b"]), output="{sku}.{ext}", model="klein-4b",
        parameters={"width": 256, "height": 256}, seeds=1,
    )  # fmt: skip

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with serve() as emu:
        monkeypatch.setattr(os, "pwrite", full)
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "tok"}
        with pytest.raises(SourceError, match=r"cannot write to the output folder \(batch.lock\)"):
            run_batch(job, tmp_path / "out", gallery=False, **options)
        assert posts(emu) == 0
        monkeypatch.undo()
        lock = FolderLock(tmp_path / "out")
        assert lock.try_acquire() is None, "the lock was given back"
        lock.release()
        report = run_batch(job, tmp_path / "out", gallery=False, **options)
        assert (report.generated, posts(emu)) == (2, 2)


# -- a prompt of megabytes ------------------------------------------------------------------------

HUGE_TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def shot(product: str, color: str):
    return scene("a very long scene " * 240_000 + f"{color} {product}")
"""


def test_a_prompt_of_megabytes_leaves_a_manifest_later_runs_can_read(
    tmp_path: Path, run_cli: Run
) -> None:
    job = write_job(
        tmp_path / "job", 'output = "{product}.{ext}"', 'model = "flux-2-dev"',
        variables=matrix(product=["mug"], color=["teal"]), template=HUGE_TEMPLATE,
    )  # fmt: skip
    text = job.read_text(encoding="utf-8").replace('model = "klein-4b"\n', "", 1)
    job.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    # Nothing listens there: each run's request fails at once, and its record holds the prompt.
    args = ("batch", str(job), "--out", str(out), "--no-progress", "--account-id", "acc")
    first = run_cli(*args, "--base-url", "http://127.0.0.1:9")
    again = run_cli(*args, "--base-url", "http://127.0.0.1:9")
    for result in (first, again):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "broken manifest record" not in result.stderr
        assert "Traceback" not in result.stderr
    records = read_manifest(out / "manifest.jsonl")
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all(r["prompt"] is None and "prompt" in r["omitted"] for r in records)


# -- a batch folder inside another's -------------------------------------------------------------


def test_a_run_leaves_the_temporary_files_of_a_batch_folder_inside_its_own(
    tmp_path: Path,
) -> None:
    # `--out out` and `--out out/test`: the outer run's start-up clean-up must not delete the
    # inner run's images in flight (it would crash it, or lose an image paid for).
    from flux2prompt import scene
    from flux2prompt.batch import BatchJob, run_batch, template, zipped
    from flux2prompt.batch._lock import FolderLock

    out = tmp_path / "out"
    inner = out / "test"
    inner.mkdir(parents=True)
    in_flight = inner / ".a.jpg.k2j3.tmp"
    in_flight.write_bytes(b"half an image")
    left = out / "sub" / ".b.jpg.x9x9.tmp"  # the outer run's own, left by a crash
    left.parent.mkdir()
    left.write_bytes(b"half")
    job = BatchJob(
        name="outer", template=template(lambda sku: scene(f"product {sku}")),
        source=zipped(sku=["a"]), output="{sku}.{ext}", model="klein-4b",
        parameters={"width": 256, "height": 256}, seeds=1,
    )  # fmt: skip
    with FolderLock(inner):
        report = run_batch(job, out, emulator=True, gallery=False)
        assert report.generated == 1
        assert in_flight.read_bytes() == b"half an image"
    assert not left.exists()


def test_a_reference_that_is_not_an_image_is_named_where_it_is_written(
    tmp_path: Path, run_cli: Run
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "rows.csv").write_text("product,color\nmug,teal\nvase,rust\n", "utf-8")
    _png(folder / "refs" / "mug.png", (1, 2, 3))
    (folder / "refs" / "vase.png").write_bytes(b"not an image")
    # One image for every item: the job file's line, as the run would never start.
    shared = write_job(folder, 'output = "{product}.{ext}"', 'images = ["refs/vase.png"]',
                       variables=DATASET)  # fmt: skip
    for command in (("batch", str(shared), "--out", str(tmp_path / "o"), "--dry-run"),
                    ("validate", str(shared))):  # fmt: skip
        result = run_cli(*command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: {shared}:8: $.images[0] ('refs/vase.png'): is not an image (JPEG, PNG, "
            "WebP, GIF, or a format Pillow reads)"
        ]
    # Each item its own: the row.
    own = write_job(folder, 'output = "{product}.{ext}"', 'images = ["refs/{product}.png"]',
                    variables=DATASET)  # fmt: skip
    result = run_cli("batch", str(own), "--out", str(tmp_path / "o"), "--dry-run")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {folder / 'rows.csv'}:3: reference image images[0]")
    assert "--image" not in result.stderr


# -- a dataset without an end ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["endless.csv", "endless.jsonl"])
def test_a_dataset_without_newlines_is_refused_not_read_into_memory(
    tmp_path: Path, run_cli: Run, name: str
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / name).symlink_to("/dev/zero")  # a line that never ends
    job = write_job(folder, 'output = "{product}.{ext}"',
                    variables=f'[variables]\ndataset = "{name}"')  # fmt: skip
    result = run_cli("batch", str(job), "--out", str(tmp_path / "out"), "--dry-run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {folder / name}:1: the line is longer than the 16,777,216 characters a dataset "
        "line may have; split the row"
    ]


def test_a_reference_image_without_an_end_is_refused_not_read_into_memory(
    tmp_path: Path, run_cli: Run
) -> None:
    folder = tmp_path / "job"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "mug.png").symlink_to("/dev/zero")
    (folder / "rows.csv").write_text("product,color\nmug,teal\n", "utf-8")
    job = write_job(folder, 'output = "{product}.{ext}"', 'images = ["refs/{product}.png"]',
                    variables=DATASET)  # fmt: skip
    result = run_cli("batch", str(job), "--out", str(tmp_path / "out"), "--dry-run")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        "cannot read: larger than the 67,108,864 bytes a reference image may have; add the "
        "file or correct the row"
    )


# -- a full disk, where no tmpfs can be mounted ---------------------------------------------------


def test_a_manifest_write_that_finds_the_disk_full_stops_the_run_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from flux2prompt import scene
    from flux2prompt.batch import BatchJob, run_batch, template, zipped

    job = BatchJob(
        name="full", template=template(lambda sku: scene(f"product {sku}")),
        source=zipped(sku=[f"s{i}" for i in range(6)]), output="{sku}.{ext}", model="klein-4b",
        parameters={"width": 256, "height": 256}, seeds=1, concurrency=1,
    )  # fmt: skip
    out = tmp_path / "out"
    real_write = os.write
    records = {"left": 2}

    def filling(fd: int, data: bytes | memoryview) -> int:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "manifest.jsonl":
            if records["left"] == 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            records["left"] -= 1
        return real_write(fd, data)

    with serve() as emu:
        options = {"base_url": emu.base_url, "account_id": "acc", "api_token": "tok"}
        monkeypatch.setattr(os, "write", filling)
        report = run_batch(job, out, gallery=False, **options)
        monkeypatch.undo()
        assert report.stopped is not None
        assert "No space left on device" in report.stopped
        assert report.exit_code == 1
        lines = (out / "manifest.jsonl").read_bytes().split(b"\n")
        assert lines[-1] == b""
        assert [json.loads(line)["status"] for line in lines[:-1]] == ["ok", "ok"]
        # Space freed: the rerun finishes the batch, each item recorded once.
        again = run_batch(job, out, gallery=False, **options)
        assert again.exit_code == 0, again.failures
        assert again.skipped == 2
    view = effective_records(read_manifest(out / "manifest.jsonl"))
    assert sorted(r["index"] for r in view.values()) == list(range(6))
