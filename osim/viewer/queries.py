"""The viewer's reads: SQL over the store's tables and views, one query per panel, filtered and paged
in DuckDB (a run of 100,000 episodes is never brought into Python).

Scores come from the store's ``episodes`` view (the mean over policy agents of the run's own
judgments), so the viewer shows the numbers ``osim replay list`` and ``ReplayStore.summary`` show.
That view aggregates every judgment each time it is read, so ``index_episodes`` copies it once into
an in-memory table that the list, the runs page and the episode pages read: the viewer holds the
store open read-only, and DuckDB lets no other process write to the file meanwhile, so the copy
cannot go stale.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from osim.viewer.redact import redact
from osim_env.episode import EpisodeRecord
from replays.schema import SCHEMA
from replays.store import ReplayStore

STATUSES = ("ok", "judge_error", "failed", "unjudged")
PER_PAGE = 50
MAX_PER_PAGE = 500
# Sort keys the list offers, and their columns (anything else is refused, never spliced into SQL).
SORTS: dict[str, str] = {
    "seed": "seed",
    "episode": "episode_id",
    "env": "env_id",
    "scenario": "scenario_id",
    "status": "status",
    "score": "score",
    "turns": "n_turns",
    "duration": "duration_s",
    "finished": "finished_at",
}
INDEX = "temp.viewer_episodes"  # the copy of the ``episodes`` view (``index_episodes``)
# A detector result that fired, as pydantic writes it (``judges.detectors.Flag``, compact JSON).
FLAGGED = '"flagged":true'


class BadQuery(ValueError):
    """A filter value the list cannot use (said to the user, never a server error)."""


@dataclass(frozen=True)
class EpisodeQuery:
    """Filters, order and page of a run's episode list (the query string of the list page)."""

    env: str = ""
    status: str = ""
    min_score: float | None = None
    max_score: float | None = None
    termination: str = ""
    flag: str = ""  # "": any episode; "any": a detector fired; else a detector's name
    q: str = ""  # text to find in the episode's events
    sort: str = "seed"
    desc: bool = False
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EpisodeQuery:
        """From a query string; a malformed value raises ``BadQuery`` naming it."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v.strip() for k, v in params.items() if k in known and v.strip()}
        for name in ("min_score", "max_score"):
            if name in values:
                values[name] = _number(name, values[name])
        for name in ("page", "per_page"):
            if name in values:
                values[name] = _positive(name, values[name])
        if "desc" in values:
            values["desc"] = values["desc"].lower() in ("1", "true", "yes", "on")
        query = cls(**values)
        if query.sort not in SORTS:
            raise BadQuery(f"sort must be one of {', '.join(SORTS)}, not {query.sort!r}")
        if query.status and query.status not in STATUSES:
            raise BadQuery(f"status must be one of {', '.join(STATUSES)}, not {query.status!r}")
        if query.per_page > MAX_PER_PAGE:
            raise BadQuery(f"per_page must be at most {MAX_PER_PAGE}")
        return query

    def params(self, **changes: Any) -> dict[str, str]:
        """This query with ``changes`` as query-string parameters (defaults left out)."""
        query = replace(self, **changes)
        default = EpisodeQuery()
        out = {}
        for f in fields(query):
            value = getattr(query, f.name)
            if value != getattr(default, f.name):
                out[f.name] = ("1" if value else "") if isinstance(value, bool) else str(value)
        return out


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadQuery(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise BadQuery(f"{name} must be a finite number, not {text!r}")
    return value


def _positive(name: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise BadQuery(f"{name} must be a positive whole number, not {text!r}")
    return int(text)


def _json(text: str | None) -> Any:
    return redact(json.loads(text)) if text else None


def spec_label(spec: Any) -> str:
    """A policy or judge spec as one short label (``openai:gpt-5-nano``, ``rule:valid_turn_share``)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):  # several judges for one env (one per option set)
        return ", ".join(spec_label(s) for s in spec) or "-"
    if not isinstance(spec, Mapping) or not spec:
        return "-"
    head = spec.get("backend") or spec.get("kind") or ""
    name = spec.get("model") or spec.get("name") or ""
    return ":".join(str(x) for x in (head, name) if x) or json.dumps(spec, sort_keys=True)[:60]


