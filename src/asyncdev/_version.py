"""The version of asyncdev, in one place: the package, the CLI and the build read it."""

from __future__ import annotations

__version__ = "0.1.0"
