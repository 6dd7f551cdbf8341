"""The search package's imports run one way: no module reaches, even lazily inside a function, a
module that imports it back, and the backends and the weight-sharing networks import nothing of the
driver above them."""

import ast
from pathlib import Path

import tinyml_cli

ROOT = Path(tinyml_cli.__file__).parent


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges(package: Path, root: Path | None = None) -> dict[str, set[str]]:
    """Every ``from ... import`` of the modules under ``package`` (anywhere in the file, function
    bodies included) resolved to the modules and packages of ``package`` it names; module names
    are dotted paths from ``root`` (default: the folder holding ``package``)."""
    root = root or package.parent
    files = {module_name(p, root): p for p in package.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = here.split(".")[:len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:          # ``from . import x``: the module x when there is one
                candidate = f"{target}.{alias.name}"
                edges[name].add(candidate if candidate in files else target)
    return {name: {t for t in targets if t in files and t != name} for name, targets in edges.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_lazy_import_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import B\n")
    (pkg / "a.py").write_text("from .sub import B\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (pkg / "c.py").write_text("from . import a\n")
    edges = import_edges(pkg)
    assert edges["pkg.c"] == {"pkg.a"} and edges["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(edges) == ["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.a"]


def test_the_search_package_has_no_import_cycle():
    assert find_cycle(import_edges(ROOT / "search", ROOT.parent)) is None


def test_backends_and_weight_sharing_import_nothing_of_the_driver():
    edges = import_edges(ROOT / "search", ROOT.parent)
    for name, targets in edges.items():
        if name.startswith("tinyml_cli.search.weight_sharing"):
            assert all(t.startswith("tinyml_cli.search.weight_sharing") for t in targets), (name, targets)
        if name.startswith("tinyml_cli.search.backends"):
            allowed = ("tinyml_cli.search.backends", "tinyml_cli.search.weight_sharing")
            assert all(t.startswith(allowed) for t in targets), (name, targets)
