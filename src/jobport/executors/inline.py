"""Runs chunks synchronously in the caller: deterministic, for tests and scripts."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Sequence

from jobport.worker import ChunkResult, WorkerContext, run_chunk

#: Upper bound of deliveries per submit, so a bug can never spin forever.
MAX_DELIVERIES_PER_CHUNK = 50


class InlineExecutor:
    def __init__(
        self, context: Callable[[], WorkerContext], sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._context = context
        self._sleep = sleep

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        ctx = self._context()
        order = itertools.count()
        due: list[tuple[float, int, int]] = [(0.0, next(order), no) for no in chunks]
        heapq.heapify(due)
        deliveries = 0
        limit = MAX_DELIVERIES_PER_CHUNK * max(len(chunks), 1)
        while due and deliveries < limit:
            at, _, no = heapq.heappop(due)
            wait = at - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            deliveries += 1
            result: ChunkResult = run_chunk(ctx, run_id, no)
            if result.retry_in is not None:
                heapq.heappush(due, (time.monotonic() + result.retry_in, next(order), no))

    def close(self) -> None:
        return None
