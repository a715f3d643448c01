"""The ``sources`` step: the code each configured model is made of, pinned by sha256.

``bench sources`` (the DVC stage after ``weights``: always run, well under a second)
writes ``results/sources/<model>.json``: the model's class and the sha256 of every module
in its static import closure (``import`` statements anywhere in a file, followed through
the harness's ``models`` and ``bench`` packages and the model's own top-level package,
where a plugin's code lives). The DVC train and adapt stages depend on their model's file
alone, so editing a model, or a building block it imports, retrains exactly the models made
of it; and a plugin model (an entry point, or ``package.module:Class``), whose code is not
in this repository, trains under ``dvc repro`` like a built-in one. A file rewritten with
the same content leaves the stages below it alone.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import factory, layout
from bench.core import atomic
from bench.core.hashing import sha256_file

if TYPE_CHECKING:
    from bench.config import Config

FOLLOWED = ("models", "bench")
"""Top-level packages of the harness whose modules count as a model's code."""


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module name ``tree`` (the source of ``module``) imports, relative ones resolved;
    ``from a import b`` yields ``a`` and ``a.b`` (b may be a submodule)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def _module_file(name: str) -> Path | None:
    """The ``.py`` file of module ``name``; None for attributes, extensions and namespaces."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # an attribute (from a import Class), or no such module
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def import_closure(module: str) -> dict[str, Path]:
    """Module name -> file of ``module`` and of everything it imports, transitively, within
    :data:`FOLLOWED` and ``module``'s own top-level package (parent packages included)."""
    roots = {*FOLLOWED, module.split(".")[0]}
    files: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in files or name.split(".")[0] not in roots:
            continue
        path = _module_file(name)
        if path is None:
            continue
        files[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]  # parent packages run too
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        todo += _imported_names(tree, name, path.name == "__init__.py")
    return dict(sorted(files.items()))


def model_sources(name: str) -> dict[str, Any]:
    """What ``results/sources/<name>.json`` says: the class, and each module's sha256."""
    from models.registry import MODELS

    key = MODELS.check(name)
    cls = MODELS.load(key)
    return {
        "model": key,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "origin": MODELS.origin(name),
        "modules": {
            module: sha256_file(path) for module, path in import_closure(cls.__module__).items()
        },
    }


def sources_path(config: Config, name: str) -> Path:
    """``results/sources/<name>.json``."""
    return layout.sources_dir(config) / f"{name}.json"


def write_sources(config: Config) -> list[Path]:
    """Write the sources file of every table model and of the models they depend on; their
    paths."""
    paths = []
    for name in factory.ordered(config, config.table_models):
        path = sources_path(config, name)
        atomic.write_text(path, json.dumps(model_sources(name), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths
