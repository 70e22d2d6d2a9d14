"""A run's or a chunk's status is compared with :mod:`jobport.lifecycle`'s names, not strings.

The statuses are written once, as :class:`~jobport.lifecycle.RunStatus` and
:class:`~jobport.lifecycle.ChunkStatus`, with the groups the rules use
(``COMPLETED_STATUSES``, ...). A ``status == "failed"`` or
``status.startswith("completed")`` elsewhere is a second copy of a rule that
silently goes stale when a status is added. This scan finds such comparisons
anywhere in src/jobport but lifecycle.py, and so is a literal group of statuses
(``("completed", "completed_with_errors")``), a copy of one of the lifecycle's.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from jobport.lifecycle import ChunkStatus, RunStatus

SOURCE = Path(__file__).resolve().parents[2] / "src" / "jobport"
STATUSES = {str(s) for s in (*RunStatus, *ChunkStatus)}

#: Comparisons still to be moved to the lifecycle's names, by module (the number may only
#: go down: remove an entry once its module compares with RunStatus / COMPLETED_STATUSES).
NOT_YET: dict[str, int] = {}


def _is_status(node: ast.AST) -> bool:
    """``x.status`` or ``x["status"]``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "status"
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == "status"
    )


def _strings(node: ast.AST) -> list[str]:
    """The string constants of a constant or of a literal tuple, list or set."""
    elements = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def status_literals(source: str) -> Iterator[tuple[int, str]]:
    """Each comparison of a status with a status spelt as a string: (line, the string)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_status(side) for side in sides):
                for side in sides:
                    yield from ((node.lineno, s) for s in _strings(side) if s in STATUSES)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith")
            and _is_status(node.func.value)
        ):
            yield from ((node.lineno, s) for arg in node.args for s in _strings(arg))


def test_the_scan_finds_each_way_of_spelling_a_status() -> None:
    source = (
        "a = run.status == 'failed'\n"
        "b = row['status'] in ('queued', 'running')\n"
        "c = run.status.startswith('completed')\n"
        "d = run.status in COMPLETED_STATUSES\n"  # the lifecycle's names: fine
        "e = delivery.state == 'failed'\n"  # not a run's or a chunk's status
    )
    assert list(status_literals(source)) == [
        (1, "failed"),
        (2, "queued"),
        (2, "running"),
        (3, "completed"),
    ]


def test_statuses_are_compared_by_the_lifecycles_names() -> None:
    found: Counter[str] = Counter()
    where: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name == "lifecycle.py":
            continue
        module = path.relative_to(SOURCE).as_posix()
        for line, status in status_literals(path.read_text(encoding="utf-8")):
            found[module] += 1
            where.append(f"{module}:{line} compares a status with {status!r}")
    over = [w for w in where if found[w.split(":")[0]] > NOT_YET.get(w.split(":")[0], 0)]
    assert over == []


def status_groups(source: str) -> Iterator[tuple[int, list[str]]]:
    """Each literal tuple, list or set of two or more statuses spelt as strings."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) > 1:
            strings = _strings(node)
            if len(strings) == len(node.elts) and set(strings) <= STATUSES:
                yield node.lineno, strings


def test_the_group_scan_finds_a_copied_group_only() -> None:
    source = (
        "COMPLETED = ('completed', 'completed_with_errors')\n"
        "pair = ('completed', 'other')\n"
        "lone = ('failed',)\n"
        "names = {'queued', 'running'}\n"
    )
    assert list(status_groups(source)) == [
        (1, ["completed", "completed_with_errors"]),
        (4, ["queued", "running"]),
    ]


def test_no_module_spells_a_group_of_statuses_again() -> None:
    copies = [
        f"{path.relative_to(SOURCE).as_posix()}:{line} spells {group}"
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "lifecycle.py"
        for line, group in status_groups(path.read_text(encoding="utf-8"))
    ]
    assert copies == []
