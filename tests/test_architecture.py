"""The layer table of docs/architecture.md holds: every import in mom_bench/ (function-level ones included)
points to a lower layer or stays inside its own package, and the module graph has no cycle."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mom_bench"


def layer_table() -> dict[str, int]:
    """module prefix -> layer number, read from the table under '## Layers'."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for name in re.findall(r"`(mom_bench[\w.]*)`", cells[2]):
                assert name not in layers, f"{name} listed twice in the layer table"
                layers[name] = int(cells[0])
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(module: str) -> set[str]:
    """mom_bench modules that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mom_bench"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "mom_bench":
                continue
            for alias in node.names:  # `from mom_bench import audio` imports the submodule mom_bench.audio
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found - {module}


def layer_of(module: str, table: dict[str, int]) -> tuple[str, int]:
    # The facade `mom_bench` (layer 11) is nobody's prefix: a new subpackage must have its own row.
    prefixes = [p for p in table if module == p or (p != "mom_bench" and module.startswith(p + "."))]
    assert prefixes, f"{module} is in no layer of docs/architecture.md: add it to the table"
    best = max(prefixes, key=len)
    return best, table[best]


def test_every_module_has_a_layer():
    table = layer_table()
    assert len(table) > 10
    for module in MODULES:
        layer_of(module, table)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    table = layer_table()
    entry, layer = layer_of(module, table)
    wrong = []
    for target in sorted(imports_of(module)):
        target_entry, target_layer = layer_of(target, table)
        if target_entry == entry:
            continue  # inside one package (acyclicity is checked below)
        if target_layer >= layer:
            wrong.append(f"{target} (layer {target_layer} {'beside' if target_layer == layer else 'above'})")
    assert not wrong, f"{module} (layer {layer}) imports " + ", ".join(wrong)


def test_the_import_graph_has_no_cycle():
    graph = {m: imports_of(m) & set(MODULES) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if m.startswith(n + "."):  # a module's own package is loaded before it anyway
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    # The checker itself must be able to fail: an upward import hidden in a function is found.
    source = "def f():\n    from mom_bench.cli import main\n    from mom_bench import audio\n"
    tree = ast.parse(source)
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names == {"mom_bench.cli", "mom_bench"}
    assert "mom_bench.audio" in imports_of("mom_bench.diagnostics")
    assert layer_of("mom_bench.dataset.builder", layer_table())[1] < layer_of("mom_bench.cli", layer_table())[1]
