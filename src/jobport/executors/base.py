"""What the dispatcher needs from an executor: deliver chunks, eventually, maybe twice.

An executor only carries "run chunk n of run r". Losing or repeating a
delivery is safe because the store decides what a delivery may do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Executor(Protocol):
    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        """Deliver each chunk of the run to the generic worker."""

    def warm(self) -> None:
        """Get ready for work that is about to come (e.g. start worker processes)."""

    def close(self) -> None:
        """Stop accepting work and release resources (pending work may be dropped)."""
