"""Prompts versioned like code: diffs, files read from git, and the lockfile.

This private package sits above the transport (a lockfile records request fingerprints, which
the transport builds) and below the batch runner and the command line. Its public names are
re-exported by :mod:`flux2prompt`.

Example:
    >>> from flux2prompt import load
    >>> print(diff(load({"scene": "harbour"}), load({"scene": "harbour at dusk"})).render())
    ~ $.scene: "harbour" → "harbour at dusk"
"""

from flux2prompt._versioning._compare import EntryChange, InventoryDiff, diff_inventories
from flux2prompt._versioning._diff import DiffEntry, PromptDiff, diff, diff_entries
from flux2prompt._versioning._git import (
    diff_revision,
    diff_sources,
    load_sides,
    read_diff_source,
    read_git_file,
)
from flux2prompt._versioning._inventory import Inventory, InventoryEntry, build_inventory
from flux2prompt._versioning._lock import (
    LOCK_FILE,
    LOCK_VERSION,
    PROMPT_FILE_PATTERNS,
    Lock,
    LockChange,
    LockCheck,
    LockEntry,
    build_lock,
    check_lock,
    compare_locks,
    find_lock_file,
    find_prompt_files,
    items_path,
    lock_from_inventory,
    lock_search_path,
    read_lock,
    request_fingerprint,
    write_lock,
)

__all__ = [
    "LOCK_FILE",
    "LOCK_VERSION",
    "PROMPT_FILE_PATTERNS",
    "DiffEntry",
    "EntryChange",
    "Inventory",
    "InventoryDiff",
    "InventoryEntry",
    "Lock",
    "LockChange",
    "LockCheck",
    "LockEntry",
    "PromptDiff",
    "build_inventory",
    "build_lock",
    "check_lock",
    "compare_locks",
    "diff",
    "diff_entries",
    "diff_inventories",
    "diff_revision",
    "diff_sources",
    "find_lock_file",
    "find_prompt_files",
    "items_path",
    "load_sides",
    "lock_from_inventory",
    "lock_search_path",
    "read_diff_source",
    "read_git_file",
    "read_lock",
    "request_fingerprint",
    "write_lock",
]
