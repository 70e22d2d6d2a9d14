"""No module in src/jobport over 600 lines, no function or method over 80 (migrations aside).

The design rule keeps each module about one concern and each function
readable at a glance; a long one is split by concern (a package, or helpers
with names that say what they do), not waved through. Alembic migrations are
left out: each records one schema change as it was made.
A function's size counts from its ``def`` line to its last line, so a nested
function counts towards the one around it as well as on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "jobport"
MIGRATIONS = PACKAGE / "store" / "migrations"

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def sources() -> list[Path]:
    """Every module of the package but the migrations, in order."""
    return sorted(path for path in PACKAGE.rglob("*.py") if MIGRATIONS not in path.parents)


def function_sizes(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(qualified name, first line, lines) of every function and method in ``tree``."""
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                assert child.end_lineno is not None
                size = child.end_lineno - child.lineno + 1
                found.append((prefix + child.name, child.lineno, size))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def test_the_walk_sees_the_package() -> None:
    paths = sources()
    assert PACKAGE / "__init__.py" in paths
    assert PACKAGE / "store" / "jobstore.py" in paths
    assert not [path for path in paths if "migrations" in path.parts]


def test_function_sizes_count_methods_and_nested_functions() -> None:
    tree = ast.parse(
        "class A:\n"
        "    @property\n"
        "    def b(self):\n"
        "        def c():\n"
        "            pass\n"
        "        return 1\n"
        "async def d():\n"
        "    pass\n"
    )
    assert function_sizes(tree) == [("A.b", 3, 4), ("A.b.c", 4, 2), ("d", 7, 2)]


def test_no_module_is_over_the_limit() -> None:
    too_long = []
    for path in sources():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: " + "; ".join(too_long)


def test_no_function_is_over_the_limit() -> None:
    too_long = [
        f"{path.relative_to(PACKAGE.parent)}::{name} (line {line}): {lines} lines"
        for path in sources()
        for name, line, lines in function_sizes(ast.parse(path.read_text(encoding="utf-8")))
        if lines > MAX_FUNCTION_LINES
    ]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: " + "; ".join(too_long)
