"""The packages form layers and imports only point down (docs/new-task.md, "Layers").

    osim (the app) -> learners -> replays, judges, policies, scenarios -> osim_env

Within the middle layer a task uses its judge (scenarios -> judges, policies), an LLM judge calls a
policy (judges -> policies) and the store keeps and re-computes judgments (replays -> judges).
``osim_env`` imports none of the others, not even lazily inside a function or for type checking.
The check reads the source with ``ast``, so an import hidden in a function counts. A second check
finds import cycles between modules (imports under ``if TYPE_CHECKING:`` are not run, so they cannot
close a cycle).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"osim": 3, "learners": 2, "replays": 1, "judges": 1, "policies": 1, "scenarios": 1, "osim_env": 0}
# Imports allowed between packages of the same layer: (importer, imported).
SIDEWAYS = {("scenarios", "judges"), ("scenarios", "policies"), ("judges", "policies"), ("replays", "judges")}


def modules() -> dict[str, Path]:
    out = {}
    for package in LAYER:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, *, runtime_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if _type_checking_block(node):
                skipped |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # "from package import module" imports the module too
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def package_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYER else None


def test_every_package_is_checked():
    found = {package_of(m) for m in modules()}
    assert found == set(LAYER), f"packages without modules: {set(LAYER) - found}"


def test_imports_only_point_down():
    violations = []
    for module, path in modules().items():
        importer = package_of(module)
        for line, imported in imports(path):
            target = package_of(imported)
            if target is None or target == importer:
                continue
            if LAYER[target] > LAYER[importer] or (
                LAYER[target] == LAYER[importer] and (importer, target) not in SIDEWAYS
            ):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_osim_env_names_no_higher_module_in_strings():
    """No "package.module[:attr]" strings either (no registering tasks or loading policies by name);
    the entry-point group's name "osim.envs" is not a module."""
    module_path = re.compile(rf"^(?:{'|'.join(p for p in LAYER if p != 'osim_env')})(?:\.\w+)+(?::\w+)?$")
    hits = []
    for module, path in modules().items():
        if package_of(module) != "osim_env":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text != "osim.envs" and module_path.match(text):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not hits, "\n".join(hits)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in ``graph`` as a path of modules, or None (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycles_between_modules():
    known = modules()
    graph = {
        module: {imported for _, imported in imports(path, runtime_only=True) if imported in known} - {module}
        for module, path in known.items()
    }
    # A package's __init__ that re-exports its modules is not a cycle with them.
    for module in graph:
        graph[module] = {m for m in graph[module] if not module.startswith(m + ".")}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


@pytest.mark.parametrize(
    "graph, cyclic",
    [({"a": {"b"}, "b": {"c"}, "c": set()}, False), ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True)],
)
def test_the_cycle_finder_finds_cycles(graph, cyclic):
    assert (_cycle(graph) is not None) is cyclic


def test_the_command_line_and_the_recipes_load_no_model_library_on_import():
    # ``osim --help`` or ``osim run --policy scripted:...`` must not wait seconds for torch: recipes
    # import torch, transformers and TRL when they run (learners/__init__.py).
    import subprocess
    import sys

    code = (
        "import sys, osim.cli, learners; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'vllm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
