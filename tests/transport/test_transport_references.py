"""The builder's references reach the host as images, first, and their citations become the
index that host expects: image 0 on Workers AI @cf/ models, image 1 on BFL's models."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from flux2prompt import ParameterError, ref, scene
from flux2prompt.emulator import Emulator
from flux2prompt.transport import WorkersAI, build_request

from .conftest import ACCOUNT, TOKEN


def _mug(make_image: Callable[..., bytes], tmp_path: Path) -> object:
    logo = tmp_path / "logo.png"
    logo.write_bytes(make_image(64, 64))
    return (
        scene(f"the mug from {ref('mug')} printed with the logo from {ref('logo')}")
        .reference("mug", make_image(96, 96), role="the product")
        .reference("logo", logo, role="the brand's logo")
    )


def test_workers_ai_counts_from_0_and_sends_the_references_first(
    emu: Emulator, make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    builder = _mug(make_image, tmp_path)
    extra = make_image(32, 32, "jpeg")
    with WorkersAI(account_id=ACCOUNT, api_token=TOKEN, base_url=emu.base_url) as client:
        client.generate(builder, model="klein-4b", width=256, height=256, images=[extra])  # type: ignore[arg-type]
    (recorded,) = emu.requests
    assert recorded.fields["prompt"] == ("The mug from image 0 printed with the logo from image 1.")
    assert sorted(recorded.files) == ["input_image_0", "input_image_1", "input_image_2"]
    assert recorded.files["input_image_1"].data == (tmp_path / "logo.png").read_bytes()
    assert recorded.files["input_image_2"].content_type == "image/jpeg"  # the job's own, last


def test_bfl_models_count_from_1_in_json_too(
    make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    builder = _mug(make_image, tmp_path)
    request = build_request(builder, model="flex", width=256, height=256)  # type: ignore[arg-type]
    assert request.payload is not None
    sent = request.payload["input"]["prompt"]
    assert "the mug from image 1 printed with the logo from image 2" in sent
    assert len(request.payload["input"]["input_images"]) == 2
    # The prompt keeps one fingerprint across hosts; the JSON the manifest records is unresolved.
    on_cf = build_request(builder, model="dev", width=256, height=256)  # type: ignore[arg-type]
    assert on_cf.prompt_fingerprint == request.prompt_fingerprint
    assert "image 0" in on_cf.prompt
    assert "[ref:mug]" in (request.prompt_json or "")


def test_reference_hashes_join_the_request_fingerprint(
    make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    builder = _mug(make_image, tmp_path)
    one = build_request(builder, model="klein-4b")  # type: ignore[arg-type]
    other = build_request(
        builder.reference("mug", make_image(80, 80)),  # type: ignore[attr-defined]
        model="klein-4b",
    )
    assert one.prompt_fingerprint == other.prompt_fingerprint
    assert one.fingerprint != other.fingerprint
    # The same images given as images= make the same request (the documented order).
    plain = scene(f"the mug from {ref('mug')} printed with the logo from {ref('logo')}")
    with pytest.raises(ParameterError, match="no reference is named 'mug'"):
        build_request(plain, model="klein-4b")


def test_more_references_than_the_model_takes_is_refused(
    make_image: Callable[..., bytes],
) -> None:
    builder = scene(" ".join(ref(f"r{n}") for n in range(4)))
    for n in range(4):
        builder = builder.reference(f"r{n}", make_image(32, 32))
    with pytest.raises(
        ParameterError,
        match=r"takes at most 4 input images, got 5 \(4 references of the prompt and 1 images\)",
    ):
        build_request(builder, model="klein-4b", images=[make_image(32, 32)])


def test_bfl_own_api_counts_from_1_and_sends_the_references_first(
    make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    from flux2prompt.transport import BFL

    builder = _mug(make_image, tmp_path)
    extra = make_image(32, 32, "jpeg")
    with BFL(api_key="bfl-test-key") as client:
        request = client.build_request(builder, model="max", images=[extra])  # type: ignore[arg-type]
        bare = client.build_request(scene("the mug"), model="max", images=[extra])
    assert "the mug from image 1 printed with the logo from image 2" in request.prompt
    assert [name for name in request.payload if name.startswith("input_image")] == [
        "input_image",
        "input_image_2",
        "input_image_3",
    ]
    logo = (tmp_path / "logo.png").read_bytes()
    assert base64.b64decode(request.payload["input_image_2"]) == logo  # the builder's, in order
    # One prompt, one prompt fingerprint, on either host; the references join the request's.
    on_cf = build_request(builder, model="dev", width=256, height=256)  # type: ignore[arg-type]
    assert on_cf.prompt_fingerprint == request.prompt_fingerprint
    assert len(bare.references) == 1
    assert len(request.references) == 3


def test_bfl_refuses_more_references_than_the_endpoint_takes(
    make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    from flux2prompt.transport import build_bfl_request

    builder = _mug(make_image, tmp_path)
    with pytest.raises(ParameterError, match="at most 4 reference images"):
        build_bfl_request(builder, model="klein-4b", images=[make_image(32, 32)] * 3)  # type: ignore[arg-type]
