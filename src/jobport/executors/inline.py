"""Runs chunks synchronously in the caller: deterministic, for tests and scripts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from jobport.executors.base import ExecutorBase
from jobport.worker import ChunkResult, WorkerContext, run_chunk

#: Upper bound of deliveries per submit, so a bug can never spin forever.
MAX_DELIVERIES_PER_CHUNK = 50


class InlineExecutor(ExecutorBase):
    """Delivers the lowest-numbered due chunk first, so commits never wait on each other."""

    def __init__(
        self, context: Callable[[], WorkerContext], sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._context = context
        self._sleep = sleep

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        ctx = self._context()
        due_at = dict.fromkeys(chunks, 0.0)
        deliveries = 0
        limit = MAX_DELIVERIES_PER_CHUNK * max(len(due_at), 1)
        while due_at and deliveries < limit:
            now = time.monotonic()
            ready = [no for no, at in due_at.items() if at <= now]
            if not ready:
                self._sleep(min(due_at.values()) - now)
                continue
            no = min(ready)
            deliveries += 1
            result: ChunkResult = run_chunk(ctx, run_id, no)
            if result.retry_in is None:
                del due_at[no]
            else:
                due_at[no] = time.monotonic() + result.retry_in
