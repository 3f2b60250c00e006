"""Finding what to serve when no APP is given, by reading sources (never importing them).

``django_settings_of(directory)`` reads the ``DJANGO_SETTINGS_MODULE`` default that a
``manage.py`` in ``directory`` sets (``os.environ.setdefault(...)``, as startproject
writes it), or None.
"""

from __future__ import annotations

import ast
import os

__all__ = ["django_settings_of"]


def django_settings_of(directory: str) -> str | None:
    path = os.path.join(directory, "manage.py")
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and all(isinstance(arg, ast.Constant) for arg in node.args)
        ):
            key, value = (arg.value for arg in node.args)  # type: ignore[attr-defined]
            if key == "DJANGO_SETTINGS_MODULE" and isinstance(value, str):
                return value
    return None
