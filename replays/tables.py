"""What the store writes, and its conversion to Arrow tables (column by column, never row by row).

``EpisodeResult`` is everything known about one finished episode: the env's record, the final status
(the runner's, after judging), judgments, the model calls made for it, digests of the observations
its agents acted on, and wall-clock timings (which live here, never in the env's outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic_core import to_json

from judges.judgment import Judgment
from osim_env.episode import EpisodeRecord
from osim_env.seeding import stable_hash
from replays.schema import PAYLOAD_COLUMNS

# Visibility sets travel as one string joined by this separator and are split back in SQL: building
# an Arrow list column from a million Python tuples is several times slower than from strings.
VIS_SEP = "\x1f"


@dataclass(frozen=True)
class CallRecord:
    """One model call attributed to an episode (``episode_id`` None: a batch-level judge call)."""

    purpose: str  # "act" or "judge"
    spec: Mapping[str, Any]
    role: str | None = None
    episode_id: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    error: str | None = None

    @classmethod
    def of(
        cls, call: Any, purpose: str, *, role: str | None = None, episode_id: str | None = None
    ) -> CallRecord:
        """From a ``policies.base.ModelCall``."""
        return cls(
            purpose=purpose,
            spec=dict(call.spec),
            role=role,
            episode_id=episode_id,
            latency_s=call.latency_s,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            cached=bool(call.cached),
            error=call.error,
        )


@dataclass
class EpisodeResult:
    """One finished episode, ready to store."""

    record: EpisodeRecord
    status: str | None = None  # None: the record's status
    reason: str | None = None  # why it failed or could not be judged
    judgments: Mapping[str, Judgment] = field(default_factory=dict)
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # role -> policy spec
    calls: Sequence[CallRecord] = ()
    observations: Mapping[int, str] = field(default_factory=dict)  # first event index of an action -> digest
    started_at: datetime | None = None
    finished_at: datetime | None = None
    judge_s: float | None = None

    @property
    def episode_id(self) -> str:
        return self.record.episode_id

    @property
    def final_status(self) -> str:
        return self.status or self.record.status


def utcnow() -> datetime:
    """Naive UTC time for TIMESTAMP columns (store-only; never part of an env output)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def judge_id(spec: Mapping[str, Any] | None) -> str:
    return stable_hash("judge", dict(spec or {}))


def policy_id(spec: Mapping[str, Any] | None) -> str:
    return stable_hash("policy", dict(spec or {}))


def _json(value: Any) -> str | None:
    return None if value is None else to_json(value).decode()


def _str_list(values: Sequence[Sequence[str]]) -> pa.Array:
    return pa.array([list(v) for v in values], pa.list_(pa.string()))


def episodes_table(run_id: str, results: Sequence[EpisodeResult], stored_at: datetime) -> pa.Table:
    recs = [r.record for r in results]
    durations = [
        (r.finished_at - r.started_at).total_seconds() if r.started_at and r.finished_at else None
        for r in results
    ]
    obs_index = [sorted(r.observations) for r in results]
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(results), pa.string()),
            "episode_id": pa.array([x.episode_id for x in recs], pa.string()),
            "env_id": pa.array([x.env_id for x in recs], pa.string()),
            "scenario_id": pa.array([x.scenario_id for x in recs], pa.string()),
            "seed": pa.array([x.seed for x in recs], pa.int64()),
            "scenario": pa.array([_json(x.scenario) for x in recs], pa.string()),
            "options": pa.array([_json(x.options) for x in recs], pa.string()),
            "agents": _str_list([x.agents for x in recs]),
            "policy_agents": _str_list([x.policy_agents for x in recs]),
            "policies": pa.array([_json(dict(r.policies)) for r in results], pa.string()),
            "status": pa.array([r.final_status for r in results], pa.string()),
            "reason": pa.array([r.reason for r in results], pa.string()),
            "termination": pa.array([x.termination for x in recs], pa.string()),
            "truncated": pa.array([x.truncated for x in recs], pa.bool_()),
            "n_events": pa.array([len(x.events) for x in recs], pa.int32()),
            "n_turns": pa.array([x.events[-1].turn if x.events else 0 for x in recs], pa.int32()),
            "observation_index": pa.array(obs_index, pa.list_(pa.int32())),
            "observation_sha": pa.array(
                [[r.observations[i] for i in idx] for r, idx in zip(results, obs_index)],
                pa.list_(pa.string()),
            ),
            "started_at": pa.array([r.started_at for r in results], pa.timestamp("us")),
            "finished_at": pa.array([r.finished_at for r in results], pa.timestamp("us")),
            "duration_s": pa.array(durations, pa.float64()),
            "judge_s": pa.array([r.judge_s for r in results], pa.float64()),
            "stored_at": pa.array([stored_at] * len(results), pa.timestamp("us")),
        }
    )


_PAYLOAD_COLUMN_SET = frozenset(PAYLOAD_COLUMNS)
_STR_OR_NONE = frozenset({str, type(None)})


