"""The Python package's structure, read from its source (the Rust side has
crates/memwarden-core/tests/architecture.rs): every import of the package's own
modules is at module level, no module imports another through importlib, ComfyUI's
modules are reached from ``comfy/host.py`` only, and the imports form no circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "memwarden"

#: ComfyUI's own top-level modules (what its main.py puts on sys.path).
COMFYUI_MODULES = {"comfy", "comfy_execution", "execution", "folder_paths", "server", "nodes", "comfy_api"}


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute names an import statement in ``module`` names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    head = ".".join(base + ([node.module] if node.module else []))
    if node.module:
        return [head]
    return [f"{head}.{a.name}" for a in node.names]


def test_the_packages_own_imports_are_at_module_level():
    found = []
    for name, tree in modules().items():
        is_package = (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    own = [m for m in imported(node, name, is_package) if m.split(".")[0] == "memwarden"]
                    if own:
                        found.append(f"{name}:{node.lineno} imports {own} inside {fn.name}()")
    assert found == [], "\n".join(found)


def test_nothing_is_imported_through_importlib():
    found = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "import_module":
                found.append(f"{name}:{node.lineno}")
    assert found == [], found


def test_comfyuis_modules_are_reached_from_the_host_adapter_only():
    found = []
    for name, tree in modules().items():
        if name == "memwarden.comfy.host":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "level", 0) == 0:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad = [n for n in names if n.split(".")[0] in COMFYUI_MODULES]
                if bad:
                    found.append(f"{name}:{node.lineno} imports {bad}")
    assert found == [], found


def known_module(name: str, trees: dict[str, ast.Module]) -> str:
    """``name`` or its nearest parent that is one of the package's modules ("from
    . import x" names a module when x is one, else its package)."""
    while name and name not in trees:
        name = name.rpartition(".")[0]
    return name


def import_edges(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Each module and the modules of the package it imports at module level (its
    own parent packages left out: a module is always imported with them)."""
    edges: dict[str, set[str]] = {}
    for name, tree in trees.items():
        is_package = (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
        deps = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for m in imported(node, name, is_package):
                    target = known_module(m, trees)
                    if target and target != name and not name.startswith(target + "."):
                        deps.add(target)
        edges[name] = deps
    return edges


def circles_in(edges: dict[str, set[str]]) -> list[str]:
    """Every circle a depth-first walk meets; a package's ``__init__`` importing its
    own modules (how it re-exports them) is not one."""
    circles: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in sorted(edges.get(n, ())):
            if d.startswith(n + "."):
                continue
            if state.get(d) == 1:
                circles.append(" -> ".join([*path[path.index(d) :], d]))
            elif d not in state:
                visit(d, [*path, d])
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [n])
    return circles


def test_the_module_level_imports_form_no_circle():
    edges = import_edges(modules())
    assert sum(map(len, edges.values())) > 20, "the imports were read"
    assert circles_in(edges) == [], "\n".join(circles_in(edges))
    # The walk finds one when there is one.
    assert circles_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
