"""The folders are the layers: every import of asyncdev's own code goes down, never up.

Every import statement is read with ``ast`` (top-level, function-local and under
``TYPE_CHECKING`` alike) and resolved to the module it names. A module may import only
from its own layer or below, never into a sibling folder it must not use, and no two
modules may import each other, even through others. The sans-IO layer imports no
asyncio, and the reload supervisor's side of the wing (what the long-lived watching
process loads) reaches neither the HTTP layers nor asyncio. The checker is tested on
small made-up trees too, so that it is known to catch what it is for.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "asyncdev"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# Layer of each module, by its dotted name below the package: the first matching
# prefix wins ("" is the package itself).
LAYERS: list[tuple[str, int]] = [
    ("_types", 0), ("_errors", 0), ("_version", 0),
    ("_config", 1), ("_importer", 1), ("_envfile", 1), ("_logging", 1), ("_loops", 1),
    ("_sockets", 1), ("_usercode", 1), ("_discovery", 1), ("_traceback", 1),
    ("_tracetext", 1), ("_frameworks", 1), ("_terminal", 1),
    ("_protocol", 2),
    ("_server", 3), ("_features", 3),
    ("_reload", 4),
    ("", 5),  # __init__, __main__, _api, _cli, _banner, testing, _pytest_plugin, management
]
# Folders of one layer that must not import each other's modules: (importer, imported).
# Features are plain ASGI middleware and pages: the server composes them, never the
# other way round.
FORBIDDEN_SIBLINGS = [("_features", "_server")]
# The modules the reload supervisor's process runs: it lives as long as the session
# and must never load the HTTP stack (nor asyncio, which loads ssl).
SUPERVISOR_SIDE = [
    "_reload.supervisor", "_reload.dispatcher", "_reload.watch", "_reload.entry",
    "_reload.control",
]
SUPERVISOR_NEVER = ("_server", "_protocol", "_features")
THIRD_PARTY_NEVER = {
    "_protocol": ("asyncio", "uvloop"),
    **dict.fromkeys(SUPERVISOR_SIDE, ("asyncio", "uvloop", "h11", "wsproto")),
}


# --- reading the imports --------------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int, bool]]:
    """(imported name, line, is ours) for every import in the file. Ours are resolved
    to a module of the package: ``from .x import y`` names module ``x.y`` if it exists,
    else ``x``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield _ours(alias.name[len(PACKAGE) + 1:], [], known), node.lineno, True
                else:
                    yield alias.name, node.lineno, False
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                target = node.module or ""
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    base = target[len(PACKAGE) + 1:]
                else:
                    yield target, node.lineno, False
                    continue
            else:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names = [alias.name for alias in node.names]
            for found in {_ours(base, [n], known) for n in names}:
                yield found, node.lineno, True


def _ours(base: str, names: list[str], known: set[str]) -> str:
    for item in names:
        candidate = f"{base}.{item}" if base else item
        if candidate in known:
            return candidate
    return base


def layer_of(name: str) -> int:
    for prefix, layer in LAYERS:
        if name == prefix or name.startswith(prefix + ".") or not prefix:
            return layer
    raise AssertionError(name)


def folder_of(name: str) -> str:
    return name.split(".")[0] if "." in name else ""


# --- the checks -----------------------------------------------------------------------------