def events_table(results: Sequence[EpisodeResult]) -> pa.Table:
    """Events of all ``results`` as flat columns (``run_id`` is added in SQL, a constant).

    This is the store's hot path (a million events per sweep): each column is one pass over the
    events with a C-level getter or a list comprehension, payload values go to Arrow as they are
    (no per-event JSON), and only keys outside ``PAYLOAD_COLUMNS`` are serialised, per event that
    has them. ``payload_of`` rebuilds the exact payload dict from these columns.
    """
    lengths = np.fromiter((len(r.record.events) for r in results), dtype=np.int64, count=len(results))
    episode_ids = pa.array([r.episode_id for r in results], pa.string())
    events = [e for r in results for e in r.record.events]
    payloads = list(map(_payload_of, events))
    columns = {
        # Dictionary-encoded: one id per episode, an index per event.
        "episode_id": pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(len(results), dtype=np.int32), lengths)), episode_ids
        ),
        # Logs are dense and ordered (EventLog enforces it): an event's index is its position.
        "idx": pa.array(_positions(lengths)),
        "turn": pa.array(list(map(_turn_of, events)), pa.int32()),
        "kind": pa.array(list(map(_kind_of, events)), pa.string()),
        "source": pa.array(list(map(_source_of, events)), pa.string()),
        "visibility": pa.array(
            [None if v is None else VIS_SEP.join(v) for v in map(_visibility_of, events)], pa.string()
        ),
    }
    columns.update(payload_columns(payloads))
    return pa.table(columns)


_payload_of = attrgetter("payload")
_turn_of = attrgetter("turn")
_kind_of = attrgetter("kind")
_source_of = attrgetter("source")
_visibility_of = attrgetter("visibility")


class _Layouts(dict):
    """Key tuple -> layout id, numbered in order of first sight (a batch has a handful of layouts)."""

    def __missing__(self, keys: tuple[str, ...]) -> int:
        layout = self[keys] = len(self)
        return layout


def payload_columns(payloads: Sequence[dict[str, Any]]) -> dict[str, pa.Array]:
    """The payload columns for ``payloads``: one string column per ``PAYLOAD_COLUMNS`` key (NULL where
    the key is absent or None), ``payload_keys`` and ``payload_extra`` (JSON of the other keys, NULL
    for most events, so most events cost no serialisation at all)."""
    n = len(payloads)
    layouts = _Layouts()
    layout_ids = np.fromiter(map(layouts.__getitem__, map(tuple, payloads)), dtype=np.int32, count=n)
    key_lists = list(layouts)
    extras: dict[int, dict[str, Any]] = {}
    columns: dict[str, pa.Array] = {}
    for name in PAYLOAD_COLUMNS:
        having = [i for i, keys in enumerate(key_lists) if name in keys]
        if not having:
            columns[name] = pa.nulls(n, pa.string())
            continue
        rows = None
        if len(having) == len(key_lists):
            values = [p[name] for p in payloads]
        else:
            rows = np.flatnonzero(np.isin(layout_ids, having))
            if len(rows) > n // 4:  # a pass with ``get`` (absent: None) beats gathering and scattering
                rows = None
                values = [p.get(name) for p in payloads]
            else:
                values = [payloads[i][name] for i in rows.tolist()]
        if not set(map(type, values)) <= _STR_OR_NONE:
            # Rare: a non-string value (a number, a list, a str subclass) is kept exactly in the JSON.
            row_of = range(n) if rows is None else rows.tolist()
            for j, value in enumerate(values):
                if value is not None and type(value) is not str:
                    extras.setdefault(row_of[j], {})[name] = value
                    values[j] = None
        column = pa.array(values, pa.string())
        columns[name] = column if rows is None else _scatter(column, rows, n)
    for layout, keys in enumerate(key_lists):
        others = [k for k in keys if k not in _PAYLOAD_COLUMN_SET]
        if others:
            for i in np.flatnonzero(layout_ids == layout).tolist():
                payload = payloads[i]
                extras.setdefault(i, {}).update({k: payload[k] for k in others})
    extra: list[bytes | None] = [None] * n
    for i, values in extras.items():
        extra[i] = to_json(values)
    columns["payload_keys"] = pa.DictionaryArray.from_arrays(
        pa.array(layout_ids), pa.array([to_json(list(keys)).decode() for keys in key_lists], pa.string())
    )
    columns["payload_extra"] = pa.array(extra, pa.string())
    return columns


def payload_of(keys: list[str], extra: Mapping[str, Any] | None, values: Mapping[str, str | None]) -> dict:
    """Rebuild an event's payload: ``keys`` in their stored order, each value from the JSON of other
    keys when it is there, else from its ``PAYLOAD_COLUMNS`` column (NULL: the value was None)."""
    if not extra:
        return {k: values[k] for k in keys}
    return {k: extra[k] if k in extra else values[k] for k in keys}


