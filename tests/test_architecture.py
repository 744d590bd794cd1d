"""The package's architecture, checked from its source: no import cycles (between
modules, and between the package's first-level parts), no private names used across
modules, and every engine reached through the one registry."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dendrinet"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path):
    """(imported module, imported name or None, line) for every dendrinet import of a
    file, also those inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dendrinet":
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "dendrinet":
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for module, imported, _ in _imports(path):
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES \
                else module
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "dendrinet"


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_every_module_is_parsed():
    assert "dendrinet.backends.numba.engine" in MODULES
    assert "dendrinet.backends.brian2.network" in MODULES
    assert len(MODULES) > 40


def test_no_import_cycle_between_modules():
    assert _cycle(_graph()) is None


def test_no_import_cycle_between_first_level_parts():
    parts: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        for target in targets:
            if _part(module) != _part(target) and _part(target) != "dendrinet":
                parts.setdefault(_part(module), set()).add(_part(target))
    assert _cycle(parts) is None, parts


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for name, path in MODULES.items():
        for module, imported, line in _imports(path):
            if imported and imported.startswith("_") and not imported.startswith("__"):
                offenders.append(f"{path.name}:{line} imports {imported} from {module}")
    assert offenders == []


def test_no_private_attribute_of_another_dendrinet_module_is_used():
    offenders = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for module, imported, _ in _imports(path):
            full = f"{module}.{imported}" if imported else module
            if full in MODULES:
                aliases[(imported or module).split(".")[-1]] = full
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                offenders.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert offenders == []


@pytest.mark.parametrize("module", ["dendrinet.training.trainer", "dendrinet.training.estimator",
                                    "dendrinet.training.evaluation", "dendrinet.commands.simulate"])
def test_engines_are_created_only_through_the_registry(module):
    """No engine class is imported outside its backend and the registry."""
    for imported_module, imported, _ in _imports(MODULES[module]):
        assert imported not in ("FastEngine", "Brian2Engine"), (module, imported_module)


def _imported_targets(module: str):
    for imported_module, imported, line in _imports(MODULES[module]):
        full = f"{imported_module}.{imported}" if imported else imported_module
        yield (full if full in MODULES else imported_module), line


def _offenders(sources: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module in MODULES:
        if module == sources or module.startswith(sources + "."):
            for target, line in _imported_targets(module):
                if any(target == f or target.startswith(f + ".") for f in forbidden):
                    out.append(f"{module}:{line} imports {target}")
    return out


def test_the_backends_do_not_import_each_other():
    """Brian2 and Numba backends share only what lies outside both (learning, the
    model's equations, the engine interface)."""
    assert _offenders("dendrinet.backends.brian2", ("dendrinet.backends.numba",)) == []
    assert _offenders("dendrinet.backends.numba", ("dendrinet.backends.brian2",)) == []


@pytest.mark.parametrize("package", ["dendrinet.learning", "dendrinet.jit", "dendrinet.model"])
def test_learning_and_the_model_stand_apart_from_the_backends(package):
    assert any(m.startswith(package + ".") for m in MODULES)
    assert _offenders(package, ("dendrinet.backends",)) == []


@pytest.mark.parametrize("module", ["dendrinet.backends.numba.dynamics",
                                    "dendrinet.backends.numba.drivers",
                                    "dendrinet.backends.numba.replay",
                                    "dendrinet.learning.plasticity"])
def test_the_kernels_reach_a_model_only_through_the_boundary(module):
    """The kernels import no neuron part or rule: they receive them as first-class
    functions (model_part, rule_part), so one compiled kernel serves every model."""
    forbidden = ("dendrinet.backends.numba.standard_neuron", "dendrinet.backends.numba.codegen")
    assert _offenders(module, forbidden) == []
    rules = {"segregated_dendrite", "noise_feedback", "direct_feedback_alignment"}
    assert [(m, name) for m, name, _ in _imports(MODULES[module])
            if m == "dendrinet.learning.rules" and name in rules] == []


def test_no_module_asks_for_its_own_name():
    """No module behaves differently depending on the name it was imported under (the
    old per-model copies of the engine did)."""
    offenders = []
    for name, path in MODULES.items():
        if name == "dendrinet.cli":
            continue  # its `if __name__ == "__main__"`
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(
                    isinstance(n, ast.Name) and n.id == "__name__"
                    for n in (node.left, *node.comparators)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
