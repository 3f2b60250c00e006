"""The HTML error page for a captured failure (``_traceback.Report``).

The failing line comes first (a syntax error's line with its caret, or the deepest
frame of the user's code with its local variables), then the chain root cause first,
library frames folded into ``<details>`` rows. Everything from the failure is escaped;
the only script is the copy button's, allowed by the response's CSP nonce.
"""

from __future__ import annotations

import os
from html import escape
from urllib.parse import quote

from ..._traceback import Failure, Frame, Report, SyntaxInfo
from ..._tracetext import display_path, library_label
from .style import COPY_SCRIPT, CSS

__all__ = ["EDITOR_ENV", "render_page"]

# A link template for the user's frames; {path} and {line} are filled in.
EDITOR_ENV = "ASYNCDEV_EDITOR"
DEFAULT_EDITOR = "vscode://file/{path}:{line}"

_LINKS = {
    "cause": "The above exception was the direct cause of",
    "context": "During handling of the above exception, another exception occurred:",
}


def render_page(
    report: Report | None,
    *,
    kicker: str,
    title: str,
    lead: str = "",
    text: str,
    nonce: str,
    reload_script: str = "",
) -> str:
    """The document: ``kicker`` above the ``title`` heading (the exception), ``lead``
    under it (what to do), ``text`` as the plain-text form the copy button copies."""
    editor = os.environ.get(EDITOR_ENV) or DEFAULT_EDITOR
    out = [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(_shorten(title, 120))}</title>\n",
        f'<style nonce="{nonce}">\n{CSS}</style>\n</head>\n<body>\n<main>\n',
        f'<header>\n<p class="kicker">{escape(kicker)}</p>\n',
        f"<h1>{_title_html(title)}</h1>\n",
    ]
    if report is not None:
        primary = report.primary
        out += [f'<p class="note-text">{escape(note)}</p>\n' for note in primary.notes]
        out += _then_html(report.chain, primary)
    if lead:
        out.append(f'<p class="lead">{escape(lead)}</p>\n')
    if report is not None and report.hint:
        out.append(f'<p class="hint">{escape(report.hint)}</p>\n')
    if text:
        out.append('<p class="actions"><button type="button" id="copy">Copy as text</button>'
                   ' <span class="muted">the plain-text traceback, for an issue or a chat'
                   "</span></p>\n")
    out.append("</header>\n")
    if report is not None:
        out += _failing_html(report, editor)
        out.append("<h2>Traceback <span class=\"muted\">most recent call last</span></h2>\n")
        out += _chain_html(report.chain, report.primary, editor)
    if text:
        out.append('<details class="plain"><summary>Plain-text traceback</summary>\n'
                   f'<pre id="plain">{escape(text)}</pre>\n</details>\n')
    out.append(
        '<p class="footer">asyncdev shows this page to clients on this machine only, '
        "because it reveals source code and values. Turn it off with --no-debug-errors "
        f"(debug_errors=False). Editor links: set {EDITOR_ENV}, e.g. "
        "pycharm://open?file={path}&amp;line={line}.</p>\n</main>\n"
    )
    if text:
        out.append(f'<script nonce="{nonce}">{COPY_SCRIPT}</script>\n')
    out.append(f"{reload_script}</body>\n</html>\n")
    return "".join(out)


def _then_html(chain: list[Failure], primary: Failure) -> list[str]:
    """One line for each exception raised after the primary one: what the app finally
    raised is in sight without opening the chain."""
    how = {"cause": "raised from it", "context": "raised while handling it"}
    return [f'<p class="then">then <b>{escape(f.headline)}</b> '
            f'<span class="muted">({how.get(f.link, "")})</span></p>\n'
            for f in chain[_position(chain, primary) + 1:]]


def _position(chain: list[Failure], primary: Failure) -> int:
    for index, failure in enumerate(chain):
        if _contains(failure, primary):
            return index
    return 0


def _title_html(title: str) -> str:
    head, sep, rest = title.partition(": ")
    if sep and " " not in head and head:
        return f'<span class="type">{escape(head)}</span>: {escape(rest)}'
    return escape(title)


# --- the failing line -----------------------------------------------------------------


def _failing_html(report: Report, editor: str) -> list[str]:
    primary = report.primary
    if primary.syntax is not None:
        return ['<section class="failing">\n', _syntax_html(primary.syntax, editor),
                "</section>\n"]
    frame = primary.failing_frame()
    if frame is None:
        return []
    return ['<section class="failing">\n', _frame_html(frame, editor, open_locals=True),
            "</section>\n"]


def _syntax_html(syntax: SyntaxInfo, editor: str) -> str:
    rows = []
    for number, line in enumerate(syntax.context, syntax.first):
        if number == syntax.lineno:
            rows.append(f'<span class="hit">{number:>5}  {escape(line)}</span>')
            if syntax.offset > 0:
                width = max(1, syntax.end_offset - syntax.offset)
                caret = " " * (syntax.offset - 1) + "^" * width
                rows.append(f'<span class="caret">       {escape(caret)}</span>')
        else:
            rows.append(f"{number:>5}  {escape(line)}\n")
    return (f'<div class="frame user">{_where_html(syntax.filename, syntax.lineno, "", editor)}'
            f'<pre class="code">{"".join(rows)}</pre></div>\n')


# --- frames ---------------------------------------------------------------------------


def _chain_html(chain: list[Failure], primary: Failure, editor: str) -> list[str]:
    out: list[str] = []
    for failure in chain:
        body = _failure_html(failure, primary, editor)
        if not failure.link:
            out += body
            continue
        is_open = " open" if _contains(failure, primary) else ""
        out.append(f'<details class="chain"{is_open}><summary>{escape(_LINKS[failure.link])}'
                   f" <b>{escape(failure.headline)}</b></summary>\n")
        out += body
        out.append("</details>\n")
    return out


