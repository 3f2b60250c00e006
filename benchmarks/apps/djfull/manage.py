"""Django's command-line entry point for the full benchmark project (runserver etc.)."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
