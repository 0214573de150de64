"""EmulatorConfig validation, the options builder, its inverse, and the override header."""

from __future__ import annotations

import dataclasses

import pytest

from flux2prompt.emulator import EmulatorConfig, config_from_options
from flux2prompt.emulator.__main__ import build_parser
from flux2prompt.emulator._config import (
    OVERRIDABLE_FIELDS,
    TOKEN_ENV_VAR,
    config_to_argv,
    in_option_words,
    parse_format,
    parse_override_header,
)


def test_defaults() -> None:
    config = EmulatorConfig()
    assert (config.host, config.port, config.token) == ("127.0.0.1", 0, None)
    assert (config.latency_ms, config.jitter_ms, config.seed) == (0.0, 0.0, 0)
    assert config.rate_limit_per_minute is config.rate_limit_burst is config.daily_quota is None
    assert dict(config.error_ratios) == {}
    assert config.image_format == "jpeg"
    assert config.effective_burst is None


def test_frozen_hashable_and_normalised() -> None:
    config = EmulatorConfig(error_ratios={"503": 0.5})  # type: ignore[dict-item]
    assert config == EmulatorConfig(error_ratios={503: 0.5})
    assert hash(config) == hash(EmulatorConfig(error_ratios={503: 0.5}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.error_ratios[500] = 1.0  # type: ignore[index]


def test_token_stays_out_of_the_repr() -> None:
    assert "hunter2" not in repr(EmulatorConfig(token="hunter2"))


@pytest.mark.parametrize(
    ("limit", "burst", "expected"), [(720, None, 12), (30, None, 1), (720, 3, 3), (None, 5, None)]
)
def test_effective_burst(limit: int | None, burst: int | None, expected: int | None) -> None:
    config = EmulatorConfig(rate_limit_per_minute=limit, rate_limit_burst=burst)
    assert config.effective_burst == expected


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"port": 70000}, "port must be <= 65535"),
        ({"port": True}, "port must be an integer"),
        ({"host": ""}, "host must not be empty"),
        ({"token": " "}, "token must be None"),
        ({"latency_ms": -1}, "latency_ms must be >= 0.0"),
        ({"jitter_ms": float("inf")}, "jitter_ms must be a finite number"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute must be >= 1"),
        ({"rate_limit_burst": 0}, "rate_limit_burst must be >= 1"),
        ({"daily_quota": -1}, "daily_quota must be >= 0"),
        ({"drop_ratio": 1.5}, "drop_ratio must be between 0.0 and 1.0"),
        ({"html_502_ratio": -0.1}, "html_502_ratio must be between"),
        ({"error_ratios": {404: 0.5}}, "error_ratios may only inject 500, 502, 503"),
        ({"error_ratios": {"x": 0.5}}, "error_ratios keys must be HTTP statuses"),
        ({"error_ratios": {500: 0.6, 503: 0.6}}, "error_ratios must sum to at most 1.0"),
        ({"error_ratios": [0.5]}, "error_ratios must be a mapping"),
        ({"image_format": "gif"}, "image_format must be one of jpeg, png, webp"),
    ],
)
def test_invalid_values(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        EmulatorConfig(**changes)  # type: ignore[arg-type]


def test_parse_format() -> None:
    assert [parse_format(name) for name in ("jpeg", "JPG", " png ", "WebP")] == [
        "jpeg",
        "jpeg",
        "png",
        "webp",
    ]
    with pytest.raises(ValueError, match="got 'bmp'"):
        parse_format("bmp")


def test_config_from_options_maps_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    config = config_from_options(
        host="127.0.0.1",
        port=8787,
        token="t",
        latency_ms=10,
        jitter_ms=5,
        rate_limit=720,
        rate_limit_burst=4,
        daily_quota=100,
        error_500=0.1,
        error_502=0.2,
        error_503=0.3,
        drop=0.01,
        html_502=0.02,
        malformed_json=0.03,
        invalid_base64=0.04,
        seed=9,
        image_format="jpg",
    )
    assert config == EmulatorConfig(
        port=8787,
        token="t",
        latency_ms=10,
        jitter_ms=5,
        rate_limit_per_minute=720,
        rate_limit_burst=4,
        daily_quota=100,
        error_ratios={500: 0.1, 502: 0.2, 503: 0.3},
        drop_ratio=0.01,
        html_502_ratio=0.02,
        malformed_json_ratio=0.03,
        invalid_base64_ratio=0.04,
        seed=9,
        image_format="jpeg",
    )


def test_token_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV_VAR, "from-env")
    assert config_from_options().token == "from-env"
    assert config_from_options(token="flag").token == "flag"
    assert config_from_options(token="").token is None  # explicit "accept anything"


