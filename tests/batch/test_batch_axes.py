"""Shards that share the account's rate limit, per-item reference images and random axes, end
to end: the installed ``flux2-prompt batch`` against the emulator, in subprocesses."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt.batch import comparable_records, manifests_equivalent, read_manifest
from flux2prompt.emulator import serve

pytest.importorskip("PIL")

TOKEN = "tok-axes-3f1c9e0b-never-print-me"
ACCOUNT = "0123456789abcdef0123456789abcdef"
COMMAND = Path(sys.executable).with_name("flux2-prompt")

TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def mug(sku: str, color: str, angle: str = "front"):
    return scene(f"a {color} ceramic mug {sku} seen from the {angle}").mood("calm")
"""


def flux2_prompt(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env.update(CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_ACCOUNT_ID=ACCOUNT, NO_COLOR="1")
    return subprocess.run(
        [str(COMMAND), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def png(rgb: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def write_job(folder: Path, body: str, *, name: str = "job.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mugs.py").write_text(TEMPLATE, encoding="utf-8")
    head = (
        'name = "mugs"\ntemplate = "mugs.py:mug"\nmodel = "klein-4b"\n'
        "concurrency = 4\nrate_limit = 6000\n"
    )
    path = folder / name
    path.write_text(head + body + "\n[parameters]\nwidth = 256\nheight = 256\n", encoding="utf-8")
    return path


def products(folder: Path, skus: dict[str, str], *, column: bool = False) -> None:
    lines = ["sku,color,reference" if column else "sku,color"]
    for sku, color in skus.items():
        lines.append(f"{sku},{color},refs/{sku}.png" if column else f"{sku},{color}")
    (folder / "products.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


SKUS = {"M-1": "teal", "M-2": "rust", "V-7": "ivory"}
COLOURS = {"M-1": (0, 128, 128), "M-2": (183, 65, 14), "V-7": (255, 255, 240)}


def refs(folder: Path) -> dict[str, bytes]:
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    made = {}
    for sku, rgb in COLOURS.items():
        made[sku] = png(rgb)
        (folder / "refs" / f"{sku}.png").write_bytes(made[sku])
    return made


# -- per-item reference images ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "column"),
    [('images = ["refs/{sku}.png"]', False), ('images = ["{reference}"]', True)],
    ids=["pattern", "dataset-column"],
)
def test_each_item_sends_its_own_reference_image(tmp_path: Path, images: str, column: bool) -> None:
    made = refs(tmp_path / "job")
    products(tmp_path / "job", SKUS, column=column)
    job = write_job(
        tmp_path / "job",
        f'output = "{{sku}}.{{ext}}"\n{images}\n[variables]\ndataset = "products.csv"\n',
    )
    out = tmp_path / "out"
    with serve() as emu:
        done = flux2_prompt("batch", job, "--out", out, "--base-url", emu.base_url, "--no-progress")
        assert done.returncode == 0, done.stdout + done.stderr
        sent = {}
        for request in emu.requests:
            prompt = request.fields["prompt"]  # prose on klein, the job's model
            sku = next(s for s in SKUS if s in prompt)
            sent[sku] = request.files["input_image_0"].data
    assert sent == made  # the emulator received each item's own image, and only it
    records = read_manifest(out / "manifest.jsonl")
    assert len(records) == 3
    for record in records:
        sku = record["variables"]["sku"]
        [entry] = record["images"]
        assert Path(entry["file"]).resolve() == (tmp_path / "job" / "refs" / f"{sku}.png")
        assert entry["sha256"] == "sha256:" + hashlib.sha256(made[sku]).hexdigest()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count('class="input"') == 3
    for sku in SKUS:
        assert f"{sku}.png" in page
    thumbs = [line.split('"')[0] for line in page.split('src="')[1:]]
    assert all((out / thumb).is_file() for thumb in thumbs)


def test_a_missing_reference_fails_at_planning_naming_path_and_line(tmp_path: Path) -> None:
    refs(tmp_path / "job")
    products(tmp_path / "job", {**SKUS, "X-9": "sand"})
    job = write_job(
        tmp_path / "job",
        'output = "{sku}.{ext}"\nimages = ["refs/{sku}.png"]\n[variables]\n'
        'dataset = "products.csv"\n',
    )
    out = tmp_path / "out"
    dry = flux2_prompt("batch", job, "--out", out, "--dry-run")
    assert dry.returncode == 1
    line = dry.stderr.strip().splitlines()[-1]
    assert "products.csv:5" in line
    assert "refs/X-9.png" in line
    assert "no such file" in line
    assert "Traceback" not in dry.stderr
    with serve() as emu:
        run = flux2_prompt("batch", job, "--out", out, "--base-url", emu.base_url, "--no-progress")
        assert emu.requests == []  # nothing sent: the batch stops before any request
    assert run.returncode == 1
    assert "products.csv:5" in run.stderr
    assert "refs/X-9.png" in run.stderr


def test_an_unknown_field_in_images_is_a_job_error_at_its_line(tmp_path: Path) -> None:
    job = write_job(
        tmp_path / "job",
        'output = "{sku}.{ext}"\nimages = ["refs/{skuu}.png"]\n[variables.matrix]\n'
        'sku = ["M-1"]\ncolor = ["teal"]\n',
    )
    done = flux2_prompt("batch", job, "--out", tmp_path / "out", "--dry-run")
    assert done.returncode == 2
    assert "job.toml:7:" in done.stderr
    assert "{skuu}" in done.stderr
    assert "sku, color" in done.stderr


# -- shards share the rate limit ---------------------------------------------------------------


def test_a_shard_takes_its_share_of_the_rate_limit_and_says_so(tmp_path: Path) -> None:
    job = write_job(
        tmp_path / "job",
        'output = "{sku}-{color}.{ext}"\n[variables.matrix]\nsku = ["M-1", "M-2"]\n'
        'color = ["teal", "rust"]\n',
    )
    shared = (
        "pace      3000 requests/min: the job's 6000 shared by 2 shards (--rate-limit overrides)"
    )
    run = flux2_prompt("batch", job, "--out", tmp_path / "s1", "--shard", "1/2", "--emulator")
    assert run.returncode == 0, run.stderr
    assert f"  {shared}" in run.stdout.splitlines()
    dry = flux2_prompt("batch", job, "--out", tmp_path / "s2", "--shard", "2/2", "--dry-run")
    assert shared in dry.stdout.splitlines()
    own = flux2_prompt(
        "batch", job, "--out", tmp_path / "s2", "--shard", "2/2", "--emulator", "--rate-limit", "90"
    )
    assert own.returncode == 0
    assert "pace" not in own.stdout
    whole = flux2_prompt("batch", job, "--out", tmp_path / "all", "--emulator")
    assert whole.returncode == 0
    assert "pace" not in whole.stdout


# -- random axes -------------------------------------------------------------------------------

ANGLES = ["front", "three-quarter", "top", "back"]
COLORS = ["teal", "rust", "ivory"]
RANDOM_JOB = (
    'output = "{sku}-{n}.{ext}"\nseeds = { derive = 9 }\n'
    "[variables.matrix]\n"
    'sku = ["M-1", "M-2", "V-7", "V-8"]\n'
    "n = [0, 1, 2]\n"
    "[variables.random]\n"
    "seed = 2024\n"
    f"angle = {json.dumps(ANGLES)}\n"
    f"color = {json.dumps(COLORS)}\n"
)


def expected_draw(seed: int, axis: str, base: dict[str, object], choices: list[str]) -> str:
    """The documented formula, written out independently of the library."""
    canonical = json.dumps(base, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{seed}:{axis}:{canonical}".encode()).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


def test_random_axes_are_recorded_and_shards_draw_what_the_whole_run_draws(
    tmp_path: Path,
) -> None:
    job = write_job(tmp_path / "job", RANDOM_JOB)
    for out, shard in (("all", None), ("s1", "1/2"), ("s2", "2/2")):
        args = ["batch", job, "--out", tmp_path / out, "--emulator", "--no-progress"]
        done = flux2_prompt(*args, *(["--shard", shard] if shard else []))
        assert done.returncode == 0, done.stdout + done.stderr
    whole = read_manifest(tmp_path / "all" / "manifest.jsonl")
    assert len(whole) == 12
    for record in whole:
        variables = record["variables"]
        base = {"sku": variables["sku"], "n": variables["n"]}
        assert variables["angle"] == expected_draw(2024, "angle", base, ANGLES)
        assert variables["color"] == expected_draw(2024, "color", base, COLORS)
        assert f"a {variables['color']} ceramic mug" in record["prompt"]["scene"]
        assert record["prompt"]["scene"].endswith(f"seen from the {variables['angle']}")
    drawn = {(r["variables"]["angle"], r["variables"]["color"]) for r in whole}
    assert len(drawn) > 1  # the draw varies over the items
    parts = [read_manifest(tmp_path / s / "manifest.jsonl") for s in ("s1", "s2")]
    assert parts[0]
    assert parts[1]

    def items(records: list[dict[str, object]]) -> set[str]:
        return {
            json.dumps([r["index"], r["variables"], r["request_fingerprint"]], sort_keys=True)
            for r in records
        }

    assert items(parts[0]).isdisjoint(items(parts[1]))
    assert items(parts[0]) | items(parts[1]) == items(whole)
    merged = tmp_path / "merged" / "manifest.jsonl"
    merge = flux2_prompt(
        "manifest", "merge", tmp_path / "s1/manifest.jsonl", tmp_path / "s2/manifest.jsonl",
        "--out", merged,
    )  # fmt: skip
    assert merge.returncode == 0, merge.stderr
    assert manifests_equivalent(merged, tmp_path / "all" / "manifest.jsonl")
    assert len(comparable_records(read_manifest(merged))) == 12


def test_records_name_each_input_local_file_and_url_in_the_order_sent(tmp_path: Path) -> None:
    """A proxied model takes URLs too: a per-item URL is sent as given and recorded by it."""
    from flux2prompt import scene
    from flux2prompt.batch import BatchJob, plan_items, template, zipped
    from flux2prompt.batch._records import input_records

    made = refs(tmp_path)
    raw = png((1, 2, 3))
    job = BatchJob(
        name="mixed",
        template=template(lambda sku: scene(f"a mug {sku}")),
        source=zipped(sku=["M-1", "V-7"]),
        output="{sku}.{ext}",
        model="flex",
        images=[f"{tmp_path}/refs/{{sku}}.png", "https://cdn.example.com/{sku}.webp", raw],
    )
    items = list(plan_items(job))
    assert [item.request.references[1] for item in items] == [
        "https://cdn.example.com/M-1.webp",
        "https://cdn.example.com/V-7.webp",
    ]
    first = input_records(items[0])
    assert first == [
        {
            "file": f"{tmp_path}/refs/M-1.png",
            "sha256": "sha256:" + hashlib.sha256(made["M-1"]).hexdigest(),
        },
        {"file": "https://cdn.example.com/M-1.webp", "sha256": None},
        {"file": None, "sha256": "sha256:" + hashlib.sha256(raw).hexdigest()},
    ]
    assert items[0].key != items[1].key  # each item's own images are in its fingerprint
