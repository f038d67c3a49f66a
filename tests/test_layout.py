"""The runtime's layout: no import cycle (lazy imports included), modules of at most about 400
lines, and a decode path that imports neither torch nor the training code."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import zarr_unicompress

PACKAGE = Path(zarr_unicompress.__file__).parent
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (functions included), except under
    ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("zarr_unicompress")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_runtime_has_no_import_cycle() -> None:
    graph = {k: {m for m in v if m.startswith("zarr_unicompress.runtime")} for k, v in _graph().items()
             if k.startswith("zarr_unicompress.runtime")}
    # a package's __init__ is imported with its modules: only edges between modules count
    graph = {k: {m for m in v if not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").exists()}
             for k, v in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else nxt
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_runtime_modules_are_small() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in (PACKAGE / "runtime").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_decode_path_imports_no_torch_and_no_training_code() -> None:
    code = ("import sys, zarr_unicompress.runtime.chunk_codec, zarr_unicompress.runtime.device.parallel_open\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('zarr_unicompress.model', "
            "'zarr_unicompress.training'))))")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout
