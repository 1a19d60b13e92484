"""The layer table of docs/architecture.md holds: every import in mom_bench/ (function-level ones included)
points to a lower layer or stays inside its own package, and the module graph has no cycle.

A string that names a mom_bench module (``"mom_bench.models.clam:ClamDetector"`` in a registry, the target
of an ``import_module``) is an import too: it is imported the moment it is used, so it must obey the table."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mom_bench"


def layer_table() -> dict[str, int]:
    """module prefix -> layer number, read from the table under "## Zones"."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Zones", 1)[1].split("\n## ", 1)[0]
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


# a whole string that names a module, optionally followed by :attribute
TARGET = re.compile(r"(mom_bench(?:\.\w+)+)(?::[\w.]+)?")


def imports_of(module: str, source: str | None = None) -> set[str]:
    """mom_bench modules that ``module`` imports, anywhere in its body, or names in a string for a lazy
    import. ``source`` replaces the module's text (to test the checker itself)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = TARGET.fullmatch(node.value)
            if match and match.group(1) in MODULES:
                found.add(match.group(1))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mom_bench"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "mom_bench":
                continue
            for alias in node.names:  # `from mom_bench import audio` imports the submodule mom_bench.core.audio
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found - {module}


def layer_of(module: str, table: dict[str, int]) -> tuple[str, int]:
    # The facade `mom_bench` (the public API's layer) is nobody's prefix: a new subpackage must have its own row.
    prefixes = [p for p in table if module == p or (p != "mom_bench" and module.startswith(p + "."))]
    assert prefixes, f"{module} is in no layer of docs/architecture.md: add it to the table"
    best = max(prefixes, key=len)
    return best, table[best]


ZONES = ("core", "report", "dataset", "models", "loop", "leaderboard", "cli")


def test_every_module_has_a_layer():
    table = layer_table()
    for module in MODULES:
        layer_of(module, table)


def test_the_package_is_its_zones():
    # Each zone is one package with one row; nothing but the facade and `python -m` sits beside them, so a new
    # module has to be placed in a zone (and so under the zone's layer rule) rather than added flat.
    table = layer_table()
    assert set(table) == {f"mom_bench.{z}" for z in ZONES} | {"mom_bench", "mom_bench.__main__"}
    flat = sorted(p.name for p in PACKAGE.glob("*.py")) + sorted(
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in ZONES)
    assert flat == ["__init__.py", "__main__.py"], flat
    order = [table[f"mom_bench.{z}"] for z in ZONES]
    assert order == sorted(order), "the zones' layers follow the order core, report, dataset, models, loop, ..."


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    wrong = upward(module, imports_of(module))
    assert not wrong, f"{module} (layer {layer_of(module, layer_table())[1]}) imports " + ", ".join(wrong)


def upward(module: str, targets: set[str]) -> list[str]:
    """Those of ``targets`` that ``module`` must not import, each with its layer."""
    table = layer_table()
    entry, layer = layer_of(module, table)
    wrong = []
    for target in sorted(targets):
        target_entry, target_layer = layer_of(target, table)
        if target_entry == entry:
            continue  # inside one package (acyclicity is checked below)
        if target_layer >= layer:
            wrong.append(f"{target} (layer {target_layer} {'beside' if target_layer == layer else 'above'})")
    return wrong


def test_the_import_graph_has_no_cycle():
    find_cycle({m: imports_of(m) & set(MODULES) for m in MODULES})


def find_cycle(graph: dict[str, set[str]]) -> None:
    """Raise AssertionError naming the first import cycle of ``graph`` (module -> modules it imports)."""
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
    assert "mom_bench.core.audio" in imports_of("mom_bench.report.diagnostics")
    assert layer_of("mom_bench.dataset.builder", layer_table())[1] < layer_of("mom_bench.cli", layer_table())[1]


def test_the_walker_sees_modules_named_in_strings():
    # A registry row or an import_module target is an import that happens later: a hidden upward one fails.
    hidden = ('TABLE = {"x": "mom_bench.cli:main"}\n\n'
              'def f():\n    return importlib.import_module("mom_bench.loop.training")\n')
    found = imports_of("mom_bench.report.metrics", hidden)
    assert {"mom_bench.cli", "mom_bench.loop.training"} <= found
    wrong = upward("mom_bench.report.metrics", found)
    assert any(w.startswith("mom_bench.cli ") for w in wrong) and any("mom_bench.loop.training " in w for w in wrong)
    # prose that mentions a module is not an import
    assert not imports_of("mom_bench.report.metrics", '"""See mom_bench.cli for the commands."""\nX = "mom_bench"\n')
    assert "mom_bench.models.clam" in imports_of("mom_bench.models.registry")


def test_the_cycle_check_catches_a_cycle_through_a_string_target():
    # The shape of the cycle this test once missed: the rows module naming, by string, a source kind that
    # imports the rows module.
    rows = "mom_bench.dataset.sources.rows"
    graph = {m: imports_of(m) & set(MODULES) for m in MODULES}
    graph[rows] = imports_of(rows, 'KINDS = {"mom": "mom_bench.dataset.sources.mom:MomSource"}\n')
    with pytest.raises(AssertionError, match=r"import cycle: .*mom_bench\.dataset\.sources\.mom -> "):
        find_cycle(graph)


def test_every_error_class_is_defined_in_the_errors_module():
    # One place for the error families; each module that raises one imports it (and so re-exports it).
    errors = ast.parse((PACKAGE / "core" / "errors.py").read_text())
    families = {n.name for n in errors.body if isinstance(n, ast.ClassDef)}
    elsewhere = []
    for module, path in MODULES.items():
        if module == "mom_bench.core.errors":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and {b.id for b in node.bases if isinstance(b, ast.Name)} & families:
                elsewhere.append(f"{module}.{node.name}")
    assert not elsewhere, elsewhere
