"""A failure as the user reads it: ``capture(exc)`` turns an exception into plain data.

The ``Report`` holds strings only (source lines, safe reprs of locals with secrets
masked), never a frame: it can be kept and rendered later without keeping the
exception's frames alive. The chain is root cause first, with repeats collapsed and
asyncdev's own wrapper (``AppImportError``) replaced by the user's exception. The text,
terminal and JSON forms are in ``_tracetext``; the HTML page in ``_features.errorpage``.
"""

from __future__ import annotations

import builtins
import linecache
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from ._errors import AsyncdevError
from ._usercode import is_library_file, is_own_file, is_user_file

__all__ = [
    "Failure",
    "Frame",
    "Report",
    "SyntaxInfo",
    "capture",
    "is_secret_name",
    "safe_repr",
    "type_name",
]

Kind = Literal["user", "library", "own"]

# Source lines shown either side of a failing line.
CONTEXT_LINES = 2
# A recursion error would otherwise list thousands of identical frames; the first and
# last halves are kept (Python's own traceback collapses repeats in a similar spirit).
MAX_FRAMES = 200
# Nested groups and their sub-exceptions shown, before "... more" (CPython's traceback
# module stops at depth 10 and 15 sub-exceptions).
MAX_GROUP_DEPTH = 4
MAX_GROUP_MEMBERS = 15
MAX_CHAIN = 30
MAX_LOCALS = 60
MAX_REPR = 400
# Names whose values are never shown: the list of Django's SafeExceptionReporterFilter
# (API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE) plus what users name secrets.
_SECRET_NAME = re.compile(
    r"api|auth|token|key|secret|pass|signature|cookie|credential|session", re.IGNORECASE
)
MASK = "********************"  # Django's cleansed_substitute
_PRIVATE_PATH = re.compile(r"\basyncdev(?:\.\w+)*?\._\w+(?:\.\w+)*?\.([A-Za-z]\w*)\b(?!\.)")


@dataclass
class Frame:
    filename: str
    lineno: int
    name: str
    kind: Kind
    line: str = ""  # the source line, stripped
    first: int = 0  # the number of the first line of ``context``
    context: list[str] = field(default_factory=list)  # lines around ``lineno`` (user frames)
    locals: list[tuple[str, str]] | None = None  # (name, safe repr) of a user frame


@dataclass
class SyntaxInfo:
    """Where a SyntaxError points: ``offset``/``end_offset`` are 1-based columns."""

    filename: str
    lineno: int
    offset: int
    end_offset: int
    first: int
    context: list[str]
    text: str


@dataclass
class Failure:
    """One exception of the chain."""

    type_name: str
    message: str
    own: bool = False  # one of asyncdev's errors: its message says it all
    notes: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    skipped_frames: int = 0  # left out of the middle of a very deep stack
    syntax: SyntaxInfo | None = None
    # How the exception shown before this one led to it: "" for the first,
    # "cause" (raise ... from) or "context" (raised while handling it).
    link: str = ""
    repeats: int = 0  # identical copies raised while handling this one, collapsed
    members: list[list[Failure]] = field(default_factory=list)  # an exception group's
    more_members: int = 0

    @property
    def headline(self) -> str:
        if self.own or not self.message:
            return self.message or self.type_name
        return f"{self.type_name}: {self.message}"

    def failing_frame(self) -> Frame | None:
        """The deepest frame in the user's own code."""
        for frame in reversed(self.frames):
            if frame.kind == "user":
                return frame
        return None

    def signature(self) -> tuple[object, ...]:
        """What makes two failures the same bug: the type, message and failing place."""
        if self.syntax is not None:
            where: tuple[object, ...] = (self.syntax.filename, self.syntax.lineno)
        elif self.frames:
            where = (self.frames[-1].filename, self.frames[-1].lineno)
        else:
            where = ()
        return (self.type_name, self.message, *where)


@dataclass
class Report:
    """A captured failure: ``chain`` is root cause first; ``hint`` is what asyncdev said
    about it (the message of its import error wrapper), if anything."""

    chain: list[Failure]
    hint: str = ""

    @property
    def primary(self) -> Failure:
        """The failure the page opens with: the root cause, unless only a later one of
        the chain went through the user's code (a library caught the root cause and
        raised another); in an exception group, its first member that did."""
        for failure in self.chain:
            candidate = _primary(failure)
            if candidate.failing_frame() is not None or candidate.syntax is not None:
                return candidate
        return _primary(self.chain[0])

    def is_users(self) -> bool:
        """Whether the user's code is involved (a user frame, or a syntax error in a
        user's file), rather than only libraries or asyncdev itself."""
        return any(_involves_user(failure) for failure in self.chain)

    def signature(self) -> tuple[object, ...]:
        return tuple(failure.signature() for failure in self.chain)


