"""A café window laid out with boxes: one scene for FLUX 3 Image and for FLUX.2.

The elements are placed on FLUX 3's 0-1000 grid three ways: a named region (the barista in the
left third), a detector-style pixel box (the counter, measured on a 1920x1080 reference frame),
and a raw ``[top, left, bottom, right]`` list (the sign). The caption cites each element once.
``compile_flux3()`` writes the caption and the element table; ``compile()`` (what ``prompt``
gives the command line and the demo) writes FLUX.2 JSON with each element as a subject whose
position is said in words.

    flux2-prompt compile examples/cafe_layout.py:prompt --pretty
"""

from flux2prompt import Box, scene, text

WALNUT = "#6F4E37"
NEON_PINK = "#FF2D95"

counter = Box.from_pixels(
    left=0, top=620, right=1920, bottom=1080, image_width=1920, image_height=1080
)

prompt = (
    scene()
    .caption(
        "Early morning in a small café: a <barista_1> pours coffee behind a <counter_1>, "
        "and a <sign_1> glows in the rain-streaked window"
    )
    .element(
        "barista_1",
        "a young barista with rolled sleeves and a green apron",
        "left third",
        behind="counter_1",
        pose="pouring coffee from a gooseneck kettle",
    )
    .element(
        "counter_1",
        "a polished walnut counter with a brass espresso machine",
        counter,
        colors=[WALNUT],
        pose="standing across the frame",
    )
    .element(
        "sign_1",
        text("OPEN", language="en", font="neon script", color=NEON_PINK),
        [60, 600, 300, 940],
    )
    .style("photorealistic lifestyle photo")
    .lighting("soft window light mixed with the sign's pink glow")
    .mood("quiet, warm, unhurried")
)
