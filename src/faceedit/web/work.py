"""A bounded work queue: CPU-heavy calls (rendering, inversion) run on a small thread pool, and a request that
finds ``max_pending`` calls already queued or running is refused at once (the app answers 503 + Retry-After)
instead of piling up behind them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable


class Busy(Exception):
    """The queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, what: str, retry_after: int):
        super().__init__(f"the server is busy ({what}); try again in {retry_after} s")
        self.retry_after = retry_after


class WorkQueue:
    """``workers`` threads; at most ``max_pending`` calls queued or running at once."""

    def __init__(self, name: str, workers: int = 1, max_pending: int = 8, retry_after: int = 1):
        if workers < 1 or max_pending < 1:
            raise ValueError("workers and max_pending must be at least 1")
        self.name = name
        self.workers = int(workers)
        self.max_pending = int(max_pending)
        self.retry_after = int(retry_after)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"faceedit-{name}")
        self._lock = threading.Lock()
        self.pending = 0
        self.refused = 0

    def _reserve(self) -> None:
        with self._lock:
            if self.pending >= self.max_pending:
                self.refused += 1
                raise Busy(f"{self.pending} {self.name} jobs in progress", self.retry_after)
            self.pending += 1

    def _release(self) -> None:
        with self._lock:
            self.pending -= 1

    @contextlib.contextmanager
    def slot(self):
        """Hold one place in the queue (raises :class:`Busy` when full)."""
        self._reserve()
        try:
            yield
        finally:
            self._release()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the pool and await its result; :class:`Busy` when the queue is full."""
        self._reserve()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, *args)
        finally:
            self._release()

    def submit(self, fn: Callable[..., Any], *args: Any):
        """Start ``fn(*args)`` in the background (for long jobs that clients poll); :class:`Busy` when full."""
        self._reserve()
        fut = self._pool.submit(fn, *args)
        fut.add_done_callback(lambda _f: self._release())
        return fut

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