def _primary(failure: Failure) -> Failure:
    # A group's own frames are where it was gathered (a TaskGroup's exit); what failed
    # is in its members.
    for chain in failure.members:
        candidate = _primary(chain[0])
        if candidate.failing_frame() is not None or candidate.syntax is not None:
            return candidate
    return failure


def _involves_user(failure: Failure) -> bool:
    if failure.failing_frame() is not None:
        return True
    if failure.syntax is not None and is_user_file(failure.syntax.filename):
        return True
    return any(_involves_user(f) for chain in failure.members for f in chain)


# --- capturing --------------------------------------------------------------------------


def capture(exc: BaseException, *, with_locals: bool = False) -> Report:
    """The report for ``exc``; ``with_locals`` adds the local variables of user frames
    (safe reprs, secrets masked)."""
    hint = ""
    # asyncdev's own errors wrap the user's exception ("Syntax error in main.py, line
    # 40"): the user's exception is the one to show, the wrapper's words are the hint.
    while isinstance(exc, AsyncdevError) and exc.__cause__ is not None:
        hint = hint or str(exc)
        exc = exc.__cause__
    if isinstance(exc, SyntaxError):
        hint = ""  # "Syntax error in main.py, line 40": the page opens with that line
    return Report(_capture_chain(exc, with_locals, 0), hint)


def _capture_chain(exc: BaseException, with_locals: bool, depth: int) -> list[Failure]:
    outer_first: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(outer_first) < MAX_CHAIN:
        seen.add(id(current))
        if current.__cause__ is not None:
            link, following = "cause", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, following = "context", current.__context__
        else:
            link, following = "", None
        outer_first.append((current, link))
        current = following
    # Root cause first, as Python prints it; each later one keeps its link to the one
    # before it (the root's own link, if any, led to an exception beyond MAX_CHAIN).
    chain: list[Failure] = []
    for error, link in reversed(outer_first):
        failure = _capture_one(error, with_locals, depth)
        failure.link = link if chain else ""
        if chain and failure.signature() == chain[-1].signature() and not failure.members:
            # The same failure raised again while handling it (Django resolves the
            # URLconf once more in each middleware's error handler): counted, not shown.
            chain[-1].repeats += 1
            continue
        chain.append(failure)
    return chain


def _capture_one(exc: BaseException, with_locals: bool, depth: int) -> Failure:
    notes = getattr(exc, "__notes__", None)
    failure = Failure(
        type_name=type_name(type(exc)),
        message=_message(exc),
        own=isinstance(exc, AsyncdevError),
        notes=[str(note) for note in notes] if isinstance(notes, list) else [],
    )
    failure.frames, failure.skipped_frames = _capture_frames(exc.__traceback__, with_locals)
    if isinstance(exc, SyntaxError):
        failure.syntax = _syntax_info(exc)
    members = getattr(exc, "exceptions", None)
    if _is_group(exc) and isinstance(members, tuple) and depth < MAX_GROUP_DEPTH:
        failure.members = [
            _capture_chain(member, with_locals, depth + 1)
            for member in members[:MAX_GROUP_MEMBERS]
        ]
        failure.more_members = max(0, len(members) - MAX_GROUP_MEMBERS)
    return failure


def _is_group(exc: BaseException) -> bool:
    group = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11+
    return group is not None and isinstance(exc, group)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not break the page
        return f"<unprintable {type(exc).__name__} object>"


def type_name(cls: type[BaseException]) -> str:
    """How Python names an exception type, except that asyncdev's private module
    path is never shown (its exceptions are named by their class alone)."""
    module = getattr(cls, "__module__", "builtins")
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if module in ("builtins", "__main__") or module.split(".", 1)[0] == "asyncdev":
        return str(qualname)
    return f"{module}.{qualname}"


