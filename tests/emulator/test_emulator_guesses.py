"""Where the reference is silent, the emulator's behaviour is a switch, strict by default.

docs/emulator.md lists these under "Where the emulator guesses"; a test here per switch, over
real HTTP, in both positions.
"""

from __future__ import annotations

import httpx
import pytest

from flux2prompt.emulator import serve

ACCOUNT = "acc"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
AUTH = {"Authorization": "Bearer tok"}


def post(base_url: str, model: str, **fields: str) -> httpx.Response:
    url = f"{base_url}/accounts/{ACCOUNT}/ai/run/{model}"
    files = {name: (None, value) for name, value in fields.items()}
    return httpx.post(url, headers=AUTH, files=files)


def test_steps_sent_to_klein_are_refused_by_default() -> None:
    with serve() as emu:
        response = post(emu.base_url, KLEIN, prompt="a fox", width="256", height="256", steps="8")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 5006
    assert "steps is fixed at 4" in error["message"]


def test_steps_sent_to_klein_are_ignored_when_lenient() -> None:
    with serve(strict_klein_steps=False) as emu:
        response = post(emu.base_url, KLEIN, prompt="a fox", width="256", height="256", steps="8")
    assert response.status_code == 200
    assert response.json()["success"] is True


@pytest.mark.parametrize(("strict", "status"), [(True, 400), (False, 200)])
def test_unknown_form_fields(strict: bool, status: int) -> None:
    with serve(strict_fields=strict) as emu:
        response = post(
            emu.base_url, KLEIN, prompt="a fox", width="256", height="256", negative_prompt="x"
        )
    assert response.status_code == status
    if strict:
        assert "unexpected property 'negative_prompt'" in response.json()["errors"][0]["message"]


def test_the_switch_can_be_set_for_one_request() -> None:
    with serve() as emu:
        url = f"{emu.base_url}/accounts/{ACCOUNT}/ai/run/{KLEIN}"
        files = {"prompt": (None, "a fox"), "width": (None, "256"), "steps": (None, "8")}
        headers = {**AUTH, "x-emulator-config": '{"strict_klein_steps": false}'}
        assert httpx.post(url, headers=headers, files=files).status_code == 200
        assert httpx.post(url, headers=AUTH, files=files).status_code == 400
