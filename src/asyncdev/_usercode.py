"""Whose code a file is: asyncdev's own, a library's (the standard library and
site-packages), or the user's project.

Error pages open the user's frames first, the reload child watches the user's files
and pre-imports the libraries, and import errors point at the user's line: all ask
the same question here. Paths are compared as given and resolved (a virtual
environment is often a symlink farm).
"""

from __future__ import annotations

import functools
import os
import site
import sysconfig

__all__ = ["PACKAGE_DIR", "is_library_file", "is_own_file", "is_user_file", "library_dirs"]

# asyncdev's own package directory, with a trailing separator.
PACKAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")


@functools.lru_cache(maxsize=1)
def library_dirs() -> tuple[str, ...]:
    """The standard library and site-packages directories, each ending in a separator."""
    dirs = {sysconfig.get_paths().get(key, "") for key in
            ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - a site module without them (virtualenv<20)
        pass
    return tuple(sorted({os.path.join(f(d), "") for d in dirs if d
                         for f in (os.path.abspath, os.path.realpath)}))


def is_own_file(filename: str) -> bool:
    """A file of asyncdev itself."""
    return os.path.abspath(filename).startswith(PACKAGE_DIR)


def is_library_file(filename: str) -> bool:
    """A frozen module, or a file of the standard library or an installed package."""
    if filename.startswith("<"):
        return True  # <frozen importlib._bootstrap>, <string>, <stdin>
    if not os.path.isabs(filename) and not os.path.exists(filename):
        # A compiled extension's frame ("uvloop/loop.pyx", Cython): source files of
        # the project are always named by an absolute path.
        return True
    return os.path.abspath(filename).startswith(library_dirs())


def is_user_file(filename: str) -> bool:
    """A file of the user's project: neither asyncdev's nor a library's."""
    return not is_library_file(filename) and not is_own_file(filename)
