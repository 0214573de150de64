"""An infographic: short labels as text elements, the layout as a custom extra.

BFL's own infographic example uses keys of its own (``sections`` and so on); here the standard
keys carry the picture and ``.extra()`` adds the ``sections`` key explicitly, kept after the
known keys in the order added. The stage labels share one style, so a small loop adds them.

    flux2-prompt compile examples/infographic.py:prompt --pretty
"""

from flux2prompt import Composition, color_phrase, scene

OCEAN = "#1D4E89"
SKY = "#9AD1F5"
LEAF = "#3C9A5F"
CLOUD = "#F7FAFC"
SLATE = "#22313F"

#: (label, where it sits, what the section shows)
STAGES = [
    ("Evaporation", "above the sea", color_phrase(SKY, "wavy arrows rising from the sea")),
    ("Condensation", "beside the clouds", "a cluster of white clouds gathering over the hills"),
    ("Precipitation", "beside the rain", "slanted rain lines falling onto the mountain slope"),
    ("Collection", "beside the river", "a river winding back down to the sea"),
]

sea = color_phrase(OCEAN, "the sea", name="deep ocean blue")
hills = color_phrase(LEAF, "the hills", name="leaf green")

diagram = (
    scene("an educational infographic of the water cycle over a coastal landscape")
    .subject(
        f"a cross-section landscape of sea, hills and a mountain, {sea}, {hills}",
        type="landscape diagram",
        pose="laid out left to right, sea on the left and mountain on the right",
        position="midground",
    )
    .subject(
        "four numbered stage labels, each with a small icon, joined by a circular arrow",
        type="diagram labels",
        pose="arranged clockwise around the landscape",
        position="foreground",
    )
    .style("clean flat vector infographic, rounded shapes, generous white space")
    .palette(OCEAN, SKY, LEAF, CLOUD, SLATE)
    .lighting("even, shadowless illustration lighting")
    .mood("clear, friendly, instructive")
    .background(f"a plain panel in color {CLOUD}")
    .composition(Composition.CIRCULAR_ARRANGEMENT)
    .text(
        "The Water Cycle",
        language="en",
        font="bold rounded sans-serif",
        size="large title",
        placement="top centre",
        color=SLATE,
    )
)

prompt = diagram
for label, placement, _ in STAGES:
    prompt = prompt.text(
        label,
        language="en",
        font="rounded sans-serif",
        size="small label",
        placement=placement,
        color=OCEAN,
    )
prompt = prompt.extra(
    "sections", [{"heading": label, "visual": visual} for label, _, visual in STAGES]
)
