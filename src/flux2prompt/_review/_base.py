"""The revision a review compares with: BASE as given, else the pull request's merge base.

Without BASE, the merge base of ``HEAD`` with ``origin/HEAD`` (the remote's default branch, as
a clone sets it), else with ``$GITHUB_BASE_REF`` (``origin/<ref>``, then ``<ref>``; GitHub
Actions sets it on pull requests). Nothing found is a one-line
:class:`~flux2prompt.SourceError` asking for BASE; a shallow clone, where the merge base is
missing, says how to fetch the history.

Example:
    >>> resolve_base("-x")
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: -x: a revision cannot start with '-'; give a commit, branch or tag \
such as HEAD~1
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flux2prompt._errors import SourceError
from flux2prompt._versioning._revision import (
    check_git_version,
    check_revision,
    is_shallow,
    merge_base,
    repository_root,
    resolve_revision,
)

__all__ = ["Base", "resolve_base"]

_SHALLOW = (
    "this is a shallow clone: fetch the history (git fetch --unshallow, or actions/checkout "
    "with fetch-depth: 0), or give BASE"
)


@dataclass(frozen=True, slots=True)
class Base:
    """The revision compared with: how it was named (``label``) and its ``commit`` id."""

    label: str
    commit: str

    @property
    def short(self) -> str:
        """The commit's first 12 hex digits."""
        return self.commit[:12]


def _candidates() -> list[str]:
    names = ["origin/HEAD"]
    ref = os.environ.get("GITHUB_BASE_REF", "").strip()
    if ref:
        check_revision(ref)
        names += [f"origin/{ref}", ref]
    return names


def resolve_base(base: str | None = None, cwd: str | Path = ".") -> Base:
    """The :class:`Base` of a review run in ``cwd``: ``base`` when given (it must exist), else
    the merge base of ``HEAD`` with the first of ``origin/HEAD``, ``origin/$GITHUB_BASE_REF``
    and ``$GITHUB_BASE_REF`` that exists."""
    if base is not None:
        return Base(base, resolve_revision(base, cwd))
    repository_root(cwd)  # not in a repository: that, first
    check_git_version(cwd, "review")  # a git too old to resolve any name, before looking
    try:
        head = resolve_revision("HEAD", cwd)
    except SourceError:
        raise SourceError(
            "HEAD has no commit yet: commit first, or give BASE", source="review"
        ) from None
    for name in _candidates():
        try:
            commit = resolve_revision(name, cwd)
        except SourceError:
            continue
        found = merge_base(head, commit, cwd)
        if found is None:
            hint = _SHALLOW if is_shallow(cwd) else "give BASE, such as origin/main"
            raise SourceError(f"HEAD and {name} have no merge base; {hint}", source="review")
        return Base(f"merge base with {name}", found)
    ref = os.environ.get("GITHUB_BASE_REF", "").strip()
    if ref:
        # Set, but naming nothing here: a checkout that did not fetch the base branch.
        hint = (
            _SHALLOW if is_shallow(cwd) else "give BASE, such as `flux2-prompt review origin/main`"
        )
        raise SourceError(
            "no BASE to compare with: origin/HEAD is not set, and $GITHUB_BASE_REF names "
            f"{ref}, but neither origin/{ref} nor {ref} is in this repository (fetch it: git "
            f"fetch origin {ref}); " + hint,
            source="review",
        )
    hint = _SHALLOW if is_shallow(cwd) else "give it, such as `flux2-prompt review origin/main`"
    raise SourceError(
        "no BASE to compare with: origin/HEAD is not set and $GITHUB_BASE_REF is empty; " + hint,
        source="review",
    )
