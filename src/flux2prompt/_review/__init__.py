"""``flux2-prompt review``: what a change does to the pictures.

Above the batch runner in the layers (it starts the emulator through the batch package's
recipe, :func:`flux2prompt.batch.emulated`) and below the command line. One run:

1. :func:`~flux2prompt._review._plan.plan_review`: the prompts and job items whose request
   changed between BASE and the working tree, each side's request rebuilt;
2. :func:`estimate`: what the images not yet cached would cost (with ``--live``; shown, and
   checked against ``--max-cost``, before anything is sent);
3. :func:`~flux2prompt._review._images.render_sides`: those images drawn, by the local
   emulator or Workers AI, into the content-addressed cache;
4. :func:`~flux2prompt._review._write.write_review`: ``review.md`` and ``review/index.html``.

Example:
    >>> from flux2prompt._review._plan import sample
    >>> sample([], None)
    []
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flux2prompt._review._base import Base, resolve_base
from flux2prompt._review._images import (
    CACHE_FOLDER,
    ImageCache,
    Rendered,
    emulator_client,
    pending,
    render_sides,
)
from flux2prompt._review._plan import DEFAULT_SEED, ReviewChange, ReviewPlan, Side, plan_review
from flux2prompt._review._write import IMAGES, MARKDOWN, PAGE, write_review

__all__ = [
    "CACHE_FOLDER",
    "DEFAULT_SEED",
    "IMAGES",
    "MARKDOWN",
    "PAGE",
    "Base",
    "Estimate",
    "ImageCache",
    "Rendered",
    "ReviewChange",
    "ReviewPlan",
    "Side",
    "emulator_client",
    "estimate",
    "pending",
    "plan_review",
    "render_sides",
    "resolve_base",
    "sides_of",
    "write_review",
]


def sides_of(plan: ReviewPlan) -> list[Side]:
    """Every side of the changes shown, before then after, in the plan's order."""
    return [side for change in plan.changes for side in change.sides]


@dataclass(frozen=True, slots=True)
class Estimate:
    """What drawing the images still missing from the cache would cost: ``images`` to draw,
    ``cost`` in USD over the priced ones, ``unpriced`` how many have no published price."""

    images: int
    cost: float
    unpriced: int

    def words(self) -> str:
        """``~$0.0030 for 4 image(s) to draw`` (and the unpriced ones)."""
        text = f"~${self.cost:.4f} for {self.images} image(s) to draw"
        if self.unpriced:
            text += f" ({self.unpriced} on a model without a published price, not counted)"
        return text


def estimate(sides: Iterable[Side], cache: ImageCache) -> Estimate:
    """The :class:`Estimate` of drawing ``sides`` that ``cache`` does not hold yet."""
    todo = pending(sides, cache)
    priced = [side.cost for side in todo if side.cost is not None]
    return Estimate(len(todo), sum(priced), len(todo) - len(priced))
