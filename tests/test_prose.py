"""Prose rendering for FLUX.2 [klein]: BFL's priority order, exact strings, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt import PromptError, camera, load, scene, subject
from flux2prompt._prose import render_prose


def test_scene_and_lighting_keep_the_documented_output() -> None:
    p = scene("a quiet harbour at dawn").lighting("soft golden light").compile()
    assert p.to_prose() == "A quiet harbour at dawn. Lighting: soft golden light."
    assert render_prose(p) == p.to_prose()


def test_full_prompt_in_priority_order() -> None:
    p = (
        scene("a sunlit kitchen counter")
        .subject(
            subject(
                "matte white ceramic mug",
                type="product",
                pose="steam rising",
                position="foreground",
                colors=["#fff"],
                color_match="exact",
            )
        )
        .subject("a copper kettle", type="kettle", position="left third of the frame")
        .style("product photography")
        .palette("#1A1A1A", "coral", "#C8A27A")
        .lighting("soft window light")
        .mood("calm")
        .background("white subway tiles")
        .composition("rule of thirds")
        .camera(angle="eye level", lens="85mm", f_number=2.8, iso=200, depth_of_field="shallow")
        .effects("subtle film grain", "soft bloom")
        .text("MORNING", language="en", font="bold sans-serif", size="large", placement="top")
        .extra("seed_hint", 7)
        .compile()
    )
    assert p.to_prose() == (
        "Product: matte white ceramic mug, steam rising, in the foreground, in color #FFFFFF, "
        "exact color match. "
        "A copper kettle, positioned left third of the frame. "
        'The text "MORNING" in English, set in bold sans-serif, large size, placed at top. '
        "Style: product photography. "
        "Scene: a sunlit kitchen counter. "
        "Color palette: #1A1A1A, coral, #C8A27A. "
        "Lighting: soft window light. "
        "Mood: calm. "
        "Background: white subway tiles. "
        "Composition: rule of thirds. "
        "Camera: eye level, 85mm lens, f/2.8, ISO 200, shallow depth of field. "
        "Effects: subtle film grain, soft bloom. "
        "Seed_hint: 7."
    )


def test_subject_comes_before_the_scene_and_text_before_style() -> None:
    prose = (
        scene("a desert at dusk")
        .style("digital painting")
        .subject("a nomad", type="desert nomad")
        .text("OASIS", language="en")
        .compile()
        .to_prose()
    )
    order = [prose.index(part) for part in ("nomad", '"OASIS"', "Style:", "Scene:")]
    assert order == sorted(order)
    assert prose == (
        'Desert nomad: a nomad. The text "OASIS" in English. Style: digital painting. '
        "Scene: a desert at dusk."
    )


def test_without_subjects_the_scene_leads_and_text_follows() -> None:
    p = (
        scene("a minimalist concert poster")
        .mood("electric")
        .text(
            "東京へようこそ",
            language="ja",
            placement="top centre",
            color="#fff",
            size="large headline",
        )
        .text("مرحبا", language="ar", font="elegant naskh", placement="bottom")
        .compile()
    )
    assert p.to_prose() == (
        "A minimalist concert poster. "
        'The text "東京へようこそ" in Japanese, large headline size, placed at top centre, '
        "in color #FFFFFF. "
        'The text "مرحبا" in Arabic, set in elegant naskh, placed at bottom. '
        "Mood: electric."
    )


def test_text_colour_is_bound_to_the_text() -> None:
    prose = scene("x").text("SALE", color=(255, 87, 51), placement="on the banner").compile()
    assert prose.to_prose() == 'X. The text "SALE", placed on the banner, in color #FF5733.'


def test_text_with_double_quotes_uses_curly_quotes() -> None:
    prose = scene("x").text('Say "hi"', language="en").compile().to_prose()
    assert prose == 'X. The text “Say "hi"” in English.'


def test_language_names() -> None:
    prose = scene("x").text("學校", language="zh-Hant").text("नमस्ते", language="hi").compile()
    assert '"學校" in Chinese (Traditional)' in prose.to_prose()
    assert '"नमस्ते" in Hindi' in prose.to_prose()


def test_subject_variants() -> None:
    def one(**fields: object) -> str:
        return scene().subject(**fields).compile().to_prose()  # type: ignore[arg-type]

    # The type is dropped when the description already says it.
    assert one(description="a peregrine falcon", type="falcon", action="diving") == (
        "A peregrine falcon, diving."
    )
    assert one(type="falcon", position="Background") == "Falcon, in the background."
    assert one(description="a vase", color_palette=["coral", "#abc"]) == (
        "A vase, in coral and color #AABBCC."
    )
    assert one(description="a vase", colors=["#111", "#222", "#333"]) == (
        "A vase, in color #111111, color #222222 and color #333333."
    )
    assert one(description="a bag", detail_preservation="high") == (
        "A bag, high detail preservation."
    )


def test_camera_variants() -> None:
    def cam(**fields: object) -> str:
        return scene().camera(camera(**fields)).compile().to_prose()  # type: ignore[arg-type]

    assert cam(lens_mm=35, depth_of_field="shallow depth of field") == (
        "Camera: 35mm lens, shallow depth of field."
    )
    assert cam(lens="wide-angle lens", iso=3200.0, distance="close-up") == (
        "Camera: close-up, wide-angle lens, ISO 3200."
    )


def test_sentences_are_capitalised_and_end_with_periods() -> None:
    p = (
        scene("iPhone on a desk.")
        .style("flat lay;")
        .mood("Joyful!")
        .lighting("   ")
        .background("dark wood,")
        .compile()
    )
    # "iPhone" keeps its own capitals; trailing separators become one period; blank parts vanish.
    assert p.to_prose() == "iPhone on a desk. Style: flat lay. Mood: Joyful! Background: dark wood."


def test_exclamation_at_the_end_of_a_sentence_is_kept() -> None:
    assert scene("what a view!").compile().to_prose() == "What a view!"


def test_extras_come_last_as_key_value() -> None:
    p = (
        scene("infographic")
        .extra("title", "Water cycle")
        .extra("sections", [{"heading": "Rain", "visual": "drops"}, {"heading": "Sun"}])
        .extra("tags", ["a", "b"])
        .extra("flag", True)
        .extra("nothing", None)
        .compile()
    )
    assert p.to_prose() == (
        "Infographic. Title: Water cycle. "
        "Sections: (heading: Rain, visual: drops); (heading: Sun). "
        "Tags: a, b. Flag: true. Nothing: null."
    )


def test_loaded_bfl_document() -> None:
    p = load(
        {
            "scene": "a red fox in snow",
            "subjects": [{"description": "a red fox", "action": "pouncing"}],
            "camera": {"angle": "low angle", "lens-mm": 85, "f-number": "f/4", "ISO": 200},
        }
    )
    assert p.to_prose() == (
        "A red fox, pouncing. Scene: a red fox in snow. Camera: low angle, 85mm lens, f/4, ISO 200."
    )


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=20))
def test_prose_is_deterministic_and_well_formed(a: str, b: str, words: str) -> None:
    try:
        p = scene(a).mood(b).text(words or "x").compile()
    except PromptError:
        return
    prose = render_prose(p)
    assert prose == render_prose(p)
    assert prose.endswith((".", "!", "?", "。", "！", "？", "…"))


@pytest.mark.parametrize("profile", ["flux2", "cloudflare"])
def test_prose_does_not_depend_on_profile(profile: str) -> None:
    b = (
        scene("dunes")
        .subject("a camel", type="camel", pose="walking", position="midground")
        .palette("#E8C07D", "#8C5A2B", "#F5F0E6")
    )
    assert b.compile(profile=profile).to_prose() == (  # type: ignore[arg-type]
        "A camel, walking, in the midground. Scene: dunes. "
        "Color palette: #E8C07D, #8C5A2B, #F5F0E6."
    )
