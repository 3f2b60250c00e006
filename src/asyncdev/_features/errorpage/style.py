"""The error page's stylesheet and its one script (the copy button).

Both are inlined with the response's CSP nonce. The page reads in light and dark
schemes and without the script: everything but copying works with plain HTML.
"""

from __future__ import annotations

__all__ = ["COPY_SCRIPT", "CSS"]

CSS = """\
:root { color-scheme: light dark; --accent: #c62828; --muted: #6b7280; --line: #d7dbe0;
        --box: #f6f7f9; --hit: #fde2e1; --hit-bar: #d93025; --code: #1f2328; --bg: #fff; }
@media (prefers-color-scheme: dark) {
  :root { --accent: #ff6b6b; --muted: #9aa4b2; --line: #30363d; --box: #161b22;
          --hit: #4a1d1f; --hit-bar: #ff6b6b; --code: #e6edf3; --bg: #0d1117; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--code);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1.6rem 1.5rem 3rem; }
header { border-left: 5px solid var(--accent); padding: .2rem 0 .2rem 1rem; margin-bottom: 1.4rem; }
.kicker { margin: 0; color: var(--muted); font: 13px ui-monospace, SFMono-Regular, Menlo,
          Consolas, monospace; word-break: break-all; }
h1 { font-size: 1.55rem; line-height: 1.3; margin: .25rem 0 .4rem; word-break: break-word; }
h1 .type, .exc-line .type { color: var(--accent); }
h2 { font-size: 1.05rem; margin: 2rem 0 .6rem; }
.lead { margin: .2rem 0; font-weight: 600; }
.hint, .note-text { margin: .2rem 0; color: var(--muted); }
.note-text::before { content: "note: "; font-weight: 600; }
.then { margin: .1rem 0; color: var(--muted); word-break: break-word; }
.then b { color: var(--code); font-weight: 600; }
.muted { color: var(--muted); font-weight: normal; }
.actions { margin: .7rem 0 0; }
button { font: inherit; font-size: 13px; padding: .3rem .8rem; border-radius: 6px;
         border: 1px solid var(--line); background: var(--box); color: inherit; cursor: pointer; }
button:hover { border-color: var(--muted); }
.failing .frame { border: 1px solid var(--hit-bar); box-shadow: 0 1px 6px rgba(0,0,0,.08); }
.frame { background: var(--box); border: 1px solid var(--line); border-radius: 8px;
         margin: .5rem 0; padding: .55rem .8rem; overflow: hidden; }
.frame.lib { background: transparent; border: 0; padding: .15rem .8rem; margin: 0; opacity: .8; }
.frame.failing { border-color: var(--hit-bar); }
.where { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
         word-break: break-all; }
.where .file { font-weight: 600; }
.where b { color: var(--accent); font-weight: 600; }
.frame.lib .where b { color: inherit; }
a.editor { margin-left: .6rem; font: 12px system-ui, sans-serif; color: var(--muted); }
pre, code { font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre.code { margin: .4rem -.8rem 0; padding: .2rem 0; overflow-x: auto; white-space: pre; }
.frame.lib pre.code { margin: 0 0 0 1.2rem; padding: 0; color: var(--muted); }
.frame.lib pre.code .hit { background: none; border: 0; padding: 0; }
pre .hit { display: block; background: var(--hit); border-left: 4px solid var(--hit-bar);
           padding-left: calc(.8rem - 4px); font-weight: 600; }
pre .line { display: block; border-left: 4px solid var(--line); padding-left: calc(.8rem - 4px);
            margin-left: -.8rem; font-weight: 600; }
pre .caret { display: block; color: var(--hit-bar); font-weight: 700; padding-left: .8rem; }
pre.code { padding-left: .8rem; }
pre.code .hit { margin-left: -.8rem; }
pre.code .caret { margin-left: -.8rem; }
details > summary { cursor: pointer; }
details.libs { margin: .3rem 0; }
details.libs > summary { color: var(--muted); font-size: 13px; padding: .15rem .8rem; }
details.locals, details.more { margin-top: .4rem; }
details.locals > summary, details.more > summary { font-size: 13px; color: var(--muted); }
details.more pre.code .hit { font-weight: 600; }
table { border-collapse: collapse; margin: .3rem 0 .2rem; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .15rem .6rem .15rem 0;
         border-top: 1px solid var(--line); }
th { font: 600 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; width: 1%;
     white-space: nowrap; padding-right: 1.5rem; }
td code { white-space: pre-wrap; word-break: break-all; }
details.chain, details.member { margin: 1.2rem 0 .4rem; }
details.chain > summary, details.member > summary { color: var(--muted); }
details.chain > summary b, details.member > summary b { color: var(--code); }
details.member { margin-left: 1rem; padding-left: .8rem; border-left: 2px solid var(--line); }
.exc-line { margin: .2rem 0; font-weight: 600; word-break: break-word; }
details.plain { margin-top: 2rem; }
details.plain pre { background: var(--box); border-radius: 8px; padding: .8rem; overflow-x: auto; }
.footer { color: var(--muted); font-size: 13px; margin-top: 2.5rem; border-top: 1px solid
          var(--line); padding-top: .8rem; }
"""

# Copies the plain-text traceback. navigator.clipboard needs a secure context
# (localhost counts); elsewhere a selected textarea and execCommand("copy") do.
COPY_SCRIPT = """
(function () {
  var button = document.getElementById("copy"), source = document.getElementById("plain");
  if (!button || !source) { return; }
  function done(ok) {
    button.textContent = ok ? "Copied" : "Copy failed: open the plain-text traceback";
    setTimeout(function () { button.textContent = "Copy as text"; }, 2000);
  }
  function fallback(text) {
    var area = document.createElement("textarea"), ok = false;
    area.value = text; document.body.appendChild(area); area.select();
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove(); done(ok);
  }
  button.addEventListener("click", function () {
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); },
                                                function () { fallback(text); });
    } else { fallback(text); }
  });
})();
"""
