"""Imports in src/jobport point down the layers only, and never go round in a cycle.

Every import counts: at module level and inside functions (a deferred
import is still a dependency; it only fails later). Imports under
``TYPE_CHECKING`` count for the direction of the layers; they never run, so
they cannot close a cycle and are left out of that check.
The layers, top first (docs/architecture.md, "Layers and what they may import"):

    faces       the public facade (jobport/__init__), cli, server, api, web, demo
    http        what the API and the dashboard share
    service     the application layer (service, and fixes and webhooks.service beside it)
    engine      the composition root
    machinery   dispatch, worker, recovery, wiring, executors, schedules, webhooks
    plug-ins    kinds, formats, targets, registry, reports
    state       store, files, events, lifecycle, signing
    base        settings, errors, logs, principal

A module may import its own layer or one below. On top of that, api and web
never import each other, and nothing in http imports either of them; and the
state tables are the store's: no module outside :mod:`jobport.store` imports
their definitions or builds a store section of its own.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"

#: Layers top first: module name prefixes ("jobport" alone is the facade).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "faces",
        (
            "jobport",
            "jobport.cli",
            "jobport.server",
            "jobport.api",
            "jobport.web",
            "jobport.demo",
        ),
    ),
    ("http", ("jobport.http",)),
    (
        "service",
        ("jobport.service", "jobport.undoing", "jobport.fixes", "jobport.webhooks.service"),
    ),
    ("engine", ("jobport.engine",)),
    (
        "machinery",
        (
            "jobport.dispatch",
            "jobport.worker",
            "jobport.recovery",
            "jobport.retention",
            "jobport.wiring",
            "jobport.executors",
            "jobport.webhooks",
            "jobport.schedules",
        ),
    ),
    (
        "plug-ins",
        (
            "jobport.kinds",
            "jobport.formats",
            "jobport.targets",
            "jobport.registry",
            "jobport.reports",
        ),
    ),
    (
        "state",
        (
            "jobport.store",
            "jobport.files",
            "jobport.events",
            "jobport.events_redis",
            "jobport.lifecycle",
            "jobport.signing",
            "jobport.metrics",
        ),
    ),
    (
        "base",
        (
            "jobport.settings",
            "jobport.lazy",
            "jobport.errors",
            "jobport.logs",
            "jobport.principal",
            "jobport.audit",
        ),
    ),
]
#: (importer prefix, imported prefix) pairs that are refused whatever the layers say.
FORBIDDEN = [
    ("jobport.api", "jobport.web"),
    ("jobport.web", "jobport.api"),
    ("jobport.http", "jobport.api"),
    ("jobport.http", "jobport.web"),
]


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((SOURCE / "jobport").rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


@dataclass(frozen=True, order=True)
class Import:
    module: str
    line: int
    #: Under ``if TYPE_CHECKING:``: read by type checkers, never run.
    type_only: bool


def import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement in ``tree``, and whether it sits under ``if TYPE_CHECKING:``."""
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(inner) for child in node.body for inner in ast.walk(child))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, id(node) in type_only


def imported(name: str, path: Path) -> Iterator[Import]:
    """The jobport modules ``name`` imports, anywhere in it, with the line of each import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node, type_only in import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from package import module`` imports the module; anything else the package.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for target in targets:
            module = owning_module(target)
            if module is not None and module != name:
                yield Import(module, node.lineno, type_only)


def owning_module(dotted: str) -> str | None:
    """The longest known module ``dotted`` names or lies in (None outside jobport)."""
    while dotted:
        if dotted in MODULES:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def layer_of(name: str) -> int:
    """The rank of the layer ``name`` belongs to, by its longest matching prefix (0 is top)."""
    best: tuple[int, int] | None = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = name == prefix or (prefix != "jobport" and name.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{name} belongs to no layer: add it to LAYERS"
    return best[0]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


GRAPH = {name: sorted(set(imported(name, path))) for name, path in MODULES.items()}


def test_a_type_only_import_is_told_apart() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import a\n"
        "def f():\n    import b\n"
    )
    assert [(n.names[0].name, t) for n, t in import_nodes(tree)][1:] == [("a", True), ("b", False)]


def test_the_graph_sees_imports_at_every_depth() -> None:
    """The parser finds module-level, TYPE_CHECKING and in-function imports alike."""
    seen = {(i.module, i.type_only) for i in GRAPH["jobport.engine"]}
    assert ("jobport.recovery", False) in seen  # module level
    assert ("jobport.executors.local", False) in seen  # inside a function
    service = {(i.module, i.type_only) for i in GRAPH["jobport.service.base"]}
    assert ("jobport.engine", True) in service  # under TYPE_CHECKING


def test_every_module_belongs_to_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_every_layer_names_modules_that_exist() -> None:
    """A prefix left behind by a module's removal or move would hide nothing, but mislead."""
    stale = [
        prefix
        for _, prefixes in LAYERS
        for prefix in prefixes
        if not any(within(name, prefix) for name in MODULES)
    ]
    assert stale == []


def test_no_import_cycles() -> None:
    runs = {name: [i.module for i in deps if not i.type_only] for name, deps in GRAPH.items()}
    sorter = graphlib.TopologicalSorter(runs)
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{name} (line {i.line}, {LAYERS[layer_of(name)][0]}) imports "
        f"{i.module} ({LAYERS[layer_of(i.module)][0]})"
        for name, deps in GRAPH.items()
        for i in deps
        if layer_of(i.module) < layer_of(name)
    ]
    assert upward == []


def test_faces_that_must_not_meet_do_not() -> None:
    crossing = [
        f"{name} (line {i.line}) imports {i.module}"
        for name, deps in GRAPH.items()
        for i in deps
        for importer, refused in FORBIDDEN
        if within(name, importer) and within(i.module, refused)
    ]
    assert crossing == []


#: Modules outside the store still running their own SQL on a state table (only ever fewer):
#: the sync kind reads and writes its cursors (jobport_sync_cursors) itself.
OWN_SQL_NOT_YET = {"jobport.kinds.syncs"}


def sections_defined(path: Path) -> list[str]:
    """The classes in ``path`` that derive from the store's ``Section``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base).split(".")[-1] == "Section" for base in node.bases)
    ]


def test_only_the_store_works_on_the_state_tables() -> None:
    outside = [name for name in MODULES if not within(name, "jobport.store")]
    assert sections_defined(MODULES["jobport.store.users"]) == ["Users"]  # the scan sees them
    own_sql = [
        f"{name} (line {i.line}) imports {i.module}"
        for name in outside
        if name not in OWN_SQL_NOT_YET
        for i in GRAPH[name]
        if i.module == "jobport.store.tables"
    ] + [
        f"{name} defines the store section {section}"
        for name in outside
        for section in sections_defined(MODULES[name])
    ]
    assert own_sql == []
    # The list only shrinks: a module that moved its SQL into the store leaves it.
    assert all(
        any(i.module == "jobport.store.tables" for i in GRAPH[name]) for name in OWN_SQL_NOT_YET
    )
