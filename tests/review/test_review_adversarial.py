"""Hostile input to ``flux2-prompt review``: a base revision whose files are broken by the
hundred, output folders holding files the review did not write. The comment still fits a pull
request, and nothing outside the output folder is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

pytest.importorskip("flux2prompt.emulator")


def _review(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    for name in (
        "GITHUB_BASE_REF",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_BASE_URL",
    ):
        environment.pop(name, None)
    environment.update(env)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), "review", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _prompt(name: str, table: str = "[prompt]") -> str:
    return f'name = "{name}"\n{table}\nscene = "a quiet fox, number {name}"\n'


@pytest.mark.parametrize("changed", [True, False])
def test_hundreds_of_broken_files_at_base_still_fit_one_comment(
    tmp_path: Path, changed: bool
) -> None:
    """Each file that did not read at BASE is a note; past what a comment holds, the notes give
    way to a pointer to the page, which has every one."""
    (tmp_path / "prompts").mkdir()
    for n in range(700):
        # Broken at BASE: an unclosed table header.
        (tmp_path / "prompts" / f"fox-{n:03}.prompt.toml").write_text(
            _prompt(f"fox-{n:03}", "[prompt"), encoding="utf-8"
        )
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "broken prompts")
    for n in range(700):
        path = tmp_path / "prompts" / f"fox-{n:03}.prompt.toml"
        if changed:  # fixed since: each shows as added
            path.write_text(_prompt(f"fox-{n:03}"), encoding="utf-8")
        else:  # removed since: nothing changed, but the notes are still said
            path.unlink()
    done = _review(tmp_path, "HEAD", "--limit", "2")
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "review.md").read_text(encoding="utf-8")
    assert len(markdown) < 65_536
    assert "invalid TOML" in markdown
    assert "more note(s) are on the page (`review/index.html`)" in markdown
    page = (tmp_path / "review" / "index.html").read_text(encoding="utf-8")
    assert page.count("left out of the old side") == 700
    assert ("### Diffs" in markdown) is changed


def test_a_link_planted_among_the_pages_images_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    """A committed symbolic link named as one of the review's images (``OUT`` is often a folder
    of the checkout) is replaced by the image; the file it points to is left as it was."""
    project = tmp_path / "project"
    (project / "prompts").mkdir(parents=True)
    fox = project / "prompts" / "fox.prompt.toml"
    fox.write_text(_prompt("fox"), encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "fox")
    fox.write_text(_prompt("fox").replace("quiet", "wild"), encoding="utf-8")
    assert _review(project, "HEAD").returncode == 0
    images = sorted((project / "review" / "images").iterdir())
    assert len(images) == 2
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not an image: keep me\n", encoding="utf-8")
    for image in images:
        image.unlink()
        image.symlink_to(outside)
    assert _review(project, "HEAD").returncode == 0
    assert outside.read_text(encoding="utf-8") == "not an image: keep me\n"
    for image in images:
        assert not image.is_symlink()
        assert image.read_bytes()[:2] == b"\xff\xd8"  # the emulator's JPEG


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    """A repository whose one prompt file changed since HEAD."""
    project = tmp_path / "project"
    (project / "prompts").mkdir(parents=True)
    fox = project / "prompts" / "fox.prompt.toml"
    fox.write_text(_prompt("fox"), encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "fox")
    fox.write_text(_prompt("fox").replace("quiet", "wild"), encoding="utf-8")
    return project


def test_a_max_cost_that_is_not_a_number_is_refused_before_anything_is_sent(
    changed: Path,
) -> None:
    """``nan`` compares false with every cost: taken as it is, it would let any cost through."""
    done = _review(
        changed,
        "HEAD",
        "--live",
        "--max-cost",
        "nan",
        "--account-id",
        "0123456789abcdef0123456789abcdef",
        "--base-url",
        "http://127.0.0.1:9",  # nothing listens: a request sent would fail, not be billed
        CLOUDFLARE_API_TOKEN="test-token",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --max-cost nan: give an amount in USD, 0 or more, such as --max-cost 0.50"
    )
    assert not (changed / "review.md").exists()


@pytest.mark.parametrize("option", ["--out", "--cache"])
def test_an_output_or_cache_folder_that_cannot_be_made_is_refused_before_drawing(
    changed: Path, option: str
) -> None:
    (changed / "notes.txt").write_text("a file, not a folder\n", encoding="utf-8")
    done = _review(changed, "HEAD", option, "notes.txt/review")
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {option} notes.txt/review: cannot make the folder (")
    assert "drawn by" not in done.stdout  # nothing drawn: no image is lost
    assert not (changed / "review.md").exists()


def test_a_github_base_ref_that_names_no_branch_here_is_said_as_such(changed: Path) -> None:
    done = _review(changed, GITHUB_BASE_REF="release-2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: review: no BASE to compare with: origin/HEAD is not set, and $GITHUB_BASE_REF "
        "names release-2, but neither origin/release-2 nor release-2 is in this repository "
        "(fetch it: git fetch origin release-2); give BASE, such as "
        "`flux2-prompt review origin/main`"
    )


def test_a_cached_image_whose_record_was_forged_is_drawn_again(changed: Path) -> None:
    """The cache is found by request fingerprint; an image there whose record carries that
    fingerprint but another prompt (a poisoned CI cache, an edited file) is not shown."""
    import dataclasses

    from flux2prompt.transport import read_provenance, strip_provenance, write_provenance

    assert _review(changed, "HEAD").returncode == 0
    cached = sorted((changed / ".flux2prompt-cache" / "review" / "emulator").rglob("*.jpg"))
    assert len(cached) == 2
    genuine = {path: path.read_bytes() for path in cached}
    for path, data in genuine.items():
        record = read_provenance(data)
        assert record is not None
        forged = dataclasses.replace(record, prompt='{"scene":"something else entirely"}')
        path.write_bytes(write_provenance(strip_provenance(data), forged))
    done = _review(changed, "HEAD")
    assert done.returncode == 0, done.stderr
    assert "images: 2 drawn by the local emulator, 0 from the cache" in done.stdout
    for path, data in genuine.items():
        assert path.read_bytes() == data


@pytest.mark.parametrize("planted", ["review", "review/images"])
def test_a_review_folder_that_is_a_link_is_refused_before_drawing_and_its_target_untouched(
    changed: Path, tmp_path: Path, planted: str
) -> None:
    """``OUT/review`` (or its ``images/``) committed as a link to a folder elsewhere: writing
    through it would put the page there and clear out files named like old review images."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bystander = elsewhere / ("0" * 20 + ".jpg")  # named as the review names its images
    bystander.write_bytes(b"someone's file")
    link = changed / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    done = _review(changed, "HEAD")
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: --out .: {planted} is a symbolic link; the review writes its own folder there "
        f"and never through a link: remove {planted}, or give another --out"
    )
    assert "drawn by" not in done.stdout  # refused before anything was drawn
    assert sorted(p.name for p in elsewhere.iterdir()) == [bystander.name]
    assert bystander.read_bytes() == b"someone's file"
    assert not (changed / "review.md").exists()


def test_a_file_where_the_review_folder_goes_is_refused_before_drawing(changed: Path) -> None:
    (changed / "review").write_text("notes\n", encoding="utf-8")
    done = _review(changed, "HEAD")
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --out .: review is a file, where the review writes its folder")
    )
    assert "drawn by" not in done.stdout
    assert (changed / "review").read_text(encoding="utf-8") == "notes\n"
