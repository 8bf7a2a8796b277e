"""Figures of the package's shape: long files, long functions, import cycles, function-level imports.

    python scripts/code_shape.py            # the table of figures (README, "Development")
    python scripts/code_shape.py --list     # and the files, functions and cycles behind them

Imports are read from the source (``ast``), at any depth: a function-level ``from faceedit.x import y`` counts
as much as one at the top of a module, and ``importlib.import_module("faceedit.x")`` with a literal name counts
too. A module that imports ``faceedit.a.b`` imports the packages ``faceedit.a`` on the way (their
``__init__``). The layering test (``tests/test_layering.py``) reads the graph through :func:`import_graph`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "faceedit"
LONG_FILE = 500
LONG_FUNCTION = 80


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``src/faceedit/io/loader.py`` → ``faceedit.io.loader``; ``…/io/__init__.py`` → ``faceedit.io``."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _imported_names(tree: ast.AST, this: str, is_package: bool) -> list[tuple[str, int, bool]]:
    """(dotted name, line, inside a function) for every import in ``tree``; ``from X import y`` gives both
    ``X`` and ``X.y`` (the latter is kept only when it is a module)."""
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    here = this.split(".") if is_package else this.split(".")[:-1]
                    here = here[:len(here) - child.level + 1]
                    base = ".".join(here + ([base] if base else []))
                out.append((base, child.lineno, in_function))
                out.extend((f"{base}.{a.name}", child.lineno, in_function) for a in child.names)
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                  and child.func.attr == "import_module" and child.args
                  and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str)):
                out.append((child.args[0].value, child.lineno, in_function))
            visit(child, inside)

    visit(tree, False)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, list[tuple[int, bool]]]]:
    """``{module: {imported module: [(line, inside a function), ...]}}`` over the package's own modules."""
    mods = modules(package)
    graph: dict[str, dict[str, list[tuple[int, bool]]]] = {m: {} for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line, in_function in _imported_names(tree, name, path.name == "__init__.py"):
            if target not in mods:
                continue
            parts = target.split(".")
            for k in range(2, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
                dotted = ".".join(parts[:k])
                # ... except the importer's own packages, which are already running
                own_package = k < len(parts) and (name + ".").startswith(dotted + ".")
                if dotted in mods and dotted != name and not own_package:
                    graph[name].setdefault(dotted, []).append((line, in_function))
    return graph


def cycles(graph: dict[str, dict]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(found)


def area_of(module: str) -> str:
    """The layer a module belongs to: its sub-package (``faceedit.io``), or the top-level module itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def area_graph(graph: dict[str, dict]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Imports between areas (sub-packages and top-level modules): ``{area: {area: [(module, module)]}}``."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for a, targets in graph.items():
        for b in targets:
            if area_of(a) != area_of(b) and a != "faceedit" and b != "faceedit":
                out.setdefault(area_of(a), {}).setdefault(area_of(b), []).append((a, b))
    return out


def long_functions(package: Path = PACKAGE, limit: int = LONG_FUNCTION) -> list[tuple[str, str, int]]:
    """(file, qualified name, lines) of every function or method longer than ``limit`` lines."""
    out = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def walk(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        n = child.end_lineno - child.lineno + 1
                        if n > limit:
                            out.append((str(path.relative_to(ROOT)), name, n))
                    walk(child, name + ".")

        walk(tree, "")
    return out


def long_files(package: Path = PACKAGE, limit: int = LONG_FILE) -> list[tuple[str, int]]:
    out = []
    for path in sorted(package.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append((str(path.relative_to(ROOT)), n))
    return out


def function_level_imports(package: Path = PACKAGE) -> tuple[int, int]:
    """(import statements inside functions that name the package's own modules, all of them)."""
    own = every = 0
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        seen = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and id(inner) not in seen:
                        seen.add(id(inner))
                        every += 1
                        if isinstance(inner, ast.Import):
                            mine = any(a.name.split(".")[0] == "faceedit" for a in inner.names)
                        else:
                            mine = bool(inner.level) or (inner.module or "").split(".")[0] == "faceedit"
                        own += mine
    return own, every


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="also list the files, functions and cycles")
    args = ap.parse_args(argv)
    graph = import_graph()
    module_cycles = cycles(graph)
    areas = area_graph(graph)
    area_cycles = cycles({a: dict.fromkeys(t) for a, t in areas.items()})
    files, functions = long_files(), long_functions()
    own, every = function_level_imports()
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py"))
    print(f"modules                      {len(graph)} ({lines:,} lines)")
    print(f"files > {LONG_FILE} lines            {len(files)}")
    print(f"functions > {LONG_FUNCTION} lines         {len(functions)}")
    print(f"import cycles (modules)      {len(module_cycles)}")
    print(f"import cycles (areas)        {len(area_cycles)}")
    print(f"function-level imports       {own} of faceedit modules ({every} in all)")
    if args.list:
        for f, n in files:
            print(f"  file {f}: {n} lines")
        for f, name, n in functions:
            print(f"  function {f}:{name}: {n} lines")
        for c in module_cycles:
            print(f"  module cycle: {' ↔ '.join(c)}")
        for c in area_cycles:
            print(f"  area cycle: {' ↔ '.join(c)}")
            for a in c:
                for b in c:
                    for x, y in areas.get(a, {}).get(b, [])[:3]:
                        print(f"    {x} → {y}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
