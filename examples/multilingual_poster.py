"""A festival poster with its title in four languages and scripts.

Each text element keeps its exact words short (1-4 words render most reliably), names its
language as a BCP 47 tag, and binds a hex colour that contrasts with the background. The words
travel to the model as raw UTF-8: Japanese, Arabic (right to left) and Devanagari as themselves.

    flux2-prompt compile examples/multilingual_poster.py:prompt --pretty
"""

from flux2prompt import Composition, color_phrase, scene, subject

# Gold and ivory on the night sky contrast at 10:1 and 16:1 (see brand_palette.py for checking).
NIGHT = "#141A3C"
GOLD = "#F5C542"
IVORY = "#FFF6E5"
SAFFRON = "#FF9933"

lanterns = subject(
    f"hundreds of paper lanterns, {color_phrase(SAFFRON, 'their glowing paper', name='saffron')}",
    type="lanterns",
    pose="drifting upwards in loose spirals",
    position="midground",
)
skyline = subject(
    "the silhouette of a riverside city with domes, pagodas and towers",
    type="skyline",
    pose="spanning the full width of the poster",
    position="background",
)

prompt = (
    scene("a vertical festival-of-lights poster, lanterns rising over a river city at night")
    .subject(lanterns)
    .subject(skyline)
    .style("flat vector poster art with fine paper-grain texture")
    .palette(NIGHT, GOLD, IVORY, SAFFRON)
    .lighting("warm lantern glow from below, reflected in the river")
    .mood("joyful, festive, welcoming")
    .background(f"a night sky in color {NIGHT} with a faint starfield")
    .composition(Composition.STRONG_VERTICALS)
    .text(
        "Festival of Lights",
        language="en",
        font="bold geometric sans-serif",
        size="large headline",
        placement="top centre",
        color=GOLD,
    )
    .text(
        "光の祭典",
        language="ja",
        font="brush calligraphy",
        size="medium",
        placement="upper left",
        color=IVORY,
    )
    .text(
        "مهرجان الأضواء",
        language="ar",
        font="Naskh calligraphy",
        size="medium",
        placement="upper right",
        color=IVORY,
    )
    .text(
        "रोशनी का उत्सव",
        language="hi",
        font="Devanagari display",
        size="medium",
        placement="lower centre",
        color=GOLD,
    )
)
