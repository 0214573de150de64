"""The ``flux2-prompt`` command's entry point, outside the ``flux2prompt`` package.

Importing :mod:`flux2prompt.cli` loads the package first (the DSL, the model, the schema): a
fraction of a second in which a Ctrl+C would print a traceback from whatever module was loading,
or, inside a compiled extension's import, a panic. This module imports nothing of its own, so its
first statement already runs before the package loads: while the package loads, a Ctrl+C exits
130 at once, quietly; afterwards it is the command's, which exits 130 without a traceback too.
"""

import signal


def _interrupted(signum: int, frame: object) -> None:
    # Nothing has been written yet: exit now, without unwinding a half-imported package.
    import os

    os._exit(130)


def main() -> None:
    """Run ``flux2-prompt`` (:func:`flux2prompt.cli.main`); a Ctrl+C while it loads exits 130."""
    # A Ctrl+C that the shell ignores (a background job, nohup) stays ignored.
    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    try:
        if ours:
            signal.signal(signal.SIGINT, _interrupted)
        try:
            from flux2prompt.cli import main as run
        finally:
            if ours:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
