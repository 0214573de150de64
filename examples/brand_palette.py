"""A brand identity flat-lay whose colours are computed, not picked by hand.

``harmony`` turns the brand's base colour into split-complementary accents (in OKLCH, so they
feel equally bright); ``contrast_ratio`` chooses the most readable of them for the wordmark; and
``color_phrase`` binds each colour to the object it paints, as BFL recommends.

    flux2-prompt compile examples/brand_palette.py:prompt --pretty
"""

from flux2prompt import Composition, color_phrase, contrast_ratio, harmony, scene

BASE = "#0F766E"  # the brand's deep teal
CARD_STOCK = "#F5F1E8"  # the paper everything lies on

_, PLUM, TERRACOTTA = harmony(BASE, "split-complementary")
BRAND_COLORS = (BASE, PLUM, TERRACOTTA)

#: The brand colour most readable on the card stock: the wordmark is printed in it.
WORDMARK_COLOR = max(BRAND_COLORS, key=lambda color: contrast_ratio(color, CARD_STOCK))

objects = [
    color_phrase(BASE, "a hardcover notebook", name="deep teal"),
    color_phrase(PLUM, "a canvas tote bag", name="plum"),
    color_phrase(TERRACOTTA, "a glazed espresso cup", name="terracotta"),
]
cards = color_phrase(CARD_STOCK, "the card stock", name="warm white")

prompt = (
    scene("a top-down brand identity flat-lay for a coastal coffee roaster called Tidewater")
    .subject(
        ", ".join(objects),
        type="brand stationery set",
        pose="arranged in a loose grid with even gaps",
        position="midground",
    )
    .subject(
        f"a stack of business cards, {cards}",
        type="business cards",
        pose="fanned out in the lower right corner",
        position="foreground",
    )
    .style("editorial flat-lay photography, matte paper textures")
    .palette(*BRAND_COLORS, CARD_STOCK)
    .lighting("soft daylight from a north-facing window, gentle shadows to the lower right")
    .mood("crafted, warm, coastal")
    .background(f"a sheet of textured card stock in color {CARD_STOCK} filling the frame")
    .composition(Composition.RULE_OF_THIRDS)
    .camera(angle="bird's-eye", lens="50mm", f_number=8, iso=100)
    .text(
        "Tidewater",
        language="en",
        font="refined high-contrast serif",
        size="large wordmark",
        placement="printed on the top business card",
        color=WORDMARK_COLOR,
    )
    .text(
        "Roasted by the sea",
        language="en",
        font="small letter-spaced sans-serif capitals",
        size="small tagline",
        placement="under the wordmark",
        color=WORDMARK_COLOR,
    )
)
