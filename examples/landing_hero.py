"""The hero image of a product landing page: an isometric illustration with a headline and a
call-to-action button drawn in.

It is written as a function of no arguments, which a SOURCE can name just like a builder:

    flux2-prompt compile examples/landing_hero.py:prompt --pretty

Lint reports F2P203 (low contrast) for the button label: it measures text against the colour in
``background``, while this white label sits on the indigo button (6.3:1). A known, reviewed
exception, silenced where it is checked: ``flux2-prompt lint --ignore F2P203 ...``.
"""

from flux2prompt import (
    CameraAngle,
    Composition,
    PromptBuilder,
    color_phrase,
    scene,
    text,
)

INDIGO = "#4F46E5"
MINT = "#34D399"
MIST = "#EEF2FF"
INK = "#111827"
WHITE = "#FFFFFF"

HEADLINE = text(
    "Ship faster",
    language="en",
    font="heavy geometric sans-serif",
    size="very large headline",
    placement="left third, vertically centred",
    color=INK,
)
BUTTON_LABEL = text(
    "Start free",
    language="en",
    font="medium geometric sans-serif",
    size="small button label",
    placement="on the pill-shaped button below the headline",
    color=WHITE,
)


def prompt() -> PromptBuilder:
    """The hero: a floating isometric workspace, headline on the left, button below it."""
    button = color_phrase(INDIGO, "a pill-shaped call-to-action button", name="indigo")
    return (
        scene("the hero illustration of a developer-tools landing page, wide 16:9 banner")
        .subject(
            "a floating isometric workspace: a laptop, stacked server blocks and deploy "
            f"pipelines, {color_phrase(INDIGO, 'the server blocks', name='indigo')}, "
            f"{color_phrase(MINT, 'the pipeline lights', name='mint green')}",
            type="isometric illustration",
            pose="hovering in the right two thirds of the frame, slightly tilted",
            position="midground",
        )
        .subject(
            button,
            type="button",
            pose="resting under the headline, its label clearly legible",
            position="foreground",
        )
        .style("polished 3D isometric vector illustration, soft gradients, crisp edges")
        .palette(INDIGO, MINT, MIST, INK)
        .lighting("soft studio light from the top left with gentle ambient occlusion")
        .mood("optimistic, fast, trustworthy")
        .background(f"a clean gradient starting with color {MIST} and finishing with color {WHITE}")
        .composition(Composition.DYNAMIC_OFF_CENTER)
        .camera(angle=CameraAngle.ISOMETRIC)
        .text(HEADLINE)
        .text(BUTTON_LABEL)
    )
