"""CLI commands: ``flux2-prompt batch`` and ``flux2-prompt manifest merge``.

A thin face over :mod:`flux2prompt.batch`: the job file is read by
:func:`~flux2prompt.batch.load_job`, run by :class:`~flux2prompt.batch.BatchRunner`, merged by
:func:`~flux2prompt.batch.merge_manifests`. The API token is read from ``CLOUDFLARE_API_TOKEN``
only, never from an option. Exit codes: 0 every item finished, 1 some item failed (rerun the
same command to retry it; with ``--dry-run``: some row would fail, as it cannot be recorded),
2 a bad job file or option, 130 interrupted, 143 terminated (SIGTERM): rerun to resume.

Example:
    $ flux2-prompt batch examples/batch/job.toml --out out/bottles --emulator
    aurora-bottle: 8 generated, 0 already done, 0 failed in 0.4 s (19.6 img/s)
      manifest  out/bottles/manifest.jsonl
      gallery   out/bottles/index.html
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux2prompt._errors import ParameterError, PromptError, SourceError
from flux2prompt.cli._app import (
    AccountIdOption,
    BaseUrlOption,
    EmulatorOption,
    app,
    output_folder,
)
from flux2prompt.cli._output import (
    echo_data,
    fail,
    handle_errors,
    json_report,
    print_error,
    require_emulator,
    stderr,
    stdout,
)
from flux2prompt.cli._report import JSON_VERSION

if TYPE_CHECKING:
    from flux2prompt.batch import BatchReport, BatchRunner, DryRun

__all__ = ["batch", "manifest_app", "merge"]

EXIT_INTERRUPTED = 130
#: A dry run that finds items a run would fail (rows no manifest record can hold).
EXIT_FAILED = 1

manifest_app = typer.Typer(name="manifest", help="Work with batch manifests.", no_args_is_help=True)
app.add_typer(manifest_app)


@contextlib.contextmanager
def _naming_the_job_line(job: Path) -> Iterator[None]:
    """A setting of the job file that the model refuses (a seed out of its range, steps on
    klein) is found when the first request is planned: the error names the job file's line
    that sets it, as the schema's errors do. A setting the job file does not hold (it came
    from a prompt file, or an option) keeps its error as it is."""
    try:
        yield
    except ParameterError as exc:
        from flux2prompt.batch._check import job_setting_error

        located = job_setting_error(job, exc)
        if located is None:
            raise
        raise located from None


def _print_dry_run(dry: DryRun, job_path: Path, pace: str | None = None) -> None:
    lines = [
        f"job       {dry.job} ({job_path})",
        f"model     {dry.model}",
        f"form      {dry.prompt_format}",
        f"items     {dry.total} ({dry.finished} already done, {dry.to_generate} to generate"
        + (f", {dry.to_copy} to copy" if dry.to_copy else "")
        + (f", {dry.to_recover} to recover)" if dry.to_recover else ")"),
    ]
    if dry.to_recover:
        lines.append(
            f"          {dry.to_recover} to recover: written by a run that stopped before "
            "recording them (this item's provenance, whole): recorded, no request sent"
        )
    if dry.to_copy:
        lines.append(
            f"          {dry.to_copy} to copy from an image of the same request "
            "(an identical request, or an old file name): no request sent"
        )
    if dry.held:
        lines.append(
            f"          {dry.held} held: an earlier request may have been billed; "
            "--resend-billed sends them"
        )
    if dry.duplicates:
        lines.append(
            f"          {dry.duplicates} item(s) repeat an earlier item's request and file name: "
            "one file"
        )
    if dry.superseded:
        lines.append(
            f"          {dry.superseded} recorded item(s) no longer in the job: a run supersedes "
            "them (images moved to superseded/)"
        )
    if dry.unwritable:
        lines.append(
            f"          {dry.unwritable} item(s) cannot be recorded and would fail without a "
            "request:"
        )
        lines.extend(f"            {problem}" for problem in dry.problems)
    if dry.shard is not None:
        lines.append(f"shard     {dry.shard} ({dry.other_shards} items belong to other shards)")
    if pace is not None:
        lines.append(f"pace      {pace}")
    from flux2prompt.transport import BFLRequest

    on_bfl = bool(dry.first) and isinstance(dry.first[0].request, BFLRequest)
    if dry.estimated_cost is None:
        from flux2prompt.transport import resolve_bfl_model, resolve_model

        # Proxied models are billed through Unified Billing: say so rather than "unknown".
        spec = resolve_bfl_model(dry.model) if on_bfl else resolve_model(dry.model)
        note = spec.billing_note or "no published price for this model"
        lines.append(f"cost      unknown ({note})")
    else:
        basis = (
            'Black Forest Labs\' "from" prices per megapixel'
            if on_bfl
            else "published prices; the daily free allowance is not subtracted"
        )
        lines.append(
            f"cost      ${dry.estimated_cost:.4f} estimated for {dry.to_generate} image(s) "
            f"({basis})"
        )
    for line in lines:
        stdout.print(line)
    if dry.first:
        stdout.print("")
        stdout.print(f"first {len(dry.first)} request(s), not sent:")
    for number, item in enumerate(dry.first, 1):
        request = item.request
        params = " ".join(f"{k}={v}" for k, v in request.fields.items() if k != "prompt")
        stdout.print(f"[{number}] {item.file_name('{ext}')}  (item {item.index})")
        stdout.print(f"    POST {request.url}")
        stdout.print(
            f"    {params}" + (f"  +{len(request.images)} image(s)" if request.images else "")
        )
        stdout.print(f"    request {request.fingerprint}")
        echo_data(_indent(request.prompt))


def _indent(prompt: str) -> str:
    try:
        pretty = json.dumps(json.loads(prompt), ensure_ascii=False, indent=2)
    except (ValueError, RecursionError):
        pretty = prompt
    return "\n".join("    " + line for line in pretty.splitlines())


def _print_report(report: BatchReport, *, provider: str = "workers-ai") -> None:
    rate = f" ({report.rate:.1f} img/s)" if report.generated else ""
    stdout.print(
        f"{report.job}: {report.generated} generated, {report.skipped} already done, "
        f"{report.failed} failed in {report.elapsed:.1f} s{rate}"
    )
    if report.rate_limited:
        stdout.print(
            f"  retries   {report.retries} ({report.rate_limited} x HTTP 429; concurrency went "
            f"down to {report.lowest_concurrency})"
        )
    elif report.retries:
        stdout.print(f"  retries   {report.retries}")
    if report.copied:
        stdout.print(
            f"  copied    {report.copied} (from an image of the same request; no request sent)"
        )
    if report.recovered:
        stdout.print(
            f"  recovered {report.recovered} (written by a run that stopped before recording "
            "them; no request sent)"
        )
    if report.duplicates:
        stdout.print(
            f"  same file {report.duplicates} item(s) repeat an earlier item's request and name"
        )
    if report.superseded:
        stdout.print(
            f"  superseded {report.superseded} record(s) no longer in the job (images moved to "
            f"{report.out_dir / 'superseded'})"
        )
    if report.pace is not None:
        stdout.print(f"  pace      {report.pace}")
    stdout.print(f"  manifest  {report.manifest}")
    if report.gallery is not None:
        stdout.print(f"  gallery   {report.gallery}")
    if report.gallery_error is not None:
        print_error(report.gallery_error)
    for name, message in report.failures:
        print_error(f"{name}: {message}")
    if report.failed > len(report.failures):
        print_error(f"... and {report.failed - len(report.failures)} more; see the manifest")
    if report.paused:
        stdout.print(f"  paused    {report.paused:.0f} s (the service's Retry-After)")
    # Where a possible charge shows: the account's usage, on the host the job sends to.
    usage = "Black Forest Labs' dashboard" if provider == "bfl" else "the Cloudflare dashboard"
    if report.billed:
        print_error(
            f"{report.billed} item(s) failed after the request may have run the model: they may "
            f"have been billed and were not resent (a rerun holds them; check {usage}, then "
            "rerun with --resend-billed to send them again)"
        )
    if report.held:
        print_error(
            f"{report.held} item(s) held: an earlier request may have been billed (see the "
            f"manifest's may_have_been_billed); check {usage}, then rerun with "
            "--resend-billed to send them again"
        )
    if report.stopped is not None:
        print_error(f"stopped early, {report.pending} item(s) not sent: {report.stopped}")
    if report.pending and report.stopped is None:
        print_error(f"{report.pending} item(s) not written")
    # A rerun retries what failed without a charge, and what a stop left; the items held (or
    # failed billed, which the rerun holds) are said above, with --resend-billed.
    retried = report.failed - report.billed
    if not report.ok and (retried > 0 or (report.stopped is None and report.pending)):
        # A stop that failed nothing has said how to resume already, in its own line.
        print_error("rerun the same command to retry what failed; finished items are skipped")


@app.command("batch")
def batch(
    job: Annotated[
        Path, typer.Argument(metavar="JOB", help="The job file (TOML); see docs/batch.md.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created).", parser=output_folder)
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count, price and show the first requests; send nothing."),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run one shard, i/n (1-based): a stable split by request fingerprint; the "
            "job's rate limit is shared, 1/n each (--rate-limit overrides)."
        ),
    ] = None,
    emulator: EmulatorOption = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="Requests in flight at most, 1 to 256 (default: the job's)."
        ),
    ] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(min=1, help="Requests per minute, 1 or more (default: the job's, or 720)."),
    ] = None,
    account_id: AccountIdOption = None,
    base_url: BaseUrlOption = None,
    gallery: Annotated[
        bool, typer.Option("--gallery/--no-gallery", help="Write OUT/index.html at the end.")
    ] = True,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
    resend_billed: Annotated[
        bool,
        typer.Option(
            "--resend-billed",
            help="Also send the items whose earlier request may have been billed (a read "
            "timeout, a broken response), and retry such failures; each may be billed again.",
        ),
    ] = False,
    prompt_format: Annotated[
        str | None,
        typer.Option(
            "--prompt-format",
            metavar="FORM",
            help="The form prompts are sent in: auto, json or prose (default: the job's; auto "
            "is the model's own, or the form an existing manifest recorded).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the report (or the --dry-run) as one JSON document (docs/cli.md)."
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another run is writing to OUT, wait for it to end instead of exiting 2.",
        ),
    ] = False,
) -> None:
    """Generate every image of a batch job; rerun the same command to resume after a crash.

    Finished items (in OUT/manifest.jsonl, with a file whose sha256 matches) are skipped and
    failed ones retried. See docs/batch.md for the job file format.
    """
    # Imported here: the runner brings asyncio and the HTTP stack, which only this command needs.
    import asyncio

    from flux2prompt.batch import BatchRunner, RichProgress, Shard, load_job

    if emulator and base_url:
        fail("--emulator and --base-url exclude each other")
    if emulator:
        require_emulator()
    try:
        part = Shard.parse(shard) if shard else None
    except PromptError as exc:
        fail(f"--shard: {exc}")
    if prompt_format is not None and prompt_format not in ("auto", "json", "prose"):
        fail(f"--prompt-format {prompt_format!r}: use auto, json or prose")
    with handle_errors(show_warnings=True), _naming_the_job_line(job):
        loaded = load_job(job)
        if prompt_format is not None:
            import dataclasses

            loaded = dataclasses.replace(loaded, prompt_format=prompt_format)
        runner = BatchRunner(
            loaded,
            out,
            shard=part,
            concurrency=concurrency,
            rate_limit=rate_limit,
            gallery=gallery,
            account_id=account_id,
            base_url=base_url,
            observer=RichProgress(stderr) if progress else None,
            emulator=emulator,
            resend_billed=resend_billed,
            wait=wait,
        )
        if dry_run:
            dry = runner.dry_run()
            if as_json:
                echo_data(_dry_run_document(dry, job))
            else:
                _print_dry_run(dry, job, runner.pace)
            if dry.unwritable:
                # A failed check, as a run would fail them: exit 1, the rows named above.
                print_error(
                    f"{dry.unwritable} item(s) would fail without a request: their rows cannot "
                    "be recorded (listed above); fix those rows, then run"
                )
                raise typer.Exit(EXIT_FAILED)
            return
        signals: list[int] = []
        try:
            report = asyncio.run(_run_stopping_on_signals(runner, signals))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print_error("interrupted; rerun the same command to resume")
            raise typer.Exit(_interrupted_exit(signals)) from None
    exit_code = _interrupted_exit(signals) if signals else report.exit_code
    if as_json:
        echo_data(_report_document(report, job, exit_code))
    else:
        _print_report(report, provider=runner.job.provider)
    raise typer.Exit(exit_code)


def _interrupted_exit(signals: list[int]) -> int:
    """128 + the signal that stopped the run (143 for SIGTERM), 130 for Ctrl+C."""
    import signal

    return 128 + signals[0] if signals and signals[0] != signal.SIGINT else EXIT_INTERRUPTED


async def _run_stopping_on_signals(runner: BatchRunner, signals: list[int]) -> BatchReport:
    """``runner.run()``; the first Ctrl+C or SIGTERM stops it without losing what it paid for
    (nothing more is sent, the requests in flight are answered and recorded), a second one
    stops at once, wherever the run is (a long planning included). ``signals`` receives the
    signals that came."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    names: dict[int, str] = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM"}

    def stop(signum: int) -> None:
        print_error(
            f"{names[signum]}: stopping; no new request is sent, the ones in flight are "
            "finished and recorded (press Ctrl+C again to stop at once)"
        )
        verb = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
        runner.stop(f"{verb}; rerun the same command to resume")

    def received(signum: int, frame: object) -> None:
        signals.append(signum)
        if len(signals) > 1:
            # At once, as a crash stops it: the requests in flight are dropped.
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(stop, signum)

    previous = {signum: signal.signal(signum, received) for signum in names}
    try:
        return await runner.run()
    except SourceError:
        if signals:  # the stop ended a wait for another run's lock: interrupted, not an error
            raise KeyboardInterrupt from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report_document(report: BatchReport, job_path: Path, exit_code: int) -> str:
    """``batch --json``: the shape documented in docs/cli.md."""
    document = {
        "version": JSON_VERSION,
        "command": "batch",
        "dry_run": False,
        "job": report.job,
        "job_file": str(job_path),
        "ok": report.ok,
        "exit_code": exit_code,
        "total": report.total,
        "generated": report.generated,
        "skipped": report.skipped,
        "copied": report.copied,
        "recovered": report.recovered,
        "failed": report.failed,
        "pending": report.pending,
        "duplicates": report.duplicates,
        "other_shards": report.other_shards,
        "retries": report.retries,
        "rate_limited": report.rate_limited,
        "lowest_concurrency": report.lowest_concurrency,
        "elapsed": round(report.elapsed, 3),
        "manifest": str(report.manifest),
        "gallery": str(report.gallery) if report.gallery is not None else None,
        "stopped": report.stopped,
        "failures": [{"name": name, "message": message} for name, message in report.failures],
        "held": report.held,
        "superseded": report.superseded,
        "pace": report.pace,
        "kept": list(report.kept),
    }
    return json_report(document)


