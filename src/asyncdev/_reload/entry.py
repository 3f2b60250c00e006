"""The user's command line, parsed so that a fresh interpreter can run it again.

``entry_plan(sys.orig_argv)`` splits the interpreter's own options from the script or
``-m module`` and its arguments, and says where the interpreter puts ``sys.path[0]``;
a string instead says why the command cannot be run again (``python -c``, a REPL).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EntryPlan", "entry_plan", "interpreter_safe_path"]

# Interpreter options that take a value; every other short option is a lone letter.
_OPTIONS_WITH_VALUE = "WX"


class EntryPlan:
    """The user's command line: interpreter flags, then a script or ``-m module``.

    A plain class, not a dataclass: the command line computes one before importing
    anything (see ``early``)."""

    __slots__ = ("args", "flags", "kind", "path0", "target")

    def __init__(self, flags: tuple[str, ...], kind: str, target: str,
                 args: tuple[str, ...], path0: str | None) -> None:
        self.flags = flags
        self.kind = kind  # "script" or "module"
        self.target = target
        self.args = args
        self.path0 = path0  # what the interpreter puts first on sys.path

    def _key(self) -> tuple[object, ...]:
        return (self.flags, self.kind, self.target, self.args, self.path0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntryPlan) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"EntryPlan(flags={self.flags!r}, kind={self.kind!r}, "
                f"target={self.target!r}, args={self.args!r}, path0={self.path0!r})")


def entry_plan(argv: Sequence[str], cwd: str | None = None) -> EntryPlan | str:
    """Parse ``sys.orig_argv``; a string says why the command cannot be run again."""
    cwd = cwd or os.getcwd()
    if len(argv) < 1:
        return "the interpreter's command line is unknown (embedded Python)"
    flags: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg == "-" or not arg.startswith("-"):
            break
        if arg.startswith("--"):
            if arg == "--check-hash-based-pycs" and i + 1 < len(argv):
                flags += [arg, argv[i + 1]]
                i += 2
            else:
                flags.append(arg)
                i += 1
            continue
        consumed = 1
        for j in range(1, len(arg)):
            letter = arg[j]
            if letter in "cm" or letter in _OPTIONS_WITH_VALUE:
                value = arg[j + 1:]
                if not value:
                    if i + 1 >= len(argv):
                        return "the interpreter's command line is incomplete"
                    value, consumed = argv[i + 1], 2
                if letter == "c":
                    return "the code was given with python -c"
                if letter == "m":
                    return EntryPlan(
                        tuple(flags), "module", value, tuple(argv[i + consumed:]),
                        None if _safe_path(flags) else cwd,
                    )
                flags += [f"-{letter}", value]
                break
            if letter != "i":  # the re-run must not stop at an interactive prompt
                flags.append(f"-{letter}")
        i += consumed
    if i >= len(argv) or argv[i] == "-":
        return "the code was typed in or piped to the interpreter"
    script = argv[i]
    full = os.path.join(cwd, script)
    if not os.path.exists(full):
        return f"the script {script!r} cannot be found again"
    path0 = None if _safe_path(flags) else os.path.dirname(os.path.realpath(full))
    if os.path.isdir(full):
        path0 = None  # runpy puts a directory or archive on sys.path itself
    return EntryPlan(tuple(flags), "script", script, tuple(argv[i + 1:]), path0)


def interpreter_safe_path() -> bool:
    """Whether this interpreter leaves the script's directory off sys.path (``-P`` or
    PYTHONSAFEPATH, Python 3.11+; 3.10 has neither)."""
    return bool(getattr(sys.flags, "safe_path", False))


def _safe_path(flags: Sequence[str]) -> bool:
    return interpreter_safe_path() or "-P" in flags or "-I" in flags
