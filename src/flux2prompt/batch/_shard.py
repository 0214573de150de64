"""Shards: a stable, disjoint and complete partition of a batch by request fingerprint.

Shard ``i/n`` (numbered from 1) holds the items whose request fingerprint, read as a number
from its first 16 hex digits, leaves remainder ``i - 1`` when divided by ``n``. The request
fingerprint depends only on what is sent, so every machine computes the same partition without
talking to the others, and each item belongs to exactly one shard.

Example:
    >>> shard = Shard.parse("2/3")
    >>> shard.index, shard.count, str(shard)
    (2, 3, '2/3')
    >>> fp = "sha256:" + "00000000000000050" + "0" * 47
    >>> [Shard(i, 3).contains(fp) for i in (1, 2, 3)]
    [False, False, True]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flux2prompt._errors import PromptError

__all__ = ["Shard", "shard_number"]

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_number(fingerprint: str, count: int) -> int:
    """The shard (1..count) that a request fingerprint belongs to.

    Example:
        >>> shard_number("sha256:" + "f" * 64, 4)
        4
    """
    digest = fingerprint.partition(":")[2] or fingerprint
    return int(digest[:16], 16) % count + 1


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as in ``--shard 1/4`` ... ``--shard 4/4``).

    Example:
        >>> Shard.parse("0/4")
        Traceback (most recent call last):
        ...
        flux2prompt.PromptError: shard '0/4': shards are numbered 1 to 4 (a Kubernetes indexed Job: --shard $((JOB_COMPLETION_INDEX + 1))/4)
    """  # noqa: E501

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise PromptError(f"shard '{self.index}/{self.count}': the count must be at least 1")
        if not 1 <= self.index <= self.count:
            raise PromptError(
                f"shard '{self.index}/{self.count}': shards are numbered 1 to {self.count} "
                f"(a Kubernetes indexed Job: --shard $((JOB_COMPLETION_INDEX + 1))/{self.count})"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Read ``"i/n"``."""
        match = _SHARD.match(text)
        if match is None:
            raise PromptError(f"shard {text!r}: write it as i/n, e.g. 1/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def contains(self, fingerprint: str) -> bool:
        """Whether the item with this request fingerprint belongs to this shard."""
        return shard_number(fingerprint, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