def index_episodes(store: ReplayStore) -> None:
    """Copy the store's ``episodes`` view (scores included) into ``INDEX``, once per open store."""
    store.sql(
        f"""CREATE OR REPLACE TEMPORARY TABLE {INDEX} AS
            SELECT run_id, episode_id, env_id, scenario_id, seed, status, reason, termination, truncated,
                   n_turns, n_events, score, n_judged, n_judge_errors, duration_s, finished_at, policies
            FROM main.episodes"""
    )


# -- runs ---------------------------------------------------------------------------------------------
def runs(store: ReplayStore) -> list[dict[str, Any]]:
    """Every run: envs, policies, judge, created time, episodes by status, mean score and 95% CI."""
    rows = store.sql(
        f"""SELECT r.run_id, r.created_at, r.config, r.policies, r.judges, r.osim_version,
                   count(e.episode_id) AS episodes,
                   count(e.episode_id) FILTER (WHERE e.status = 'ok') AS ok,
                   count(e.episode_id) FILTER (WHERE e.status = 'judge_error') AS judge_error,
                   count(e.episode_id) FILTER (WHERE e.status = 'failed') AS failed,
                   count(e.episode_id) FILTER (WHERE e.status = 'unjudged') AS unjudged,
                   avg(e.score) FILTER (WHERE e.status = 'ok') AS mean_score,
                   1.96 * stddev_samp(e.score) FILTER (WHERE e.status = 'ok')
                       / sqrt(count(e.score) FILTER (WHERE e.status = 'ok')) AS ci95
            FROM {SCHEMA}.runs r LEFT JOIN {INDEX} e USING (run_id)
            GROUP BY ALL ORDER BY r.created_at DESC, r.run_id"""
    ).fetchall()
    out = []
    for row in rows:
        run = dict(zip(_RUN_COLUMNS, row))
        config = _json(run.pop("config")) or {}
        policies = _json(run.pop("policies")) or {}
        judges = _json(run.pop("judges")) or {}
        run["envs"] = [e[0] if isinstance(e, list) else str(e) for e in config.get("envs", [])]
        run["policy"] = spec_label(policies.get("policy", config.get("policy")))
        run["roles"] = {role: spec_label(spec) for role, spec in (policies.get("roles") or {}).items()}
        by_env = judges.get("by_env") or {}
        run["judge"] = spec_label(judges.get("judge", config.get("judge")))
        run["judges_by_env"] = {env: spec_label(spec) for env, spec in by_env.items()}
        out.append(run)
    return out


_RUN_COLUMNS = (
    "run_id", "created_at", "config", "policies", "judges", "osim_version", "episodes", "ok", "judge_error",
    "failed", "unjudged", "mean_score", "ci95",
)  # fmt: skip


def run_exists(store: ReplayStore, run_id: str) -> bool:
    return store.sql(f"SELECT count(*) FROM {SCHEMA}.runs WHERE run_id = ?", [run_id]).fetchone()[0] > 0


# -- the episode list ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodePage:
    rows: list[dict[str, Any]]
    total: int
    query: EpisodeQuery

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))


def _where(run_id: str, query: EpisodeQuery) -> tuple[str, list[Any]]:
    clauses, params = ["e.run_id = ?"], [run_id]
    exact = (("env_id", query.env), ("status", query.status), ("termination", query.termination))
    for column, value in exact:
        if value:
            clauses.append(f"e.{column} = ?")
            params.append(value)
    if query.min_score is not None:
        clauses.append("e.score >= ?")
        params.append(query.min_score)
    if query.max_score is not None:
        clauses.append("e.score <= ?")
        params.append(query.max_score)
    if query.flag:
        fired = "contains(j.flags, ?)" if query.flag == "any" else "json_extract_string(j.flags, ?) = 'true'"
        clauses.append(
            f"e.episode_id IN (SELECT j.episode_id FROM {SCHEMA}.judgments j WHERE j.run_id = ? AND {fired})"
        )
        params += [run_id, FLAGGED if query.flag == "any" else _flag_path(query.flag)]
    if query.q:
        clauses.append(
            f"e.episode_id IN (SELECT v.episode_id FROM {SCHEMA}.events v "
            "WHERE v.run_id = ? AND contains(lower(v.text), ?))"
        )
        params += [run_id, query.q.lower()]
    return " AND ".join(clauses), params


