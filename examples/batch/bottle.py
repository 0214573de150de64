"""The template of the demo batch: one water bottle, any colour, a tagline in any of two languages.

``@template`` records the variables from the signature, so the job file only has to give
``color`` and ``language``. Colours are named in the job and bound to exact hex codes here, the
way BFL recommends (a hex code next to the object it colours).

    flux2-prompt batch examples/batch/job.toml --out out/bottles --emulator
"""

from flux2prompt import color_phrase, scene, subject
from flux2prompt.batch import template

#: The product line: colour name -> hex code.
COLORS = {
    "glacier": "#7FB8C9",
    "coral": "#F26B5B",
    "graphite": "#2B2D31",
    "sand": "#D8C3A0",
}

#: The tagline in each language: short, so the model renders it exactly.
TAGLINES = {
    "en": "Stay bright",
    "ja": "いつも明るく",
}

PAPER = "#F4F1EA"


@template(name="aurora-bottle")
def bottle(color: str, language: str):
    """A studio shot of the Aurora bottle in ``color`` with its tagline in ``language``."""
    hex_code = COLORS[color]
    body = color_phrase(hex_code, "its powder-coated steel body", name=color)
    return (
        scene("a studio product photograph of an insulated steel water bottle on seamless paper")
        .subject(
            subject(
                f"the Aurora insulated water bottle, {body}, a brushed steel cap",
                type="water bottle",
                pose="standing upright, logo facing the camera",
                position="foreground",
            )
        )
        .style("photorealistic commercial product photography")
        .palette(hex_code, PAPER, "#1A1A1A")
        .lighting("large softbox from the upper left, soft contact shadow")
        .mood("fresh, clean, optimistic")
        .background(f"a seamless paper sweep in color {PAPER}")
        .camera(angle="eye level", lens="85mm", f_number=5.6)
        .text(
            TAGLINES[language],
            language=language,
            font="bold geometric sans-serif",
            size="medium headline",
            placement="top centre",
            color="#1A1A1A",
        )
    )
