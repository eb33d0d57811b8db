"""The dependency order of docs/ARCHITECTURE.md, enforced: no module imports a higher layer, and no import cycle,
counting imports inside functions too."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vqmri"

# first dotted part below vqmri -> layer; a module may import its own layer or lower ones
LAYERS = {"errors": 0, "config": 0, "progress": 0, "version": 0, "hugepages": 0, "cpu": 0, "data": 1, "models": 1,
          "weights": 1,
          "runs": 2, "vqmodel": 2, "codes": 2, "training": 3, "evaluation": 3, "inference": 3, "pipelines": 4,
          "api": 5, "cli": 5, "arguments": 5, "__init__": 5, "__main__": 5}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Modules of the package that `path` imports, anywhere in the file (relative imports resolved)."""
    name = module_name(path, root)
    package = list(path.parent.relative_to(root).parts)  # what a relative import of level 1 starts from
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == root.name:
                target = node.module.split(".", 1)[1] if "." in node.module else ""
            else:
                continue
            for alias in node.names:  # `from . import config` names a module
                sub = f"{target}.{alias.name}" if target else alias.name
                is_module = (root / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    root / sub.replace(".", "/")).is_dir()
                # a name from the package root (`from .. import load`) is an import of vqmri/__init__.py
                found.add(sub if is_module else target or "__init__")
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith(root.name + ".")}
    return {f for f in found if f and f != name}


def violations(root: Path, layers: dict) -> list[str]:
    graph = {module_name(p, root): imports_of(p, root) for p in root.rglob("*.py")}
    problems = []
    for mod, deps in graph.items():
        for dep in deps:
            a, b = layers.get(mod.split(".")[0]), layers.get(dep.split(".")[0])
            if a is None or b is None:
                problems.append(f"{mod} -> {dep}: not in the layer table")
            elif b > a:
                problems.append(f"{mod} (layer {a}) imports {dep} (layer {b})")
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                problems.append("cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return problems


def test_the_package_keeps_its_dependency_order():
    assert violations(SRC, LAYERS) == []


@pytest.mark.parametrize("planted", ["cycle", "upward", "root"])
def test_the_check_fails_on_a_planted_fault(tmp_path, planted):
    pkg = tmp_path / "vqmri"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "data" / "a.py").write_text("from ..errors import x\nfrom . import b\n")
    if planted == "cycle":
        (pkg / "data" / "b.py").write_text("def f():\n    from .a import y\n")
        expected = "cycle"
    elif planted == "root":  # a name from the package root runs back up to its __init__
        (pkg / "data" / "b.py").write_text("from .. import load\n")
        expected = "imports __init__"
    else:
        (pkg / "data" / "b.py").write_text("from ..cli import main\n")
        (pkg / "cli.py").write_text("")
        expected = "imports cli"
    found = violations(pkg, LAYERS)
    assert found and all(expected in f for f in found), found
