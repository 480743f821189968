"""Stored episodes as training data in TRL's dataset formats, per role, filterable by score.

Prompts are the exact observations the agent acted on: each episode is replayed through its env
(the event log is the state), so the exported prompt is byte for byte what the policy saw (without
Ditto feedback unless ``with_feedback=True``). Formats (conversational, as TRL expects them):

- ``sft``: ``messages`` — the role's view of the episode up to its last action, plus that action;
- ``prompt_completion``: ``prompt`` (messages) and ``completion`` (one assistant message), per action;
- ``preference``: ``prompt``, ``chosen``, ``rejected`` — actions on the same prompt from episodes with
  different scores (best minus worst at least ``margin``).

Every row also carries ``episode_id``, ``run_id``, ``env_id``, ``scenario_id``, ``seed``, ``role`` and
``score`` columns for filtering and bookkeeping.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from osim_env.episode import EpisodeRecord
from osim_env.seeding import stable_hash
from osim_env.thinking import strip_thinking
from replays.replay import replay_record

if TYPE_CHECKING:
    from replays.store import ReplayStore

ExportKind = Literal["sft", "prompt_completion", "preference"]
KINDS: tuple[str, ...] = ("sft", "prompt_completion", "preference")
Message = dict[str, str]


@dataclass(frozen=True)
class ActionRow:
    """One stored action with the prompt it answered."""

    run_id: str
    episode_id: str
    env_id: str
    scenario_id: str
    seed: int | None
    role: str
    turn: int
    prompt: list[Message]
    completion: str
    score: float | None

    def meta(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "run_id": self.run_id,
            "env_id": self.env_id,
            "scenario_id": self.scenario_id,
            "seed": self.seed,
            "role": self.role,
            "score": self.score,
        }


def _scores(
    store: ReplayStore, run_id: str | None, judge_id: str | None
) -> dict[tuple[str, str, str], float]:
    """(run, episode, agent) -> score, from the run's own judgments or from ``judge_id``."""
    sql = "SELECT run_id, episode_id, agent, score FROM records.judgments WHERE score IS NOT NULL"
    params: list[Any] = []
    if judge_id:
        sql += " AND judge_id = ?"
        params.append(judge_id)
    else:
        sql += " AND origin = 'run'"
    if run_id:
        sql += " AND run_id = ?"
        params.append(run_id)
    return {(r, e, a): s for r, e, a, s in store.con.execute(sql, params).fetchall()}


def action_rows(
    store: ReplayStore,
    run_id: str | None = None,
    *,
    role: str | None = None,
    env_id: str | None = None,
    judge_id: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    statuses: Sequence[str] = ("ok",),
    with_feedback: bool = False,
    include_thinking: bool = False,
) -> list[ActionRow]:
    """Every action of ``role`` (default: each episode's policy agents) with its prompt and score."""
    scores = _scores(store, run_id, judge_id)
    runs = [run_id] if run_id else list(store.runs()["run_id"])
    out: list[ActionRow] = []
    for run in runs:
        digests = {
            e: dict(zip(i or [], s or []))
            for e, i, s in store.con.execute(
                "SELECT episode_id, observation_index, observation_sha FROM records.episodes "
                "WHERE run_id = ?",
                [run],
            ).fetchall()
        }
        for record in store.records(run, statuses=statuses, env_id=env_id):
            roles = (role,) if role else record.policy_agents
            if role and role not in record.agents:
                continue
            wanted = {
                r: scores.get((run, record.episode_id, r))
                for r in roles
                if _in_range(scores.get((run, record.episode_id, r)), min_score, max_score)
            }
            if not wanted:
                continue
            out.extend(
                _collect(record, run, wanted, digests.get(record.episode_id), with_feedback, include_thinking)
            )
    return out


def _collect(
    record: EpisodeRecord,
    run_id: str,
    wanted: dict[str, float | None],
    digests: dict[int, str] | None,
    with_feedback: bool,
    include_thinking: bool,
) -> list[ActionRow]:
    """Replay ``record`` and keep the actions of the ``wanted`` roles (role -> score)."""
    collected: list[ActionRow] = []

    def on_action(agent: str, observation: dict[str, Any], action: Any, event: Any) -> None:
        if agent not in wanted or not isinstance(action, str):
            return
        text = action if include_thinking else strip_thinking(action)[0]
        messages = [dict(m) for m in observation["messages"]]
        collected.append(
            ActionRow(
                run_id, record.episode_id, record.env_id, record.scenario_id, record.seed, agent, event.turn,
                messages, text, wanted[agent],
            )
        )  # fmt: skip

    report = replay_record(record, digests, on_action=on_action, with_feedback=with_feedback)
    if not report.ok:
        raise RuntimeError(f"cannot export {record.episode_id}: the replay does not reproduce it: {report}")
    return collected


def _in_range(score: float | None, lo: float | None, hi: float | None) -> bool:
    if lo is None and hi is None:
        return True
    if score is None:
        return False
    return (lo is None or score >= lo) and (hi is None or score <= hi)


def _assistant(text: str) -> list[Message]:
    return [{"role": "assistant", "content": text}]