def _dry_run_document(dry: DryRun, job_path: Path) -> str:
    """``batch --dry-run --json``: the shape documented in docs/cli.md."""
    document = {
        "version": JSON_VERSION,
        "command": "batch",
        "dry_run": True,
        "job": dry.job,
        "job_file": str(job_path),
        "model": dry.model,
        "prompt_format": dry.prompt_format,
        "total": dry.total,
        "finished": dry.finished,
        "to_generate": dry.to_generate,
        "to_copy": dry.to_copy,
        "to_recover": dry.to_recover,
        "duplicates": dry.duplicates,
        "shard": str(dry.shard) if dry.shard is not None else None,
        "other_shards": dry.other_shards,
        "estimated_cost": dry.estimated_cost,
        "held": dry.held,
        "superseded": dry.superseded,
        "unwritable": dry.unwritable,
        "problems": list(dry.problems),
        "ok": dry.unwritable == 0,
        "exit_code": EXIT_FAILED if dry.unwritable else 0,
        "first": [
            {
                "index": item.index,
                "file": item.file_name("{ext}"),
                "url": item.request.url,
                "fields": {k: v for k, v in item.request.fields.items() if k != "prompt"},
                "images": len(item.request.images),
                "request_fingerprint": item.request.fingerprint,
                "prompt": item.request.prompt,
            }
            for item in dry.first
        ],
    }
    return json_report(document, default=str)


