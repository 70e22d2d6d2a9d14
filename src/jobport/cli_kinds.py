"""CLI commands of the export, sync and report kinds."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``jobport`` app."""