def violations(root: Path) -> list[str]:
    found = modules(root)
    known = set(found)
    graph: dict[str, set[str]] = {name: set() for name in found}
    outside: dict[str, set[str]] = {name: set() for name in found}
    problems: list[str] = []
    for name, path in found.items():
        where = path.relative_to(root)
        for target, line, ours in imports(name, path, known):
            if not ours:
                outside[name].add(target.split(".")[0])
                continue
            if target == name or target == "" or target not in known:
                continue
            graph[name].add(target)
            if layer_of(target) > layer_of(name):
                problems.append(
                    f"{where}:{line}: {name} (L{layer_of(name)}) imports {target} "
                    f"(L{layer_of(target)}), a higher layer"
                )
            for importer, imported in FORBIDDEN_SIBLINGS:
                if folder_of(name) == importer and folder_of(target) == imported:
                    problems.append(f"{where}:{line}: {name} imports {target} ({imported}/ "
                                    f"is not for {importer}/)")
    for start in SUPERVISOR_SIDE:
        if start in graph:
            for reached in _closure(graph, start):
                if folder_of(reached) in SUPERVISOR_NEVER:
                    problems.append(f"{start} reaches {reached}: the supervisor's process "
                                    "must not load it")
    for scope, banned in THIRD_PARTY_NEVER.items():
        for start in [n for n in graph if n == scope or n.startswith(scope + ".")]:
            for reached in {start, *_closure(graph, start)}:
                for library in sorted(outside[reached] & set(banned)):
                    via = "" if reached == start else f" (through {reached})"
                    problems.append(f"{start} imports {library}{via}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
    return problems


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for target in graph.get(pending.pop(), ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle for each strongly connected component of more than one module
    (Tarjan's algorithm), shown as a path that closes on itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for component in components:
        members = set(component)
        path = [component[0]]
        while True:
            step = sorted(t for t in graph[path[-1]] if t in members)
            nxt = next((t for t in step if t == path[0]), None) or next(
                (t for t in step if t not in path), step[0]
            )
            path.append(nxt)
            if nxt in path[:-1]:
                break
        cycles.append(path[path.index(path[-1]):])
    return cycles


def test_the_package_keeps_its_layers() -> None:
    problems = violations(SRC)
    assert not problems, "\n".join(problems)


def test_every_module_has_a_layer_and_a_docstring() -> None:
    for name, path in modules(SRC).items():
        layer_of(name)
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.relative_to(SRC)} has no docstring"


# --- the checker itself ---------------------------------------------------------------------


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # An upward import hidden in a function.
        ({"_config.py": "def f():\n    from ._api import run\n", "_api.py": ""},
         "a higher layer"),
        # ... or under TYPE_CHECKING, from a folder.
        ({"_protocol/__init__.py": "", "_protocol/parser.py":
          "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
          "    from .._server.connection import X\n",
          "_server/__init__.py": "", "_server/connection.py": ""}, "a higher layer"),
        # A feature reaching into the server.
        ({"_features/__init__.py": "", "_features/static.py":
          "from .._server import state\n", "_server/__init__.py": "",
          "_server/state.py": ""}, "is not for _features/"),
        # Two modules of one layer importing each other, one of them lazily.
        ({"_server/__init__.py": "", "_server/a.py": "from . import b\n",
          "_server/b.py": "def f():\n    from .a import x\n"}, "import cycle"),
        # asyncio in the sans-IO layer.
        ({"_protocol/__init__.py": "", "_protocol/parser.py": "import asyncio\n"},
         "imports asyncio"),
        # The supervisor loading the HTTP stack through a module of its own layer.
        ({"_reload/__init__.py": "", "_reload/supervisor.py": "from . import child\n",
          "_reload/child.py": "from .._server import run\n", "_server/__init__.py": "",
          "_server/run.py": ""}, "must not load it"),
        # ... or asyncio through a helper, named absolutely.
        ({"_reload/__init__.py": "", "_reload/supervisor.py":
          "from asyncdev._reload import helper\n", "_reload/helper.py": "import asyncio\n"},
         "imports asyncio (through _reload.helper)"),
    ],
)
def test_the_checker_catches_what_it_is_for(tmp_path: Path, files, expected) -> None:
    problems = violations(make_tree(tmp_path, files))
    assert any(expected in problem for problem in problems), problems


def test_the_checker_lets_downward_imports_be(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "_api.py": "from ._server.run import run_server\nfrom . import _config\n",
        "_config.py": "from ._errors import ConfigError\n", "_errors.py": "",
        "_server/__init__.py": "", "_server/run.py":
        "import asyncio\nfrom .._features import static\nfrom ..  import _config\n",
        "_features/__init__.py": "", "_features/static.py": "from .._types import Scope\n",
        "_types.py": "",
    })
    assert violations(tree) == []
