"""CLI command: ``flux2-prompt review [BASE]``, what a change does to the pictures.

A thin face over :mod:`flux2prompt._review`. Writes ``OUT/review.md`` (for a pull-request
comment) and ``OUT/review/index.html`` (before and after side by side), with the images in
``OUT/review/images/``. Exit codes: 0 the review is written (whether or not prompts changed:
``lock --check`` is the gate), 1 it is written but some image could not be drawn, 2 a bad
BASE, an unreadable project, missing credentials with ``--live``, a ``--max-cost`` that the
images would exceed (then nothing is sent and nothing written) or that is not a number, or an
``--out`` or ``--cache`` folder that cannot be made (checked before anything is drawn).

Example:
    $ flux2-prompt review HEAD~1
    review: HEAD~1 (3f2a9c01b7de) → working tree: 1 changed, 0 added, 0 removed (3 unchanged)
    images: 2 drawn by the local emulator, 0 from the cache (.flux2prompt-cache/review)
    wrote review.md
    wrote review/index.html
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from flux2prompt.cli._app import app, output_folder
from flux2prompt.cli._output import (
    EXIT_INVALID,
    EXIT_OK,
    fail,
    handle_errors,
    print_error,
    require_emulator,
    say,
)

__all__ = ["review_command"]


def _is_web_address(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) address with a host, which a pull-request comment
    can show images from (not ``example.com/x``, a relative link there, nor ``javascript:``).

    >>> _is_web_address("https://cdn.example.com/r/12"), _is_web_address("example.com/r")
    (True, False)
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and url.isprintable()


@app.command("review")
def review_command(
    base: Annotated[
        str | None,
        typer.Argument(
            metavar="BASE",
            help="The revision to compare with. Default: the merge base of HEAD with "
            "origin/HEAD, else with $GITHUB_BASE_REF.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write review.md and review/ (index.html, images/) into.",
            parser=output_folder,
        ),
    ] = Path("."),
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            metavar="N",
            help="Show at most N changes (a sample across prompts and jobs, the same on every "
            "run); 0 shows all.",
        ),
    ] = 50,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            metavar="N",
            min=0,
            help="The seed of prompts that have none (both sides).",
        ),
    ] = 1,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Draw with Workers AI ($CLOUDFLARE_ACCOUNT_ID, $CLOUDFLARE_API_TOKEN): billed; "
            "the cost is shown first. Default: the local emulator.",
        ),
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            metavar="USD",
            help="With --live: refuse, before sending anything, when the images to draw would "
            "cost more (estimated from published prices).",
            show_default=False,
        ),
    ] = None,
    account_id: Annotated[
        str | None,
        typer.Option(
            "--account-id",
            metavar="ID",
            help="With --live: the account (default: $CLOUDFLARE_ACCOUNT_ID).",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="With --live: the API base URL (default: $CLOUDFLARE_BASE_URL, else "
            "Cloudflare's).",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            metavar="DIR",
            help="The image cache, by request fingerprint (default: .flux2prompt-cache/review "
            "at the project's root; safe to delete).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    link_base: Annotated[
        str | None,
        typer.Option(
            "--link-base",
            metavar="URL",
            help="Where OUT will be published: review.md then shows thumbnails linked there, "
            "instead of relative links.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw what the prompt changes since BASE do to the pictures: before and after.

    Finds every prompt and job item whose request changed between BASE and the working tree,
    draws both sides at the same seed and parameters (the local emulator by default; Workers
    AI with --live), and writes review.md, to post on the pull request, and review/index.html.
    Images already drawn for a request are reused from the cache.
    """
    if max_cost is not None and not live:
        fail("--max-cost goes with --live (the emulator costs nothing)")
    # NaN compares false with every cost: taken as it is, it would refuse nothing.
    if max_cost is not None and (math.isnan(max_cost) or max_cost < 0):
        fail(f"--max-cost {max_cost}: give an amount in USD, 0 or more, such as --max-cost 0.50")
    if limit < 0:
        fail(f"--limit {limit}: give a number of changes, or 0 for all")
    if (account_id or base_url) and not live:
        fail("--account-id and --base-url go with --live")
    if link_base is not None and not _is_web_address(link_base):
        fail(
            f"--link-base {link_base!r}: give the http:// or https:// address OUT is published "
            "at, such as https://example.github.io/prompt-review/pr-12"
        )
    if not live:
        require_emulator("review")
    from flux2prompt._files._project import find_project
    from flux2prompt._review import (
        CACHE_FOLDER,
        ImageCache,
        estimate,
        plan_review,
        render_sides,
        sides_of,
        write_review,
    )

    with handle_errors(show_warnings=True):
        plan = plan_review(base, limit=limit or None, seed=seed)
        project = find_project()
        folder = cache if cache is not None else project.root / CACHE_FOLDER
        store = ImageCache(folder, "live" if live else "emulator")
        sides = sides_of(plan)
        counts = plan.counts
        say(
            f"review: {plan.base.label} ({plan.base.short}) → working tree: "
            f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed "
            f"({plan.diff.unchanged} unchanged)"
        )
        for note in plan.diff.notes:
            say(f"note: {note}", err=True)
        if not plan.diff.changes:
            say("  no prompt or job item changed its request: nothing to draw")
        if plan.left_out:
            say(f"  left out {plan.left_out} change(s) beyond --limit {limit}")
        client = None
        with contextlib.ExitStack() as stack:
            if live:
                cost = estimate(sides, store)
                say(f"cost: {cost.words()} with Workers AI (published prices, before the free "
                    "allowance)")  # fmt: skip
                if max_cost is not None and (cost.cost > max_cost or cost.unpriced):
                    fail(
                        f"--max-cost ${max_cost:.4f}: drawing would cost {cost.words()}; "
                        "nothing was sent and nothing written (raise --max-cost, or lower "
                        "--limit)"
                    )
                if cost.images:
                    from flux2prompt.transport import WorkersAI

                    client = stack.enter_context(
                        WorkersAI(account_id=account_id, base_url=base_url)
                    )
            # Both folders exist before anything is drawn: an image paid for is never lost to
            # a folder that cannot be made (a file in the way, no permission).
            for option, needed in (("--out", out), ("--cache", folder)):
                try:
                    needed.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    fail(
                        f"{option} {needed}: cannot make the folder ({exc.strerror or exc}); "
                        "give a folder that can be written"
                    )
            _check_own_folders(out)
            rendered = render_sides(sides, store, client)
        try:
            where = os.path.relpath(folder)
        except ValueError:  # another drive (Windows)
            where = str(folder)
        drawer = "Workers AI" if live else "the local emulator"
        say(
            f"images: {rendered.generated} drawn by {drawer}, {rendered.reused} from the cache "
            f"({where})"
        )
        try:
            markdown, page = write_review(
                out, plan, rendered, live=live, limit=limit or None, link_base=link_base
            )
        except OSError as exc:
            fail(
                f"--out {out}: cannot write the review ({exc.strerror or exc}); the images are "
                f"kept in the cache ({where}): free space or fix the folder, then run the same "
                "command again (nothing is drawn twice)",
                EXIT_INVALID,
            )
    # A side whose request cannot be built (say, --seed past its model's range) is an image
    # that could not be drawn, as one the service refused.
    unbuilt = [side.problem for side in sides if side.problem is not None]
    for message in dict.fromkeys([*unbuilt, *rendered.failures.values()]):
        print_error(f"an image could not be drawn: {message}")
    say(f"wrote {markdown}")
    say(f"wrote {page}")
    raise typer.Exit(EXIT_INVALID if rendered.failures or unbuilt else EXIT_OK)


def _check_own_folders(out: Path) -> None:
    """Refuse, before anything is drawn, an ``OUT/review`` or ``OUT/review/images`` that is a
    symbolic link or no folder: the review writes (and clears out its old images from) folders
    of its own, never a link's target, which may be anywhere (``OUT`` is often a folder of the
    checkout, and a committed link in it is anyone's)."""
    from flux2prompt._review import IMAGES

    for relative in (Path(IMAGES).parent, Path(IMAGES)):
        path = out / relative
        if path.is_symlink():
            fail(
                f"--out {out}: {path} is a symbolic link; the review writes its own folder "
                f"there and never through a link: remove {path}, or give another --out"
            )
        if path.exists() and not path.is_dir():
            fail(
                f"--out {out}: {path} is a file, where the review writes its folder: move it "
                "away, or give another --out"
            )
