"""``python -m flux2prompt``: the ``flux2-prompt`` command, for an interpreter whose scripts
folder is not on ``PATH``. It takes the same arguments and exits with the same codes."""

from _flux2prompt_command import main

if __name__ == "__main__":
    main()
