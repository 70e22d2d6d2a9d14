"""Runs for tests that write them straight into a store."""

from __future__ import annotations

from typing import Any

from jobport.store import NewRun


def new_run(run_id: str, **values: Any) -> NewRun:
    """A ``customers`` import's NewRun under ``run_id``; ``values`` override any field."""
    fields: dict[str, Any] = {
        "id": run_id,
        "type": "customers",
        "kind": "import",
        "strategy": "polling",
        "broadcast": True,
        "owner": None,
        "params": {},
        "max_attempts": 3,
        **values,
    }
    return NewRun(**fields)
