"""CLI commands of the HTTP face: serve, demo, users."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``jobport`` app."""