def _flag_path(detector: str) -> str:
    """The JSON path of ``detector``'s ``flagged`` field (a quoted key: any name is just a key)."""
    return '$."' + detector.replace("\\", "\\\\").replace('"', '\\"') + '".flagged'


def episodes(store: ReplayStore, run_id: str, query: EpisodeQuery) -> EpisodePage:
    """One page of ``run_id``'s episodes matching ``query``, and how many match in all."""
    where, params = _where(run_id, query)
    order = f"{SORTS[query.sort]} {'DESC' if query.desc else 'ASC'} NULLS LAST, episode_id"
    offset = (query.page - 1) * query.per_page
    # With a text search or a flag filter the match count rides along with the page, so the costly
    # subquery runs once; otherwise a separate count is cheaper than a window over every match.
    costly = bool(query.q or query.flag)
    total_column = ", count(*) OVER () AS total" if costly else ""
    cursor = store.sql(
        f"""SELECT episode_id, env_id, scenario_id, seed, status, reason, termination, truncated, n_turns,
                   score, n_judge_errors, duration_s, finished_at{total_column}
            FROM {INDEX} e WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?""",
        [*params, query.per_page, offset],
    )
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    if costly and rows:
        total = rows[0]["total"]
    elif costly and query.page == 1:
        total = 0
    else:
        total = store.sql(f"SELECT count(*) FROM {INDEX} e WHERE {where}", params).fetchone()[0]
    flags = _flags_of(store, run_id, [r["episode_id"] for r in rows])
    for row in rows:
        row["flags"] = flags.get(row["episode_id"], [])
    return EpisodePage(rows, int(total), query)


def _flags_of(store: ReplayStore, run_id: str, episode_ids: list[str]) -> dict[str, list[str]]:
    """The detectors that fired on each of ``episode_ids`` (any judgment of the episode)."""
    if not episode_ids:
        return {}
    rows = store.sql(
        f"""SELECT episode_id, flags FROM {SCHEMA}.judgments
            WHERE run_id = ? AND episode_id IN (SELECT unnest(?)) AND contains(flags, ?)""",
        [run_id, episode_ids, FLAGGED],
    ).fetchall()
    out: dict[str, set[str]] = {}
    for episode_id, flags in rows:
        for name, value in json.loads(flags).items():
            if isinstance(value, dict) and value.get("flagged"):
                out.setdefault(episode_id, set()).add(name)
    return {k: sorted(v) for k, v in out.items()}


def filter_choices(store: ReplayStore, run_id: str) -> dict[str, list[str]]:
    """The values the list's selects offer: the run's envs, termination reasons and detectors."""
    envs = store.sql(
        f"SELECT DISTINCT env_id FROM {SCHEMA}.episodes WHERE run_id = ? ORDER BY env_id", [run_id]
    ).fetchall()
    terminations = store.sql(
        f"""SELECT termination FROM {SCHEMA}.episodes WHERE run_id = ? AND termination IS NOT NULL
            GROUP BY termination ORDER BY count(*) DESC, termination LIMIT 100""",
        [run_id],
    ).fetchall()
    detectors = store.sql(
        f"""SELECT DISTINCT unnest(json_keys(flags)) AS name FROM {SCHEMA}.judgments
            WHERE run_id = ? AND flags IS NOT NULL ORDER BY name""",
        [run_id],
    ).fetchall()
    return {
        "envs": [r[0] for r in envs],
        "terminations": [r[0] for r in terminations],
        "detectors": [r[0] for r in detectors],
    }


# -- one episode --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeDetail:
    run_id: str
    record: EpisodeRecord
    row: dict[str, Any]  # the episodes row: status, reason, timings, policies, score
    judgments: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    digests: dict[int, str]