@manifest_app.command("merge")
def merge(
    manifests: Annotated[
        list[Path], typer.Argument(help="Manifests to merge (e.g. one per shard).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The merged manifest to write.")],
    gallery: Annotated[
        bool,
        typer.Option(
            "--gallery/--no-gallery",
            help="Also write index.html next to the merged manifest, with every image copied "
            "next to it (from the folder of the manifest that records it).",
        ),
    ] = False,
) -> None:
    """Merge batch manifests: one record per item (request fingerprint and index), a success kept.

    Merging the manifests of every shard gives the records of an unsharded run.
    """
    from flux2prompt.batch import merge_manifests, read_manifest, write_gallery
    from flux2prompt.batch._manifest import gather_images

    with handle_errors(show_warnings=True):
        report = merge_manifests(manifests, out)
        stdout.print(
            f"merged {len(manifests)} manifest(s), {report.read} records, into {report.path}: "
            f"{report.written} items, {report.ok} ok, {report.failed} failed"
        )
        if gallery:
            copied = gather_images(manifests, out)
            try:
                page = write_gallery(
                    out.parent, read_manifest(out), title=out.parent.name or "batch"
                )
            except OSError as exc:  # a folder named index.html, a file named thumbnails
                fail(
                    f"{out.parent}: cannot write the gallery: {exc.strerror or exc}; remove what "
                    "is in the way or merge without --gallery"
                )
            stdout.print(f"gallery {page} ({copied} image(s) copied next to it)")
