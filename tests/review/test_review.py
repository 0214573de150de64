"""``flux2-prompt review``: before and after images of every changed prompt, in a real git
repository, drawn by the project's emulator over loopback, the page opened in headless Chromium
(issue 8, acceptance 4)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt.transport._provenance import read_provenance
from testkit import git

HERO = """\
from flux2prompt import scene, template

hero = scene("a lighthouse at dusk").palette("#112233", "#FFCC00")


@template
def banner(sku: str, color: str):
    return (
        scene(f"a {color} water bottle, product {sku}")
        .palette("#224466")
        .text(f"{sku}", language="en")
    )
"""

HOSTILE = """\
from flux2prompt import scene

sign = scene("a shop sign that reads <script>document.title='pwned'</script> and "
             "<img src=x onerror=\\"document.title='pwned'\\">")
"""

JOB = """\
template = "../prompts/hero.py:banner"
model = "klein-4b"
output = "{sku}.{ext}"
seeds = { derive = 7 }

[parameters]
width = 256
height = 256

[variables]
dataset = "products.csv"
"""

CSV = "sku,color\nA-1,teal\nB-2,coral\nC-3,sand\n"

PYPROJECT = """\
[project]
name = "shop"
version = "0"

[tool.flux2prompt]
modules = ["prompts/*.py"]
jobs = ["jobs/*.toml"]
"""

TOKEN = "tok-review-never-print-me"


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **env}
    for name in ("GITHUB_BASE_REF", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"):
        if name not in env:
            environment.pop(name, None)
    if "CLOUDFLARE_BASE_URL" not in env:
        environment.pop("CLOUDFLARE_BASE_URL", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "prompts").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "prompts" / "hero.py").write_text(HERO, encoding="utf-8")
    (root / "jobs" / "bottles.toml").write_text(JOB, encoding="utf-8")
    (root / "jobs" / "products.csv").write_text(CSV, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "prompts")
    return root


def change(shop: Path) -> None:
    """One hex in the module, one cell of the CSV (Japanese and Arabic), and a new module whose
    prompt holds markup."""
    edit(shop / "prompts" / "hero.py", "#112233", "#113355")
    edit(shop / "jobs" / "products.csv", "B-2,coral", "B-2,珊瑚色 مرجاني")
    (shop / "prompts" / "sign.py").write_text(HOSTILE, encoding="utf-8")


def images_in(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))


def test_review_head_writes_the_comment_and_the_page(shop: Path) -> None:
    change(shop)
    done = cli(shop, "review", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "1 changed" not in done.stdout  # two changed: the prompt and the CSV row
    assert "2 changed, 1 added, 0 removed (2 unchanged)" in done.stdout
    assert "5 drawn by the local emulator, 0 from the cache" in done.stdout
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    page = shop / "review" / "index.html"
    text = page.read_text(encoding="utf-8")
    # The comment: a table row per change, the diff lines, the cost, links to the images.
    assert markdown.startswith("## Prompt review: 2 changed, 1 added, 0 removed")
    assert "<code>prompts/hero.py:hero</code>" in markdown
    assert '~ $.color_palette[0]: "#112233" → "#113355"' in markdown
    assert "jobs/products.csv:3" in markdown
    assert "珊瑚色 مرجاني" in markdown
    assert "One run of the changed prompts costs $" in markdown
    links = re.findall(r"\]\((review/images/[^)]+)\)", markdown)
    assert len(links) == 5
    for link in links:
        assert (shop / link).is_file()
    # Nothing from a prompt is markup, in the comment or on the page.
    assert "<script>" not in markdown
    assert "<script" not in text
    assert "<img src=x" not in text
    assert html.escape("<script>document.title='pwned'</script>", quote=True) in text
    # The page: every image a relative file next to it, carrying its provenance.
    sources = images_in(page)
    assert len(sources) == 5
    for source in sources:
        assert source.startswith("images/")
        data = (page.parent / source).read_bytes()
        record = read_provenance(data)
        assert record is not None
        assert record.request_fingerprint.removeprefix("sha256:")[:20] in source
        assert record.request_fingerprint in text
    for reference in re.findall(r'(?:src|href)="([^"]+)"', text):
        assert "://" not in reference
        assert not reference.startswith("/")


def test_review_of_a_commit_before_the_last(shop: Path) -> None:
    """Acceptance 4: ``review HEAD~1`` after committing the change."""
    change(shop)
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "new colours")
    done = cli(shop, "review", "HEAD~1", "--out", "out")
    assert done.returncode == 0, done.stderr
    assert (shop / "out" / "review.md").is_file()
    assert len(images_in(shop / "out" / "review" / "index.html")) == 5
    # Against HEAD itself nothing changed: said, and a short review.md is still written.
    same = cli(shop, "review", "HEAD", "--out", "same")
    assert same.returncode == 0, same.stderr
    assert "0 changed, 0 added, 0 removed (5 unchanged)" in same.stdout
    text = (shop / "same" / "review.md").read_text(encoding="utf-8")
    assert "No prompt or job item changed its request (5 unchanged)" in text
    assert images_in(shop / "same" / "review" / "index.html") == []


def test_an_image_drawn_once_is_reused_from_the_cache(shop: Path) -> None:
    change(shop)
    first = cli(shop, "review", "HEAD")
    assert "5 drawn by the local emulator, 0 from the cache" in first.stdout
    cached = sorted((shop / ".flux2prompt-cache" / "review" / "emulator").rglob("*.jpg"))
    assert len(cached) == 5
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = cli(shop, "review", "HEAD")
    assert again.returncode == 0, again.stderr
    assert "0 drawn by the local emulator, 5 from the cache" in again.stdout
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    # One more change draws only its own two images; the cache folder is safe to delete.
    edit(shop / "jobs" / "products.csv", "C-3,sand", "C-3,dune")
    assert "2 drawn by the local emulator, 5 from the cache" in cli(shop, "review", "HEAD").stdout
    shutil.rmtree(shop / ".flux2prompt-cache")
    assert "7 drawn by the local emulator, 0 from the cache" in cli(shop, "review", "HEAD").stdout


def test_a_damaged_cached_image_is_drawn_again_not_shown_broken(shop: Path) -> None:
    change(shop)
    assert "5 drawn by the local emulator, 0 from the cache" in cli(shop, "review", "HEAD").stdout
    cut, other, *_ = sorted((shop / ".flux2prompt-cache" / "review" / "emulator").rglob("*.jpg"))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # a run killed mid-write
    other.write_bytes(b"")  # an empty file from a partly restored cache
    again = cli(shop, "review", "HEAD")
    assert again.returncode == 0, again.stderr
    assert "2 drawn by the local emulator, 3 from the cache" in again.stdout
    for name in images_in(shop / "review" / "index.html"):
        data = (shop / "review" / name).read_bytes()
        assert data.endswith(b"\xff\xd9")
        record = read_provenance(data)
        assert record is not None
        assert name.startswith("images/" + record.request_fingerprint[7:27])


def test_text_from_prompts_makes_no_link_or_image_in_the_comment(shop: Path) -> None:
    """A dataset cell written as Markdown (a link, an image from elsewhere, a bare address)
    shows as text in review.md: rendered, the comment links and loads nothing of it."""
    from markdown_it import MarkdownIt

    hostile = "[login](https://phish.example) ![t](https://track.example/p.png) www.x.example"
    edit(shop / "jobs" / "products.csv", "B-2,coral", f'B-2,"{hostile} **bold** `code`"')
    done = cli(shop, "review", "HEAD")
    assert done.returncode == 0, done.stderr
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "phish.example" in rendered  # the text is there...
    assert 'href="https://phish' not in rendered  # ...as text: no link, no image
    assert "track.example/p.png" in rendered
    assert "<img" not in rendered  # the comment has relative links only, no --link-base
    assert "<strong>" not in rendered
    assert "<code>code</code>" not in rendered
    assert "[login](https://phish.example)" in html.unescape(rendered)


def test_the_comment_stays_under_githubs_limit_with_every_change_in_the_table(
    shop: Path,
) -> None:
    """With --limit 0 every change is drawn; the table gives way before the comment would pass
    65,536 characters (a comment GitHub refuses), pointing at the page, which has them all."""
    long = "a long description of the colour " * 12
    rows = "".join(f"S-{n},{long}{n}\n" for n in range(90))
    (shop / "jobs" / "products.csv").write_text("sku,color\n" + rows, encoding="utf-8")
    git(shop, "commit", "-qam", "many products")
    edit(shop / "prompts" / "hero.py", "#224466", "#224488")  # every item of the job changes
    # Thumbnails from a deep address make each row of the table long.
    base = "https://artifacts.example.org/" + "/".join(["pull-request-review"] * 8)
    done = cli(shop, "review", "HEAD", "--limit", "0", "--link-base", base)
    assert done.returncode == 0, done.stderr
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    assert len(markdown) < 65_536
    assert re.search(r"… \d+ more change\(s\) of the table are on the page", markdown)
    assert "Before and after side by side: `review/index.html`." in markdown
    assert len(images_in(shop / "review" / "index.html")) == 180


@pytest.fixture
def emulator() -> Iterator[object]:
    from flux2prompt.emulator import serve

    with serve(seed=0) as emu:
        yield emu


def live_env(emu: object) -> dict[str, str]:
    return {
        "CLOUDFLARE_BASE_URL": emu.base_url,  # type: ignore[attr-defined]
        "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
        "CLOUDFLARE_API_TOKEN": TOKEN,
    }


def test_live_counts_the_cost_first_and_sends_only_what_is_not_cached(
    shop: Path, emulator: object
) -> None:
    change(shop)
    env = live_env(emulator)
    done = cli(shop, "review", "HEAD", "--live", "--max-cost", "1", **env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    cost = next(i for i, line in enumerate(lines) if line.startswith("cost: ~$"))
    drawn = next(i for i, line in enumerate(lines) if line.startswith("images: "))
    assert cost < drawn
    assert "for 5 image(s) to draw" in lines[cost]
    assert len(emulator.requests) == 5  # type: ignore[attr-defined]
    assert TOKEN not in done.stdout + done.stderr
    assert TOKEN.encode() not in b"".join(
        p.read_bytes() for p in (shop / "review" / "images").iterdir()
    )
    assert "images from Workers AI (billed)" in (shop / "review.md").read_text(encoding="utf-8")
    # The second run sends nothing: every image is in the cache (kept apart from the
    # emulator's placeholders).
    again = cli(shop, "review", "HEAD", "--live", **env)
    assert again.returncode == 0, again.stderr
    assert "~$0.0000 for 0 image(s) to draw" in again.stdout
    assert len(emulator.requests) == 5  # type: ignore[attr-defined]
    live = shop / ".flux2prompt-cache" / "review" / "live"
    assert len(list(live.rglob("*.jpg"))) == 5
    assert not (shop / ".flux2prompt-cache" / "review" / "emulator").exists()


def test_max_cost_refuses_before_sending_anything(shop: Path, emulator: object) -> None:
    change(shop)
    done = cli(shop, "review", "HEAD", "--live", "--max-cost", "0.0001", **live_env(emulator))
    assert done.returncode == 2
    assert emulator.requests == []  # type: ignore[attr-defined]
    # Three images of module prompts (the default model, its default size) and two job items
    # (klein-4b, 256x256), at the catalogue's published prices.
    from flux2prompt.transport import DEFAULT_MODEL, estimate_cost

    expected = 3 * estimate_cost(DEFAULT_MODEL) + 2 * estimate_cost("klein-4b", 256, 256)
    assert f"cost: ~${expected:.4f} for 5 image(s) to draw" in done.stdout
    message = done.stderr.strip().splitlines()
    assert len(message) == 1
    assert message[0].startswith(f"error: --max-cost $0.0001: drawing would cost ~${expected:.4f}")
    assert "nothing was sent" in message[0]
    assert not (shop / "review.md").exists()
    assert not (shop / "review").exists()


def test_limit_keeps_the_same_sample_and_says_how_many_were_left_out(shop: Path) -> None:
    rows = "".join(f"S-{n},colour {n}\n" for n in range(12))
    (shop / "jobs" / "products.csv").write_text("sku,color\n" + rows, encoding="utf-8")
    git(shop, "commit", "-qam", "twelve products")
    edit(shop / "prompts" / "hero.py", "#224466", "#224488")  # every item of the job changes
    edit(shop / "prompts" / "hero.py", "#112233", "#113355")
    done = cli(shop, "review", "HEAD", "--limit", "4")
    assert done.returncode == 0, done.stderr
    assert "13 changed" in done.stdout
    assert "left out 9 change(s) beyond --limit 4" in done.stdout
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    assert "9 more change(s) not shown (--limit 4)" in markdown
    assert "<code>prompts/hero.py:hero</code>" in markdown  # each prompt and job has a turn
    first = images_in(shop / "review" / "index.html")
    assert len(first) == 8
    cli(shop, "review", "HEAD", "--limit", "4")
    assert images_in(shop / "review" / "index.html") == first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("review", "no-such-branch"), "no-such-branch: no such revision in this repository"),
        (("review", "--", "-x"), "a revision cannot start with '-'"),
        (("review",), "no BASE to compare with: origin/HEAD is not set"),
        (("review", "HEAD", "--max-cost", "1"), "--max-cost goes with --live"),
        (("review", "HEAD", "--limit", "-1"), "--limit -1: give a number of changes"),
        (
            ("review", "HEAD", "--link-base", "example.org/pr/5"),
            "--link-base 'example.org/pr/5': give the http:// or https:// address OUT is",
        ),
        (
            ("review", "HEAD", "--link-base", "javascript:alert(1)//"),
            "--link-base 'javascript:alert(1)//': give the http:// or https:// address",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(shop: Path, args: tuple[str, ...], message: str) -> None:
    done = cli(shop, *args)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (shop / "review.md").exists()


def test_without_base_the_merge_base_with_the_pull_requests_base(shop: Path) -> None:
    git(shop, "checkout", "-q", "-b", "feature")
    change(shop)
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "feature")
    done = cli(shop, "review", GITHUB_BASE_REF="main")
    assert done.returncode == 0, done.stderr
    assert "review: merge base with main (" in done.stdout
    assert "2 changed, 1 added" in done.stdout
    # A clone: origin/HEAD names the default branch.
    clone = shop.parent / "clone"
    git(shop.parent, "clone", "-q", str(shop), str(clone))
    git(clone, "checkout", "-q", "feature")
    done = cli(clone, "review")
    assert done.returncode == 0, done.stderr
    assert "review: merge base with origin/HEAD (" in done.stdout


def test_a_shallow_clone_without_base_says_how_to_fetch(shop: Path) -> None:
    clone = shop.parent / "shallow"
    git(shop.parent, "clone", "-q", "--depth", "1", shop.as_uri(), str(clone))
    git(clone, "remote", "set-head", "origin", "-d")
    done = cli(clone, "review", GITHUB_BASE_REF="release")
    assert done.returncode == 2
    assert "shallow clone" in done.stderr
    assert "fetch-depth: 0" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli(clone, "review", "HEAD~1")
    assert done.returncode == 2
    assert "shallow clone" in done.stderr


# -- the page in a real browser ------------------------------------------------------------------

CHECK_SCRIPT = """
<script>
addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const out = document.createElement("pre");
  out.id = "flux2prompt-check";
  out.textContent = JSON.stringify({
    images: images.length,
    loaded,
    scripts: document.scripts.length,
    handlers: document.querySelectorAll("[onerror]").length,
    title: document.title,
    diff: [...document.querySelectorAll(".diff pre")].map((pre) => pre.textContent),
    text: document.body.textContent,
  });
  document.body.append(out);
});
</script>
"""


@pytest.mark.browser
def test_the_page_opens_in_headless_chromium(
    shop: Path, headless_chromium: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    change(shop)
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "new colours")
    assert cli(shop, "review", "HEAD~1").returncode == 0
    page = shop / "review" / "index.html"
    # The page has no script of its own: a copy next to it gets one that reports what it sees.
    check = page.with_name("check.html")
    check.write_text(
        page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
        encoding="utf-8",
    )
    result = headless_chromium("--dump-dom", check.as_uri())
    match = re.search(r'<pre id="flux2prompt-check">(.*?)</pre>', result.stdout, re.S)
    assert match is not None, result.stderr[-2000:]
    seen = json.loads(html.unescape(match.group(1)))
    assert seen["images"] == 5
    assert seen["loaded"] == seen["images"]
    assert seen["scripts"] == 1  # only the check's own
    assert seen["handlers"] == 0
    assert seen["title"].startswith("Prompt review: 2 changed, 1 added")
    assert any('~ $.color_palette[0]: "#112233" → "#113355"' in d for d in seen["diff"])
    assert "珊瑚色 مرجاني" in seen["text"]
    assert "<script>document.title='pwned'</script>" in seen["text"]
    assert "<img src=x onerror=" in seen["text"]


# -- the sample ---------------------------------------------------------------------------------


@given(
    groups=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6),
    limit=st.integers(min_value=0, max_value=20),
)
def test_the_sample_is_stable_in_order_and_fair_to_every_group(
    groups: list[int], limit: int
) -> None:
    from flux2prompt._review._plan import ReviewChange, sample
    from flux2prompt._versioning._compare import EntryChange
    from flux2prompt._versioning._inventory import InventoryEntry

    changes = []
    for number, size in enumerate(groups):
        for index in range(size):
            entry = InventoryEntry(
                f"job{number}", "item", "j", "j", f"sha256:{index}", None, index=index
            )
            added = EntryChange("added", f"job{number} [{index}]", None, entry)
            changes.append(ReviewChange(added, None, None))
    kept = sample(changes, limit)
    assert kept == sorted(set(kept))
    assert len(kept) == (len(changes) if limit == 0 else min(limit, len(changes)))
    assert kept == sample(changes, limit)
    if limit >= len(groups):
        assert {changes[i].group for i in kept} == {f"job{n}" for n in range(len(groups))}


def png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_changed_reference_image_is_reviewed_with_the_images_of_each_side(
    shop: Path, emulator: object
) -> None:
    (shop / "jobs" / "ref.png").write_bytes(png(64, 64, (10, 20, 30)))
    job = shop / "jobs" / "bottles.toml"
    edit(job, 'output = "{sku}.{ext}"', 'output = "{sku}.{ext}"\nimages = ["ref.png"]')
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "a reference image")
    (shop / "jobs" / "ref.png").write_bytes(png(64, 64, (200, 20, 30)))
    done = cli(shop, "review", "HEAD", "--live", **live_env(emulator))
    assert done.returncode == 0, done.stderr
    assert "3 changed, 0 added, 0 removed (1 unchanged)" in done.stdout  # every item
    text = (shop / "review" / "index.html").read_text(encoding="utf-8")
    # Each side sent the reference image of its own revision: the requests drawn are the ones
    # the lockfile would record, so the page shows no "locked request" of another fingerprint.
    assert "the request drawn differs" not in text
    assert "locked request" not in text
    requests = emulator.requests  # type: ignore[attr-defined]
    assert len(requests) == 6
    sent = {tuple(f.data for f in r.files.values()) for r in requests}
    assert len(sent) == 2  # the old reference image, and the new one
    assert all(len(images) == 1 for images in sent)


def test_link_base_puts_thumbnails_in_the_comment(shop: Path) -> None:
    change(shop)
    done = cli(shop, "review", "HEAD", "--link-base", "https://example.org/pr/5/")
    assert done.returncode == 0, done.stderr
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    thumbnails = re.findall(r'<img src="(https://example\.org/pr/5/review/images/[^"]+)"', markdown)
    assert len(thumbnails) == 5
    for url in thumbnails:
        assert (shop / url.removeprefix("https://example.org/pr/5/")).is_file()


POSTER = """\
name = "poster"