def _capture_frames(
    tb: TracebackType | None, with_locals: bool,
) -> tuple[list[Frame], int]:
    entries: list[tuple[Any, int]] = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    skipped = 0
    if len(entries) > MAX_FRAMES:
        skipped = len(entries) - MAX_FRAMES
        entries = entries[: MAX_FRAMES // 2] + entries[-MAX_FRAMES // 2 :]
    frames: list[Frame] = []
    checked: set[str] = set()
    for frame, lineno in entries:
        code = frame.f_code
        filename = code.co_filename
        if filename not in checked:
            checked.add(filename)
            linecache.checkcache(filename)  # the file may have been edited since
        if is_own_file(filename):
            kind: Kind = "own"
        elif is_library_file(filename):
            kind = "library"
        else:
            kind = "user"
        name = getattr(code, "co_qualname", code.co_name)
        line = linecache.getline(filename, lineno or 0, frame.f_globals).strip()
        item = Frame(filename, lineno or 0, name, kind, line)
        if kind == "user":
            item.first, item.context = _context(filename, lineno or 0, frame.f_globals)
            if with_locals and code.co_name != "<module>":
                # A module's "locals" are its globals: imports and definitions, noise.
                item.locals = _locals(frame.f_locals)
        frames.append(item)
    return frames, skipped


def _context(filename: str, lineno: int, module_globals: Any = None) -> tuple[int, list[str]]:
    if lineno <= 0:
        return 0, []
    first = max(1, lineno - CONTEXT_LINES)
    lines = []
    for number in range(first, lineno + CONTEXT_LINES + 1):
        text = linecache.getline(filename, number, module_globals)
        if not text:
            if number <= lineno:
                return 0, []  # the source is gone (edited, or never on disk)
            break
        lines.append(text.rstrip("\r\n"))
    while len(lines) > lineno - first + 1 and not lines[-1].strip():
        lines.pop()  # blank lines after the failing one say nothing
    return first, lines


def _syntax_info(exc: SyntaxError) -> SyntaxInfo | None:
    filename, lineno = exc.filename, exc.lineno
    if not filename or not lineno:
        return None
    linecache.checkcache(filename)
    first, context = _context(filename, lineno)
    if not context and exc.text:
        first, context = lineno, [exc.text.rstrip("\r\n")]
    text = context[lineno - first] if context else ""
    offset = exc.offset or 0
    end_lineno = getattr(exc, "end_lineno", None)
    end = getattr(exc, "end_offset", None) or 0
    if end_lineno != lineno or end <= offset:
        end = offset + 1
    # Python counts offsets in the text it was given; the file line is the same text
    # unless tabs were expanded, which a caret cannot fix.
    return SyntaxInfo(filename, lineno, offset, end, first, context, text)


# --- values -----------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxstring = 160
_repr.maxother = 160
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 12
_repr.maxlevel = 3


def is_secret_name(name: object) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def safe_repr(value: object) -> str:
    """A short repr that never raises; values stored under secret-looking keys (a dict,
    or pairs such as ASGI headers) are masked."""
    try:
        text = _repr.repr(_cleanse(value, 0))
    except Exception as exc:  # a user's __repr__ may raise anything
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    # asyncdev's objects (the ASGI receive and send) are named without the private
    # module path, which says nothing to the user.
    text = _PRIVATE_PATH.sub(r"asyncdev.\1", text)
    if len(text) > MAX_REPR:
        text = text[: MAX_REPR - 1] + "\u2026"
    return text


def _cleanse(value: object, depth: int) -> object:
    if depth > 3:
        return value
    if isinstance(value, Mapping) and len(value) <= 200:
        if not any(is_secret_name(k) for k in value) and not any(
            isinstance(v, (Mapping, list, tuple)) for v in value.values()
        ):
            return value
        return {k: MASK if is_secret_name(k) else _cleanse(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) <= 200:
        if value and all(isinstance(item, (list, tuple)) and len(item) == 2 for item in value):
            # Header pairs: (b"cookie", b"...") and the like.
            pairs = [(item[0], MASK) if is_secret_name(item[0]) else item for item in value]
            return pairs if isinstance(value, list) else tuple(pairs)
        if any(isinstance(item, (Mapping, list, tuple)) for item in value):
            cleaned = [_cleanse(item, depth + 1) for item in value]
            return cleaned if isinstance(value, list) else tuple(cleaned)
    return value


def _locals(variables: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in list(variables.items())[:MAX_LOCALS]:
        if name.startswith("__") and name.endswith("__"):
            continue
        out.append((name, MASK if is_secret_name(name) else safe_repr(value)))
    return out
