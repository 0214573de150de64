"""Reading JSON strictly: what Python's parser takes beyond JSON is refused in one way.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``-Infinity``, and reads a number too large for
a float (``1e999``) as infinity. No JSON document holds either, and the command line prints JSON,
so the readers of manifests, lockfiles, provenance records and request bodies refuse them with
these two hooks (a prompt document's reader refuses the constants with its own error, which
names where they are).

Example:
    >>> import json
    >>> json.loads("[2.8, 1e-3]", parse_constant=refuse_constant, parse_float=finite_float)
    [2.8, 0.001]
    >>> json.loads("[NaN]", parse_constant=refuse_constant)
    Traceback (most recent call last):
    ...
    ValueError: NaN is not a JSON number
"""

from __future__ import annotations

import math
from typing import NoReturn

__all__ = ["finite_float", "refuse_constant"]


def refuse_constant(name: str) -> NoReturn:
    """``parse_constant=`` for :func:`json.loads`: ``NaN``, ``Infinity`` and ``-Infinity`` are a
    :class:`ValueError`."""
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    """``parse_float=`` for :func:`json.loads`: a number too large for a float is a
    :class:`ValueError`, not infinity.

    >>> finite_float("1e999")
    Traceback (most recent call last):
    ...
    ValueError: the number 1e999 is out of range
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value
