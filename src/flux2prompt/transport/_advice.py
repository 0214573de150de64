"""Advice about request parameters: warnings with their own codes, raised by the request builder.

The core's lint (``F2P...`` codes) looks only at prompts; whether a parameter suits a prompt on a
given model is a question about the request, so it is answered here, in the transport, with
``F2R...`` codes. Each piece of advice is a :class:`RequestAdvice` on the request
(``request.advice``) and is also warned as a :class:`RequestAdviceWarning`.

Example:
    >>> REQUEST_ADVICE_CODES["F2R101"][:40]
    'prompt_upsampling on a structured JSON p'
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Final

__all__ = ["REQUEST_ADVICE_CODES", "RequestAdvice", "RequestAdviceWarning", "warn_advice"]

#: Every advice code and what it is about. A code is never reused for another meaning.
REQUEST_ADVICE_CODES: Final = {
    "F2R101": "prompt_upsampling on a structured JSON prompt: the host rewrites the structure",
    "F2R102": "prompt_upsampling on a FLUX 3 layout prompt: the host rewrites the boxes",
}


@dataclass(frozen=True, slots=True)
class RequestAdvice:
    """One piece of advice about a request: its code, the parameter, and what to do.

    Example:
        >>> from flux2prompt.transport import build_request
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     req = build_request({"scene": "a fox"}, model="flex", prompt_upsampling=True)
        >>> [(a.code, a.parameter) for a in req.advice]
        [('F2R101', 'prompt_upsampling')]
    """

    code: str
    parameter: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.parameter}: {self.message}"


class RequestAdviceWarning(UserWarning):
    """Warned by :func:`build_request` for each :class:`RequestAdvice`; ``advice`` holds it.

    Example:
        >>> w = RequestAdviceWarning(RequestAdvice("F2R101", "prompt_upsampling", "..."))
        >>> w.advice.code
        'F2R101'
    """

    def __init__(self, advice: RequestAdvice) -> None:
        super().__init__(str(advice))
        self.advice = advice


def warn_advice(advice: RequestAdvice, *, stacklevel: int) -> None:
    """Warn ``advice`` as a :class:`RequestAdviceWarning` (``stacklevel`` counts from here)."""
    warnings.warn(RequestAdviceWarning(advice), stacklevel=stacklevel + 1)
