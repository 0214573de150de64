"""``flux2-prompt generate``: output, exit codes, and one clear paragraph per error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux2prompt.cli import app
from flux2prompt.emulator import serve
from flux2prompt.transport import ImageResult, read_provenance

ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "poster.json"
    document = {
        "scene": "a night market poster",
        "text": [{"content": "夜市", "language": "ja"}, {"content": "سوق", "language": "ar"}],
    }
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["generate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_generate_with_the_emulator_writes_the_image(prompt_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "poster.png"
    code, stdout, stderr = run(
        str(prompt_file), "--out", str(out), "--emulator", "--seed", "7", "--width", "512"
    )
    assert code == 0, stderr
    result = ImageResult.from_bytes(out.read_bytes())
    assert (result.format, result.width, result.height) == ("png", 512, 768)
    assert f"wrote {out}" in stdout
    assert "512x768 PNG" in stdout
    assert "seed      7" in stdout
    assert "prompt    sha256:" in stdout
    assert "request   sha256:" in stdout
    assert " s (1 attempt)" in stdout
    assert "Traceback" not in stdout + stderr


def test_generate_reads_the_prompt_from_stdin(prompt_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "stdin.jpg"
    data = prompt_file.read_bytes()
    result = CliRunner().invoke(app, ["generate", "-", "--out", str(out), "--emulator"], input=data)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert ImageResult.from_bytes(out.read_bytes()).format == "jpeg"

    bad = CliRunner().invoke(app, ["generate", "-", "--out", str(out), "--emulator"], input="{")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: <stdin>:1: invalid JSON at column 2")
    invalid = CliRunner().invoke(
        app, ["generate", "-", "--out", str(out), "--emulator"], input='{"scene": 1}'
    )
    assert invalid.exit_code == 1
    assert invalid.stderr == "error: <stdin>: $.scene: expected a string, got integer 1\n"


def test_generate_with_reference_images_and_klein(
    prompt_file: Path, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(make_image(1024, 512))
    out = tmp_path / "klein.jpg"
    code, stdout, stderr = run(
        str(prompt_file), "-o", str(out), "--emulator", "--model", "klein-4b", "--image", str(ref)
    )
    assert code == 0, stderr
    assert "@cf/black-forest-labs/flux-2-klein-4b" in stdout
    assert "seed      not set" in stdout
    assert out.exists()


def test_generate_against_a_base_url_with_credentials_from_the_environment(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cli-token")
    with serve(seed=0, token="cli-token") as emu:
        out = tmp_path / "a.jpg"
        code, stdout, stderr = run(
            str(prompt_file), "--out", str(out), "--account-id", ACCOUNT, "--base-url", emu.base_url
        )
        assert code == 0, stderr
        assert emu.requests[0].path.startswith(f"/client/v4/accounts/{ACCOUNT}/ai/run/")
    assert "cost      ~$0.0410" in stdout
    assert "cf-ray" in stdout


def test_the_gateway_option_with_the_emulator(prompt_file: Path, tmp_path: Path) -> None:
    code, _, stderr = run(
        str(prompt_file), "--out", str(tmp_path / "g.jpg"), "--emulator", "--gateway", "gw"
    )
    assert code == 0, stderr


def test_a_wrong_extension_keeps_the_image_under_the_right_one(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "t")
    with serve(seed=0, image_format="jpeg") as emu:
        code, _stdout, stderr = run(
            str(prompt_file), "--out", str(tmp_path / "x.png"), "--base-url", emu.base_url
        )
    assert code == 0, stderr
    assert (tmp_path / "x.jpg").exists()
    assert not (tmp_path / "x.png").exists()
    assert "wrote x.jpg instead" in stderr


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--model", "klein-4b", "--steps", "20"], "does not take steps"),
        (["--width", "5000"], "width must be 256-1920"),
        (["--model", "klien-4b"], "unknown model 'klien-4b'"),
        (["--image", "/nonexistent/ref.png"], "cannot read the file"),
    ],
)
def test_parameter_errors_exit_2_before_sending(
    prompt_file: Path, tmp_path: Path, extra: list[str], fragment: str
) -> None:
    code, _stdout, stderr = run(
        str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--emulator", *extra
    )
    assert code == 2
    assert fragment in stderr
    assert stderr.startswith("error: ")
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.jpg").exists()


def test_usage_errors_exit_2(prompt_file: Path, tmp_path: Path) -> None:
    code, _, stderr = run(str(prompt_file), "--out", str(tmp_path / "x.gif"), "--emulator")
    assert code == 2
    assert ".jpg, .jpeg, .png or .webp" in stderr
    code, _, _ = run(str(prompt_file))  # no --out
    assert code == 2
    code, _, _ = run(str(prompt_file), "--out", "x.jpg", "--width", "wide")
    assert code == 2
    code, _, stderr = run(str(tmp_path / "missing.json"), "--out", "x.jpg", "--emulator")
    assert code == 2
    assert "no such file" in stderr


def test_missing_credentials_name_the_variables(prompt_file: Path, tmp_path: Path) -> None:
    code, _, stderr = run(str(prompt_file), "--out", str(tmp_path / "x.jpg"))
    assert code == 2
    assert "CLOUDFLARE_ACCOUNT_ID" in stderr
    assert "CLOUDFLARE_API_TOKEN" in stderr


def test_api_errors_are_one_paragraph_with_the_code_and_what_to_do(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "t")
    with serve(seed=0, daily_quota=0) as emu:
        code, stdout, stderr = run(
            str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--base-url", emu.base_url
        )
    assert code == 1
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert "HTTP 429, code 3036" in lines[0]
    assert "00:00 UTC" in lines[0]
    with serve(seed=0, html_502_ratio=1.0) as emu:
        code, _, stderr = run(
            str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--base-url", emu.base_url
        )
    assert code == 1
    assert "HTTP 502" in stderr
    assert "502 Bad Gateway" in stderr
    assert "gave up after 3 attempts" in stderr
    assert "Traceback" not in stderr


def test_unknown_models_are_refused_on_one_line(prompt_file: Path, tmp_path: Path) -> None:
    code, _, stderr = run(
        str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--emulator", "--model", "@cf/x/y"
    )
    assert code == 2
    assert stderr.startswith("error: unknown model '@cf/x/y': Known models: ")
    assert "@cf/black-forest-labs/flux-2-dev" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_prompt_files_model_and_parameters_are_defaults(tmp_path: Path) -> None:
    from flux2prompt import load_prompt_file
    from flux2prompt.transport import build_request

    path = tmp_path / "fox.prompt.toml"
    path.write_text(
        'name = "fox"\nmodel = "klein-4b"\n[parameters]\nwidth = 512\nseed = 42\n'
        '[prompt]\nscene = "a red fox in fresh snow"\n',
        encoding="utf-8",
    )
    out = tmp_path / "fox.jpg"
    code, stdout, stderr = run(str(path), "--out", str(out), "--emulator", "--height", "256")
    assert code == 0, stderr
    assert "@cf/black-forest-labs/flux-2-klein-4b" in stdout
    assert "512x256 JPEG" in stdout
    assert "seed      42" in stdout
    prompt_file = load_prompt_file(path)
    expected = build_request(prompt_file.prompt, model="klein-4b", width=512, height=256, seed=42)
    assert f"request   {expected.fingerprint}" in stdout
    code, stdout, _ = run(str(path), "--out", str(out), "--emulator", "--seed", "1")
    assert "seed      1" in stdout


def test_an_unwritable_out_is_refused_before_sending(prompt_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, stdout, stderr = run(str(prompt_file), "--out", str(blocker / "x.jpg"), "--emulator")
    assert code == 2
    assert stderr.startswith("error: --out ")
    assert "cannot create the folder" in stderr
    assert "Traceback" not in stdout + stderr
    folder = tmp_path / "taken.jpg"
    folder.mkdir()
    code, _, stderr = run(str(prompt_file), "--out", str(folder), "--emulator")
    assert code == 2
    assert "is a folder" in stderr


def test_a_failed_write_after_generating_is_one_line(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(self: ImageResult, path: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ImageResult, "save", full_disk)
    code, _, stderr = run(str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--emulator")
    assert code == 1
    assert (
        stderr.strip()
        == f"error: --out {tmp_path / 'x.jpg'}: cannot write the image: No space left on device"
    )


def test_a_proxied_model_with_upsampling_reports_the_prompt_it_ran(
    prompt_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "flex.jpg"
    args = ("--out", str(out), "--emulator", "--model", "flex", "--width", "64", "--height", "64")
    code, stdout, stderr = run(str(prompt_file), *args, "--prompt-upsampling")
    assert code == 0, stderr
    assert "black-forest-labs/flux-2-flex" in stdout
    assert "  ran       " in stdout
    assert "Rendered in rich detail" in stdout
    assert stderr.startswith("warning: F2R101 prompt_upsampling")
    assert ImageResult.from_bytes(out.read_bytes()).width == 64
    code, stdout, stderr = run(str(prompt_file), *args)
    assert code == 0, stderr
    assert "  ran " not in stdout
    assert "F2R101" not in stderr


def test_an_unknown_model_is_sent_with_allow_unknown_model_and_a_route(
    prompt_file: Path, tmp_path: Path
) -> None:
    code, _, stderr = run(
        str(prompt_file),
        *("--out", str(tmp_path / "x.jpg"), "--emulator", "--model", "@cf/x/y"),
        *("--allow-unknown-model", "--route", "multipart"),
    )
    assert code == 1
    assert "warning: model '@cf/x/y' is not in flux2prompt's catalogue" in stderr
    assert "HTTP 404, code 3042" in stderr or "code 5007" in stderr


# -- --provider bfl: Black Forest Labs' API, through the emulator's BFL mode -----------------


def test_generate_on_bfl_with_the_emulator_writes_the_image(
    prompt_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bfl.png"
    code, stdout, stderr = run(
        str(prompt_file), "--out", str(out), "--emulator", "--provider", "bfl", "--seed", "7"
    )
    assert code == 0, stderr
    result = ImageResult.from_bytes(out.read_bytes())
    assert result.format == "png"  # the format of --out, asked of the endpoint
    assert "model     flux-2-pro" in stdout
    assert "seed      7" in stdout
    assert "form      json (auto for pro)" in stdout
    assert "task      " in stdout
    assert "cf-ray" not in stdout


def test_generate_on_bfl_sends_the_key_from_the_environment_and_prices_the_image(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    out = tmp_path / "klein.jpg"
    with serve(seed=0) as emu:
        code, stdout, stderr = run(
            str(prompt_file), "--out", str(out), "--provider", "bfl", "--model", "klein-4b",
            "--base-url", emu.bfl_base_url, "--width", "1024", "--height", "1024", "--json",
        )  # fmt: skip
        submits = [r for r in emu.requests if r.method == "POST"]
    assert code == 0, stderr
    [submit] = submits
    assert submit.path == "/bfl/v1/flux-2-klein-4b"
    assert submit.headers["x-key"] == "bfl-cli-key-0123456789"
    assert submit.json["width"] == 1024
    assert submit.json["output_format"] == "jpeg"
    document = json.loads(stdout)
    assert document["model"] == "flux-2-klein-4b"
    assert document["prompt_format"] == "prose"  # klein reads prose
    assert document["estimated_cost"] == pytest.approx(0.014)
    assert "bfl-cli-key" not in stdout + stderr
    record = read_provenance(out.read_bytes())  # the image says which request made it
    assert record is not None
    assert record.request_fingerprint == document["request_fingerprint"]
    assert record.model == "flux-2-klein-4b"


def test_generate_on_bfl_says_when_there_is_no_published_price(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    cafe = Path(__file__).resolve().parents[2] / "examples" / "cafe_layout.py"
    out = tmp_path / "cafe.jpg"
    with serve(seed=0) as emu:
        code, stdout, stderr = run(
            f"{cafe}:prompt", "--target", "flux3", "--out", str(out), "--provider", "bfl",
            "--model", "flux-3-image", "--base-url", emu.bfl_base_url,
        )  # fmt: skip
    assert code == 0, stderr
    assert "model     flux-3-image" in stdout
    assert "form      layout (auto for flux3)" in stdout
    assert "cost      no published price" in stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--provider", "bfl", "--gateway", "g"], "--gateway is a Workers AI option"),
        (["--provider", "bfl", "--account-id", ACCOUNT], "--account-id is a Workers AI option"),
        (["--provider", "bfl", "--route", "json"], "--route is a Workers AI option"),
        (["--region", "eu"], "--region is for --provider bfl"),
        (["--provider", "replicate"], "--provider 'replicate': use workers-ai or bfl"),
        (["--provider", "bfl", "--region", "mars"], "region must be one of"),
        (["--provider", "bfl", "--model", "@cf/black-forest-labs/flux-2-dev"], "flux-2-dev"),
    ],
)
def test_generate_on_bfl_refuses_what_it_cannot_send_on_one_line(
    prompt_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9")  # never reached
    code, stdout, stderr = run(str(prompt_file), "--out", str(tmp_path / "x.jpg"), *options)
    assert code == 2, stdout + stderr
    assert stderr.startswith("error: ")
    assert message in stderr
    assert stderr.count("\n") == 1
    assert not (tmp_path / "x.jpg").exists()


def test_generate_on_bfl_without_a_key_says_where_to_set_it(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    code, _, stderr = run(str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--provider", "bfl")
    assert code == 2
    assert "BFL_API_KEY" in stderr


def test_generate_on_bfl_with_the_emulator_answers_a_webp_out_as_bfl_does(
    prompt_file: Path, tmp_path: Path
) -> None:
    # FLUX.2 endpoints answer in JPEG or PNG only: a .webp --out gets BFL's default, JPEG, and
    # the name is corrected, with the emulator as against Black Forest Labs.
    out = tmp_path / "fox.webp"
    code, stdout, stderr = run(
        str(prompt_file), "--out", str(out), "--emulator", "--provider", "bfl", "--json"
    )
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["format"] == "jpeg"
    assert document["path"] == str(tmp_path / "fox.jpg")
    assert document["note"] == "the service returned JPEG, not .webp; wrote fox.jpg instead"
    assert not out.exists()
    assert ImageResult.from_bytes((tmp_path / "fox.jpg").read_bytes()).format == "jpeg"
    assert "note: the service returned JPEG" in stderr


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("Content Moderated", "ended in 'Content Moderated'. The generated image was flagged"),
        ("Request Moderated", "ended in 'Request Moderated'. The input was flagged"),
        ("Error", "ended in 'Error'. Generate again"),
    ],
)
def test_generate_on_bfl_a_task_that_ends_badly_is_one_line_and_exit_1(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, said: str
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    out = tmp_path / "flagged.jpg"
    with serve(seed=0, bfl_task_ms=0, bfl_status_ratios={status: 1.0}) as emu:
        code, stdout, stderr = run(
            str(prompt_file), "--out", str(out), "--provider", "bfl", "--json",
            "--base-url", emu.bfl_base_url,
        )  # fmt: skip
        [task] = emu.bfl_tasks
    assert code == 1, stdout + stderr
    assert stdout == ""  # a failure prints no document (docs/cli.md)
    assert stderr.startswith("error: Black Forest Labs task ")
    assert task.id in stderr
    assert said in stderr
    assert stderr.count("\n") == 1
    assert "bfl-cli-key" not in stdout + stderr
    assert not out.exists()


def test_generate_on_bfl_a_result_url_that_expired_is_paid_not_resubmitted_and_exit_1(
    prompt_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    out = tmp_path / "late.png"
    with serve(seed=0, bfl_task_ms=60_000) as emu:

        def expire_once_submitted() -> None:
            # The task is left running until it is submitted; then it ends with its URL expired.
            while not emu.bfl_tasks:
                threading.Event().wait(0.02)
            emu.finish_bfl_tasks(result_ttl=0)

        finisher = threading.Thread(target=expire_once_submitted, daemon=True)
        finisher.start()
        code, stdout, stderr = run(
            str(prompt_file), "--out", str(out), "--provider", "bfl", "--base-url", emu.bfl_base_url
        )
        finisher.join(timeout=10)
        submits = [r for r in emu.requests if r.method == "POST"]
    assert code == 1, stdout + stderr
    assert len(submits) == 1  # paid once, never resubmitted
    assert "result URL has expired" in stderr
    assert "was not resubmitted" in stderr
    assert stderr.count("\n") == 1
    assert "bfl-cli-key" not in stdout + stderr
    assert not out.exists()


def test_generate_on_bfl_names_the_prompt_file_whose_model_bfl_does_not_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9")  # never reached
    hero = tmp_path / "hero.prompt.toml"
    hero.write_text(
        'name = "hero"\nmodel = "@cf/black-forest-labs/flux-2-dev"\n'
        '[prompt]\nscene = "a fox in snow"\n',
        encoding="utf-8",
    )
    code, _, stderr = run(str(hero), "--out", str(tmp_path / "x.jpg"), "--provider", "bfl")
    assert code == 2
    assert stderr.startswith(f"error: {hero}: the prompt file's model: unknown Black Forest Labs")
    assert "'@cf/black-forest-labs/flux-2-dev'" in stderr
    assert stderr.rstrip().endswith("or pass --model to choose the endpoint")
    assert stderr.count("\n") == 1
    # --model wins over the file's model, as with Workers AI.
    with serve(seed=0, bfl_task_ms=0) as emu:
        code, _, stderr = run(
            str(hero), "--out", str(tmp_path / "x.jpg"), "--provider", "bfl",
            "--model", "klein-4b", "--base-url", emu.bfl_base_url,
        )  # fmt: skip
    assert code == 0, stderr


@pytest.mark.parametrize("provider", ["workers-ai", "bfl"])
def test_generate_names_the_prompt_file_whose_parameters_the_model_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    monkeypatch.setenv("BFL_API_KEY", "bfl-cli-key-0123456789")
    hero = tmp_path / "hero.prompt.toml"
    hero.write_text(
        'name = "hero"\n[parameters]\nsteps = 20\nwidth = 512\n[prompt]\nscene = "a fox"\n',
        encoding="utf-8",
    )
    model = "klein-4b" if provider == "workers-ai" else "pro"  # neither takes steps
    out = str(tmp_path / "x.png")
    common = ["--out", out, "--emulator", "--provider", provider, "--model", model]
    code, _, stderr = run(str(hero), *common)
    assert code == 2
    assert stderr.startswith(f"error: {hero}: [parameters] steps: ")
    assert "does not take" in stderr
    assert stderr.count("\n") == 1
    # An option's own value is the option's problem, not the file's.
    code, _, stderr = run(str(hero), *common, "--steps", "30")
    assert code == 2
    assert stderr.startswith("error: flux-2-")
    assert str(hero) not in stderr


def test_generate_on_bfl_sends_a_layout_for_flux3_to_flux3_image_by_default(
    tmp_path: Path,
) -> None:
    cafe = Path(__file__).resolve().parents[2] / "examples" / "cafe_layout.py"
    out = tmp_path / "cafe.jpg"
    code, stdout, stderr = run(
        f"{cafe}:prompt", "--target", "flux3", "--out", str(out), "--provider", "bfl", "--emulator"
    )
    assert code == 0, stderr
    assert "model     flux-3-image" in stdout
    assert "form      layout (auto for flux3)" in stdout


@pytest.mark.parametrize(
    "options",
    [
        ["--base-url", "http://127.0.0.1:9"],
        ["--account-id", ACCOUNT],
        ["--provider", "bfl", "--region", "eu"],
    ],
)
def test_options_the_emulator_replaces_are_refused_with_it(
    prompt_file: Path, tmp_path: Path, options: list[str]
) -> None:
    code, _, stderr = run(
        str(prompt_file), "--out", str(tmp_path / "x.jpg"), "--emulator", *options
    )
    assert code == 2
    assert f"{options[-2]} does not apply with --emulator" in stderr
    assert stderr.count("\n") == 1
