"""The ``make demo`` tour: every example compiled, fingerprinted and linted, then generated.

Run it with ``make demo`` (or ``.venv/bin/python examples/demo.py``). No account is needed: the
images come from the built-in emulator, over real HTTP on 127.0.0.1, into ``out/``: the Workers AI
API for every example, and Black Forest Labs' task API for the FLUX 3 form of the layout example
(its boxes drawn with their ids).
Each example module in
``EXAMPLES`` defines ``prompt``: a builder, or a function of no arguments returning one; the
same thing the command line reaches as ``flux2-prompt compile examples/NAME.py:prompt``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from rich.console import Console

from flux2prompt import Prompt, PromptBuilder, WorkersAI, lint, load
from flux2prompt.emulator import serve
from flux2prompt.transport import BFL

EXAMPLES_DIR = Path(__file__).resolve().parent
OUT_DIR = Path("out")

#: The example modules, in the order the demo shows them.
EXAMPLES = (
    "product_shot",
    "multilingual_poster",
    "comic_panel",
    "infographic",
    "landing_hero",
    "brand_palette",
    "cafe_layout",
)

console = Console(emoji=False, soft_wrap=True)


def load_example(name: str) -> Prompt:
    """Import ``examples/NAME.py`` and return its ``prompt``, compiled and validated."""
    if str(EXAMPLES_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLES_DIR))
    value = importlib.import_module(name).prompt
    return load(value() if callable(value) else value)


def show_prompt(name: str, prompt: Prompt) -> None:
    """Print one example: a header, its pretty JSON, its fingerprint and its lint warnings."""
    console.rule(f"[bold]{name}[/]  examples/{name}.py:prompt", align="left")
    console.print_json(prompt.to_json())
    console.print(f"[bold]fingerprint[/] {prompt.fingerprint}", highlight=False)
    warnings = lint(prompt)
    if not warnings:
        console.print("[bold]lint[/] [green]clean[/]")
    for warning in warnings:
        console.print(
            f"[bold]lint[/] [yellow]{warning.code}[/] {warning.path}: {warning.message}",
            markup=True,
            highlight=False,
        )
        console.print(f"     fix: {warning.fix}", markup=False, highlight=False)
    console.print()


def show_flux3(name: str, builder: PromptBuilder) -> None:
    """Print the FLUX 3 form of an example with a layout: the caption and its element table."""
    flux3 = builder.compile_flux3()
    console.rule(f"[bold]{name}[/]  for FLUX 3 Image: caption + element table", align="left")
    console.print(flux3.text, markup=False, highlight=False)
    console.print(f"[bold]fingerprint[/] {flux3.fingerprint}", highlight=False)
    warnings = lint(flux3)
    if not warnings:
        console.print("[bold]lint[/] [green]clean[/]")
    for warning in warnings:
        console.print(f"[bold]lint[/] [yellow]{warning.code}[/] {warning}", highlight=False)
    console.print()


def show_prompts() -> None:
    """Compile every example and show it (an example with a layout in both families)."""
    for name in EXAMPLES:
        show_prompt(name, load_example(name))
        value = importlib.import_module(name).prompt
        builder = value() if callable(value) else value
        if isinstance(builder, PromptBuilder) and builder.layout().elements:
            show_flux3(name, builder)


def generate_images(out_dir: Path = OUT_DIR) -> list[Path]:
    """Generate one image per example through the local emulator; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    console.rule("[bold]generate[/]  one image per example through the local emulator")
    with (
        serve(image_format="png") as emulator,
        WorkersAI(account_id="demo", api_token="demo-token", base_url=emulator.base_url) as client,
    ):
        for name in EXAMPLES:
            result = client.generate(load_example(name), width=768, height=512, seed=7)
            path = result.save(out_dir / f"{name}.png")
            written.append(path)
            console.print(
                f"{path}  {result.width}x{result.height} {result.format}  seed {result.seed}  "
                f"{result.elapsed * 1000:.0f} ms  request {result.request_fingerprint[:19]}",
                markup=False,
                highlight=False,
            )
        # The layout example once more, as FLUX 3 reads it: the caption and its boxes, sent to
        # Black Forest Labs' task API (the emulator's /bfl), which draws each box and its id.
        with BFL(api_key="demo-key", base_url=emulator.bfl_base_url, poll_interval=0.05) as bfl:
            for name in EXAMPLES:
                value = importlib.import_module(name).prompt
                builder = value() if callable(value) else value
                if not (isinstance(builder, PromptBuilder) and builder.layout().elements):
                    continue
                result = bfl.generate(builder, model="flux-3-image", aspect_ratio="3:2")
                path = result.save(out_dir / f"{name}.flux3.{result.format}")
                written.append(path)
                console.print(
                    f"{path}  {result.width}x{result.height} {result.format}  FLUX 3 Image "
                    f"(Black Forest Labs' API)  request {result.request_fingerprint[:19]}",
                    markup=False,
                    highlight=False,
                )
    console.print()
    return written


def run_batch(out_dir: Path = OUT_DIR / "bottles") -> Path:
    """Run the example batch (``examples/batch/job.toml``) through the emulator; returns the
    path of its gallery."""
    console.rule(
        "[bold]batch[/]  examples/batch/job.toml: a product line in 4 colours, 2 languages"
    )
    spec = importlib.util.spec_from_file_location(
        "flux2prompt_demo_batch", EXAMPLES_DIR / "batch" / "run_demo.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gallery: Path = module.run_demo_batch(out_dir)
    console.print(f"gallery: {gallery.resolve()}", markup=False, highlight=False)
    return gallery


def main() -> int:
    """Run the demo; returns the process exit code."""
    show_prompts()
    generate_images()
    run_batch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
