"""The import direction of the code (see README "Layout"): arrows only point down, no circles.

Layers, top to bottom: the CLI (``bench/cli.py``, ``bench/commands/``), the
orchestration (the rest of ``bench/``), the parts (``datasets/``, ``models/``,
``metrics/``), the foundation (``bench/core/``). Every import is read with
:mod:`ast` (module level and inside functions alike).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "datasets", "models", "metrics")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """``core``, ``datasets``, ``models``, ``metrics``, ``orchestration`` or ``cli``."""
    if module == "bench.core" or module.startswith("bench.core."):
        return "core"
    if module in ("bench.cli", "bench.commands") or module.startswith("bench.commands."):
        return "cli"
    top = module.split(".")[0]
    return "orchestration" if top == "bench" else top


# (importing layer, imported layer) pairs that are never allowed.
FORBIDDEN = {
    ("core", "datasets"),
    ("core", "models"),
    ("core", "metrics"),
    ("core", "orchestration"),
    ("core", "cli"),
    ("models", "datasets"),
    ("models", "metrics"),
    ("metrics", "models"),
    *(
        (part, upper)
        for part in ("datasets", "models", "metrics")
        for upper in ("orchestration", "cli")
    ),
    ("datasets", "models"),
    ("datasets", "metrics"),
    ("orchestration", "cli"),
}


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a project package in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from bench import core` imports the submodule bench.core
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                if (root / Path(*candidate.split("."))).with_suffix(".py").is_file() or (
                    root / Path(*candidate.split("."))
                ).is_dir():
                    found.append((node.lineno, candidate))
                else:
                    found.append((node.lineno, module))
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def source_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for package in PACKAGES for p in (root / package).rglob("*.py"))


def violations(root: Path = ROOT) -> list[str]:
    """One line per forbidden arrow: ``file:line imports module (layer -> layer)``."""
    problems = []
    for path in source_files(root):
        here = layer(module_name(path, root))
        for line, name in imports_of(path, root):
            there = layer(name)
            if (here, there) in FORBIDDEN:
                problems.append(
                    f"{path.relative_to(root)}:{line} imports {name} ({here} -> {there})"
                )
    return problems


def file_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> project modules it imports (resolved to existing modules)."""
    modules = {module_name(p, root): p for p in source_files(root)}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, imported in imports_of(path, root):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                graph[name].add(imported)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted.

    A package's ``__init__`` importing its own submodules is not a circle.
    """
    graph = {
        node: {t for t in targets if not t.startswith(node + ".")}
        for node, targets in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_arrows_only_point_down():
    problems = violations()
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_no_import_circles():
    found = cycles(file_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("importer", "statement", "arrow"),
    [
        (
            "models/newmodel.py",
            "from metrics.inception import InceptionFeatures",
            "models -> metrics",
        ),
        ("models/newmodel.py", "from datasets.tensors import load_image_set", "models -> datasets"),
        ("metrics/newmetric.py", "from models.base import Generator", "metrics -> models"),
        ("metrics/newmetric.py", "from bench import layout", "metrics -> orchestration"),
        ("datasets/newset.py", "from bench.cli import app", "datasets -> cli"),
        ("bench/core/newcore.py", "from datasets.manifest import MANIFEST", "core -> datasets"),
        ("bench/core/newcore.py", "    from bench import layout", "core -> orchestration"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, importer, statement, arrow):
    """Copy the tree, add one forbidden import, and the checker names it."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text())
    body = f"def f():\n{statement}\n" if statement.startswith(" ") else f"{statement}\n"
    (tmp_path / importer).write_text(body)
    problems = violations(tmp_path)
    assert any(importer in p and f"({arrow})" in p for p in problems), problems


def test_a_circle_is_caught(tmp_path):
    for name, body in {
        "bench/__init__.py": "",
        "bench/a.py": "from bench import b\n",
        "bench/b.py": "def f():\n    from bench.a import g\n",
        "models/__init__.py": "",
        "metrics/__init__.py": "",
        "datasets/__init__.py": "",
    }.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    assert cycles(file_graph(tmp_path)) == [["bench.a", "bench.b"]]
