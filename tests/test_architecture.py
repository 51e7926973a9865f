"""The layering of the code, read from its import graph (docs/architecture.md).

Every ``import`` and ``from … import`` of ``pos_returns`` and ``ui`` counts, also
those inside functions; only ``if TYPE_CHECKING:`` blocks (never run) are left out.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lower layers first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("pos_returns", "pos_returns.errors", "pos_returns.i18n",
                    "pos_returns.config", "pos_returns.resources")),
    ("engine", ("pos_returns.engine",)),
    ("cache", ("pos_returns.cache",)),
    ("journal", ("pos_returns.journal",)),
    ("hq", ("pos_returns.hq",)),
    ("sync", ("pos_returns.sync",)),
    ("documents", ("pos_returns.documents",)),
    ("devices", ("pos_returns.devices",)),
    ("usecases", ("pos_returns.usecases",)),
    ("demo", ("pos_returns.demo",)),
    ("commands", ("pos_returns.cli", "pos_returns.commands", "pos_returns.__main__")),
]
# What the UI may use of the core: the use cases, the value types, the foundation.
UI_MAY_IMPORT = ("pos_returns.usecases", "pos_returns.engine", "pos_returns.errors",
                 "pos_returns.i18n", "pos_returns.config", "pos_returns.resources",
                 "pos_returns")
# The screenshots tool builds a demo cache on its own: the one UI module that may.
UI_DEMO_USERS = ("ui.screenshots",)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def modules() -> dict[str, Path]:
    out = {}
    for top in ("pos_returns", "ui"):
        for path in sorted((ROOT / top).rglob("*.py")):
            out[module_name(path)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The longest known module that ``name`` is or lies in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


@cache
def imports_of(module: str) -> frozenset[str]:
    known = modules()
    path = known[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            for alias in node.names:  # from package import submodule
                found.add(f"{mod}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out = set()
    for name in found:
        if name.split(".")[0] in ("pos_returns", "ui"):
            target = _resolve(name, known)
            if target and target != module:
                out.add(target)
    return frozenset(out)


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for i, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    return rank


def test_every_core_module_has_a_layer():
    missing = [m for m in modules() if m.startswith("pos_returns") and layer_of(m) < 0]
    assert missing == []


def test_lower_layers_never_import_higher_ones():
    wrong = []
    for module in modules():
        if not module.startswith("pos_returns"):
            continue
        for target in imports_of(module):
            if target.startswith("ui"):
                wrong.append(f"{module} -> {target} (the core never imports the UI)")
            elif layer_of(target) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} "
                             f"({LAYERS[layer_of(target)][0]})")
    assert wrong == []


def test_the_engine_does_no_io():
    forbidden = ("sqlite3", "sqlite_utils", "psycopg", "socket", "subprocess", "PySide6",
                 "reportlab", "smtplib")
    wrong = []
    for module, path in modules().items():
        if not module.startswith("pos_returns.engine"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            wrong += [f"{module} imports {n}" for n in names if n.split(".")[0] in forbidden]
    assert wrong == []


def test_the_ui_reaches_the_core_through_use_cases_and_value_types():
    wrong = []
    for module in modules():
        if not module.startswith("ui"):
            continue
        for target in imports_of(module):
            if not target.startswith("pos_returns"):
                continue
            if module in UI_DEMO_USERS and target.startswith("pos_returns.demo"):
                continue
            allowed = any(target == p or target.startswith(p + ".") for p in UI_MAY_IMPORT[:-1])
            if not (allowed or target == "pos_returns"):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_production_module_imports_the_demo():
    wrong = [
        f"{m} -> {t}"
        for m in modules()
        for t in imports_of(m)
        if t.startswith("pos_returns.demo")
        and not m.startswith(("pos_returns.demo", "pos_returns.commands"))
        and m not in UI_DEMO_USERS
    ]
    assert wrong == []


def _cycle() -> list[str] | None:
    graph = {m: sorted(imports_of(m)) for m in modules()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_no_import_cycle_not_even_inside_a_function():
    assert _cycle() is None


@pytest.mark.parametrize("top", ["pos_returns", "ui"])
def test_the_graph_is_read(top):
    """The checks above would pass on an empty graph: make sure it is not empty."""
    assert sum(len(imports_of(m)) for m in modules() if m.startswith(top)) > 50


# -- function length -------------------------------------------------------------------

MAX_FUNCTION_LINES = 100
# Migration SQL is long by nature (one script per migration, never edited once shipped).
LONG_ALLOWED_IN = ("pos_returns/cache/schema/", "pos_returns/hq/schema.py")
@cache
def function_lengths() -> dict[str, int]:
    """"path:Qualified.name" -> lines from ``def`` to the last line (nested functions
    included) of every function and method of the core, but the migrations'."""
    out: dict[str, int] = {}

    def visit(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                out[f"{rel}:{name}"] = child.end_lineno - child.lineno + 1  # type: ignore[operator]
                visit(child, rel, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, rel, prefix + child.name + ".")
            else:
                visit(child, rel, prefix)

    for path in sorted((ROOT / "pos_returns").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(LONG_ALLOWED_IN):
            visit(ast.parse(path.read_text(encoding="utf-8")), rel, "")
    return out


def over_long() -> dict[str, int]:
    return {f: n for f, n in function_lengths().items() if n > MAX_FUNCTION_LINES}


def test_no_core_function_is_over_100_lines():
    assert len(function_lengths()) > 500  # the walk saw the core
    assert "pos_returns/demo/chain.py:_Builder.sales_chunk" in function_lengths()
    assert over_long() == {}
# A Qt widget's constructor reads as its parts (``self._build_header()``…).
MAX_UI_INIT_LINES = 40
MAX_UI_FUNCTION_LINES = 60


def ui_function_lengths() -> dict[str, int]:
    out: dict[str, int] = {}
    for path in sorted((ROOT / "ui").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for child in node.body:
                    if isinstance(child, ast.FunctionDef):
                        out[f"{rel}:{node.name}.{child.name}"] = (
                            child.end_lineno - child.lineno + 1)  # type: ignore[operator]
            elif isinstance(node, ast.FunctionDef) and node.col_offset == 0:
                out[f"{rel}:{node.name}"] = node.end_lineno - node.lineno + 1  # type: ignore[operator]
    return out


def test_ui_constructors_are_split_into_build_parts():
    lengths = ui_function_lengths()
    assert len(lengths) > 200  # the walk saw the UI
    too_long = {
        f: n for f, n in lengths.items()
        if n > (MAX_UI_INIT_LINES if f.endswith(".__init__") else MAX_UI_FUNCTION_LINES)
    }
    assert too_long == {}
