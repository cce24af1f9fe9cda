"""The import direction the architecture promises, read from the source files.

Dependencies point one way: inside ``sources/pardot`` a module imports only from its
own layer or the layers below it, and no package imports in a circle; only the dlt glue
imports dlt, so the client, the parser and the run logic work and are tested without
it; the emulator shares no code with the connector but its constants; the pipelines
sit above the sources, and nothing in ``sources`` imports them. Read with ``ast``: no
module is imported to check it. Imports under ``if TYPE_CHECKING:`` are annotations
only, never run, and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ROOT / "sources" / "pardot"
EMULATOR = ROOT / "sources" / "pardot_emulator"

LAYERS: list[tuple[str, set[str]]] = [
    ("constants", {"constants"}),
    ("errors", {"codes", "errors"}),
    ("settings", {"config"}),
    ("the response envelope", {"envelope"}),
    (
        "tables and parsing",
        {"schema", "idset", "columns", "texttables", "walk", "native", "parsing", "history"},
    ),
    ("HTTP", {"params", "auth", "retry", "meter", "caller", "v5", "client"}),
    ("what a run reads", {"planner", "checkpoints", "ranges"}),
    ("paging", {"lookahead", "fetch", "feed", "v5feed", "deletecheck"}),
    ("the run", {"deletes", "report", "runcontext", "changes", "sync"}),
    ("the warehouse", {"loaded"}),
    ("dlt", {"__init__"}),
]
"""Lowest first. A new module goes in the lowest layer whose modules it needs."""

MAY_IMPORT_DLT = {"loaded", "__init__"}


def _runtime_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) of every import outside ``if TYPE_CHECKING:``."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from . import x` and `from .pkg import mod` may name modules
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _connector_imports(path: Path) -> set[str]:
    """The modules of ``sources.pardot`` that ``path`` imports (short names)."""
    prefix = "sources.pardot."
    names = set()
    for module, _ in _runtime_imports(path):
        if module.startswith(prefix):
            name = module[len(prefix) :].split(".")[0]
            if (CONNECTOR / f"{name}.py").exists():
                names.add(name)
        elif module == "sources.pardot":
            names.add("__init__")
    names.discard(path.stem)
    return names


def _layer_of() -> dict[str, int]:
    return {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def test_every_connector_module_has_a_layer() -> None:
    placed = _layer_of()
    modules = {path.stem for path in CONNECTOR.glob("*.py")}
    missing = sorted(modules - set(placed))
    assert not missing, (
        f"place {missing} in LAYERS of tests/test_layers.py: in the lowest layer whose "
        "modules it imports, below every module that imports it"
    )
    assert not set(placed) - modules, "LAYERS names a module that no longer exists"


@pytest.mark.parametrize("path", sorted(CONNECTOR.glob("*.py")), ids=lambda path: path.stem)
def test_connector_modules_import_only_their_layer_and_below(path: Path) -> None:
    layer_of = _layer_of()
    own = layer_of.get(path.stem)
    if own is None:
        pytest.fail(f"{path.stem} has no layer (see test_every_connector_module_has_a_layer)")
    above = sorted(name for name in _connector_imports(path) if layer_of.get(name, -1) > own)
    assert not above, (
        f"{path.stem} (layer {LAYERS[own][0]!r}) imports {above} from layers above it: "
        "move the shared piece down, or pass it in"
    )


def test_the_connector_imports_nothing_in_a_circle() -> None:
    graph = {path.stem: _connector_imports(path) for path in CONNECTOR.glob("*.py")}
    graph["__init__"] = graph.get("__init__", set())
    _assert_acyclic(graph, "sources.pardot")


@pytest.mark.parametrize("folder", [EMULATOR, ROOT / "pipelines"], ids=lambda path: path.name)
def test_the_emulator_and_the_pipelines_import_nothing_in_a_circle(folder: Path) -> None:
    package = ".".join(folder.relative_to(ROOT).parts)
    prefix = f"{package}."
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        graph[path.stem] = {
            module[len(prefix) :].split(".")[0]
            for module, _ in _runtime_imports(path)
            if module.startswith(prefix) and (folder / f"{module[len(prefix) :]}.py").exists()
        } - {path.stem}
    _assert_acyclic(graph, package)


def _assert_acyclic(graph: dict[str, set[str]], package: str) -> None:
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycle = [*trail[trail.index(target) :], target] if target in trail else [target]
                pytest.fail(f"import circle in {package}: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_only_the_dlt_glue_imports_dlt() -> None:
    offenders = [
        f"{path.name}:{line}"
        for path in sorted(CONNECTOR.glob("*.py"))
        if path.stem not in MAY_IMPORT_DLT
        for module, line in _runtime_imports(path)
        if module == "dlt" or module.startswith("dlt.")
    ]
    assert not offenders, f"only {sorted(MAY_IMPORT_DLT)} may import dlt: {offenders}"


def test_the_emulator_shares_only_constants_with_the_connector() -> None:
    """The emulator stands on its own: it agrees with the connector on paths and limits
    (``constants``) and needs neither the connector, dlt nor the pipelines."""
    offenders = [
        f"{path.name}:{line} imports {module}"
        for path in sorted(EMULATOR.glob("*.py"))
        for module, line in _runtime_imports(path)
        if module == "sources.pardot"
        or (module.startswith("sources.pardot.") and not _is_constants(module))
        or module.split(".")[0] in {"dlt", "pipelines"}
    ]
    assert not offenders, offenders


def _is_constants(module: str) -> bool:
    return module.startswith("sources.pardot.constants")


def test_sources_never_import_the_pipelines_or_benchmarks() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "sources").rglob("*.py"))
        for module, line in _runtime_imports(path)
        if module.split(".")[0] in {"pipelines", "benchmarks", "tests"}
    ]
    assert not offenders, offenders
