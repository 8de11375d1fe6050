#!/usr/bin/env python
"""Django's command-line entry point for the MicroMasters to MITx Online migration."""

import os
import sys


def main():
    """Run a management command with this project's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
