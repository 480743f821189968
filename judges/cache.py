"""The judge cache: one DuckDB table of judge outputs keyed by (judge spec, prompt, transcript) hashes.

Re-judging a stored episode with the same judge, prompt and transcript returns the stored output and
makes no model call. Only outputs that parsed are stored (a failure is retried next time, never
replayed). New entries are buffered and written in one Arrow insert per flush, never row by row; lookups
see the buffer too, so a flush is only about durability.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from osim_env.seeding import stable_hash

TABLE = "judge_cache"
_SCHEMA = pa.schema(
    [
        ("spec_hash", pa.string()),
        ("prompt_hash", pa.string()),
        ("transcript_hash", pa.string()),
        ("output", pa.string()),
        ("spec", pa.string()),
    ]
)


@dataclass(frozen=True)
class CacheKey:
    spec_hash: str
    prompt_hash: str
    transcript_hash: str

    @classmethod
    def of(cls, spec: Mapping[str, Any], prompt: Any, transcript: str) -> CacheKey:
        return cls(
            stable_hash("spec", spec, length=32),
            stable_hash("prompt", prompt, length=32),
            stable_hash("transcript", transcript, length=32),
        )


class _Store:
    """Connection and write buffer, kept apart from ``JudgeCache`` so a finalizer can flush them."""

    def __init__(self, path: str) -> None:
        self.conn = duckdb.connect(path)
        self.lock = threading.Lock()
        self.buffer: dict[CacheKey, tuple[str, str]] = {}
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (spec_hash VARCHAR, prompt_hash VARCHAR, "
            "transcript_hash VARCHAR, output VARCHAR, spec VARCHAR, "
            "PRIMARY KEY (spec_hash, prompt_hash, transcript_hash))"
        ).fetchall()  # DuckDB wants every result consumed before the next statement

    def flush(self) -> int:
        with self.lock:
            if not self.buffer:
                return 0
            keys = list(self.buffer)
            table = pa.Table.from_pydict(
                {
                    "spec_hash": [k.spec_hash for k in keys],
                    "prompt_hash": [k.prompt_hash for k in keys],
                    "transcript_hash": [k.transcript_hash for k in keys],
                    "output": [self.buffer[k][0] for k in keys],
                    "spec": [self.buffer[k][1] for k in keys],
                },
                schema=_SCHEMA,
            )
            self.conn.register("judge_cache_batch", table)
            try:
                self.conn.execute(f"INSERT OR IGNORE INTO {TABLE} SELECT * FROM judge_cache_batch").fetchall()
            finally:
                self.conn.unregister("judge_cache_batch")
            self.buffer.clear()
            return len(keys)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.conn.close()


class JudgeCache:
    """Judge outputs in a DuckDB file (``":memory:"`` for a throwaway cache).

    ``hits`` and ``misses`` count lookups; ``flush_every`` bounds how many new entries wait in memory
    before one Arrow insert writes them. ``close()`` (or leaving a ``with`` block) flushes the rest.
    """

    def __init__(self, path: str | Path = ":memory:", *, flush_every: int = 256) -> None:
        self.path = str(path)
        self.flush_every = int(flush_every)
        self._store = _Store(self.path)
        self._finalizer = weakref.finalize(self, self._store.close)
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, str]:
        """Stored outputs for the keys that have one; counts a hit or a miss per key."""
        found: dict[CacheKey, str] = {}
        with self._store.lock:
            for key in keys:
                if key in self._store.buffer:
                    found[key] = self._store.buffer[key][0]
            wanted = [k for k in dict.fromkeys(keys) if k not in found]
            if wanted:
                probe = pa.Table.from_pydict(
                    {
                        "spec_hash": [k.spec_hash for k in wanted],
                        "prompt_hash": [k.prompt_hash for k in wanted],
                        "transcript_hash": [k.transcript_hash for k in wanted],
                    }
                )
                conn = self._store.conn
                conn.register("judge_cache_probe", probe)
                try:
                    rows = conn.execute(
                        f"SELECT c.spec_hash, c.prompt_hash, c.transcript_hash, c.output FROM {TABLE} c "
                        "JOIN judge_cache_probe p USING (spec_hash, prompt_hash, transcript_hash)"
                    ).fetchall()
                finally:
                    conn.unregister("judge_cache_probe")
                for spec_hash, prompt_hash, transcript_hash, output in rows:
                    found[CacheKey(spec_hash, prompt_hash, transcript_hash)] = output
        for key in keys:
            if key in found:
                self.hits += 1
            else:
                self.misses += 1
        return found

    def put_many(self, entries: Iterable[tuple[CacheKey, str, Mapping[str, Any]]]) -> None:
        """Buffer (key, output, judge spec) entries; flushes when the buffer is full."""
        with self._store.lock:
            for key, output, spec in entries:
                self._store.buffer[key] = (output, json.dumps(spec, sort_keys=True, default=str))
            full = len(self._store.buffer) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> int:
        """Write buffered entries in one Arrow insert; returns how many were written."""
        return self._store.flush()

    def __len__(self) -> int:
        with self._store.lock:
            ((stored,),) = self._store.conn.execute(f"SELECT count(*) FROM {TABLE}").fetchall()
            return int(stored) + len(self._store.buffer)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}
