"""CLI command: ``flux2-prompt generate``, one image from one prompt through Workers AI.

The API token is read from ``CLOUDFLARE_API_TOKEN`` only, never from an option: a command line
is visible to every process on the machine. ``--emulator`` needs no account at all.

Example:
    $ flux2-prompt generate prompts/hero.json --out out/hero.jpg --seed 7 --emulator
    wrote out/hero.jpg
      image     1024x768 JPEG, 41.2 KB
      ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux2prompt._files._source import load_source, resolve_flux3, source_label
from flux2prompt.cli._app import app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    echo_data,
    fail,
    handle_errors,
    json_report,
    require_emulator,
    say,
    stderr,
    stdout,
)
from flux2prompt.cli._report import JSON_VERSION
from flux2prompt.cli._source import TargetOption, check_target
from flux2prompt.transport import DEFAULT_MODEL

if TYPE_CHECKING:
    from flux2prompt.batch import EmulatorEndpoint
    from flux2prompt.transport import ImageResult, WorkersAIRequest

__all__ = ["generate"]

_FORMAT_BY_SUFFIX = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}


@contextlib.contextmanager
def _emulated(enabled: bool, out_format: str) -> Iterator[EmulatorEndpoint | None]:
    """The endpoint of an in-process emulator that answers in ``out_format``, or ``None``."""
    if not enabled:
        yield None
        return
    # Imported here: without --emulator, generate needs neither the batch package nor the
    # emulator (which needs Pillow, an optional extra).
    from flux2prompt.batch import emulated

    with emulated(image_format=out_format) as endpoint:
        yield endpoint


def _check_writable(out: Path) -> None:
    """Refuse an --out that cannot be written before the image is paid for, not after."""
    if out.is_dir():
        fail(f"--out {out}: is a folder; give a file name such as {out / 'image.jpg'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {out}: cannot create the folder {out.parent}: {exc.strerror or exc}")
    if not os.access(out.parent, os.W_OK):
        fail(f"--out {out}: the folder {out.parent} is not writable")


def _save(result: ImageResult, out: Path, *, force: bool) -> tuple[Path, str | None]:
    try:
        return _save_as(result, out, force=force)
    except OSError as exc:
        fail(f"--out {out}: cannot write the image: {exc.strerror or exc}", EXIT_INVALID)


def _free_name(path: Path) -> Path:
    """``hero.1.jpg``, ``hero.2.jpg``, ...: the first name beside ``path`` that is not taken."""
    number = 1
    while True:
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
        if not candidate.exists():
            return candidate
        number += 1


def _save_as(result: ImageResult, out: Path, *, force: bool) -> tuple[Path, str | None]:
    if out.suffix.lower() in result.extensions:
        return result.save(out), None
    # The image is paid for: keep it under the right extension rather than throw it away.
    corrected = out.with_suffix(result.extension)
    returned = f"the service returned {result.format.upper()}, not {out.suffix}"
    if (corrected.exists() or corrected.is_symlink()) and not force:
        # A file the user did not name is never replaced: the image is kept beside it, and the
        # command fails so that a script notices.
        kept = result.save(_free_name(corrected))
        fail(
            f"--out {out}: {returned}, and {corrected} already exists (not replaced); the image "
            f"was kept as {kept}. Pass --force to replace {corrected.name}, or give --out a "
            f"{result.extension} name",
            EXIT_INVALID,
        )
    return result.save(corrected), f"{returned}; wrote {corrected.name} instead"


def _form_note(request: WorkersAIRequest, asked: str) -> str:
    """The form sent and why: ``prose (auto for klein-4b)``, ``json (asked)``."""
    form = request.prompt_format
    if form == "text":
        return "text (sent as written)"
    names = request.model.short_names
    short = names[-1] if names else request.model.id
    return f"{form} (auto for {short})" if asked == "auto" else f"{form} (asked)"


def _report(result: ImageResult, path: Path, form: str) -> None:
    size_kb = len(result.data) / 1024
    seed = str(result.seed) if result.seed is not None else "not set (the service chose one)"
    attempts = "1 attempt" if result.attempts == 1 else f"{result.attempts} attempts"
    lines = [
        f"wrote {path}",
        f"  image     {result.width}x{result.height} {result.format.upper()}, {size_kb:.1f} KB",
        f"  model     {result.model}",
        f"  seed      {seed}",
        f"  prompt    {result.prompt_fingerprint}",
        f"  request   {result.request_fingerprint}",
        f"  form      {form}",
    ]
    if result.request_id:
        lines.append(f"  cf-ray    {result.request_id}")
    lines.append(f"  time      {result.elapsed:.2f} s ({attempts})")
    for line in lines:
        stdout.print(line)


@app.command("generate")
def generate(
    source: Annotated[
        str,
        typer.Argument(
            help="A prompt file (.json, .toml), path/to/file.py:NAME, or - for standard input."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Image file to write: .jpg/.jpeg, .png or .webp."),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help=f"{DEFAULT_MODEL} (default), klein-4b, klein-9b, schnell, flex, pro-preview, "
            "max, klein-9b-proxied, or a full model id (docs/transport.md lists them)."
        ),
    ] = None,
    width: Annotated[
        int | None, typer.Option(help="256-1920 on @cf/ FLUX.2 (default 1024); see the model.")
    ] = None,
    height: Annotated[
        int | None, typer.Option(help="256-1920 on @cf/ FLUX.2 (default 768); see the model.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="flux-2-dev only (klein is fixed at 4).")
    ] = None,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, for a reproducible image.")] = None,
    image: Annotated[
        list[Path] | None,
        typer.Option(
            "--image",
            metavar="PATH",
            help="Reference image (the model's count; 512x512 at most on @cf/). Repeatable.",
        ),
    ] = None,
    account_id: Annotated[
        str | None, typer.Option(help="Cloudflare account id (default: $CLOUDFLARE_ACCOUNT_ID).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="API base URL (default: $CLOUDFLARE_BASE_URL, else Cloudflare's)."),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Route through this AI Gateway (see docs/transport.md).")
    ] = None,
    emulator: Annotated[
        bool, typer.Option("--emulator", help="Use a local emulator: no account, no cost.")
    ] = False,
    prompt_upsampling: Annotated[
        bool | None,
        typer.Option(
            "--prompt-upsampling/--no-prompt-upsampling",
            help="Let a proxied model (flex) rewrite the prompt; off for JSON prompts by default.",
        ),
    ] = None,
    allow_unknown_model: Annotated[
        bool,
        typer.Option(
            "--allow-unknown-model", help="Send a model id the catalogue does not know (--route)."
        ),
    ] = False,
    route: Annotated[
        str | None,
        typer.Option(help="How an unknown model is called: multipart, json or proxied."),
    ] = None,
    target: TargetOption = "flux2",
    prompt_format: Annotated[
        str,
        typer.Option(
            "--prompt-format",
            metavar="auto|json|prose",
            help="The form the prompt is sent in: auto (the model's own: prose on klein, JSON "
            "elsewhere), json or prose.",
        ),
    ] = "auto",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print what was written as one JSON document (docs/cli.md)."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="When the answer's format needs another extension than --out's, replace an "
            "existing file of that name.",
        ),
    ] = False,
) -> None:
    """Generate one image from SOURCE with FLUX.2 on Cloudflare Workers AI.

    A prompt file's model and parameters are used unless options override them. The API token
    is read from $CLOUDFLARE_API_TOKEN only: a command line is visible to other users.
    """
    if emulator:
        require_emulator()
    if prompt_format not in ("auto", "json", "prose"):
        fail(f"--prompt-format {prompt_format!r}: use auto, json or prose")
    problem = check_target(target)
    if problem is not None:
        fail(problem)
    if target == "flux3" and prompt_format != "auto":
        fail("--target flux3 sends the caption and its boxes: drop --prompt-format")
    out_format = _FORMAT_BY_SUFFIX.get(out.suffix.lower())
    if out_format is None:
        fail(f"--out {out}: use an image extension: .jpg, .jpeg, .png or .webp")
    _check_writable(out)
    # The source on its own, so that a problem in the prompt names its file.
    with handle_errors(source_label(source), show_warnings=True):
        loaded = load_source(source)
        flux3 = resolve_flux3(source) if target == "flux3" else None
    with handle_errors(show_warnings=True):
        # A prompt file's model and parameters are the defaults; options given here win.
        options = {"width": width, "height": height, "steps": steps, "guidance": guidance}
        parameters = {**loaded.parameters, **{k: v for k, v in options.items() if v is not None}}
        if seed is not None:
            parameters["seed"] = seed
        # Imported here: the HTTP stack is for the commands that send, not for the command line.
        from flux2prompt.transport import WorkersAI, estimate_cost, resolve_model

        if prompt_upsampling is not None:
            parameters["prompt_upsampling"] = prompt_upsampling
        spec = resolve_model(
            model or loaded.model or DEFAULT_MODEL,
            allow_unknown_model=allow_unknown_model,
            route=route,
        )
        with _emulated(emulator, out_format) as endpoint:
            client = (
                WorkersAI(
                    **endpoint.client_options(),
                    model=spec,
                    gateway=gateway,
                )
                if endpoint is not None
                else WorkersAI(
                    account_id=account_id,
                    model=spec,
                    base_url=base_url,
                    gateway=gateway,
                )
            )
            with client:
                request = client.build_request(
                    flux3 if flux3 is not None else loaded.prompt,
                    images=list(image or ()),
                    prompt_format=prompt_format,
                    **parameters,  # type: ignore[arg-type]
                )
                result = client.send(request)
        # The image carries its own record (XMP): what inspect reads back. Never the token.
        from flux2prompt.transport._provenance import stamp

        result = stamp(result, request, source=source if source != "-" else None)
        path, note = _save(result, out, force=force)
        cost: float | None = None
        if request.model.pricing is not None and not emulator:
            steps_sent = request.params.get("steps")
            cost = estimate_cost(
                request.model,
                result.width,
                result.height,
                int(steps_sent) if steps_sent is not None else None,
                [(i.width, i.height) for i in request.images],
            )
        billing = request.model.billing_note if not emulator else None
        # The host rewrote the prompt (upsampling): the only record of what was generated.
        rewritten = result.effective_prompt
        if rewritten == request.prompt:
            rewritten = None
        if as_json:
            echo_data(_document(result, path, cost, billing, rewritten, note, emulator, request))
            if note:
                say(f"note: {note}", err=True)
            return
        _report(result, path, _form_note(request, prompt_format))
        if cost is not None:
            stdout.print(f"  cost      ~${cost:.4f} (estimate, before the free allowance)")
        elif billing:
            stdout.print(f"  cost      {billing}")
        if rewritten is not None:
            stdout.print(f"  ran       {rewritten}")
        if note:
            stderr.print(f"note: {note}")


def _document(
    result: ImageResult,
    path: Path,
    cost: float | None,
    billing: str | None,
    rewritten: str | None,
    note: str | None,
    emulator: bool,
    request: WorkersAIRequest,
) -> str:
    """``generate --json``: the shape documented in docs/cli.md."""
    document = {
        "version": JSON_VERSION,
        "command": "generate",
        "path": str(path),
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "bytes": len(result.data),
        "model": result.model,
        "seed": result.seed,
        "prompt_fingerprint": result.prompt_fingerprint,
        "request_fingerprint": result.request_fingerprint,
        "prompt_format": request.prompt_format,
        "request_id": result.request_id,
        "elapsed": round(result.elapsed, 3),
        "attempts": result.attempts,
        "emulator": emulator,
        "estimated_cost": cost,
        "billing_note": billing,
        "effective_prompt": rewritten,
        "note": note,
    }
    return json_report(document)
