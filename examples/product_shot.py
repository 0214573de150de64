"""A product shot that also satisfies Cloudflare's published schema.

Every subject has a type, description, pose and a ``Position``; the palette has exactly three hex
codes; composition and camera use Cloudflare's enums. Hex codes in the descriptions are bound to
the object they colour, the way BFL recommends.

    flux2-prompt compile examples/product_shot.py:prompt --profile cloudflare --pretty
"""

from flux2prompt import (
    CameraAngle,
    Composition,
    Focus,
    Lens,
    Position,
    ShotDistance,
    camera,
    color_phrase,
    scene,
    subject,
)

GRAPHITE = "#1C1C1E"
TRAVERTINE = "#E8DFD0"
COPPER = "#B87333"

#: A studio camera, defined once and reusable across product shots.
studio_camera = camera(
    angle=CameraAngle.SLIGHTLY_LOW,
    distance=ShotDistance.MEDIUM_CLOSE_UP,
    focus=Focus.SHARP_ON_SUBJECT,
    lens=Lens.MM_85,
    f_number=5.6,
    iso=200,
)

body = color_phrase(GRAPHITE, "its matte ceramic body", name="graphite black")
spout = color_phrase(COPPER, "a slim spout and handle", name="brushed copper")
kettle = subject(
    f"a gooseneck pour-over kettle, {body}, {spout}",
    type="pour-over kettle",
    pose="standing upright, spout angled to the left, handle facing the camera",
    position=Position.FOREGROUND,
    detail_preservation="high",
)

stone = color_phrase(TRAVERTINE, "the stone", name="warm travertine")
plinth = subject(
    f"a low cylindrical plinth of honed stone, {stone}",
    type="display plinth",
    pose="centred beneath the kettle, its top edge catching the light",
    position=Position.MIDGROUND,
)

prompt = (
    scene("a minimalist studio product photograph of a ceramic pour-over kettle on a stone plinth")
    .subject(kettle)
    .subject(plinth)
    .style("photorealistic commercial product photography")
    .palette(GRAPHITE, TRAVERTINE, COPPER)
    .lighting("large softbox from the upper left, a thin rim light tracing the kettle's silhouette")
    .mood("calm, premium, quietly confident")
    .background(f"a seamless paper sweep in color {TRAVERTINE} fading to a soft shadow")
    .composition(Composition.MINIMALIST_NEGATIVE_SPACE)
    .camera(studio_camera)
    .effects("soft contact shadow under the plinth", "subtle film grain")
)
