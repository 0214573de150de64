"""``generate --out`` naming a symbolic link: the image is written through the link to its
target (as a shell's ``>`` does) and the link is kept; a loop or a target of another format is
refused before anything is sent; an answer that is no image is kept beside it. Run as the
installed ``flux2-prompt`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flux2prompt.transport import ImageResult

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


def generate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (cwd / "p.json").write_text('{"scene": "a paper crane"}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    return subprocess.run(
        [COMMAND, "generate", "p.json", "--emulator", "--width", "256", "--height", "256", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_link_is_written_through_and_kept(tmp_path: Path) -> None:
    (tmp_path / "renders").mkdir()
    target = tmp_path / "renders" / "crane.png"
    target.write_bytes(b"old")
    link = tmp_path / "latest.png"
    link.symlink_to(Path("renders") / "crane.png")
    done = generate(tmp_path, "--out", "latest.png")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert os.readlink(link) == str(Path("renders") / "crane.png")
    assert ImageResult.from_bytes(target.read_bytes()).format == "png"
    assert f"wrote {target}" in done.stdout
    assert "is a symbolic link: wrote its target" in done.stderr


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    (tmp_path / "renders").mkdir()
    (tmp_path / "next.jpg").symlink_to(tmp_path / "renders" / "new.jpg")
    done = generate(tmp_path, "--out", "next.jpg")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "next.jpg").is_symlink()
    assert ImageResult.from_bytes((tmp_path / "renders" / "new.jpg").read_bytes()).format == "jpeg"


def test_a_loop_or_a_target_of_another_format_is_refused_before_sending(tmp_path: Path) -> None:
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    looped = generate(tmp_path, "--out", "a.png")
    assert looped.returncode == 2
    assert "symbolic link" in looped.stderr
    assert looped.stderr.count("\n") == 1
    (tmp_path / "shot.png").write_bytes(b"keep")
    (tmp_path / "latest.jpg").symlink_to(tmp_path / "shot.png")
    mixed = generate(tmp_path, "--out", "latest.jpg")
    assert mixed.returncode == 2
    assert "another format (PNG)" in mixed.stderr
    assert (tmp_path / "shot.png").read_bytes() == b"keep"
    assert (tmp_path / "latest.jpg").is_symlink()


def test_an_unknown_model_is_answered_in_the_command_lines_words(tmp_path: Path) -> None:
    done = generate(tmp_path, "--out", "o.jpg", "--model", "flux-9")
    assert done.returncode == 2
    assert "--allow-unknown-model and --route 'multipart'" in done.stderr
    assert "allow_unknown_model=" not in done.stderr


def test_a_flux3_image_reports_no_seed(tmp_path: Path) -> None:
    cafe = Path(__file__).resolve().parents[2] / "examples" / "cafe_layout.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    args = ["--target", "flux3", "--provider", "bfl", "--emulator"]
    done = subprocess.run(
        [COMMAND, "generate", f"{cafe}:prompt", *args, "--out", str(tmp_path / "cafe.jpg")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "seed      none (flux-3-image takes no seed)" in done.stdout


def test_an_answer_that_is_no_image_is_kept_beside_out_never_over_a_file(tmp_path: Path) -> None:
    from flux2prompt.emulator import serve

    (tmp_path / "p.json").write_text('{"scene": "a paper crane"}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "BFL_"))}
    env["CLOUDFLARE_API_TOKEN"] = "tok-test"
    (tmp_path / "crane.unreadable.bin").write_bytes(b"mine")  # a file the user has: kept as is
    with serve(not_an_image_ratio=1.0) as emu:
        args = ["--out", "crane.jpg", "--account-id", "acc", "--base-url", emu.base_url]
        done = subprocess.run(
            [COMMAND, "generate", "p.json", *args, "--width", "256", "--height", "256"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert sum(1 for r in emu.requests if r.method == "POST") == 1
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "crane.jpg").exists()
    assert (tmp_path / "crane.unreadable.bin").read_bytes() == b"mine"
    kept = tmp_path / "crane.unreadable.1.bin"
    assert kept.read_bytes().startswith(b"GIF89a")
    assert f"they were kept as {kept.name}" in done.stderr
    assert "error: the image is GIF, not JPEG, PNG or WebP (43 bytes)" in done.stderr
    # The note comes first, then the error the command ends with.
    assert done.stderr.index("kept as") < done.stderr.index("error:")