[prompt]
scene = "a poster of ${city}"
"""


def test_removed_prompts_and_templates_are_shown_without_inventing_images(shop: Path) -> None:
    (shop / "prompts" / "poster.prompt.toml").write_text(POSTER, encoding="utf-8")
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "a poster template")
    edit(shop / "prompts" / "poster.prompt.toml", "a poster of", "a travel poster of")
    edit(shop / "prompts" / "hero.py", 'hero = scene("a lighthouse at dusk").palette(', "(")
    done = cli(shop, "review", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "1 changed, 0 added, 1 removed" in done.stdout
    assert "1 drawn by the local emulator" in done.stdout  # the removed prompt's before only
    markdown = (shop / "review.md").read_text(encoding="utf-8")
    rows = markdown.splitlines()
    row = next(line for line in rows if "<code>prompts/hero.py:hero</code>" in line)
    assert row.startswith("| - |")
    assert row.endswith(" | — |")  # no after
    poster = next(line for line in rows if "<code>poster</code>" in line)
    assert poster.count("no image") == 2
    text = (shop / "review" / "index.html").read_text(encoding="utf-8")
    assert "a template: no variables, so no image" in text
    assert "none: removed" in text
    assert len(images_in(shop / "review" / "index.html")) == 1


BIDI_SCRIPT = """
<script>
addEventListener("load", () => {
  // Where on screen a text of the diff starts: a range over the text nodes that hold it.
  const at = (text) => {
    for (const pre of document.querySelectorAll(".diff pre")) {
      const nodes = [];
      const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) nodes.push(walker.currentNode);
      const whole = nodes.map((node) => node.data).join("");
      const start = whole.indexOf(text);
      if (start < 0) continue;
      const range = document.createRange();
      let offset = 0;
      for (const node of nodes) {
        const next = offset + node.data.length;
        if (start >= offset && start < next) range.setStart(node, start - offset);
        if (start + text.length > offset && start + text.length <= next) {
          range.setEnd(node, start + text.length - offset);
        }
        offset = next;
      }
      const box = range.getBoundingClientRect();
      return {left: box.left, top: box.top};
    }
    return null;
  };
  const out = document.createElement("pre");
  out.id = "flux2prompt-check";
  out.textContent = JSON.stringify({old: at(OLD), arrow: at(" → "), new: at(NEW)});
  document.body.append(out);
});
</script>
"""


@pytest.mark.browser
def test_right_to_left_values_keep_old_left_of_the_arrow_on_the_page(
    shop: Path, headless_chromium: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    old, new = "שלום עולם", "مرحبا بالعالم"
    sign = shop / "prompts" / "sign.py"
    sign.write_text(f"from flux2prompt import scene\n\nsign = scene({old!r})\n", encoding="utf-8")
    git(shop, "add", ".")
    git(shop, "commit", "-q", "-m", "a sign")
    edit(sign, old, new)
    assert cli(shop, "review", "HEAD").returncode == 0
    page = shop / "review" / "index.html"
    script = BIDI_SCRIPT.replace("OLD", json.dumps(f'"{old}"')).replace(
        "NEW", json.dumps(f'"{new}"')
    )
    check = page.with_name("check.html")
    check.write_text(
        page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8"
    )
    result = headless_chromium("--dump-dom", check.as_uri())
    match = re.search(r'<pre id="flux2prompt-check">(.*?)</pre>', result.stdout, re.S)
    assert match is not None, result.stderr[-2000:]
    seen = json.loads(html.unescape(match.group(1)))
    assert seen["old"]["top"] == seen["new"]["top"]  # one line of the diff
    # Read left to right, the line says old → new, as it does for left-to-right text.
    assert seen["old"]["left"] < seen["arrow"]["left"] < seen["new"]["left"], seen


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_cache_tells_a_cut_image_from_one_with_bytes_after_its_end(
    tmp_path: Path, fmt: str
) -> None:
    """A cached image cut short is drawn again; one with bytes after its end (some encoders
    leave them) is whole, and is not drawn, and paid for, again on every review."""
    import io

    from PIL import Image

    from flux2prompt._review._images import ImageCache
    from flux2prompt.transport import Provenance, build_request, write_provenance

    request = build_request("a fox", model="klein-4b", seed=1)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 90, 9)).save(buffer, format=fmt)
    image = write_provenance(buffer.getvalue(), Provenance.from_request(request))
    cache = ImageCache(tmp_path, "live")
    extension = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[fmt]
    path = cache.put(request.fingerprint, image + b"\0\0trailing", extension)
    assert cache.get(request.fingerprint) == path
    path.write_bytes(image[:-10])
    assert cache.get(request.fingerprint) is None
    other = build_request("a fox", model="klein-4b", seed=2)  # another request's record
    path.write_bytes(write_provenance(buffer.getvalue(), Provenance.from_request(other)))
    assert cache.get(request.fingerprint) is None
