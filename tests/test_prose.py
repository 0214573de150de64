"""Prose rendering for FLUX.2 [klein]: sentences in BFL's order, exact strings, determinism."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt import PromptError, camera, load, scene, subject
from flux2prompt._prose import render_prose

# BFL's product-photography example from its "JSON structured prompting" guide (the mug).
BFL_MUG = {
    "scene": "Professional studio product photography setup with polished concrete surface",
    "subjects": [
        {
            "description": "Minimalist ceramic coffee mug with steam rising from hot coffee inside",
            "pose": "Stationary on surface",
            "position": "Center foreground on polished concrete surface",
            "color_palette": ["matte black ceramic"],
        }
    ],
    "style": "Ultra-realistic product photography with commercial quality",
    "color_palette": ["matte black", "concrete gray", "soft white highlights"],
    "lighting": (
        "Three-point softbox setup creating soft, diffused highlights with no harsh shadows"
    ),
    "mood": "Clean, professional, minimalist",
    "background": "Polished concrete surface with studio backdrop",
    "composition": "rule of thirds",
    "camera": {
        "angle": "high angle",
        "distance": "medium shot",
        "focus": "Sharp on subject",
        "lens-mm": 85,
        "f-number": "f/5.6",
        "ISO": 200,
    },
}

# BFL's craftsman example (FLUX best practices, "flatten your JSON into flowing prose"), with
# its nested scene and technical objects written as the base schema's strings.
BFL_CRAFTSMAN = {
    "subjects": [
        {
            "type": "person",
            "description": "elderly craftsman with weathered hands",
            "position": "seated at workbench",
            "action": "carefully carving wood",
        }
    ],
    "scene": "traditional workshop in the morning",
    "lighting": "natural window light from right",
}


def test_bfls_mug_renders_as_sentences() -> None:
    assert load(BFL_MUG).to_prose() == (
        "Minimalist ceramic coffee mug with steam rising from hot coffee inside, stationary on "
        "surface, in the center foreground on polished concrete surface, in matte black ceramic. "
        "The scene is professional studio product photography setup with polished concrete "
        "surface, against polished concrete surface with studio backdrop. "
        "The style is ultra-realistic product photography with commercial quality, in a color "
        "palette of matte black, concrete gray and soft white highlights, composed by the rule "
        "of thirds. "
        "Shot from a high angle, as a medium shot, sharp on the subject, with an 85mm lens at "
        "f/5.6 and ISO 200. "
        "Lit by three-point softbox setup creating soft, diffused highlights with no harsh "
        "shadows. "
        "The mood is clean, professional, minimalist."
    )


def _sentences(prose: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", prose) if s]


def _mid_sentence_capitals(prose: str) -> list[str]:
    """Words with a capital letter that do not start a sentence, outside quotes and hex codes,
    and that are not acronyms (ISO)."""
    unquoted = re.sub(r'"[^"]*"|“[^”]*”|#[0-9A-F]{6}', "", prose)
    found: list[str] = []
    for sentence in _sentences(unquoted):
        for word in sentence.split()[1:]:
            if word[:1].isupper() and not word.rstrip(".,").isupper():
                found.append(word)
    return found


def test_bfls_mug_has_no_mid_sentence_capitals_and_no_label_fragments() -> None:
    prose = load(BFL_MUG).to_prose()
    assert _mid_sentence_capitals(prose) == []
    assert re.search(r"\b[A-Z][a-z]+( [a-z]+)?:", prose) is None  # no "Style:" or "Scene:"
    assert ":" not in prose


def test_bfls_craftsman_reads_subject_then_setting_then_light() -> None:
    assert load(BFL_CRAFTSMAN).to_prose() == (
        "Elderly craftsman with weathered hands, a person, carefully carving wood, seated at "
        "workbench. The scene is traditional workshop in the morning. "
        "Lit by natural window light from right."
    )


def test_cloudflares_misspelt_enum_is_said_right_in_prose_only() -> None:
    p = scene("a road at dusk").composition("leading leads").compile()
    assert p.to_prose() == "A road at dusk. The image is composed with leading lines."
    assert '"composition":"leading leads"' in p.to_json()


def test_prose_does_not_change_the_json_fingerprint() -> None:
    p = load(BFL_MUG)
    before = p.fingerprint
    p.to_prose()
    assert p.fingerprint == before == load(BFL_MUG).fingerprint


def test_scene_and_lighting_keep_the_documented_output() -> None:
    p = scene("a quiet harbour at dawn").lighting("soft golden light").compile()
    assert p.to_prose() == "A quiet harbour at dawn. Lit by soft golden light."
    assert render_prose(p) == p.to_prose()


def test_full_prompt_in_the_novelists_order() -> None:
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
        "Matte white ceramic mug, a product, steam rising, in the foreground, in color #FFFFFF, "
        "with an exact color match. "
        "A copper kettle, in the left third of the frame. "
        'The text "MORNING" in English, set in bold sans-serif, at large size, placed at the top. '
        "The scene is a sunlit kitchen counter, against white subway tiles. "
        "The style is product photography, in a color palette of color #1A1A1A, coral and color "
        "#C8A27A, composed by the rule of thirds. "
        "Shot at eye level, with an 85mm lens at f/2.8 and ISO 200, with shallow depth of field. "
        "Lit by soft window light. "
        "The mood is calm. "
        "Finished with subtle film grain and soft bloom. "
        "Seed hint: 7."
    )


def test_subject_setting_details_lighting_atmosphere() -> None:
    prose = (
        scene("a desert at dusk")
        .mood("still")
        .lighting("low sun")
        .style("digital painting")
        .subject("a nomad", type="desert nomad")
        .text("OASIS", language="en")
        .compile()
        .to_prose()
    )
    parts = ("nomad", '"OASIS"', "desert at", "style", "Lit", "mood")
    order = [prose.index(part) for part in parts]
    assert order == sorted(order)


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
        'The text "東京へようこそ" in Japanese, at large headline size, placed at the top centre, '
        "in color #FFFFFF. "
        'The text "مرحبا" in Arabic, set in elegant naskh, placed at the bottom. '
        "The mood is electric."
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
        "A bag, with high detail preservation."
    )
    assert one(description="a cat", type="tabby", position="on the sofa") == (
        "A cat, a tabby, on the sofa."
    )
    assert one(description="shelves", type="books", position="Upper left corner") == (
        "Shelves, books, in the upper left corner."
    )


def test_names_keep_their_capitals_ordinary_words_lose_them() -> None:
    prose = (
        scene()
        .subject("A taxi", pose="Waiting on New York Avenue", action="NYC yellow")
        .mood("iPhone-era nostalgia")
        .compile()
        .to_prose()
    )
    assert prose == (
        "A taxi, waiting on New York Avenue, NYC yellow. The mood is iPhone-era nostalgia."
    )


def test_camera_variants() -> None:
    def cam(**fields: object) -> str:
        return scene().camera(camera(**fields)).compile().to_prose()  # type: ignore[arg-type]

    assert cam(lens_mm=35, depth_of_field="shallow depth of field") == (
        "Shot with a 35mm lens, with shallow depth of field."
    )
    assert cam(lens="wide-angle lens", iso=3200.0, distance="close-up") == (
        "Shot as a close-up, with a wide-angle lens at ISO 3200."
    )
    assert cam(angle="bird's-eye", distance="extreme wide", f_number=11) == (
        "Shot from a bird's-eye view, as an extreme wide shot, at f/11."
    )
    assert cam(angle="High", focus="Selective focus") == (
        "Shot from a high angle, with selective focus."
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
    assert p.to_prose() == (
        "iPhone on a desk. The background is dark wood. The style is flat lay. The mood is joyful!"
    )


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
        "A red fox, pouncing. The scene is a red fox in snow. "
        "Shot from a low angle, with an 85mm lens at f/4 and ISO 200."
    )


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-'", min_size=1, max_size=8)
_PHRASE = st.lists(_WORD, min_size=1, max_size=5).map(" ".join)
_HEX = st.from_regex(r"#[0-9A-F]{6}", fullmatch=True)


def _appears(field: str, prose: str) -> bool:
    """Whether ``field`` is in ``prose`` whole, its first letter's case aside (a field folded
    into a sentence may lose the capital of its first word, or gain one when it leads)."""
    first = field[:1]
    return any(form + field[1:] in prose for form in (first, first.lower(), first.upper()))


@settings(max_examples=150, deadline=None)
@given(
    subjects=st.lists(
        st.tuples(_PHRASE, st.lists(_HEX, max_size=2), st.one_of(st.none(), _PHRASE)),
        max_size=3,
    ),
    texts=st.lists(st.tuples(st.text(min_size=1, max_size=12), st.one_of(st.none(), _HEX))),
    palette=st.lists(_HEX, max_size=4),
    scene_text=st.one_of(st.none(), _PHRASE),
)
def test_every_subject_text_and_hex_code_appears_in_the_prose(
    subjects: list[tuple[str, list[str], str | None]],
    texts: list[tuple[str, str | None]],
    palette: list[str],
    scene_text: str | None,
) -> None:
    builder = scene(scene_text)
    for description, colors, pose in subjects:
        builder = builder.subject(description, colors=colors or None, pose=pose)
    try:
        for content, color in texts:
            builder = builder.text(content, color=color)
        if palette:
            builder = builder.palette(*palette)
        prompt = builder.compile()
    except PromptError:
        return  # text the library refuses (control characters, blank) is not a prompt
    prose = render_prose(prompt)
    for item in prompt.subjects or ():
        assert item.description is not None
        assert _appears(item.description.strip(), prose)
        for color in item.colors or ():
            assert f"color {color}" in prose
    for element in prompt.text or ():
        assert f'"{element.content}"' in prose or f"“{element.content}”" in prose
        if element.color:
            assert f"in color {element.color}" in prose
    for color in prompt.color_palette or ():
        assert f"color {color}" in prose
    assert prose == render_prose(prompt)


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
        "A camel, walking, in the midground. The scene is dunes. "
        "The color palette is color #E8C07D, color #8C5A2B and color #F5F0E6."
    )


@pytest.mark.parametrize("tag", ["und", "zxx", "mis", "qaa", "qtz-x-house"])
def test_a_code_that_names_no_language_is_not_said_as_one(tag: str) -> None:
    # Prose read "The text "Hi" in Unknown language [qaa]." (or "in No linguistic content").
    prose = scene("a shop sign").text("Hi", language=tag).compile().to_prose()
    assert prose == 'A shop sign. The text "Hi".'
    named = scene("a shop sign").text("Hi", language="qu").compile().to_prose()
    assert named == 'A shop sign. The text "Hi" in Quechua.'


@pytest.mark.parametrize("document", [{"scene": "   "}, {"scene": "..."}, {"mood": " ; "}])
def test_a_prompt_with_no_words_is_refused_rather_than_sent_as_empty_prose(
    document: dict[str, str],
) -> None:
    # The prose was "", and a request to FLUX.2 [klein] went out with an empty prompt.
    with pytest.raises(PromptError, match=r"^to_prose\(\): the prompt has no words"):
        load(document).to_prose()


def test_blank_effects_leave_no_empty_sentence() -> None:
    prompt = load({"scene": "a harbour", "effects": ["  ", "subtle film grain"]})
    assert prompt.to_prose() == "A harbour. Finished with subtle film grain."
    assert load({"scene": "a harbour", "effects": ["  "]}).to_prose() == "A harbour."


@pytest.mark.parametrize("scene_text", [", ,", ",", " ;:", ". ,", ",\n,"])
def test_separators_alone_are_no_words_not_an_index_error(scene_text: str) -> None:
    # ", ," trimmed to "," and then to "": the sentence's last character was read from nothing.
    with pytest.raises(PromptError, match=r"^to_prose\(\): the prompt has no words"):
        load({"scene": scene_text}).to_prose()
    assert load({"scene": scene_text, "mood": "calm"}).to_prose() == "The mood is calm."
