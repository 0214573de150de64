"""Images: magic bytes, header sizes without Pillow, input preparation, results and saving."""

from __future__ import annotations

import builtins
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from flux2prompt.transport import (
    ImageError,
    ImageResult,
    ResponseError,
    build_request,
)
from flux2prompt.transport._images import detect_format, image_size, prepare_image


@pytest.mark.parametrize(
    ("fmt", "save", "expected"),
    [
        ("jpeg", {}, "jpeg"),
        ("jpeg", {"progressive": True}, "jpeg"),
        ("png", {}, "png"),
        ("webp", {"lossless": False}, "webp"),
        ("webp", {"lossless": True}, "webp"),
        ("gif", {}, "gif"),
    ],
)
@pytest.mark.parametrize("size", [(1, 1), (333, 17), (1920, 1080), (640, 480)])
def test_format_and_size_from_header_bytes(
    make_image: Callable[..., bytes],
    fmt: str,
    save: dict[str, object],
    expected: str,
    size: tuple[int, int],
) -> None:
    data = make_image(*size, fmt, **save)
    assert detect_format(data) == expected
    assert image_size(data) == size


def test_webp_extended_vp8x_header(make_image: Callable[..., bytes]) -> None:
    from PIL import Image

    image = Image.new("RGBA", (300, 200), (1, 2, 3, 128))  # alpha forces VP8X
    out = io.BytesIO()
    image.save(out, format="WEBP", exif=b"Exif\x00\x00")
    data = out.getvalue()
    assert data[12:16] == b"VP8X"
    assert image_size(data) == (300, 200)


def test_jpeg_with_exif_before_the_frame_header(make_image: Callable[..., bytes]) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = "a description long enough to push the frame header further " * 20
    data = make_image(123, 45, "jpeg", exif=exif.tobytes())
    assert image_size(data) == (123, 45)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"hello world"],
)
def test_truncated_or_unknown_bytes_have_no_size(garbage: bytes) -> None:
    assert image_size(garbage) is None


def test_small_images_are_sent_byte_for_byte(make_image: Callable[..., bytes]) -> None:
    data = make_image(512, 300, "jpeg")
    image = build_request("x", images=[data]).images[0]
    assert image.data == data
    assert (image.format, image.width, image.height, image.resized_from) == ("jpeg", 512, 300, None)
    assert (image.field, image.filename, image.media_type) == (
        "input_image_0",
        "input_image_0.jpg",
        "image/jpeg",
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1024, 768), (512, 384)), ((600, 2000), (153, 512)), ((513, 513), (512, 512))],
)
def test_large_images_are_downscaled_keeping_aspect(
    make_image: Callable[..., bytes], size: tuple[int, int], expected: tuple[int, int]
) -> None:
    image = build_request("x", images=[make_image(*size, "png")]).images[0]
    assert (image.width, image.height) == expected
    assert image_size(image.data) == expected
    assert image.resized_from == size
    assert image.format == "png"


def test_large_images_are_refused_when_resizing_is_off(make_image: Callable[..., bytes]) -> None:
    with pytest.raises(ImageError, match=r"1024x768.*at most 512x512.*resize_images=True"):
        build_request("x", images=[make_image(1024, 768)], resize_images=False)


def test_paths_and_pillow_images(tmp_path: Path, make_image: Callable[..., bytes]) -> None:
    from PIL import Image

    path = tmp_path / "ref.webp"
    path.write_bytes(make_image(100, 50, "webp"))
    pil = Image.new("RGB", (800, 400), "navy")
    request = build_request("x", images=[path, str(path), pil])
    a, b, c = request.images
    assert a.format == b.format == "webp"
    assert a.sha256 == b.sha256
    assert (c.format, c.width, c.height, c.resized_from) == ("png", 512, 256, (800, 400))
    assert [i.field for i in request.images] == ["input_image_0", "input_image_1", "input_image_2"]
    # a single path works too
    assert len(build_request("x", images=path).images) == 1


def test_other_formats_are_converted_to_png(make_image: Callable[..., bytes]) -> None:
    image = build_request("x", images=[make_image(40, 30, "bmp")]).images[0]
    assert (image.format, image.width, image.height) == ("png", 40, 30)
    gif = build_request("x", images=[make_image(40, 30, "gif")]).images[0]
    assert gif.format == "png"


def test_unreadable_inputs_say_which_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"images\[0\].*cannot read the file") as info:
        build_request("x", images=[tmp_path / "missing.png"])
    assert info.value.parameter == "images[0]"
    with pytest.raises(ImageError, match=r"images\[0\].*not an image"):
        build_request("x", images=[b"\x00" * 64])
    with pytest.raises(ImageError, match="expected a path, bytes or a Pillow image"):
        build_request("x", images=[12345])  # type: ignore[list-item]