def _scatter(column: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """A length-``n`` column holding ``column`` at ``rows`` and NULL elsewhere."""
    index = np.zeros(n, dtype=np.int64)
    index[rows] = np.arange(len(rows))
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return column.take(pa.array(index, mask=mask))


def _map_array(maps: Sequence[Mapping[str, Any]], value_type: pa.DataType) -> pa.MapArray:
    """A MAP column from dicts, built from flat keys and values (not per-row Python tuples)."""
    offsets = np.zeros(len(maps) + 1, dtype=np.int32)
    np.cumsum([len(m) for m in maps], out=offsets[1:])
    keys = [k for m in maps for k in m]
    values = [v for m in maps for v in m.values()]
    return pa.MapArray.from_arrays(
        pa.array(offsets), pa.array(keys, pa.string()), pa.array(values, value_type)
    )


def _positions(lengths: np.ndarray) -> np.ndarray:
    """0..n-1 for each episode's n events, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return (np.arange(total, dtype=np.int64) - starts).astype(np.int32)


@dataclass(frozen=True)
class JudgmentRow:
    episode_id: str
    origin: str  # "run" (judged during the sweep) or "rejudge"
    judgment: Judgment
    judge_spec: Mapping[str, Any] | None = None  # defaults to the judgment's own ``judge``


def judgments_table(run_id: str, rows: Sequence[JudgmentRow], created_at: datetime) -> pa.Table:
    return _judgments_table(
        run_id,
        [r.episode_id for r in rows],
        [r.origin for r in rows],
        [r.judgment for r in rows],
        [r.judge_spec if r.judge_spec is not None else r.judgment.judge for r in rows],
        created_at,
    )


def run_judgments_table(
    results: Sequence[EpisodeResult], run_id: str, created_at: datetime
) -> pa.Table | None:
    """The judgments a sweep made for ``results`` (origin ``run``), without a ``JudgmentRow`` apiece."""
    episode_ids = [r.episode_id for r in results for _ in r.judgments]
    if not episode_ids:
        return None
    js = [j for r in results for j in r.judgments.values()]
    return _judgments_table(run_id, episode_ids, ["run"] * len(js), js, list(map(_judge_of, js)), created_at)


_judge_of = attrgetter("judge")


def _judgments_table(
    run_id: str,
    episode_ids: list[str],
    origins: list[str],
    js: list[Judgment],
    specs: list[Mapping[str, Any]],
    created_at: datetime,
) -> pa.Table:
    judge_ids, judge_json = _judge_columns(specs)
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(js), pa.string()),
            "episode_id": pa.array(episode_ids, pa.string()),
            "judge_id": pa.array(judge_ids, pa.string()),
            "judge": pa.array(judge_json, pa.string()),
            "origin": pa.array(origins, pa.string()),
            "agent": pa.array([j.agent for j in js], pa.string()),
            "score": pa.array([j.score for j in js], pa.float64()),
            "dims": _map_array([j.dims for j in js], pa.float64()),
            "reasons": _map_array([j.reasons for j in js], pa.string()),
            "feedback": pa.array(
                [None if j.feedback is None else _json(j.feedback.model_dump(mode="json")) for j in js],
                pa.string(),
            ),
            "flags": pa.array([_json(j.flags) if j.flags else None for j in js], pa.string()),
            "raw": pa.array([j.raw for j in js], pa.string()),
            "error": pa.array([j.error for j in js], pa.string()),
            "created_at": pa.array([created_at] * len(js), pa.timestamp("us")),
        }
    )


def _judge_columns(specs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """``judge_id`` and JSON of each spec, computed once per distinct spec: a batch's judgments share a
    few judges, and the canonical-JSON hash is the costly part of a judgments table."""
    seen: dict[str, tuple[str, str]] = {}
    ids, texts = [], []
    for spec in specs:
        key = repr(spec)  # equal reprs (types included) hash alike; unequal ones are only cache misses
        known = seen.get(key)
        if known is None:
            spec = dict(spec or {})
            known = seen[key] = (judge_id(spec), to_json(spec).decode())
        ids.append(known[0])
        texts.append(known[1])
    return ids, texts


def model_calls_table(run_id: str, calls: Sequence[CallRecord]) -> pa.Table:
    specs = [dict(c.spec) for c in calls]
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(calls), pa.string()),
            "episode_id": pa.array([c.episode_id for c in calls], pa.string()),
            "role": pa.array([c.role for c in calls], pa.string()),
            "purpose": pa.array([c.purpose for c in calls], pa.string()),
            "policy_id": pa.array([policy_id(s) for s in specs], pa.string()),
            "policy": pa.array([_json(s) for s in specs], pa.string()),
            "latency_s": pa.array([c.latency_s for c in calls], pa.float64()),
            "prompt_tokens": pa.array([c.prompt_tokens for c in calls], pa.int32()),
            "completion_tokens": pa.array([c.completion_tokens for c in calls], pa.int32()),
            "cached": pa.array([c.cached for c in calls], pa.bool_()),
            "error": pa.array([c.error for c in calls], pa.string()),
        }
    )


def calls_of(results: Sequence[EpisodeResult]) -> list[CallRecord]:
    return [c for r in results for c in r.calls]