def _contains(failure: Failure, target: Failure) -> bool:
    return failure is target or any(
        _contains(f, target) for chain in failure.members for f in chain
    )


def _failure_html(failure: Failure, primary: Failure, editor: str) -> list[str]:
    out = ['<div class="exc">']
    if failure is not primary:  # the primary one is the page's heading already
        out.append(f'<p class="exc-line">{_title_html(failure.headline)}</p>\n')
    out += [f'<p class="note-text">{escape(note)}</p>\n' for note in failure.notes]
    if failure.repeats:
        out.append(f'<p class="muted">The same exception was raised {failure.repeats} more '
                   f"time{'s' if failure.repeats > 1 else ''} while it was being handled "
                   "(not shown again).</p>\n")
    if failure.skipped_frames:
        out.append(f'<p class="muted">{failure.skipped_frames} frames from the middle of this '
                   "deep stack are left out.</p>\n")
    failing = primary.failing_frame() if failure is primary else None
    run: list[Frame] = []
    for frame in failure.frames:
        if frame.kind != "user":
            # asyncdev's own frames fold with the libraries': present, out of the way.
            run.append(frame)
            continue
        out += _library_run(run)
        run = []
        out.append(_frame_html(frame, editor, failing=frame is failing, compact=True))
    out += _library_run(run)
    if failure.syntax is not None and failure is not primary:
        out.append(_syntax_html(failure.syntax, editor))
    for number, member in enumerate(failure.members, 1):
        total = len(failure.members) + failure.more_members
        is_open = " open" if any(_contains(f, primary) for f in member) else ""
        out.append(f'<details class="member"{is_open}><summary>{number} of {total}: '
                   f"<b>{escape(member[-1].headline)}</b></summary>\n")
        out += _chain_html(member, primary, editor)
        out.append("</details>\n")
    if failure.more_members:
        out.append(f'<p class="muted">and {failure.more_members} more</p>\n')
    out.append("</div>\n")
    return out


def _library_run(run: list[Frame]) -> list[str]:
    if not run:
        return []
    labels: list[str] = []
    for frame in run:
        if (label := library_label(frame.filename)) not in labels:
            labels.append(label)
    count = len(run)
    plural = "s" if count > 1 else ""
    labels_html = escape(", ".join(labels[:6]))
    summary = f'{count} library frame{plural} <span class="muted">\u00b7 {labels_html}</span>'
    out = [f'<details class="libs"><summary>{summary}</summary>\n']
    for frame in run:
        out.append(f'<div class="frame lib"><div class="where">'
                   f"{escape(display_path(frame.filename))}, line {frame.lineno}, in "
                   f"<b>{escape(frame.name)}</b></div>")
        if frame.line:
            out.append(f'<pre class="code">{escape(frame.line)}</pre>')
        out.append("</div>\n")
    out.append("</details>\n")
    return out


def _frame_html(frame: Frame, editor: str, *, open_locals: bool = False,
                failing: bool = False, compact: bool = False) -> str:
    """A user frame: where, the source around the line, the locals. ``compact`` (the
    traceback's frames) shows the line alone, the rest one click away."""
    css = "frame user failing" if failing else "frame user"
    out = [f'<div class="{css}">', _where_html(frame.filename, frame.lineno, frame.name, editor)]
    source = ""
    if frame.context:
        rows = []
        for number, line in enumerate(frame.context, frame.first):
            if number == frame.lineno:
                rows.append(f'<span class="hit">{number:>5}  {escape(line)}</span>')
            else:
                rows.append(f"{number:>5}  {escape(line)}\n")
        source = f'<pre class="code">{"".join(rows)}</pre>'
    elif frame.line:
        source = f'<pre class="code"><span class="hit">{escape(frame.line)}</span></pre>'
    table = ""
    if frame.locals:
        table = "<table>" + "".join(
            f"<tr><th>{escape(name)}</th><td><code>{escape(value)}</code></td></tr>"
            for name, value in frame.locals
        ) + "</table>"
    if compact:
        if frame.line:
            # Only the failing frame's line is red: the eye goes to it first.
            mark = "hit" if failing else "line"
            out.append(f'<pre class="code"><span class="{mark}">{frame.lineno:>5}  '
                       f"{escape(frame.line)}</span></pre>")
        label = "Source"
        if frame.locals:
            label += f' and local variables <span class="muted">({len(frame.locals)})</span>'
        if source or table:
            out.append(f'<details class="more"><summary>{label}</summary>{source}{table}'
                       "</details>")
    else:
        out.append(source)
        if table:
            is_open = " open" if open_locals else ""
            out.append(f'<details class="locals"{is_open}><summary>Local variables '
                       f'<span class="muted">({len(frame.locals or ())})</span></summary>'
                       f"{table}</details>")
    out.append("</div>\n")
    return "".join(out)


def _where_html(filename: str, lineno: int, name: str, editor: str) -> str:
    shown = escape(display_path(filename))
    link = ""
    if lineno > 0 and not filename.startswith("<"):
        try:
            href = editor.format(path=quote(filename, safe="/:\\"), line=lineno)
        except (KeyError, IndexError, ValueError):
            href = DEFAULT_EDITOR.format(path=quote(filename, safe="/:\\"), line=lineno)
        link = f' <a class="editor" href="{escape(href)}">open in editor</a>'
    where = f'<span class="file" title="{escape(filename)}">{shown}</span>, line {lineno}'
    if name:
        where += f", in <b>{escape(name)}</b>"
    return f'<div class="where">{where}{link}</div>'


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