def test_missing_pillow_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, make_image: Callable[..., bytes]
) -> None:
    large, small = make_image(1024, 768), make_image(64, 64)
    real_import = builtins.__import__

    def no_pillow(name: str, *args: object, **kwargs: object) -> object:
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pillow)
    with pytest.raises(ImageError, match=r"pip install 'flux2-prompt\[images\]'"):
        prepare_image(large, 0)
    # Small JPEG/PNG/WebP never need Pillow.
    assert prepare_image(small, 0).width == 64


# -- results -------------------------------------------------------------------------------------


def test_result_reads_format_and_size(make_image: Callable[..., bytes]) -> None:
    for fmt, media in (("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")):
        result = ImageResult.from_bytes(make_image(320, 200, fmt), seed=4, model="m")
        assert (result.format, result.media_type, result.width, result.height) == (
            fmt,
            media,
            320,
            200,
        )
        assert "data" not in repr(result)


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"<html>oops</html>", b"\x89PNG\r\n\x1a\n"])
def test_result_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(ResponseError, match="not JPEG, PNG or WebP"):
        ImageResult.from_bytes(data, request_id="ray-1")


def test_save_is_atomic_and_checks_the_extension(
    tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    jpeg = ImageResult.from_bytes(make_image(64, 64, "jpeg"))
    target = tmp_path / "nested" / "dir" / "hero.JPG"
    assert jpeg.save(target) == target
    assert target.read_bytes() == jpeg.data
    assert jpeg.save(tmp_path / "hero.jpeg").exists()
    # an ordinary file mode (umask applied), not mkstemp's 0600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    # overwrite in place
    png = ImageResult.from_bytes(make_image(8, 8, "png"))
    png.save(tmp_path / "hero.png")
    assert ImageResult.from_bytes((tmp_path / "hero.png").read_bytes()).width == 8
    with pytest.raises(ImageError, match=r"JPEG image as 'hero.png'.*\.jpg or \.jpeg.*'hero.jpg'"):
        jpeg.save(tmp_path / "hero.png")
    with pytest.raises(ImageError, match=r"\.webp"):
        ImageResult.from_bytes(make_image(8, 8, "webp")).save(tmp_path / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hero.jpeg", "hero.png", "nested"]


def test_save_leaves_no_temporary_file_on_failure(
    tmp_path: Path, make_image: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = ImageResult.from_bytes(make_image(8, 8, "png"))
    (tmp_path / "keep.png").write_bytes(b"old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        result.save(tmp_path / "keep.png")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
    assert (tmp_path / "keep.png").read_bytes() == b"old"


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + crc + bytes(64)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    from flux2prompt.transport import ImageError, build_request
    from flux2prompt.transport._images import check_image_dimensions

    bomb = _png_header(60000, 60000)
    with pytest.raises(ImageError, match=r"claims 60000x60000 pixels") as caught:
        build_request("a fox", images=[bomb])
    assert caught.value.parameter == "images[0]"
    with pytest.raises(ImageError, match="decompression bomb"):
        check_image_dimensions(bomb, where="gallery/1.png")
    assert check_image_dimensions(_png_header(2048, 2048), where="x") == (2048, 2048)


def test_a_bomb_in_a_format_read_only_by_pillow_is_a_clean_image_error() -> None:
    import io

    from PIL import Image

    from flux2prompt.transport import ImageError, build_request

    # A BMP whose header claims 40000x40000: Pillow reads the size lazily, before any pixel.
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="BMP")
    data = bytearray(out.getvalue())
    data[18:22] = (40000).to_bytes(4, "little")
    data[22:26] = (40000).to_bytes(4, "little")
    with pytest.raises(ImageError, match=r"claims 40000x40000|more pixels than") as caught:
        build_request("a fox", images=[bytes(data)])
    assert caught.value.parameter == "images[0]"


def test_a_reference_path_that_never_ends_is_refused_not_read(tmp_path: Path) -> None:
    endless = tmp_path / "endless.png"
    endless.symlink_to("/dev/zero")
    with pytest.raises(ImageError, match=r"larger than the 67,108,864 bytes a reference image"):
        prepare_image(endless, 0)
    with pytest.raises(ImageError, match=r"images\[0\] \(.*endless.png\): cannot read the file"):
        build_request("a fox", images=[endless])


def test_a_builder_reference_that_never_ends_is_refused_when_the_request_is_built(
    tmp_path: Path,
) -> None:
    from flux2prompt import ref, scene

    endless = tmp_path / "logo.png"
    endless.symlink_to("/dev/zero")
    prompt = scene(f"a mug with the logo from {ref('logo')}").reference("logo", endless)
    with pytest.raises(ImageError, match="larger than the 67,108,864 bytes"):
        build_request(prompt)
