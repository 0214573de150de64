"""The fingerprints of the examples, pinned: old manifests and lockfiles must keep matching.

A prompt fingerprint is sha256 over the compact wire JSON; a request fingerprint adds the model,
the parameters and the input images. Manifests resume by request fingerprint and lockfiles check
prompt fingerprints, so a refactoring that changes either (key order, number spelling, a default)
would silently regenerate or fail every existing project. If a change here is intended, it is a
breaking change of the wire format: say so in the changelog and bump the lockfile version.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from flux2prompt import load_prompt_file, load_source
from flux2prompt.batch import load_job, plan_items
from flux2prompt.transport import build_request

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# name: (prompt fingerprint, request fingerprint of build_request(prompt, seed=7))
PROMPTS = {
    "brand_palette": (
        "sha256:88cbaa3038aff46f56060dff76cbd128ae27a91bd75059d183714f8384fdbc20",
        "sha256:fb1a03ae9fbb814db12e84d2550728390919eb58200b8251c8dadaaffef51da6",
    ),
    "comic_panel": (
        "sha256:f9e36b140098e31a96b9aeaa20e352a55a81d1f4f7e0982fc0228afe90812091",
        "sha256:5675b78657653ba104252dfd0f7576507ba9a307b0d4494988816edaf1329bb8",
    ),
    "infographic": (
        "sha256:e37625e01a05e74fad193efd99895d2c3279f1fcf497d6d1e9f769a362e8da83",
        "sha256:8da720e0fedbbb51b0848b704fd41ce04d343db4453b404dcd4a0588b6163b3a",
    ),
    "landing_hero": (
        "sha256:32d811a361cba24ba2cd52e04568455c55dbc06dd4196c289adb7fa929cf9ffa",
        "sha256:111c9e181846779c7ea0162e39d0c7ae5e3bb20bcf502c50b383aa4b24052c30",
    ),
    "multilingual_poster": (
        "sha256:e89a709c173ccb80f8db0776dd6e17b041841d29f6210c6c6ce4ce789bde9caf",
        "sha256:5efd84f7efd986f07bd8f1b391610d6b4f31d9dc96f3ec1eaadcb73bbee00759",
    ),
    "product_shot": (
        "sha256:31efcbd3c46d4a1fd65fc7161efca070856e01b94df71082523934c5d48bc15a",
        "sha256:0d1b92bec2e6f6b2b18d85b350a6e6f8628f6e0f981fbb4418e3022a683636fb",
    ),
}

# The demo batch (examples/batch/job.toml): each item's request fingerprint, in batch order, its
# prompts sent as JSON (as every runner before prompt forms sent them to klein-4b).
JOB_ITEMS = [
    "sha256:efe444ac2b8247cfbb483ad3e3767c04bd1a2d35510bd037c5b4084c0cdfbe66",
    "sha256:005a36702495f61a84a477fe1bb39ea93e100d171533d97e847464fa241aa538",
    "sha256:b2631ea19e83a827c419f328a9fa435c9d5a8143ceaeada531ab1a5a43acc2c2",
    "sha256:cd5588844327e367fb73305aa8c573fbc541d3fe6f860b1ca1b5151bf78f1539",
    "sha256:4fc36cd0f33b1aec540049a9f529dd0f1c6f1e24c9b990800f478d37c23c65ce",
    "sha256:b38ba0812cfb44c3f2418554c8fb400589a8b3b9579ed8437303be3135afc6c0",
    "sha256:92afb029d4175027690148f863f27eb09826e3796e0754348e6299239d0b62a3",
    "sha256:f70ef608da3127c3ffca4c6f0cb46c7b95135164d50ea01c9b9e1efbff55e62d",
]

# The same items in klein's own form, prose (prompt_format "auto"), pinned from its first release:
# the form is part of the request, so these differ from the JSON ones above, by design.
JOB_ITEMS_PROSE = [
    "sha256:ce91130d924e4adf6a925fb7a2d5b66391486100712e44de5872d9d64a74d0d7",
    "sha256:23ca084a2c2b2a4203ddcdecb54c98bcdc5f40eb1bd4944d220995b78119e8e5",
    "sha256:0aaaae44c35b8b5a273f709b72ca6bc4ca216447a8724e93ef349c17310cfe14",
    "sha256:af91020c79329c46efe8c6800d88764fe0cab1ac6ad90943603a99afeab67942",
    "sha256:aed7f650f9857c05af68a1a957d2644dad671b674d57f38303c7f5a939118e76",
    "sha256:afde98638d3ac2ee3742786796985b33d4935b325c412c73372720897b41255c",
    "sha256:3be9658000c518619d35d424332a87c18fdb6aad22d18a3f3073b14e1dc9765a",
    "sha256:142c02d14ced1885f067836180715b7fb2a50f2c5fea83380647508aa417c14f",
]

# build_request({"scene": "a tea house at dusk"}, model="flex", width=64, height=64)
PROXIED_FLEX = "sha256:3485df9d18de8c8be964887435a5907eb34ffed48510ce73897e86bc41c6aa91"


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_example_prompt_and_request_fingerprints_are_pinned(name: str) -> None:
    prompt = load_source(f"{EXAMPLES / name}.py:prompt").prompt
    expected_prompt, expected_request = PROMPTS[name]
    assert prompt.fingerprint == expected_prompt
    assert build_request(prompt, seed=7).fingerprint == expected_request


def test_prompt_file_fingerprint_is_pinned() -> None:
    prompt = load_prompt_file(EXAMPLES / "prompts" / "mug-hero.prompt.toml").prompt
    assert prompt.fingerprint == (
        "sha256:e8a8b7a08bee7f2b9cd2cbd2f1333c4ad1f0ad3dfe500b0cbc8a471322decd62"
    )


def test_the_demo_batch_request_fingerprints_are_pinned() -> None:
    job = load_job(EXAMPLES / "batch" / "job.toml")
    # Sent as JSON, each item keeps the fingerprint it always had: old manifests still match
    # (a folder made before forms resumes in JSON, the form its manifest recorded).
    as_json = dataclasses.replace(job, prompt_format="json")
    assert [item.key for item in plan_items(as_json)] == JOB_ITEMS
    assert [item.key for item in plan_items(job)] == JOB_ITEMS_PROSE


def test_a_proxied_request_fingerprint_is_pinned() -> None:
    # The proxied route is new: pinned from its first release so that it never drifts either.
    request = build_request({"scene": "a tea house at dusk"}, model="flex", width=64, height=64)
    assert request.fingerprint == PROXIED_FLEX