def test_argv_round_trips_through_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    config = EmulatorConfig(
        port=1234,
        latency_ms=12.5,
        jitter_ms=1 / 3,
        rate_limit_per_minute=60,
        rate_limit_burst=2,
        daily_quota=0,
        error_ratios={502: 0.125, 503: 1 / 7, 504: 0.01, 408: 0.02},
        code_ratios={4006: 0.03, 8007: 0.04, 5016: 0.05, 7000: 0.06},
        drop_ratio=0.5,
        html_502_ratio=0.25,
        malformed_json_ratio=0.1,
        invalid_base64_ratio=0.2,
        seed=42,
        image_format="webp",
        strict_klein_steps=False,
        strict_fields=False,
    )
    options = vars(build_parser().parse_args(config_to_argv(config)))
    image_format = options.pop("format")
    assert config_from_options(**options, image_format=image_format) == config
    argv = config_to_argv(dataclasses.replace(config, token="secret"))
    assert "secret" not in argv


def test_override_header_builds_a_request_config() -> None:
    base = EmulatorConfig(seed=3, error_ratios={500: 0.5})
    config = parse_override_header(base, '{"latency_ms": 20, "image_format": "JPG"}')
    assert config == dataclasses.replace(base, latency_ms=20, image_format="jpeg")
    assert OVERRIDABLE_FIELDS.isdisjoint({"seed", "token", "host", "port", "daily_quota"})
    with pytest.raises(ValueError, match="image_format must be a string"):
        parse_override_header(base, '{"image_format": 3}')


def test_code_ratios_are_checked_and_share_one_draw_with_the_statuses() -> None:
    with pytest.raises(ValueError, match="code_ratios may only inject 4006, 8007, 5016, 7000"):
        EmulatorConfig(code_ratios={3040: 0.5})
    with pytest.raises(ValueError, match=r"error_ratios and code_ratios must sum to at most 1\.0"):
        EmulatorConfig(error_ratios={503: 0.6}, code_ratios={8007: 0.6})
    with pytest.raises(ValueError, match="strict_fields must be true or false"):
        EmulatorConfig(strict_fields="no")  # type: ignore[arg-type]
    config = parse_override_header(EmulatorConfig(), '{"code_ratios": {"8007": 1.0}}')
    assert dict(config.code_ratios) == {8007: 1.0}


def test_adding_code_ratios_keeps_every_other_runs_draws() -> None:
    import random

    from flux2prompt.emulator._faults import FaultPlan

    plain = [FaultPlan.draw(EmulatorConfig(), rng) for rng in [random.Random(5)] for _ in range(20)]
    coded = [
        FaultPlan.draw(EmulatorConfig(code_ratios={8007: 0.5}), rng)
        for rng in [random.Random(5)]
        for _ in range(20)
    ]
    assert [p.image_seed for p in plain] == [p.image_seed for p in coded]
    assert {p.error_code for p in coded} == {None, 8007}


def test_the_two_broken_bodies_share_one_draw_and_say_so_in_option_words() -> None:
    with pytest.raises(
        ValueError, match=r"invalid_base64_ratio and not_an_image_ratio must sum to at most 1\.0"
    ) as info:
        EmulatorConfig(invalid_base64_ratio=0.6, not_an_image_ratio=0.5)
    assert in_option_words(str(info.value)).endswith("(--invalid-base64 and --not-an-image)")
    with pytest.raises(ValueError, match="not_an_image_ratio"):
        EmulatorConfig(not_an_image_ratio=1.5)
    assert config_from_options(not_an_image=0.3) == EmulatorConfig(not_an_image_ratio=0.3)


def test_not_an_image_round_trips_through_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    config = EmulatorConfig(invalid_base64_ratio=0.25, not_an_image_ratio=0.5)
    argv = config_to_argv(config)
    assert argv[argv.index("--not-an-image") + 1] == "0.5"
    options = vars(build_parser().parse_args(argv))
    image_format = options.pop("format")
    assert config_from_options(**options, image_format=image_format) == config
