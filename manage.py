#!/usr/bin/env python3
"""Django's command-line entry point for the MicroMasters to MITx Online migration.

`./manage.py` runs under whatever `python` is first on the PATH. When that one lacks Django
and the project's virtualenv exists (`scripts/bootstrap` makes `.venv`), the command runs
again under `.venv/bin/python`, so `./manage.py ...` works whether or not the virtualenv is
active.
"""

import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"


def main():
    """Run a management command with this project's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(python, [str(python), *sys.argv])
        sys.exit(
            "manage.py: Django is not installed for this Python; run scripts/bootstrap, then "
            "`. .venv/bin/activate` (or `.venv/bin/python manage.py ...`)."
        )
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
