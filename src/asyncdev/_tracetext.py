"""The plain forms of a captured failure (``_traceback.Report``).

``format_text`` is what curl and the page's copy button get: the exception and the
user's failing line first, then the traceback without asyncdev's frames.
``format_terminal`` is the log's form: Python's order, runs of library frames folded
into one line, the user's failing frame marked. ``report_dict`` is the JSON form.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._traceback import Failure, Frame, Report, SyntaxInfo
from ._usercode import library_dirs

__all__ = [
    "display_path", "format_terminal", "format_text", "library_label", "report_dict", "where",
]

_LINKS = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}

BOLD = "\x1b[1m"
RED = "\x1b[1;31m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"


def where(report: Report) -> str:
    """``main.py, line 40`` for the line to fix, or "" when no user line is known."""
    primary = report.primary
    if primary.syntax is not None:
        return f"{display_path(primary.syntax.filename)}, line {primary.syntax.lineno}"
    frame = primary.failing_frame()
    if frame is None:
        return ""
    return f"{display_path(frame.filename)}, line {frame.lineno}"


def display_path(filename: str) -> str:
    """The path as short as it stays clear: relative to the project (the working
    directory) or to the library directory it is in."""
    if filename.startswith("<"):
        return filename
    path = os.path.abspath(filename)
    cwd = os.path.join(os.getcwd(), "")
    if path.startswith(cwd):
        return path[len(cwd):]
    for directory in sorted(library_dirs(), key=len, reverse=True):
        if path.startswith(directory):
            return path[len(directory):]
    return path


def format_text(report: Report, *, extra: tuple[str, ...] = ()) -> str:
    """The exception, its notes, the failing user line, ``extra`` lines (the request
    line, what to do), then the whole traceback, root cause first."""
    primary = report.primary
    lines = [primary.headline, *(f"Note: {note}" for note in primary.notes)]
    if primary.syntax is not None:
        lines += _syntax_lines(primary.syntax, "  ")
    elif (frame := primary.failing_frame()) is not None:
        lines += _frame_lines(frame, "  ")
    if report.hint:
        lines.append(report.hint)
    lines += extra
    lines.append("")
    lines += _chain_lines(report.chain, "", folded=False, colour=False, mark=None, clean=str)
    return "\n".join(lines) + "\n"


def format_terminal(
    report: Report, *, colour: bool, clean: Callable[[str], str] = str,
) -> str:
    """The traceback for the log, as Python prints it but with library runs folded and
    the user's failing frame marked with ``>`` (and colour). ``clean`` escapes each
    line before it is coloured (a message may quote a request)."""
    primary = report.primary
    # A syntax error's own line (its File line and caret, printed last) is the mark.
    mark = primary.failing_frame() if primary.syntax is None else None
    lines = _chain_lines(report.chain, "", folded=True, colour=colour, mark=mark, clean=clean)
    if report.hint:
        lines.append(clean(report.hint))
    return "\n".join(lines)


def _chain_lines(
    chain: list[Failure], indent: str, *, folded: bool, colour: bool, mark: Frame | None,
    clean: Callable[[str], str],
) -> list[str]:
    lines: list[str] = []
    for failure in chain:
        if failure.link:
            lines += ["", indent + _LINKS[failure.link], ""]
        lines += _failure_lines(failure, indent, folded=folded, colour=colour, mark=mark,
                                clean=clean)
    return lines


def _failure_lines(
    failure: Failure, indent: str, *, folded: bool, colour: bool, mark: Frame | None,
    clean: Callable[[str], str],
) -> list[str]:
    shown = [frame for frame in failure.frames if frame.kind != "own"]
    lines: list[str] = []
    if shown or failure.syntax is not None:
        lines.append(indent + "Traceback (most recent call last):")
    if failure.skipped_frames:
        lines.append(f"{indent}  ({failure.skipped_frames} frames from the middle of this "
                     "deep stack are left out)")
    run: list[Frame] = []
    for frame in shown:
        if folded and frame.kind != "user":
            run.append(frame)
            continue
        if run:
            lines.append(indent + "  " + _folded(run, colour))
            run = []
        if frame is mark:
            head, *rest = [clean(text) for text in _frame_lines(frame, indent + "  ")]
            lines.append(_paint(indent + ">" + head[len(indent) + 1:], RED, colour))
            lines += [_paint(text, BOLD, colour) for text in rest]
        else:
            lines += [clean(text) for text in _frame_lines(frame, indent + "  ")]
    if run:
        lines.append(indent + "  " + _folded(run, colour))
    if failure.syntax is not None:
        head, *rest = [clean(text) for text in _syntax_lines(failure.syntax, indent + "  ")]
        lines.append(_paint(indent + ">" + head[len(indent) + 1:], RED, colour)
                     if folded else head)
        lines += [_paint(text, BOLD, colour) for text in rest]
    exception_line = failure.headline
    if failure.syntax is not None:
        # Python's own form: the place is on the File line above, not in the message.
        exception_line = failure.type_name + ": " + _syntax_message(failure)
    lines.append(indent + _paint(clean(exception_line), RED, colour))
    lines += [indent + clean(note) for note in failure.notes]
    if failure.repeats:
        lines.append(
            f"{indent}(the same exception was raised {failure.repeats} more "
            f"time{'s' if failure.repeats > 1 else ''} while it was being handled)"
        )
    for number, member in enumerate(failure.members, 1):
        total = len(failure.members) + failure.more_members
        lines.append(f"{indent}+-- {number} of {total} " + "-" * 20)
        lines += _chain_lines(member, indent + "|   ", folded=folded, colour=colour, mark=mark,
                              clean=clean)
    if failure.more_members:
        lines.append(f"{indent}+-- and {failure.more_members} more")
    return lines


def _syntax_message(failure: Failure) -> str:
    message = failure.message
    syntax = failure.syntax
    if syntax is not None:
        suffix = f" ({os.path.basename(syntax.filename)}, line {syntax.lineno})"
        if message.endswith(suffix):
            return message[: -len(suffix)]
    return message


def _frame_lines(frame: Frame, indent: str) -> list[str]:
    lines = [f'{indent}File "{frame.filename}", line {frame.lineno}, in {frame.name}']
    if frame.line:
        lines.append(f"{indent}  {frame.line}")
    return lines


def _syntax_lines(syntax: SyntaxInfo, indent: str) -> list[str]:
    lines = [f'{indent}File "{syntax.filename}", line {syntax.lineno}']
    text = syntax.text
    if text.strip():
        stripped = text.lstrip()
        cut = len(text) - len(stripped)
        lines.append(f"{indent}  {stripped.rstrip()}")
        if syntax.offset > 0:
            start = max(0, syntax.offset - 1 - cut)
            width = max(1, syntax.end_offset - syntax.offset)
            lines.append(f"{indent}  {' ' * start}{'^' * width}")
    return lines


def _folded(run: list[Frame], colour: bool) -> str:
    labels: list[str] = []
    for frame in run:
        label = library_label(frame.filename)
        if label not in labels:
            labels.append(label)
    count = len(run)
    text = f"[{count} library frame{'s' if count > 1 else ''}: {', '.join(labels[:4])}"
    text += ", ...]" if len(labels) > 4 else "]"
    return _paint(text, DIM, colour)


def library_label(filename: str) -> str:
    """The package a library file belongs to: ``django``, ``importlib``, ``asyncio``."""
    if filename.startswith("<frozen "):
        return filename[len("<frozen "):].rstrip(">").split(".", 1)[0].lstrip("_") or "python"
    path = os.path.abspath(filename)
    for directory in sorted(library_dirs(), key=len, reverse=True):
        if path.startswith(directory):
            rest = path[len(directory):]
            top = rest.split(os.sep, 1)[0]
            return top[:-3] if top.endswith(".py") else top
    return "asyncdev" if "asyncdev" in path else os.path.basename(filename)


def _paint(text: str, code: str, colour: bool) -> str:
    return f"{code}{text}{RESET}" if colour else text


# --- JSON -------------------------------------------------------------------------------


def report_dict(report: Report, *, title: str, request: str | None) -> dict[str, Any]:
    """The JSON form: the primary failure's type, message and frames, the whole chain
    (root cause first, each with its frames), and where to look."""
    primary = report.primary
    frame = primary.failing_frame()
    location: dict[str, Any] | None = None
    if primary.syntax is not None:
        location = _syntax_dict(primary.syntax)
    elif frame is not None:
        location = _frame_dict(frame)
    return {
        "title": title,
        "type": primary.type_name,
        "message": primary.message,
        "notes": primary.notes,
        "hint": report.hint or None,
        "request": request,
        "location": location,
        "frames": [_frame_dict(f) for f in primary.frames if f.kind != "own"],
        "chain": [_failure_dict(failure) for failure in report.chain],
    }


def _failure_dict(failure: Failure) -> dict[str, Any]:
    return {
        "type": failure.type_name,
        "message": failure.message,
        "notes": failure.notes,
        "link": failure.link or None,
        "repeats": failure.repeats,
        "syntax": _syntax_dict(failure.syntax) if failure.syntax else None,
        "frames": [_frame_dict(f) for f in failure.frames if f.kind != "own"],
        "exceptions": [[_failure_dict(f) for f in chain] for chain in failure.members],
    }


def _frame_dict(frame: Frame) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file": frame.filename, "line": frame.lineno, "function": frame.name,
        "source": frame.line, "user": frame.kind == "user",
    }
    if frame.locals is not None:
        data["locals"] = dict(frame.locals)
    return data


def _syntax_dict(syntax: SyntaxInfo) -> dict[str, Any]:
    return {
        "file": syntax.filename, "line": syntax.lineno, "column": syntax.offset,
        "end_column": syntax.end_offset, "source": syntax.text.strip(),
    }
