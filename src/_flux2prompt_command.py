"""The ``flux2-prompt`` command's entry point, outside the ``flux2prompt`` package.

Importing :mod:`flux2prompt.cli` loads the package first (the DSL, the model, the schema): a
fraction of a second in which a Ctrl+C would print a traceback from whatever module was loading,
or, inside a compiled extension's import, a panic. This module imports nothing of its own
(``sys`` and ``itertools`` are built in), so its first statement already runs before the package
loads: while the package loads, a Ctrl+C exits 130 at once, quietly; afterwards it is the
command's, which exits 130 without a traceback too.

``python -m flux2prompt`` loads the package before its ``__main__`` runs, so the package's
``__init__`` imports this module first: when the interpreter is looking for the module ``-m``
named and that module is ``flux2prompt``, a Ctrl+C exits 130 quietly from then on, until the
package hands it back (:func:`hand_back`) and its ``__main__`` calls :func:`main`.
"""

import itertools
import sys


def _interrupted(signum: int, frame: object) -> None:
    # Nothing has been written yet: exit now, without unwinding a half-imported package.
    import os

    os._exit(130)


def _quiet() -> bool:
    """Let a Ctrl+C exit 130 quietly from now on; ``False`` when the shell ignores it (a
    background job, nohup): it stays ignored."""
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    signal.signal(signal.SIGINT, _interrupted)
    return True


def _loud() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_as_module() -> bool:
    """Whether ``python -m flux2prompt`` is looking for its module right now: ``sys.argv[0]``
    is ``"-m"`` while it does, and ``sys.orig_argv`` says which module was named."""
    if sys.argv[:1] != ["-m"]:
        return False
    argv = sys.orig_argv
    return "-mflux2prompt" in argv or ("-m", "flux2prompt") in itertools.pairwise(argv)


_quiet_while_the_package_loads = _run_as_module() and _quiet()


def hand_back() -> None:
    """Called at the end of the package's ``__init__``: a Ctrl+C is Python's again."""
    global _quiet_while_the_package_loads
    if _quiet_while_the_package_loads:
        _quiet_while_the_package_loads = False
        _loud()


def main() -> None:
    """Run ``flux2-prompt`` (:func:`flux2prompt.cli.main`); a Ctrl+C while it loads exits 130."""
    try:
        ours = _quiet()
        try:
            from flux2prompt.cli import main as run
        finally:
            if ours:
                _loud()
        run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
