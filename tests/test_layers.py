"""The package's layers import only downward, read from the source with `ast` (no module is imported).

Order, lowest first: media -> encoders -> library -> textsynth -> model -> train -> search -> evaluation ->
(app, cli). config, errors, settings and compat are the ground every layer may use. Imports inside functions
count: a lazy import is still an arrow. Within encoders no two modules may import each other (directly or
round a longer loop).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vml_demo"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
GROUND = {"config", "errors", "settings", "compat"}
# Rank per top-level part; a part may import its own rank or lower. api (the public facade) sits just under
# the app and the command line that use it; __main__ only starts the CLI.
RANK = {"media": 1, "encoders": 2, "library": 3, "textsynth": 4, "model": 5, "train": 6, "search": 7,
        "evaluation": 8, "api": 9, "app": 10, "cli": 10, "__main__": 11, "__init__": 11}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every vml_demo module `path` imports, at module level or inside functions, relative or absolute."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = real_modules(root)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from vml_demo import config` / `from .. import errors` name modules; otherwise names are attributes
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found |= submodules or {target}
    found = {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}
    resolved = set()
    for target in found:
        while target not in known and "." in target:  # `import vml_demo.x.y` of a name that is no module
            target = target.rpartition(".")[0]
        resolved.add(target)
    return resolved - {name}


def real_modules(root: Path = ROOT) -> set[str]:
    return {module_name(p, root) for p in root.rglob("*.py")}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    return {module_name(path, root): imported_modules(path, root) for path in sorted(root.rglob("*.py"))}


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in a directed graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_part_has_a_rank():
    unplaced = {part(m) for m in real_modules()} - set(RANK) - GROUND
    assert not unplaced, f"place these in the layer order of {Path(__file__).name}: {sorted(unplaced)}"


def test_ground_imports_nothing_above_it():
    bad = [f"{m} -> {t}" for m, targets in import_graph().items() if part(m) in GROUND
           for t in targets if part(t) not in GROUND and t != PACKAGE]
    assert not bad, "config/errors/settings/compat must not import the layers: " + "; ".join(bad)


def test_layers_import_only_downward():
    upward = []
    for module, targets in import_graph().items():
        if part(module) in GROUND:
            continue
        for target in targets:
            if part(target) in GROUND or target == PACKAGE:
                continue
            if RANK[part(target)] > RANK[part(module)]:
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports: " + "; ".join(sorted(upward))


def test_no_cycle_between_parts():
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    assert find_cycle(graph) is None, f"cycle between parts: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("layer", ["encoders"])
def test_no_cycle_between_modules_of(layer):
    graph = {m: {t for t in ts if part(t) == layer} for m, ts in import_graph().items() if part(m) == layer}
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in {layer}: {' -> '.join(cycle)}"


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """The graph builder catches the arrows it exists to catch (else the tests above would pass vacuously)."""
    fake = tmp_path / PACKAGE
    for rel, text in {
        "__init__.py": "",
        "config.py": "",
        "media/__init__.py": "",
        "media/audio.py": "def f():\n    from ..search import engine\n",  # upward, inside a function
        "search/__init__.py": "",
        "search/engine.py": "from vml_demo import config\nimport vml_demo.media.audio as a\n",
    }.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    graph = import_graph(fake)
    assert graph["vml_demo.media.audio"] == {"vml_demo.search.engine"}
    assert graph["vml_demo.search.engine"] == {"vml_demo.config", "vml_demo.media.audio"}
    assert find_cycle(graph) == ["vml_demo.media.audio", "vml_demo.search.engine", "vml_demo.media.audio"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
