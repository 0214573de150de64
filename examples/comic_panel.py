"""One panel of a comic strip, derived from a base panel shared by the whole strip.

The characters, style and palette are defined once in ``strip``; each panel overrides only what
changes (the action, the camera, the lettering). ``prompt`` is panel two.

    flux2-prompt compile examples/comic_panel.py:prompt --pretty
"""

from flux2prompt import CameraAngle, Composition, ShotDistance, color_phrase, scene, subject

INK = "#1B1B1B"
TEAL = "#2A9D8F"
TANGERINE = "#F4A261"
PAPER = "#FDF6E3"
BRICK = "#C8553D"  # 4:1 on PAPER; tangerine lettering would fade into the sky

mira = subject(
    f"a twelve-year-old inventor with goggles pushed up into curly hair, "
    f"{color_phrase(TANGERINE, 'her overalls', name='tangerine')}",
    type="girl",
    pose="gripping the robot's shoulder with one hand",
    position="foreground",
)
bolt = subject(
    f"a round, friendly delivery robot with stubby rocket boosters, "
    f"{color_phrase(TEAL, 'its dented metal shell', name='teal')}",
    type="robot",
    pose="leaning forward, boosters firing",
    position="foreground",
)

#: The base every panel of the strip starts from.
strip = (
    scene("a comic-strip panel above the rooftops of a harbour town")
    .subject(mira)
    .subject(bolt)
    .style("ligne claire comic art, clean black ink outlines, flat colours")
    .palette(INK, TEAL, TANGERINE, PAPER)
    .lighting("bright late-afternoon sun")
    .mood("playful, adventurous")
    .background(f"tiled rooftops and gulls under a pale sky in color {PAPER}")
)

panel_one = strip.camera(angle=CameraAngle.EYE_LEVEL, distance=ShotDistance.MEDIUM_SHOT).text(
    "Ready?",
    language="en",
    font="hand-lettered comic caps",
    size="small",
    placement="speech bubble from the girl, top left",
    color=INK,
)

prompt = (
    strip.mood("thrilling, wind-swept")
    .composition(Composition.DIAGONAL_ENERGY)
    .camera(angle=CameraAngle.LOW_ANGLE, distance=ShotDistance.WIDE_SHOT)
    .effects("speed lines behind the robot", "halftone dot shading")
    .text(
        "Hold on tight!",
        language="en",
        font="hand-lettered comic caps",
        size="medium",
        placement="speech bubble from the robot, top right",
        color=INK,
    )
    .text(
        "WHOOSH",
        language="en",
        font="bold jagged sound-effect lettering",
        size="large",
        placement="along the booster flames, bottom left",
        color=BRICK,
    )
)
