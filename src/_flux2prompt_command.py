"""The ``flux2-prompt`` command's entry point, outside the ``flux2prompt`` package.

Importing :mod:`flux2prompt.cli` loads the package first (the DSL, the model, the schema): a
fraction of a second in which a Ctrl+C would print a traceback from whatever module was loading,
or, inside a compiled extension's import, a panic. This module imports nothing of its own
(``sys`` is built in), so its first statement already runs before the package
loads: while the package loads, a Ctrl+C exits 130 at once, quietly; afterwards it is the
command's, which exits 130 without a traceback too.

``python -m flux2prompt`` loads the package before its ``__main__`` runs, so the package's
``__init__`` imports this module first: when the interpreter is looking for the module ``-m``
named and that module is ``flux2prompt``, a Ctrl+C exits 130 quietly from then on, until the
package hands it back (:func:`hand_back`) and its ``__main__`` calls :func:`main`.
"""

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
    try:
        signal.signal(signal.SIGINT, _interrupted)
    except ValueError:  # not the main thread: only it may set a handler (and gets the Ctrl+C)
        return False
    return True


def _loud() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


# Interpreter options that take the next argument as their value (``-X importtime``).
_TAKES_A_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})


def _module_named(argv: list[str]) -> str | None:
    """The module ``argv`` (an interpreter's command line) runs with ``-m``, else ``None``.

    ``-m`` may end a cluster of short options (``-Bm flux2prompt``, ``-OOmflux2prompt``);
    options before it may take values (``-X importtime``); a script or ``-c`` ends them.
    """
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in _TAKES_A_VALUE:
            i += 2
            continue
        if arg == "--":
            return None  # what follows is a script and its arguments
        if arg.startswith("--"):
            i += 1
            continue
        if not arg.startswith("-") or arg == "-":
            return None  # a script, or standard input
        for j, option in enumerate(arg[1:], 1):
            if option == "m":
                rest = arg[j + 1 :]
                return rest or (argv[i + 1] if i + 1 < len(argv) else None)
            if option == "c":
                return None  # -c runs code, not a module
            if option in "WX":
                if j == len(arg) - 1:
                    i += 1  # -bW error: the next argument is the value
                break  # -Wvalue, -Xvalue: the rest of the cluster is the value
        i += 1
    return None


def _run_as_module() -> bool:
    """Whether ``python -m flux2prompt`` is looking for its module right now: ``sys.argv[0]``
    is ``"-m"`` while it does, and ``sys.orig_argv`` says which module was named."""
    if getattr(sys, "argv", None) is None or sys.argv[:1] != ["-m"]:
        return False
    return _module_named(list(getattr(sys, "orig_argv", []))) == "flux2prompt"


def _without_pydantic_plugins() -> None:
    """The command runs no pydantic plugin (observability hooks for applications), and looking
    for them costs more than most commands' own work: before it builds its first model,
    pydantic reads the entry points of every distribution installed beside it. So the command
    tells pydantic there are none, unless ``PYDANTIC_DISABLE_PLUGINS`` is set already (set it
    to an empty value to have pydantic load them). Nothing else reads the setting."""
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


_run_as_the_command = _run_as_module()
if _run_as_the_command:
    _without_pydantic_plugins()
_quiet_while_the_package_loads = _run_as_the_command and _quiet()


def hand_back() -> None:
    """Called at the end of the package's ``__init__``: a Ctrl+C is Python's again."""
    global _quiet_while_the_package_loads
    if _quiet_while_the_package_loads:
        _quiet_while_the_package_loads = False
        _loud()


def main() -> None:
    """Run ``flux2-prompt`` (:func:`flux2prompt.cli.main`); a Ctrl+C while it loads exits 130."""
    _without_pydantic_plugins()
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