def sft_rows(actions: Sequence[ActionRow]) -> list[dict[str, Any]]:
    """One conversation per (episode, role): its last prompt plus its last action."""
    last: dict[tuple[str, str, str], ActionRow] = {}
    for a in actions:
        last[(a.run_id, a.episode_id, a.role)] = a
    return [{"messages": a.prompt + _assistant(a.completion), **a.meta()} for a in last.values()]


def prompt_completion_rows(actions: Sequence[ActionRow]) -> list[dict[str, Any]]:
    return [
        {"prompt": a.prompt, "completion": _assistant(a.completion), **a.meta(), "turn": a.turn}
        for a in actions
    ]


def preference_rows(actions: Sequence[ActionRow], *, margin: float = 0.0) -> list[dict[str, Any]]:
    """Pairs of actions on the exact same prompt: every (better, worse) pair whose score gap
    exceeds ``margin``, and whose texts differ."""
    groups: dict[str, list[ActionRow]] = defaultdict(list)
    for a in actions:
        if a.score is not None:
            groups[stable_hash("prompt", a.role, a.prompt, length=32)].append(a)
    rows = []
    for members in groups.values():
        members.sort(key=lambda a: (-float(a.score or 0.0), a.episode_id))
        for i, chosen in enumerate(members):
            for rejected in members[i + 1 :]:
                gap = float(chosen.score or 0.0) - float(rejected.score or 0.0)
                if gap > margin and chosen.completion != rejected.completion:
                    rows.append(
                        {
                            "prompt": chosen.prompt,
                            "chosen": _assistant(chosen.completion),
                            "rejected": _assistant(rejected.completion),
                            "env_id": chosen.env_id,
                            "scenario_id": chosen.scenario_id,
                            "role": chosen.role,
                            "chosen_episode_id": chosen.episode_id,
                            "rejected_episode_id": rejected.episode_id,
                            "chosen_score": chosen.score,
                            "rejected_score": rejected.score,
                        }
                    )
    return rows


def rows(
    store: ReplayStore, kind: ExportKind, *, margin: float = 0.0, **filters: Any
) -> list[dict[str, Any]]:
    """Rows of ``kind`` (``sft``, ``prompt_completion`` or ``preference``); ``filters`` as in
    ``action_rows``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    actions = action_rows(store, **filters)
    if kind == "sft":
        return sft_rows(actions)
    if kind == "prompt_completion":
        return prompt_completion_rows(actions)
    return preference_rows(actions, margin=margin)


_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_META = [
    ("episode_id", pa.string()),
    ("run_id", pa.string()),
    ("env_id", pa.string()),
    ("scenario_id", pa.string()),
    ("seed", pa.int64()),
    ("role", pa.string()),
    ("score", pa.float64()),
]
SCHEMAS: dict[str, pa.Schema] = {
    "sft": pa.schema([("messages", _MESSAGES), *_META]),
    "prompt_completion": pa.schema(
        [("prompt", _MESSAGES), ("completion", _MESSAGES), *_META, ("turn", pa.int32())]
    ),
    "preference": pa.schema(
        [
            ("prompt", _MESSAGES),
            ("chosen", _MESSAGES),
            ("rejected", _MESSAGES),
            ("env_id", pa.string()),
            ("scenario_id", pa.string()),
            ("role", pa.string()),
            ("chosen_episode_id", pa.string()),
            ("rejected_episode_id", pa.string()),
            ("chosen_score", pa.float64()),
            ("rejected_score", pa.float64()),
        ]
    ),
}


def to_arrow(data: Sequence[dict[str, Any]], kind: ExportKind) -> pa.Table:
    """Rows of ``kind`` under its fixed schema (an empty export keeps its columns)."""
    return pa.Table.from_pylist(list(data), schema=SCHEMAS[kind])


class EmptyExport(ValueError):
    """No stored action matches the export's filters (no file is written: ``datasets`` cannot load
    an empty Parquet file)."""


def export(store: ReplayStore, kind: ExportKind, path: str | Path, **filters: Any) -> tuple[Path, int]:
    """Write rows of ``kind`` to ``path`` (``.parquet`` or ``.jsonl``). Returns (path, rows)."""
    path = Path(path)
    if path.suffix not in (".parquet", ".jsonl", ".ndjson"):
        raise ValueError(f"export to .parquet or .jsonl, got {path.suffix!r}")
    data = rows(store, kind, **filters)
    if not data:
        active = {k: v for k, v in filters.items() if v not in (None, False)}
        raise EmptyExport(f"no {kind} rows match {active or 'the store'}; nothing written to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(to_arrow(data, kind), path)
    else:
        with path.open("w", encoding="utf-8") as fh:
            for row in data:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path, len(data)


def to_dataset(store: ReplayStore, kind: ExportKind, **filters: Any) -> Any:
    """A ``datasets.Dataset`` of rows of ``kind`` (needs the ``datasets`` package)."""
    try:
        import datasets
    except ImportError as exc:  # an optional dependency
        raise ImportError("to_dataset needs the 'datasets' package: pip install 'osim[train]'") from exc
    return datasets.Dataset(to_arrow(rows(store, kind, **filters), kind))
