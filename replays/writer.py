"""``BatchWriter``: store writes that overlap with the caller's work.

A store write has two halves: building Arrow tables from Python objects (``ReplayStore.prepare``,
which holds the GIL) and DuckDB's insert and commit (``ReplayStore.commit``, which mostly runs in
C++ without it). The writer builds a batch's tables in the caller's thread and commits them on one
background thread, so the next batch (or the next round of a sweep) is built while DuckDB writes
this one: on two cores a million events are stored in about the time of the slower half instead of
the sum of both.

Guarantees are those of ``ReplayStore.write``: each batch is one transaction, committed in submission
order; at most ``max_pending`` batches wait in memory (``submit`` blocks beyond that), so a killed
process loses at most those, never half an episode. A failed commit is raised by the next
``submit``, ``poll`` or ``flush`` (and by ``close``), never swallowed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from types import TracebackType

from replays import rows as R
from replays.store import ReplayStore

_STOP = object()


class BatchWriter:
    """Commits prepared batches of one run on a background thread, in order."""

    def __init__(
        self, store: ReplayStore, run_id: str, *, replace: bool = False, max_pending: int = 2
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.store = store
        self.run_id = run_id
        self.replace = replace
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._committed: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._cursor = store.cursor()  # DuckDB connections are per thread; this one is the writer's
        self._thread = threading.Thread(target=self._work, name="osim-store-writer", daemon=True)
        self._thread.start()
        self._closed = False

    def submit(self, results: Sequence[R.EpisodeResult], *, calls: Sequence[R.CallRecord] = ()) -> None:
        """Build the batch's tables now and queue its transaction (blocks while ``max_pending``
        batches wait)."""
        self._raise()
        if self._closed:
            raise RuntimeError("BatchWriter is closed")
        if not results and not calls:
            return
        batch = self.store.prepare(self.run_id, results, calls=calls)
        while True:
            try:
                self._queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                self._raise()  # the writer died: do not wait for it forever

    def poll(self) -> list[int]:
        """Episode counts of the batches committed since the last call (one entry per batch)."""
        self._raise()
        done = []
        while True:
            try:
                done.append(self._committed.get_nowait())
            except queue.Empty:
                return done

    def flush(self) -> list[int]:
        """Wait until every submitted batch is committed; their episode counts, as ``poll``."""
        self._queue.join()
        return self.poll()

    def close(self) -> list[int]:
        """Commit what is queued, stop the thread and release its cursor."""
        if self._closed:
            return self.poll()
        self._closed = True
        try:
            self._queue.join()
        finally:
            self._queue.put(_STOP)
            self._thread.join()
            self._cursor.close()
        return self.poll()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
            return
        # Leaving on an error: still commit the finished episodes that are queued, but do not let a
        # commit error hide the original one.
        try:
            self.close()
        except Exception:
            if exc is None:
                raise

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"the store writer failed: {self._error}") from self._error

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is _STOP:
                    return
                if self._error is None:  # after a failure, drain without writing (order matters)
                    assert isinstance(batch, R.PreparedBatch)
                    self._committed.put(self.store.commit(batch, replace=self.replace, con=self._cursor))
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()
