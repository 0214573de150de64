"""The examples compile, match their golden files, and lint clean.

Each example's compiled JSON is kept in ``examples/golden/NAME.json`` (pretty, UTF-8, trailing
newline) and its prose for FLUX.2 [klein] in ``examples/golden/NAME.prose.txt``, so a change to
the library that changes what an example sends shows up in review.
After an intended change, regenerate the goldens and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_examples.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from flux2prompt import Prompt, lint, load
from flux2prompt._files import resolve_source

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
GOLDEN_DIR = EXAMPLES_DIR / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")

# Lint findings reviewed and accepted, by example (see each example's docstring for why).
ACCEPTED_LINT = {"landing_hero": ("F2P203",)}


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "flux2prompt_examples_demo", EXAMPLES_DIR / "demo.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def _compiled(name: str) -> Prompt:
    return resolve_source(f"{EXAMPLES_DIR / name}.py:prompt")


@pytest.mark.parametrize("name", demo.EXAMPLES)
def test_example_matches_golden(name: str) -> None:
    text = _compiled(name).to_json(pretty=True) + "\n"
    golden = GOLDEN_DIR / f"{name}.json"
    if UPDATE:
        golden.write_bytes(text.encode("utf-8"))
    assert golden.exists(), f"no golden for {name}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert golden.read_bytes().decode("utf-8") == text


@pytest.mark.parametrize("name", demo.EXAMPLES)
def test_example_prose_matches_golden(name: str) -> None:
    text = _compiled(name).to_prose() + "\n"
    golden = GOLDEN_DIR / f"{name}.prose.txt"
    if UPDATE:
        golden.write_bytes(text.encode("utf-8"))
    assert golden.exists(), f"no prose golden for {name}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert golden.read_bytes().decode("utf-8") == text


@pytest.mark.parametrize("name", demo.EXAMPLES)
def test_golden_loads_back_to_the_same_wire_bytes(name: str) -> None:
    prompt = _compiled(name)
    document = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert load(document, extra_keys=prompt.extras).to_bytes() == prompt.to_bytes()


@pytest.mark.parametrize("name", demo.EXAMPLES)
def test_example_lints_clean(name: str) -> None:
    assert lint(_compiled(name), ignore=ACCEPTED_LINT.get(name, ())) == []


def test_every_golden_belongs_to_an_example() -> None:
    goldens = {path.stem for path in GOLDEN_DIR.glob("*.json")}
    assert goldens == set(demo.EXAMPLES)
    prose = {path.name.removesuffix(".prose.txt") for path in GOLDEN_DIR.glob("*.prose.txt")}
    assert prose == set(demo.EXAMPLES)


def test_every_example_prompt_is_in_the_demo() -> None:
    defines_prompt = re.compile(r"^(prompt\b.*=|def prompt\()", re.MULTILINE)
    modules = {
        path.stem
        for path in EXAMPLES_DIR.glob("*.py")
        if defines_prompt.search(path.read_text(encoding="utf-8"))
    }
    assert modules == set(demo.EXAMPLES)


def test_product_shot_satisfies_cloudflares_schema() -> None:
    prompt = resolve_source(f"{EXAMPLES_DIR}/product_shot.py:prompt", profile="cloudflare")
    assert prompt.color_palette is not None
    assert len(prompt.color_palette) == 3


def test_the_cafe_layout_serves_both_families() -> None:
    from flux2prompt._layout import citations

    prompt = _compiled("cafe_layout")
    assert [s.type for s in prompt.subjects or ()] == ["barista", "counter"]
    assert "on the left side, behind the counter" in (prompt.subjects or ())[0].description
    spec = importlib.util.spec_from_file_location(
        "cafe_layout_example", EXAMPLES_DIR / "cafe_layout.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    builder = module.prompt
    flux3 = builder.compile_flux3()
    assert sorted(citations(flux3.caption)) == ["barista_1", "counter_1", "sign_1"]
    assert '"bbox":[574,0,1000,1000]' in flux3.text  # the detector-style pixel box
    assert lint(flux3) == []


def test_poster_carries_four_languages_as_raw_utf8() -> None:
    prompt = _compiled("multilingual_poster")
    assert [t.language for t in prompt.text or ()] == ["en", "ja", "ar", "hi"]
    golden = (GOLDEN_DIR / "multilingual_poster.json").read_bytes()
    for words in ("光の祭典", "مهرجان الأضواء", "रोशनी का उत्सव"):
        assert words.encode("utf-8") in golden
    assert b"\\u" not in golden


def test_demo_prints_every_example_and_writes_its_images(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes into ./out, as `make demo` does
    assert demo.main() == 0
    out = capsys.readouterr().out
    for name in demo.EXAMPLES:
        assert f"examples/{name}.py:prompt" in out
        assert _compiled(name).fingerprint in out
        assert (tmp_path / "out" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "F2P203" in out  # the landing hero's reviewed warning is shown, not hidden
    assert '{"id":"barista_1","bbox":[0,0,1000,333]' in out  # the FLUX 3 form of the layout
    # ... sent to FLUX 3 Image through the emulator's BFL mode, which outlines each box: the
    # barista's right edge (x = 333/1000 of the width) is drawn, the inside of the box is not.
    flux3 = tmp_path / "out" / "cafe_layout.flux3.png"
    assert "FLUX 3 Image (Black Forest Labs' API)" in out
    with Image.open(flux3) as image:
        rgb = image.convert("RGB")
        edge = round(rgb.width * 333 / 1000)
        row = rgb.height // 2
        outline = {rgb.getpixel((x, row)) for x in range(edge - 3, edge + 3)}
        assert rgb.getpixel((edge // 2, row)) not in outline
    gallery = tmp_path / "out" / "bottles" / "index.html"
    assert f"gallery: {gallery.resolve()}" in out
    assert "8 generated, 0 already done, 0 failed of 8" in out
