"""CLI command: ``flux2-prompt generate``, one image from one prompt through Workers AI or, with
``--provider bfl``, Black Forest Labs' API.

The API token is read from ``CLOUDFLARE_API_TOKEN`` (BFL's key from ``BFL_API_KEY``) only, never
from an option: a command line is visible to every process on the machine. ``--emulator`` needs
no account at all.

Example:
    $ flux2-prompt generate prompts/hero.json --out out/hero.jpg --seed 7 --emulator
    wrote out/hero.jpg
      image     1024x768 JPEG, 41.2 KB
      ...
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux2prompt._atomic import atomic_write
from flux2prompt._errors import ParameterError
from flux2prompt._files._source import load_source, resolve_flux3, source_label
from flux2prompt.cli._app import AccountIdOption, BaseUrlOption, EmulatorOption, app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    echo_data,
    fail,
    handle_errors,
    json_report,
    one_line,
    reading_from_a_terminal,
    refused_choice,
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
    from flux2prompt.transport import BFLRequest, ImageResult, WorkersAIRequest

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


def _through_link(out: Path) -> tuple[Path, str | None]:
    """Where the image goes: ``out``, or, when ``out`` is a symbolic link, the file it points
    to (as a shell's ``>`` writes through a link), with a note saying so. The link itself is
    kept. A link loop, or a link whose target names another image format, is refused."""
    if not out.is_symlink():
        return out, None
    try:
        target = Path(os.path.realpath(out, strict=True))
    except FileNotFoundError:  # a dangling link: its target is created, as `>` would
        target = Path(os.path.realpath(out))
    except OSError as exc:
        fail(f"--out {out}: is a symbolic link that cannot be followed ({exc.strerror or exc})")
    if target.is_symlink():  # realpath gives up on a loop and returns a link
        fail(f"--out {out}: is a symbolic link that loops; point --out at a file")
    linked = _FORMAT_BY_SUFFIX.get(target.suffix.lower())
    if linked is not None and linked != _FORMAT_BY_SUFFIX.get(out.suffix.lower()):
        fail(
            f"--out {out}: is a symbolic link to {target}, whose extension names another format "
            f"({linked.upper()}); give --out the file's own name or a matching extension"
        )
    return target, f"--out {out} is a symbolic link: wrote its target {target} (the link is kept)"


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


@contextlib.contextmanager
def _keeping_unreadable(out: Path) -> Iterator[None]:
    """Keep the bytes of an answer that may have been paid for and is no image read here (a
    GIF, say; the error's ``data``): beside ``--out`` as ``NAME.unreadable.bin`` (never over a
    file), and say where, before the error itself is reported."""
    try:
        yield
    except Exception as exc:
        data = getattr(exc, "data", None)
        if isinstance(data, bytes) and data:
            kept = out.with_name(f"{out.stem}.unreadable.bin")
            if kept.exists() or kept.is_symlink():
                kept = _free_name(kept)
            try:
                atomic_write(kept, data)
            except OSError as problem:
                say(
                    f"note: the answer's {len(data):,} bytes could not be kept as {kept}: "
                    f"{problem.strerror or problem}",
                    err=True,
                )
            else:
                say(
                    f"note: the answer held {len(data):,} bytes that are no JPEG, PNG or WebP "
                    f"image (it may have been billed); they were kept as {kept}",
                    err=True,
                )
        raise


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


def _form_note(request: WorkersAIRequest | BFLRequest, asked: str) -> str:
    """The form sent and why: ``prose (auto for klein-4b)``, ``json (asked)``."""
    form = request.prompt_format
    if form == "text":
        return "text (sent as written)"
    names = request.model.short_names
    short = names[-1] if names else request.model.id
    return f"{form} (auto for {short})" if asked == "auto" else f"{form} (asked)"


def _takes_seed(model: str) -> bool:
    """Whether a Black Forest Labs endpoint takes a seed (FLUX 3 does not)."""
    from flux2prompt.transport import resolve_bfl_model

    try:
        return "seed" in resolve_bfl_model(model).fields
    except ParameterError:
        return True


def _report(result: ImageResult, path: Path, form: str, *, bfl: bool) -> None:
    size_kb = len(result.data) / 1024
    seed = str(result.seed) if result.seed is not None else "not set (the service chose one)"
    if result.seed is None and bfl and not _takes_seed(result.model):
        seed = f"none ({result.model} takes no seed)"
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
    if result.request_id:  # Cloudflare's ray id, or BFL's task id
        lines.append(f"  {'task' if bfl else 'cf-ray':9s} {result.request_id}")
    lines.append(f"  time      {result.elapsed:.2f} s ({attempts})")
    for line in lines:  # a file name or a server's id with a newline stays on its line
        stdout.print(one_line(line))


_EXAMPLES = """Examples:
$ flux2-prompt generate docs/examples/hero.json -o hero.jpg --emulator
$ flux2-prompt generate docs/examples/hero.json -o hero.png --seed 7
$ flux2-prompt generate docs/examples/hero.json -o hero.jpg --model klein-4b
$ flux2-prompt generate docs/examples/hero.json -o hero.jpg --provider bfl"""


@app.command("generate", epilog=_EXAMPLES)
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
    provider: Annotated[
        str,
        typer.Option(
            metavar="workers-ai|bfl",
            help="Where to send: Cloudflare Workers AI (default) or Black Forest Labs' API "
            "(key in $BFL_API_KEY; docs/bfl.md).",
        ),
    ] = "workers-ai",
    region: Annotated[
        str | None,
        typer.Option(help="With --provider bfl: global (default), eu or us."),
    ] = None,
    account_id: AccountIdOption = None,
    base_url: BaseUrlOption = None,
    gateway: Annotated[
        str | None, typer.Option(help="Route through this AI Gateway (see docs/transport.md).")
    ] = None,
    emulator: EmulatorOption = False,
    # Two flags rather than typer's `--x/--no-x`: that pair takes a column of its own in the
    # help, which then no longer fits an 80-column terminal.
    upsample: Annotated[
        bool,
        typer.Option(
            "--prompt-upsampling",
            help="Let a proxied model (flex) rewrite the prompt; off for JSON prompts by default.",
        ),
    ] = False,
    no_upsample: Annotated[
        bool,
        typer.Option(
            "--no-prompt-upsampling",
            help="Ask the model not to rewrite the prompt (sent as prompt_upsampling false).",
        ),
    ] = False,
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
    """Generate one image from SOURCE with FLUX on Cloudflare Workers AI or, with --provider
    bfl, on Black Forest Labs' API.

    A prompt file's model and parameters are used unless options override them. The API token
    is read from $CLOUDFLARE_API_TOKEN (BFL's key from $BFL_API_KEY) only: a command line is
    visible to other users.
    """
    if upsample and no_upsample:
        fail("--prompt-upsampling and --no-prompt-upsampling cannot be combined: give one")
    prompt_upsampling = True if upsample else False if no_upsample else None
    if emulator:
        require_emulator()
        for option, value in (
            ("--base-url", base_url),
            ("--account-id", account_id),
            ("--region", region),
        ):
            if value is not None:
                fail(f"{option} does not apply with --emulator (it runs its own); drop one")
    _check_provider(
        provider,
        region=region,
        cloudflare_only={
            "--account-id": account_id,
            "--gateway": gateway,
            "--allow-unknown-model": allow_unknown_model or None,
            "--route": route,
        },
    )
    if prompt_format not in ("auto", "json", "prose"):
        fail(refused_choice("--prompt-format", prompt_format, ("auto", "json", "prose")))
    problem = check_target(target)
    if problem is not None:
        fail(problem)
    if target == "flux3" and prompt_format != "auto":
        fail("--target flux3 sends the caption and its boxes: drop --prompt-format")
    if str(out) == ".":  # `--out .`, or `--out ""` (an unset variable), which arrives so
        fail("--out is empty or the current folder; name an image file, such as --out hero.jpg")
    if out.is_dir():
        fail(f"--out {out}: is a folder; give a file name such as {out / 'image.jpg'}")
    out_format = _FORMAT_BY_SUFFIX.get(out.suffix.lower())
    if out_format is None:
        fail(f"--out {out}: use an image extension: .jpg, .jpeg, .png or .webp")
    out, linked = _through_link(out)
    _check_writable(out)
    reading_from_a_terminal([source])
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
        if prompt_upsampling is not None:
            parameters["prompt_upsampling"] = prompt_upsampling
        prompt = flux3 if flux3 is not None else loaded.prompt
        if provider == "bfl" and model is None and loaded.model is not None:
            _check_bfl_model(loaded.model, source)
        images = list(image or ())
        request: WorkersAIRequest | BFLRequest
        # Black Forest Labs answers in the output_format asked (sent when the endpoint has
        # --out's format), else in JPEG: its emulator does the same, never in WebP.
        emulated_format = "jpeg" if provider == "bfl" else out_format
        overridden = {k for k, v in options.items() if v is not None} | (
            {"seed"} if seed is not None else set()
        )
        with (
            _naming_the_file(source, set(loaded.parameters) - overridden),
            _keeping_unreadable(out),
            _emulated(emulator, emulated_format) as endpoint,
        ):
            if provider == "bfl":
                request, result = _send_bfl(
                    prompt,
                    # A layout asked for as FLUX 3 goes to FLUX 3 Image unless a model is named.
                    model or loaded.model or ("flux-3-image" if flux3 is not None else None),
                    parameters,
                    images=images,
                    prompt_format=prompt_format,
                    out_format=out_format,
                    endpoint=endpoint,
                    region=region,
                    base_url=base_url,
                )
            else:
                request, result = _send_workers_ai(
                    prompt,
                    model or loaded.model or DEFAULT_MODEL,
                    parameters,
                    images=images,
                    prompt_format=prompt_format,
                    endpoint=endpoint,
                    account_id=account_id,
                    base_url=base_url,
                    gateway=gateway,
                    allow_unknown_model=allow_unknown_model,
                    route=route,
                )
        # The image carries its own record (XMP): what inspect reads back. Never the token.
        from flux2prompt.transport import stamp_provenance

        result = stamp_provenance(result, request, source=source if source != "-" else None)
        path, note = _save(result, out, force=force)
        if linked is not None:
            note = linked if note is None else f"{linked}; {note}"
        cost, billing = (None, None) if emulator else _cost(request, result)
        # The host rewrote the prompt (upsampling): the only record of what was generated.
        rewritten = result.effective_prompt
        if rewritten == request.prompt:
            rewritten = None
        if as_json:
            echo_data(_document(result, path, cost, billing, rewritten, note, emulator, request))
            if note:
                say(f"note: {note}", err=True)
            return
        _report(result, path, _form_note(request, prompt_format), bfl=provider == "bfl")
        if cost is not None:
            stdout.print(f"  cost      ~${cost:.4f} (estimate, before the free allowance)")
        elif billing:
            stdout.print(f"  cost      {billing}")
        if rewritten is not None:
            # A layout's caption and table run over lines: keep them inside the report's column.
            first, *rest = rewritten.splitlines() or [""]
            lines = [f"  ran       {first}", *(f"{' ' * 12}{line}".rstrip() for line in rest)]
            stdout.print("\n".join(lines))
        if note:
            stderr.print(f"note: {note}")


_BFL_FIELDS = frozenset(
    {
        "width",
        "height",
        "seed",
        "steps",
        "guidance",
        "safety_tolerance",
        "output_format",
        "prompt_upsampling",
        "aspect_ratio",
        "resolution",
        "grounding",
    }
)


def _check_provider(
    provider: str, *, region: str | None, cloudflare_only: dict[str, object | None]
) -> None:
    """Refuse a provider that does not exist and the options the chosen one does not read."""
    if provider not in ("workers-ai", "bfl"):
        fail(refused_choice("--provider", provider, ("workers-ai", "bfl")))
    if provider == "bfl":
        for option, value in cloudflare_only.items():
            if value is not None:
                fail(f"{option} is a Workers AI option; drop it with --provider bfl")
    elif region is not None:
        fail("--region is for --provider bfl (Black Forest Labs' API); drop it for Workers AI")


@contextlib.contextmanager
def _naming_the_file(source: str, from_file: set[str]) -> Iterator[None]:
    """A parameter the model refuses that came from the prompt file's ``[parameters]``, not
    from an option: the error says which file holds it. One that came from an option is named
    as the option (``--width must be 256-1920 ...``, ``drop --steps``)."""
    try:
        yield
    except ParameterError as exc:
        name = exc.parameter
        if name is None:
            raise
        if name not in from_file:
            if name not in _OPTION_PARAMETERS:
                raise
            words = re.sub(rf"^{name} must\b", f"--{name} must", str(exc))
            words = words.replace(f"leave {name} unset", f"drop --{name}")
            raise ParameterError(words, parameter=name) from None
        raise ParameterError(
            f"{source_label(source)}: [parameters] {name}: {exc}",
            parameter=name,
        ) from None


# The request parameters that generate takes as options of the same name.
_OPTION_PARAMETERS = frozenset({"width", "height", "steps", "guidance", "seed"})


def _check_bfl_model(name: str, source: str) -> None:
    """A prompt file's model that Black Forest Labs does not serve: say where it came from."""
    from flux2prompt.transport import ParameterError, resolve_bfl_model

    try:
        resolve_bfl_model(name)
    except ParameterError as exc:
        fail(
            f"{source_label(source)}: the prompt file's model: {exc}; or pass --model to choose "
            "the endpoint"
        )


def _send_workers_ai(
    prompt: Any,
    model: str,
    parameters: dict[str, Any],
    *,
    images: list[Path],
    prompt_format: str,
    endpoint: EmulatorEndpoint | None,
    account_id: str | None,
    base_url: str | None,
    gateway: str | None,
    allow_unknown_model: bool,
    route: str | None,
) -> tuple[WorkersAIRequest, ImageResult]:
    # Imported here: the HTTP stack is for the commands that send, not for the command line.
    from flux2prompt.transport import WorkersAI, resolve_model

    try:
        spec = resolve_model(model, allow_unknown_model=allow_unknown_model, route=route)
    except ParameterError as exc:
        # The library's advice names its keyword arguments; here they are options.
        words = str(exc).replace(
            "allow_unknown_model=True and route=", "--allow-unknown-model and --route "
        )
        raise ParameterError(words, parameter=exc.parameter) from None
    client = (
        WorkersAI(**endpoint.client_options(), model=spec, gateway=gateway)
        if endpoint is not None
        else WorkersAI(account_id=account_id, model=spec, base_url=base_url, gateway=gateway)
    )
    with client:
        request = client.build_request(
            prompt, images=images, prompt_format=prompt_format, **parameters
        )
        return request, client.send(request)


def _send_bfl(
    prompt: Any,
    model: str | None,
    parameters: dict[str, Any],
    *,
    images: list[Path],
    prompt_format: str,
    out_format: str,
    endpoint: EmulatorEndpoint | None,
    region: str | None,
    base_url: str | None,
) -> tuple[BFLRequest, ImageResult]:
    from flux2prompt.transport import BFL

    options: dict[str, Any] = {"region": region or "global"}
    if model is not None:
        options["model"] = model
    if endpoint is not None:
        options.update(api_key=endpoint.api_token, base_url=endpoint.bfl_base_url)
        options["poll_interval"] = 0.05
    else:
        options["base_url"] = base_url
    known = {k: v for k, v in parameters.items() if k in _BFL_FIELDS}
    extra = {k: v for k, v in parameters.items() if k not in _BFL_FIELDS}
    with BFL(**options) as client:
        if "output_format" not in known and out_format in client.model.output_formats:
            known["output_format"] = out_format  # answer in the format of --out
        request = client.build_request(
            prompt, images=images, prompt_format=prompt_format, extra=extra or None, **known
        )
        return request, client.send(request)


def _cost(
    request: WorkersAIRequest | BFLRequest, result: ImageResult
) -> tuple[float | None, str | None]:
    """The estimated cost in USD (``None`` without a published price) and how the model is
    billed when that says more."""
    from flux2prompt.transport import BFLRequest, estimate_bfl_cost, estimate_cost

    if isinstance(request, BFLRequest):
        if request.model.price_per_megapixel is None:
            return None, request.model.billing_note or "no published price"
        cost = estimate_bfl_cost(
            request.model, result.width, result.height, input_images=request.reference_count
        )
        return cost, None
    if request.model.pricing is None:
        return None, request.model.billing_note
    steps_sent = request.params.get("steps")
    cost = estimate_cost(
        request.model,
        result.width,
        result.height,
        int(steps_sent) if steps_sent is not None else None,
        [(i.width, i.height) for i in request.images],
    )
    return cost, request.model.billing_note


def _document(
    result: ImageResult,
    path: Path,
    cost: float | None,
    billing: str | None,
    rewritten: str | None,
    note: str | None,
    emulator: bool,
    request: WorkersAIRequest | BFLRequest,
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