def episode(store: ReplayStore, run_id: str, episode_id: str) -> EpisodeDetail | None:
    """Everything stored about one episode (None: no such episode in the run)."""
    cursor = store.sql(
        f"""SELECT e.status, e.reason, e.termination, e.truncated, e.n_turns, e.n_events, e.policies,
                   e.options, e.started_at, e.finished_at, e.duration_s, e.judge_s, e.stored_at,
                   v.score, v.n_judged, v.n_judge_errors, e.observation_index, e.observation_sha
            FROM {SCHEMA}.episodes e JOIN {INDEX} v USING (run_id, episode_id)
            WHERE e.run_id = ? AND e.episode_id = ?""",
        [run_id, episode_id],
    )
    columns = [d[0] for d in cursor.description]
    found = cursor.fetchone()
    if found is None:
        return None
    row = dict(zip(columns, found))
    row["policies"] = _json(row["policies"]) or {}
    row["options"] = _json(row["options"]) or {}
    row["policy_labels"] = {role: spec_label(spec) for role, spec in row["policies"].items()}
    digests = dict(zip(row.pop("observation_index") or [], row.pop("observation_sha") or []))
    record = next(store.records(run_id, episode_ids=[episode_id]))
    return EpisodeDetail(
        run_id, record, row, judgments(store, run_id, episode_id), calls(store, run_id, episode_id), digests
    )


def judgments(store: ReplayStore, run_id: str, episode_id: str) -> list[dict[str, Any]]:
    cursor = store.sql(
        f"""SELECT agent, origin, judge_id, judge, score, dims, reasons, feedback, flags, raw, error,
                   created_at
            FROM {SCHEMA}.judgments WHERE run_id = ? AND episode_id = ?
            ORDER BY origin = 'run' DESC, created_at, agent, judge_id""",
        [run_id, episode_id],
    )
    columns = [d[0] for d in cursor.description]
    out = []
    for found in cursor.fetchall():
        row = dict(zip(columns, found))
        row["judge"] = _json(row["judge"]) or {}
        row["judge_label"] = spec_label(row["judge"])
        row["dims"] = dict(row["dims"] or {})
        row["reasons"] = dict(row["reasons"] or {})
        row["feedback"] = json.loads(row["feedback"]) if row["feedback"] else None
        row["flags"] = json.loads(row["flags"]) if row["flags"] else {}
        out.append(row)
    return out


def calls(store: ReplayStore, run_id: str, episode_id: str) -> list[dict[str, Any]]:
    """The model calls made for the episode (in the order they were stored)."""
    cursor = store.sql(
        f"""SELECT role, purpose, policy, latency_s, prompt_tokens, completion_tokens, cached, error
            FROM {SCHEMA}.model_calls WHERE run_id = ? AND episode_id = ? ORDER BY rowid""",
        [run_id, episode_id],
    )
    columns = [d[0] for d in cursor.description]
    out = []
    for found in cursor.fetchall():
        row = dict(zip(columns, found))
        row["policy"] = spec_label(_json(row["policy"]))
        out.append(row)
    return out


def same_scenario(
    store: ReplayStore, run_id: str, record: EpisodeRecord, limit: int = 20
) -> list[dict[str, Any]]:
    """Other stored episodes of ``record``'s env and scenario (any run): what it compares with."""
    cursor = store.sql(
        f"""SELECT run_id, episode_id, seed, status, score, policies FROM {INDEX}
            WHERE env_id = ? AND scenario_id = ? AND NOT (run_id = ? AND episode_id = ?)
            ORDER BY run_id = ? DESC, run_id, seed, episode_id LIMIT ?""",
        [record.env_id, record.scenario_id, run_id, record.episode_id, run_id, limit],
    )
    columns = [d[0] for d in cursor.description]
    out = []
    for found in cursor.fetchall():
        row = dict(zip(columns, found))
        policies = _json(row.pop("policies")) or {}
        row["policies"] = ", ".join(f"{role}={spec_label(spec)}" for role, spec in sorted(policies.items()))
        out.append(row)
    return out
