"""The ``flux2-prompt`` command's entry point, outside the ``flux2prompt`` package.

Importing :mod:`flux2prompt.cli` loads the package first (the DSL, the model, the schema): a
fraction of a second in which a Ctrl+C would print a traceback from whatever module was loading.
This module imports nothing, so the command's first statement is already inside the guard: a
Ctrl+C at any moment of startup exits 130 quietly, as one while the command runs does.
"""


def main() -> None:
    """Run ``flux2-prompt`` (:func:`flux2prompt.cli.main`); a Ctrl+C while it loads exits 130."""
    try:
        from flux2prompt.cli import main as run

        run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
