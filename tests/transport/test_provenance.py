"""Provenance in PNG, JPEG and WebP files: written byte-wise, read back, pixels untouched.

Every image here is a real file made by Pillow (or by the emulator); the checks parse the
containers independently of the module under test, and decode the pixels with Pillow.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from flux2prompt.transport import (
    ImageResult,
    Provenance,
    ProvenanceError,
    build_request,
    read_provenance,
    stamp_provenance,
    strip_provenance,
    write_provenance,
)

RECORD = Provenance(
    prompt='{"scene":"a red fox in fresh snow","style":"film"}',
    prompt_fingerprint="sha256:" + "a" * 64,
    request_fingerprint="sha256:" + "b" * 64,
    model="@cf/black-forest-labs/flux-2-klein-4b",
    parameters={"width": 256, "height": 256, "seed": 7},
    input_images=("sha256:" + "c" * 64,),
    job="foxes",
)


def _image(fmt: str, *, mode: str = "RGB", **save: object) -> bytes:
    image = Image.new(mode, (48, 32), (200, 40, 90) if mode == "RGB" else (200, 40, 90, 128))
    for x in range(48):
        image.putpixel((x, x % 32), (x * 5, 10, 200) if mode == "RGB" else (x * 5, 10, 200, x))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


IMAGES = {
    "png": _image("PNG"),
    "png-alpha": _image("PNG", mode="RGBA"),
    "jpeg": _image("JPEG", quality=90),
    "jpeg-exif": _image("JPEG", exif=Image.Exif()),
    "jpeg-progressive": _image("JPEG", progressive=True),
    "webp-lossy": _image("WEBP", quality=80),
    "webp-lossless-alpha": _image("WEBP", mode="RGBA", lossless=True),
    "webp-lossy-alpha": _image("WEBP", mode="RGBA", quality=80),
}


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        out.append((kind, body))
        pos += 12 + length
    return out


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    out, pos = [], 12
    while pos < len(data):
        kind, (length,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return out


def _pixel_data(data: bytes) -> bytes:
    """The bytes that encode the pixels, found without the module under test."""
    if data.startswith(b"\x89PNG"):
        return b"".join(body for kind, body in _png_chunks(data) if kind in (b"IHDR", b"IDAT"))
    if data.startswith(b"RIFF"):
        kinds = (b"VP8 ", b"VP8L", b"ALPH")
        return b"".join(kind + body for kind, body in _webp_chunks(data) if kind in kinds)
    return data[data.index(b"\xff\xda") :]  # JPEG: the first scan to the end


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.tobytes()


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_a_record_round_trips_and_the_pixels_stay(kind: str, tmp_path: Path) -> None:
    original = IMAGES[kind]
    path = tmp_path / f"image.{kind.split('-')[0]}"
    path.write_bytes(write_provenance(original, RECORD))
    stamped = path.read_bytes()
    assert read_provenance(stamped) == RECORD
    assert _pixel_data(stamped) == _pixel_data(original)
    assert _pixels(stamped) == _pixels(original)
    # What other readers see: Pillow finds the packet where the formats put XMP.
    with Image.open(path) as image:
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
        assert xmp is not None
        assert RECORD.request_fingerprint in (xmp.decode() if isinstance(xmp, bytes) else xmp)
    assert read_provenance(original) is None
    assert strip_provenance(stamped) == (
        original if not kind.startswith("webp") else strip_provenance(stamped)
    )
    assert read_provenance(strip_provenance(stamped)) is None


def test_png_places_one_itxt_before_idat_with_a_correct_crc() -> None:
    stamped = write_provenance(IMAGES["png"], RECORD)
    kinds = [kind for kind, _ in _png_chunks(stamped)]
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")
    body = dict(_png_chunks(stamped))[b"iTXt"]
    assert body.startswith(b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<?xpacket")
    # Writing again replaces the packet rather than adding a second one.
    again = write_provenance(stamped, RECORD)
    assert again == stamped
    assert [kind for kind, _ in _png_chunks(again)].count(b"iTXt") == 1


@pytest.mark.parametrize("kind", ["webp-lossy", "webp-lossless-alpha", "webp-lossy-alpha"])
def test_webp_gets_a_vp8x_header_with_the_xmp_flag(kind: str) -> None:
    stamped = write_provenance(IMAGES[kind], RECORD)
    chunks = _webp_chunks(stamped)
    assert chunks[0][0] == b"VP8X"
    assert chunks[-1][0] == b"XMP "
    flags = chunks[0][1][0]
    assert flags & 0x04
    assert bool(flags & 0x10) == kind.endswith("alpha")
    width = int.from_bytes(chunks[0][1][4:7], "little") + 1
    height = int.from_bytes(chunks[0][1][7:10], "little") + 1
    assert (width, height) == (48, 32)
    stripped = _webp_chunks(strip_provenance(stamped))
    assert [kind for kind, _ in stripped] == [kind for kind, _ in chunks[:-1]]
    assert not stripped[0][1][0] & 0x04


def test_jpeg_puts_xmp_after_jfif_and_exif() -> None:
    stamped = write_provenance(IMAGES["jpeg-exif"], RECORD)
    head = stamped[: stamped.index(b"\xff\xda")]
    assert head.index(b"JFIF") < head.index(b"Exif\x00\x00") < head.index(b"http://ns.adobe")


def test_a_long_prompt_goes_into_extended_xmp_in_jpeg(tmp_path: Path) -> None:
    # 350 KB of prompt (UTF-8): six extension segments, none over the 64 KB limit.
    record = Provenance("ô fox " * 50_000, "sha256:p", "sha256:r", "@cf/m", {"seed": 1})
    stamped = write_provenance(IMAGES["jpeg"], record)
    (tmp_path / "long.jpg").write_bytes(stamped)
    assert read_provenance((tmp_path / "long.jpg").read_bytes()) == record
    pos, extensions = 2, 0
    while stamped[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", stamped[pos + 2 : pos + 4])
        assert length <= 0xFFFF
        extensions += stamped[pos + 4 :].startswith(b"http://ns.adobe.com/xmp/extension/\x00")
        pos += 2 + length
    assert extensions == 6
    assert _pixels(stamped) == _pixels(IMAGES["jpeg"])
    # A missing extension segment is a clear error, not a wrong prompt.
    cut = stamped.index(b"http://ns.adobe.com/xmp/extension/") - 4
    (length,) = struct.unpack(">H", stamped[cut + 2 : cut + 4])
    with pytest.raises(ProvenanceError, match=r"extended XMP .* incomplete"):
        read_provenance(stamped[:cut] + stamped[cut + 2 + length :])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    kind=st.sampled_from(sorted(IMAGES)),
    prompt=st.text(min_size=1, max_size=300),
    parameters=st.dictionaries(
        st.sampled_from(["width", "height", "steps", "guidance", "seed", "output_format"]),
        st.one_of(st.integers(0, 2**31), st.floats(0, 20, allow_nan=False), st.text(max_size=8)),
    ),
    job=st.none() | st.text(max_size=40),
    images=st.lists(st.text(min_size=1, max_size=70), max_size=4),
)
def test_any_record_round_trips_in_any_format(
    kind: str, prompt: str, parameters: dict[str, object], job: str | None, images: list[str]
) -> None:
    record = Provenance(
        prompt, "sha256:p", "sha256:r", "@cf/m", parameters, tuple(images), job, "a.py:x"
    )
    stamped = write_provenance(IMAGES[kind], record)
    assert read_provenance(stamped) == record
    assert _pixel_data(stamped) == _pixel_data(IMAGES[kind])
    assert write_provenance(IMAGES[kind], record) == stamped  # one record, one set of bytes


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_every_truncation_is_a_clear_one_line_error(kind: str) -> None:
    stamped = write_provenance(IMAGES[kind], RECORD)
    for end in sorted({*range(0, 200, 7), *range(len(stamped) - 40, len(stamped), 3)}):
        with pytest.raises(ProvenanceError) as caught:
            read_provenance(stamped[:end])
        assert "\n" not in str(caught.value)
        assert any(word in str(caught.value) for word in ("truncated", "not an image"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an image"),
        (b"GIF89a" + bytes(20), "a GIF image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + bytes(4), "truncated PNG"),
        (b"RIFF\xff\xff\x00\x00WEBPVP8 ", "truncated WebP"),
        (b"\xff\xd8\xff\xe0\x00\x10JF", "truncated JPEG"),
        (b"\xff\xd8\xff\xe0\x00\x04ab\x00\x00\x00\x00", "malformed JPEG"),
    ],
)
def test_malformed_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ProvenanceError, match=message):
        read_provenance(data)
    with pytest.raises(ProvenanceError, match=message):
        write_provenance(data, RECORD)


def test_a_damaged_png_record_fails_its_crc() -> None:
    stamped = bytearray(write_provenance(IMAGES["png"], RECORD))
    at = stamped.index(b"RequestFingerprint>") + 30
    stamped[at] ^= 0x01
    with pytest.raises(ProvenanceError, match="fails its CRC"):
        read_provenance(bytes(stamped))


def test_foreign_xmp_is_no_provenance_and_hostile_xmp_is_refused() -> None:
    foreign = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/png"/></rdf:RDF></x:xmpmeta>'  # noqa: E501
    with_foreign = io.BytesIO()
    Image.open(io.BytesIO(IMAGES["png"])).save(with_foreign, format="PNG", pnginfo=_xmp(foreign))
    assert read_provenance(with_foreign.getvalue()) is None
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    hostile = io.BytesIO()
    Image.open(io.BytesIO(IMAGES["png"])).save(hostile, format="PNG", pnginfo=_xmp(bomb))
    with pytest.raises(ProvenanceError, match="declares entities"):
        read_provenance(hostile.getvalue())
    # Our writer replaces the foreign packet: one image, one XMP packet.
    stamped = write_provenance(with_foreign.getvalue(), RECORD)
    assert read_provenance(stamped) == RECORD
    assert stamped.count(b"XML:com.adobe.xmp") == 1


def _xmp(packet: bytes) -> object:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode(), zip=True)
    return info


def test_the_record_of_a_request_holds_no_secret() -> None:
    request = build_request("a fox", model="klein-4b", seed=3, width=256, height=256)
    record = Provenance.from_request(request, job="foxes")
    assert record.request_fingerprint == request.fingerprint
    assert record.prompt_fingerprint == request.prompt_fingerprint
    assert record.parameters == {"width": 256, "height": 256, "seed": 3}
    result = ImageResult.from_bytes(IMAGES["jpeg"]).with_provenance(record)
    assert read_provenance(result.data) == record
    assert (result.width, result.height) == (48, 32)
    assert b"Authorization" not in result.data
    assert b"Bearer" not in result.data


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("kind", ["png", "jpeg", "webp-lossy"])
def test_exiftool_shows_the_record_and_keeps_it_when_it_edits_the_file(
    kind: str, tmp_path: Path
) -> None:
    # A prompt too long for one JPEG segment: exiftool reassembles the extended XMP.
    record = Provenance("a fox\r\n" + "ô" * 40_000, "sha256:p", "sha256:r", "@cf/m", {"seed": 7})
    path = tmp_path / f"image.{kind.split('-')[0]}"
    path.write_bytes(write_provenance(IMAGES[kind], record))
    shown = subprocess.run(
        ["exiftool", "-json", "-b", "-validate", "-XMP-f2p:all", "-Validate", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    [tags] = json.loads(shown.stdout)
    assert tags["Validate"] == "OK"
    assert tags["RequestFingerprint"] == "sha256:r"
    assert tags["Seed"] == 7
    assert tags["Prompt"].replace("\r\n", "\n") == record.prompt.replace("\r\n", "\n")
    # Another tool rewrites the packet (adds a title): the record survives, exactly.
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=edited", str(path)], check=True
    )
    assert read_provenance(path.read_bytes()) == record
    assert _pixels(path.read_bytes()) == _pixels(IMAGES[kind])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    kind=st.sampled_from(sorted(IMAGES)),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=8)), max_size=4),
    cut=st.none() | st.integers(0, 10**6),
)
def test_a_damaged_file_reads_as_a_record_none_or_a_clear_error(
    kind: str, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    # Hostile input: bytes overwritten anywhere (headers, lengths, the packet), then maybe cut.
    data = bytearray(write_provenance(IMAGES[kind], RECORD))
    for at, junk in edits:
        at %= len(data)
        data[at : at + len(junk)] = junk
    damaged = bytes(data[: cut % (len(data) + 1)] if cut is not None else data)
    for operation in (read_provenance, strip_provenance, lambda d: write_provenance(d, RECORD)):
        message = ""
        try:
            operation(damaged)
        except ProvenanceError as exc:  # anything else (IndexError, struct.error) fails the test
            message = str(exc)
        assert "\n" not in message


def test_an_image_that_cannot_take_the_record_is_saved_as_it_came(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The size is readable (the service's image is accepted) but the scan has no end mark.
    jpeg = IMAGES["jpeg"]
    cut = ImageResult.from_bytes(jpeg[: len(jpeg) // 2])
    request = build_request("a fox", model="klein-4b", seed=3, width=256, height=256)
    with caplog.at_level("WARNING", logger="flux2prompt.transport"):
        kept = stamp_provenance(cut, request, job="foxes")
    assert kept.data == cut.data
    assert "image saved without provenance: truncated JPEG" in caplog.text
    assert read_provenance(stamp_provenance(ImageResult.from_bytes(jpeg), request).data) is not None


def test_a_short_vp8x_header_is_malformed_not_a_crash() -> None:
    riff = b"WEBP" + b"VP8X" + (2).to_bytes(4, "little") + b"\x00\x00"
    data = b"RIFF" + len(riff).to_bytes(4, "little") + riff
    for operation in (read_provenance, strip_provenance, lambda d: write_provenance(d, RECORD)):
        with pytest.raises(ProvenanceError, match="VP8X header is shorter"):
            operation(data)


@pytest.mark.parametrize("constant", [float("nan"), float("inf"), float("-inf")])
def test_a_record_with_a_number_json_has_not_is_damaged_and_inspect_json_stays_json(
    tmp_path: Path, constant: float
) -> None:
    # Python's json writes and reads NaN and Infinity; no request holds them, and a JSON
    # document (inspect --json) cannot: such a record reads as damaged.
    record = Provenance("a fox", "sha256:p", "sha256:r", "m", parameters={"guidance": constant})
    image = tmp_path / "odd.png"
    image.write_bytes(write_provenance(IMAGES["png"], record))
    with pytest.raises(ProvenanceError, match="the provenance record is damaged"):
        read_provenance(image.read_bytes())
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), "inspect", "--json", image.name],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr

    def strict(name: str) -> None:
        raise AssertionError(f"{name} in a --json document")

    [report] = json.loads(done.stdout, parse_constant=strict)
    assert report["status"] == "error"
    assert "damaged" in report["error"]


def test_a_record_nested_past_any_depth_is_damaged_and_inspect_says_so(tmp_path: Path) -> None:
    deep: list[object] = []
    for _ in range(5_000):
        deep = [deep]
    record = Provenance("a fox", "sha256:p", "sha256:r", "m", parameters={"guidance": deep})
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)  # to write it; a reader keeps the usual limit
    try:
        data = write_provenance(IMAGES["png"], record)
    finally:
        sys.setrecursionlimit(limit)
    image = tmp_path / "deep.png"
    image.write_bytes(data)
    with pytest.raises(ProvenanceError, match="the provenance record is damaged"):
        read_provenance(data)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flux2-prompt")), "inspect", image.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "damaged" in done.stdout + done.stderr


# -- the seal: the sha256 of the image around its packet ------------------------------------------


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_a_stamped_image_is_sealed_and_any_changed_byte_breaks_the_seal(name: str) -> None:
    request = build_request('{"scene":"a fox"}', model="klein-4b", seed=3)
    stamped = stamp_provenance(ImageResult.from_bytes(IMAGES[name]), request).data
    record = read_provenance(stamped)
    assert record is not None
    assert record.image_sha256 is not None
    assert record.image_sha256.startswith("sha256:")
    assert record.verifies(stamped)
    # The seal is not what made the image: equal to the request's own record, not in to_dict().
    assert record == Provenance.from_request(request)
    assert "image_sha256" not in record.to_dict()
    # Copies of one request are byte-identical, seal included.
    assert stamp_provenance(ImageResult.from_bytes(IMAGES[name]), request).data == stamped
    original = IMAGES[name]
    middle = stamped.find(original[len(original) // 2 : len(original) // 2 + 16])
    assert middle > 0  # the image's own data, copied byte for byte
    for at in (middle, middle + 8):
        changed = stamped[:at] + bytes([stamped[at] ^ 0x20]) + stamped[at + 1 :]
        try:
            found = read_provenance(changed)
        except ProvenanceError:
            continue  # the format's own checksum caught it (a PNG's CRC)
        assert found is not None, at
        assert not found.verifies(changed), at


def test_a_record_without_a_seal_cannot_say_and_verifies() -> None:
    # Written by write_provenance (or by a release before seals): nothing to check against.
    data = write_provenance(IMAGES["png"], RECORD)
    found = read_provenance(data)
    assert found is not None
    assert found.image_sha256 is None
    assert found.verifies(data)
    assert found.verifies(data[:-20] + bytes(20))


_OUR_PACKET = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:f2p="urn:flux2prompt:provenance:1.0/"><f2p:Version>{version}</f2p:Version>'
    "<f2p:Prompt>a fox</f2p:Prompt><f2p:Model>m</f2p:Model>{seed}"
    "<f2p:Parameters>{parameters}</f2p:Parameters></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _png_with_record(version: str, parameters: str, seed: str = "") -> bytes:
    packet = _OUR_PACKET.format(version=version, parameters=parameters, seed=seed).encode()
    out = io.BytesIO()
    Image.open(io.BytesIO(IMAGES["png"])).save(out, format="PNG", pnginfo=_xmp(packet))
    return out.getvalue()


@pytest.mark.parametrize("version", ["-3", "0", "+1", " 1", "1_0", "١", "", "x"])
def test_a_version_flux2prompt_never_writes_is_damaged(version: str) -> None:
    with pytest.raises(ProvenanceError, match=r"damaged \(version .* is not one flux2prompt"):
        read_provenance(_png_with_record(version, '{"seed":7}'))


@pytest.mark.parametrize(
    ("parameters", "seed"),
    [
        ('{"seed":7}', "<f2p:Seed>8</f2p:Seed>"),
        ('{"seed":7}', "<f2p:Seed>+7</f2p:Seed>"),
        ('{"seed":5}', "<f2p:Seed>abc</f2p:Seed>"),
        ('{"seed":5}', "<f2p:Seed></f2p:Seed>"),
        ('{"seed":12}', "<f2p:Seed>\u0661\u0662</f2p:Seed>"),
        ('{"seed":5}', "<f2p:Seed>0x5</f2p:Seed>"),
        ('{"seed":42}', "<f2p:Seed>42 (edited)</f2p:Seed>"),
        ("{}", "<f2p:Seed>8</f2p:Seed>"),
        ('{"seed":"8"}', "<f2p:Seed>8</f2p:Seed>"),
    ],
)
def test_a_shown_seed_that_is_not_the_parameters_seed_is_damaged(
    parameters: str, seed: str
) -> None:
    with pytest.raises(ProvenanceError, match=r"damaged \(f2p:Seed .* is not the seed"):
        read_provenance(_png_with_record("1", parameters, seed))


def test_a_record_in_the_shape_flux2prompt_writes_reads_with_its_seed() -> None:
    record = read_provenance(_png_with_record("1", '{"seed":7}', "<f2p:Seed>7</f2p:Seed>"))
    assert record is not None
    assert record.seed == 7
    unseeded = read_provenance(_png_with_record("1", '{"seed":null}'))
    assert unseeded is not None
    assert unseeded.seed is None


def test_a_newer_version_says_upgrade_and_a_huge_one_is_damaged() -> None:
    with pytest.raises(ProvenanceError, match="written by a newer flux2prompt"):
        read_provenance(_png_with_record("2", '{"seed":7}'))
    with pytest.raises(ProvenanceError, match=r"damaged \(version '9999"):
        read_provenance(_png_with_record("9" * 5000, '{"seed":7}'))


@pytest.mark.parametrize("name", ["Job", "Source", "Model", "Seed", "ImageSha256"])
def test_any_property_whose_base64_does_not_decode_is_damaged_not_a_crash(name: str) -> None:
    packet = _OUR_PACKET.format(version="1", parameters="{}", seed="")
    packet = packet.replace("<f2p:Model>m</f2p:Model>", f"<f2p:{name}Base64>!!</f2p:{name}Base64>")
    out = io.BytesIO()
    Image.open(io.BytesIO(IMAGES["png"])).save(out, format="PNG", pnginfo=_xmp(packet.encode()))
    with pytest.raises(ProvenanceError, match=r"damaged \(a value does not decode\)"):
        read_provenance(out.getvalue())


def test_a_newer_version_says_upgrade_even_when_its_values_do_not_decode_here() -> None:
    newer = _png_with_record("2", "not JSON at all")
    with pytest.raises(ProvenanceError, match="written by a newer flux2prompt"):
        read_provenance(newer)


def test_a_seed_of_an_int_subclass_reads_back_as_written() -> None:
    import enum

    class Seed(enum.IntEnum):
        A = 7

    request = build_request("a fox", model="klein-4b", seed=Seed.A, width=256, height=256)
    record = Provenance.from_request(request)
    back = read_provenance(write_provenance(IMAGES["png"], record))
    assert back is not None
    assert back.seed == 7


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400"])
def test_a_number_too_large_for_a_float_is_damaged_and_never_printed_as_infinity(
    number: str,
) -> None:
    with pytest.raises(ProvenanceError, match="the provenance record is damaged"):
        read_provenance(_png_with_record("1", f'{{"width":{number}}}'))
