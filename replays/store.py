"""``ReplayStore``: every episode osim runs, in one DuckDB file, with zero services.

Writes go through Arrow: a batch of finished episodes becomes a few Arrow tables that are registered
with DuckDB and copied with ``INSERT ... SELECT`` inside one transaction, so a batch is either fully
stored or not at all (a killed sweep loses at most its unflushed buffer and never half an episode).
Reads are the SQL views of ``replays.schema`` and DataFrame accessors over them. What is built on
top of a store (replay checks, re-judging, training exports) lives in its own module and takes the
store as an argument: ``replays.replay``, ``replays.rejudge``, ``replays.export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from judges.judgment import Feedback, Judgment
from osim_env.episode import EpisodeRecord
from osim_env.events import Event
from osim_env.seeding import stable_hash
from replays.schema import SCHEMA, SCHEMA_VERSION, TABLES, ddl
from replays.tables import (
    PAYLOAD_COLUMNS,
    VIS_SEP,
    CallRecord,
    EpisodeResult,
    JudgmentRow,
    calls_of,
    episodes_table,
    events_table,
    judgments_table,
    model_calls_table,
    payload_of,
    run_judgments_table,
    utcnow,
)

if TYPE_CHECKING:
    import pandas as pd


CATALOG = "osim_replays"
# Rows per row group. DuckDB writes a transaction's full row groups straight to the file, compressed
# (an "optimistic write"), and logs only their location; smaller groups are copied into the write-ahead
# log at commit and compressed again at the next checkpoint. A batch of finished episodes holds a few
# thousand to tens of thousands of events, so groups this size are written once instead of twice.
ROW_GROUP_SIZE = 4096
EVENTS_INSERT = (
    "INSERT INTO {table} SELECT ?, episode_id, idx, turn, kind, source, "
    f"CASE WHEN visibility IS NULL THEN NULL ELSE string_split(visibility, chr({ord(VIS_SEP)})) END, "
    f"{', '.join(PAYLOAD_COLUMNS)}, payload_keys, payload_extra FROM {{buf}}"
)
INSERT_ALL = "INSERT INTO {table} SELECT * FROM {buf}"
# The payload columns of an event as struct fields (``records`` rebuilds payloads from them).
_PAYLOAD_FIELDS = ", ".join(f"'{c}': v.{c}" for c in PAYLOAD_COLUMNS)


def osim_version() -> str:
    try:
        from importlib.metadata import version

        return version("osim")
    except Exception:
        import osim_env

        return osim_env.__version__


class AmbiguousEpisode(LookupError):
    """An episode id stored under several runs; name the run."""


class ReplayStore:
    """One DuckDB file holding runs, episodes, events, judgments and model calls."""

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        checkpoint_threshold: str = "256MB",
        row_group_size: int = ROW_GROUP_SIZE,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.row_group_size = int(row_group_size)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(f"no replay store at {self.path}")
        self.con = duckdb.connect(":memory:")
        options = f"ROW_GROUP_SIZE {int(row_group_size)}" + (", READ_ONLY" if read_only else "")
        self.con.execute(f"ATTACH '{_sql_str(str(self.path))}' AS {CATALOG} ({options})")
        self.con.execute(f"USE {CATALOG}")
        # Small batches are appended to the write-ahead log; checkpointing (which recompresses the
        # table's open row groups) every 16 MB, DuckDB's default, costs more than the inserts.
        self.con.execute(f"SET checkpoint_threshold = '{_sql_str(checkpoint_threshold)}'")
        self._check_version()
        if not read_only:
            self._create()

    def _check_version(self) -> None:
        """A file written with another event layout cannot be read or appended to by this code."""
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = 'meta'",
            [CATALOG, SCHEMA],
        ).fetchone()[0]  # type: ignore[index]
        if not exists:
            return
        row = self.con.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] != str(SCHEMA_VERSION):
            raise ValueError(
                f"{self.path} has store schema version {row[0]}; this osim reads version {SCHEMA_VERSION}"
            )

    def _create(self) -> None:
        with self.transaction():
            for statement in ddl():
                self.con.execute(statement)
            self.con.execute(
                f"INSERT OR IGNORE INTO {SCHEMA}.meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )

    # -- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None  # type: ignore[assignment]

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReplayStore({str(self.path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------------
    def start_run(
        self,
        config: Mapping[str, Any],
        *,
        policies: Mapping[str, Any] | None = None,
        judges: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Register a run (idempotent). Without ``run_id`` the id is a hash of ``config``, so the same
        sweep started again is the same run and resumes."""
        run_id = run_id or stable_hash("run", dict(config))
        table = pa.table(
            {
                "run_id": pa.array([run_id], pa.string()),
                "config": pa.array([json.dumps(dict(config), sort_keys=True, default=str)], pa.string()),
                "policies": pa.array(
                    [json.dumps(dict(policies or {}), sort_keys=True, default=str)], pa.string()
                ),
                "judges": pa.array(
                    [json.dumps(dict(judges or {}), sort_keys=True, default=str)], pa.string()
                ),
                "osim_version": pa.array([osim_version()], pa.string()),
                "created_at": pa.array([utcnow()], pa.timestamp("us")),
            }
        )
        with self.transaction():
            self._insert("runs", table, "INSERT OR IGNORE INTO {table} SELECT * FROM {buf}")
        return run_id

    def runs(self) -> pd.DataFrame:
        return self.con.execute(
            f"""SELECT r.run_id, r.created_at, r.osim_version, r.config, r.policies, r.judges,
                       count(e.episode_id) AS episodes,
                       count(e.episode_id) FILTER (WHERE e.status = 'ok') AS ok,
                       count(e.episode_id) FILTER (WHERE e.status = 'failed') AS failed,
                       count(e.episode_id) FILTER (WHERE e.status = 'judge_error') AS judge_error
                FROM {SCHEMA}.runs r LEFT JOIN {SCHEMA}.episodes e USING (run_id)
                GROUP BY ALL ORDER BY r.created_at"""
        ).df()

    def run_config(self, run_id: str) -> dict[str, Any]:
        row = self.con.execute(f"SELECT config FROM {SCHEMA}.runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return json.loads(row[0])

    # -- writing ------------------------------------------------------------------------------------
    def finished_ids(self, run_id: str) -> set[str]:
        """Episode ids of ``run_id`` already stored (a restarted sweep skips these)."""
        rows = self.con.execute(
            f"SELECT episode_id FROM {SCHEMA}.episodes WHERE run_id = ?", [run_id]
        ).fetchall()
        return {r[0] for r in rows}

    def write(
        self,
        run_id: str,
        results: Sequence[EpisodeResult],
        *,
        replace: bool = False,
        calls: Sequence[CallRecord] = (),
    ) -> int:
        """Store finished episodes (and batch-level model ``calls``) in one transaction. Returns how
        many episodes were written.

        An episode already stored for ``run_id`` is skipped (first write wins), or replaced with
        ``replace=True`` (e.g. re-running failed episodes); never duplicated.
        """
        if not results and not calls:
            return 0
        unique: dict[str, EpisodeResult] = {}
        for r in results:
            unique.setdefault(r.episode_id, r)
        now = utcnow()
        with self.transaction():
            ids = pa.table({"episode_id": pa.array(list(unique), pa.string())})
            self.con.register("_osim_ids", ids)
            try:
                if replace:
                    for table in ("events", "judgments", "model_calls", "episodes"):
                        self.con.execute(
                            f"DELETE FROM {SCHEMA}.{table} WHERE run_id = ? "
                            "AND episode_id IN (SELECT episode_id FROM _osim_ids)",
                            [run_id],
                        )
                else:
                    stored = self.con.execute(
                        f"SELECT episode_id FROM {SCHEMA}.episodes WHERE run_id = ? "
                        "AND episode_id IN (SELECT episode_id FROM _osim_ids)",
                        [run_id],
                    ).fetchall()
                    for (episode_id,) in stored:
                        unique.pop(episode_id)
            finally:
                self.con.unregister("_osim_ids")
            batch = list(unique.values())
            calls = [*calls_of(batch), *calls]
            if calls:
                self._insert("model_calls", model_calls_table(run_id, calls))
            if not batch:
                return 0
            self._insert("episodes", episodes_table(run_id, batch, now))
            # One statement for the whole batch: DuckDB writes its full row groups straight to the file.
            self._insert("events", events_table(batch), EVENTS_INSERT, [run_id])
            judgments = run_judgments_table(batch, run_id, now)
            if judgments is not None:
                self._insert("judgments", judgments)
        return len(batch)

    def write_judgments(self, run_id: str, rows: Sequence[JudgmentRow], *, replace: bool = True) -> int:
        """Store judgments (e.g. from ``rejudge``) in one transaction; with ``replace`` an earlier
        judgment by the same judge and origin for the same episode and agent is replaced."""
        if not rows:
            return 0
        table = judgments_table(run_id, rows, utcnow())
        with self.transaction():
            if replace:
                self.con.register("_osim_new", table)
                try:
                    self.con.execute(
                        f"""DELETE FROM {SCHEMA}.judgments j WHERE j.run_id = ? AND EXISTS (
                              SELECT 1 FROM _osim_new n WHERE n.episode_id = j.episode_id
                              AND n.judge_id = j.judge_id AND n.origin = j.origin AND n.agent = j.agent)""",
                        [run_id],
                    )
                finally:
                    self.con.unregister("_osim_new")
            self._insert("judgments", table)
        return len(rows)

    def write_calls(self, run_id: str, calls: Sequence[CallRecord]) -> int:
        if not calls:
            return 0
        with self.transaction():
            self._insert("model_calls", model_calls_table(run_id, calls))
        return len(calls)

    def _insert(
        self, table: str, data: pa.Table, sql: str = INSERT_ALL, params: Sequence[Any] | None = None
    ) -> None:
        buf = f"_osim_buf_{table}"
        if data.num_rows > self.row_group_size:
            # Record batches of one row group each: DuckDB scans an Arrow table one batch per thread, so a
            # single-chunk table is inserted on one core; batches this size are inserted on all of them.
            data = pa.Table.from_batches(data.to_batches(max_chunksize=self.row_group_size), data.schema)
        self.con.register(buf, data)
        try:
            self.con.execute(sql.format(table=f"{SCHEMA}.{table}", buf=buf), list(params or []))
        finally:
            self.con.unregister(buf)

    # -- reading: views -----------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run SQL against the store (views ``runs``, ``episodes``, ``events``, ``messages``,
        ``scores``, ``dimension_scores``; raw tables under ``records.``). Fetch the result with
        ``fetchall()``, ``fetchone()`` or ``df()`` before the next query."""
        return self.con.execute(query, list(params or []))

    def _view(self, view: str, where: Mapping[str, Any], order: str) -> pd.DataFrame:
        clauses, params = [], []
        for column, value in where.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple, set)):
                clauses.append(f"{column} IN (SELECT unnest(?))")
                params.append(list(value))
            else:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT * FROM main.{view}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return self.con.execute(f"{sql} ORDER BY {order}", params).df()

    def episodes(
        self,
        run_id: str | None = None,
        *,
        env_id: str | None = None,
        status: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        return self._view(
            "episodes",
            {"run_id": run_id, "env_id": env_id, "status": status},
            "run_id, env_id, seed, episode_id",
        )

    def events(self, episode_id: str | None = None, *, run_id: str | None = None) -> pd.DataFrame:
        return self._view("events", {"run_id": run_id, "episode_id": episode_id}, "run_id, episode_id, idx")

    def messages(self, episode_id: str | None = None, *, run_id: str | None = None) -> pd.DataFrame:
        return self._view("messages", {"run_id": run_id, "episode_id": episode_id}, "run_id, episode_id, idx")

    def scores(
        self, run_id: str | None = None, *, episode_id: str | None = None, origin: str | None = None
    ) -> pd.DataFrame:
        return self._view(
            "scores",
            {"run_id": run_id, "episode_id": episode_id, "origin": origin},
            "run_id, env_id, episode_id, judge_id, agent",
        )

    def model_calls(self, run_id: str | None = None) -> pd.DataFrame:
        where = " WHERE run_id = ?" if run_id else ""
        return self.con.execute(f"SELECT * FROM {SCHEMA}.model_calls{where}", [run_id] if run_id else []).df()

    def summary(self, run_id: str | None = None) -> pd.DataFrame:
        """Per env: episodes, ok / judge_error / failed counts, mean score and its 95% CI over ok episodes."""
        where = "WHERE run_id = ?" if run_id else ""
        return self.con.execute(
            f"""SELECT env_id, count(*) AS episodes,
                       count(*) FILTER (WHERE status = 'ok') AS ok,
                       count(*) FILTER (WHERE status = 'judge_error') AS judge_error,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'unjudged') AS unjudged,
                       avg(score) FILTER (WHERE status = 'ok') AS mean_score,
                       1.96 * stddev_samp(score) FILTER (WHERE status = 'ok')
                           / sqrt(count(score) FILTER (WHERE status = 'ok')) AS ci95
                FROM main.episodes {where} GROUP BY env_id ORDER BY env_id""",
            [run_id] if run_id else [],
        ).df()

    # -- reading: records ---------------------------------------------------------------------------
    def resolve(self, episode_id: str, run_id: str | None = None) -> tuple[str, str]:
        """(run_id, episode_id) for an episode id or a unique prefix of one."""
        params: list[Any] = [episode_id + "%"]
        sql = f"SELECT run_id, episode_id FROM {SCHEMA}.episodes WHERE episode_id LIKE ?"
        if run_id:
            sql += " AND run_id = ?"
            params.append(run_id)
        rows = self.con.execute(sql + " ORDER BY stored_at DESC", params).fetchall()
        exact = [r for r in rows if r[1] == episode_id]
        rows = exact or rows
        if not rows:
            raise KeyError(f"no episode {episode_id!r}" + (f" in run {run_id!r}" if run_id else ""))
        if len({r[1] for r in rows}) > 1:
            raise AmbiguousEpisode(f"{episode_id!r} matches several episodes: {sorted({r[1] for r in rows})}")
        if len(rows) > 1:
            raise AmbiguousEpisode(
                f"episode {rows[0][1]} is stored in runs {[r[0] for r in rows]}; pass run_id"
            )
        return rows[0][0], rows[0][1]

    def episode(self, episode_id: str, run_id: str | None = None) -> EpisodeRecord:
        run_id, episode_id = self.resolve(episode_id, run_id)
        return next(self.records(run_id, episode_ids=[episode_id]))

    def records(
        self,
        run_id: str | None = None,
        *,
        episode_ids: Iterable[str] | None = None,
        statuses: Sequence[str] | None = None,
        env_id: str | None = None,
    ) -> Iterator[EpisodeRecord]:
        """Stored episodes as ``EpisodeRecord`` (status is the stored final status)."""
        clauses, params = [], []
        for column, value in (("run_id", run_id), ("env_id", env_id)):
            if value is not None:
                clauses.append(f"e.{column} = ?")
                params.append(value)
        if episode_ids is not None:
            clauses.append("e.episode_id IN (SELECT unnest(?))")
            params.append(list(episode_ids))
        if statuses is not None:
            clauses.append("e.status IN (SELECT unnest(?))")
            params.append(list(statuses))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self.con.execute(
            f"""SELECT e.run_id, e.episode_id, e.env_id, e.scenario_id, e.seed, e.scenario, e.options,
                       e.agents, e.policy_agents, e.status, e.termination, e.truncated,
                       (SELECT list({{'index': v.idx, 'turn': v.turn, 'kind': v.kind, 'source': v.source,
                                      'visibility': v.visibility, {_PAYLOAD_FIELDS}, 'keys': v.payload_keys,
                                      'extra': v.payload_extra}} ORDER BY v.idx)
                        FROM {SCHEMA}.events v
                        WHERE v.run_id = e.run_id AND v.episode_id = e.episode_id) AS events
                FROM {SCHEMA}.episodes e {where}
                ORDER BY e.run_id, e.env_id, e.seed, e.episode_id""",
            params,
        ).fetchall()
        for row in rows:
            yield _record(row)

    def judgments(
        self, episode_id: str, run_id: str | None = None, *, origin: str | None = None
    ) -> list[Judgment]:
        run_id, episode_id = self.resolve(episode_id, run_id)
        sql = (
            f"SELECT agent, score, dims, reasons, feedback, flags, raw, judge, error FROM {SCHEMA}.judgments "
            "WHERE run_id = ? AND episode_id = ?"
        )
        params: list[Any] = [run_id, episode_id]
        if origin:
            sql += " AND origin = ?"
            params.append(origin)
        out = []
        for agent, score, dims, reasons, feedback, flags, raw, judge, error in self.con.execute(
            sql + " ORDER BY created_at, agent", params
        ).fetchall():
            out.append(
                Judgment(
                    agent=agent,
                    score=score,
                    dims=dict(dims or {}),
                    reasons=dict(reasons or {}),
                    feedback=None if feedback is None else Feedback.model_validate_json(feedback),
                    flags=json.loads(flags) if flags else {},
                    raw=raw,
                    judge=json.loads(judge) if judge else {},
                    error=error,
                )
            )
        return out

    def observation_digests(self, episode_id: str, run_id: str | None = None) -> dict[int, str]:
        run_id, episode_id = self.resolve(episode_id, run_id)
        row = self.con.execute(
            f"SELECT observation_index, observation_sha FROM {SCHEMA}.episodes "
            "WHERE run_id = ? AND episode_id = ?",
            [run_id, episode_id],
        ).fetchone()
        assert row is not None
        return dict(zip(row[0] or [], row[1] or []))

    def counts(self) -> dict[str, int]:
        """Rows per raw table (for checks and the CLI)."""
        return {
            t: self.con.execute(f"SELECT count(*) FROM {SCHEMA}.{t}").fetchone()[0]  # type: ignore[index]
            for t in TABLES
            if t != "meta"
        }


def _record(row: Sequence[Any]) -> EpisodeRecord:
    (_, episode_id, env_id, scenario_id, seed, scenario, options, agents, policy_agents, status, termination,
     truncated, events) = row  # fmt: skip
    return EpisodeRecord(
        episode_id=episode_id,
        env_id=env_id,
        scenario_id=scenario_id,
        seed=seed,
        scenario=json.loads(scenario) if scenario else {},
        options=json.loads(options) if options else {},
        agents=tuple(agents or ()),
        policy_agents=tuple(policy_agents or ()),
        events=tuple(
            Event.validate(
                {
                    "index": e["index"],
                    "turn": e["turn"],
                    "kind": e["kind"],
                    "source": e["source"],
                    "visibility": e["visibility"],
                    "payload": payload_of(
                        _keys(e["keys"]), json.loads(e["extra"]) if e["extra"] is not None else None, e
                    ),
                }
            )
            for e in (events or [])
        ),
        status=status,
        termination=termination,
        truncated=bool(truncated),
    )


@lru_cache(maxsize=1024)
def _keys(payload_keys: str) -> list[str]:
    """A stored key order (a batch has a handful of distinct ones)."""
    return json.loads(payload_keys)


def _sql_str(text: str) -> str:
    return text.replace("'", "''")
