"""--target flux3 on compile and generate: the caption and its boxes, from a layout builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flux2prompt._layout import read_layout_prompt
from flux2prompt.cli import app
from flux2prompt.emulator import serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CAFE = f"{EXAMPLES / 'cafe_layout.py'}:prompt"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_compile_for_flux3_prints_the_caption_and_its_table() -> None:
    result = invoke("compile", "--target", "flux3", CAFE)
    assert result.exit_code == 0, result.output
    read = read_layout_prompt(result.output.rstrip("\n"))
    assert read is not None
    caption, rows = read
    assert [row[0] for row in rows] == ["barista_1", "counter_1", "sign_1"]
    assert all(f"<{row[0]}>" in caption for row in rows)
    # The default target is still FLUX.2's JSON, with the layout as position prose.
    flux2 = json.loads(invoke("compile", CAFE).output)
    assert "behind the counter" in flux2["subjects"][0]["description"]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--target", "flux4", CAFE], "--target 'flux4': use flux2 or flux3", 2),
        (["--target", "flux3", "--pretty", CAFE], "drop --pretty/--prose", 2),
        (
            ["--target", "flux3", str(EXAMPLES / "prompts" / "mug-hero.prompt.toml")],
            "the flux3 target needs path/to/file.py:NAME",
            2,
        ),
        (
            ["--target", "flux3", f"{EXAMPLES / 'product_shot.py'}:prompt"],
            "subjects without a box have no place in a FLUX 3 prompt",
            1,
        ),
    ],
)
def test_compile_for_flux3_refuses_what_has_no_boxes(
    args: list[str], message: str, code: int
) -> None:
    result = invoke("compile", *args)
    assert result.exit_code == code
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_compiled_prompts_keep_no_boxes(tmp_path: Path) -> None:
    module = tmp_path / "p.py"
    module.write_text(
        "from flux2prompt import scene\n"
        "p = scene().caption('A <mug_1>').element('mug_1', 'a mug', 'centre').compile()\n",
        encoding="utf-8",
    )
    result = invoke("compile", "--target", "flux3", f"{module}:p")
    assert result.exit_code == 2
    assert "p is a compiled Prompt, which keeps no boxes" in result.output


def test_generate_for_flux3_sends_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok")
    out = tmp_path / "cafe.png"
    with serve() as emu:
        result = invoke(
            "generate", CAFE, "--target", "flux3", "--out", str(out), "--model", "flex",
            "--base-url", emu.base_url, "--account-id", "acc", "--width", "512", "--height", "512",
        )  # fmt: skip
        sent = emu.requests[0].json["input"]
    assert result.exit_code == 0, result.output
    assert "form      layout (auto for flex)" in result.output
    assert read_layout_prompt(sent["prompt"]) is not None
    assert sent["prompt_upsampling"] is False  # a boxed prompt goes as written
    bad = invoke(
        "generate", CAFE, "--target", "flux3", "--prompt-format", "prose", "--out", "x.png"
    )
    assert bad.exit_code == 2
    assert "--target flux3 sends the caption and its boxes: drop --prompt-format" in bad.output
