"""Episodes as a JSONL file: share a run, merge stores.

``export_episodes`` writes every stored row of the chosen runs (the run itself, its episodes, their
events, judgments and model calls) as one JSON object per line, ``{"table": ..., "row": {...}}``, in a
fixed order; ``import_episodes`` inserts them into another store. Nothing is recomputed on the way, so
exporting an imported run gives the same file byte for byte, and an episode the target store already
holds for that run is skipped (first write wins, as in ``ReplayStore.write``), never duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from replays.schema import SCHEMA

if TYPE_CHECKING:
    from replays.store import ReplayStore

# Tables in the order they are written and read, each with the order of its rows.
TABLE_ORDER: dict[str, str] = {
    "runs": "run_id",
    "episodes": "run_id, episode_id",
    "events": "run_id, episode_id, idx",
    "judgments": "run_id, episode_id, judge_id, origin, agent, created_at",
    "model_calls": "run_id, episode_id NULLS FIRST, purpose, role, policy_id, latency_s, error",
}
FORMAT = "osim-episodes-v1"


@dataclass
class ImportSummary:
    runs: int = 0
    episodes: int = 0
    skipped: int = 0


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to an episodes file")


def export_episodes(store: ReplayStore, path: str | Path, run_ids: Sequence[str] | None = None) -> int:
    """Write the runs ``run_ids`` (default: all) to ``path``; returns the number of episodes."""
    runs = list(run_ids) if run_ids is not None else [str(r) for r in store.runs()["run_id"]]
    episodes = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": FORMAT}) + "\n")
        for table, order in TABLE_ORDER.items():
            rows = store.con.sql(
                f"SELECT * FROM {SCHEMA}.{table} WHERE run_id IN (SELECT unnest(?)) ORDER BY {order}",
                params=[runs],
            ).to_arrow_table()
            for row in rows.to_pylist():
                fh.write(
                    json.dumps({"table": table, "row": row}, default=_to_json, ensure_ascii=False) + "\n"
                )
            episodes += rows.num_rows if table == "episodes" else 0
    return episodes


def _read(path: Path) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLE_ORDER}
    with path.open(encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {line_no}: not valid JSON ({exc.msg})") from None
            if line_no == 1:
                if item != {"format": FORMAT}:
                    raise ValueError(
                        f"{path} is not an osim episodes file (first line {text.strip()[:60]!r})"
                    )
                continue
            if (
                not isinstance(item, dict)
                or item.get("table") not in rows
                or not isinstance(item.get("row"), dict)
            ):
                raise ValueError(
                    f"{path}, line {line_no}: expected an object with 'table' (one of "
                    f"{', '.join(TABLE_ORDER)}) and 'row'"
                )
            rows[item["table"]].append(item["row"])
    return rows


def _arrow(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows read back from JSON as an Arrow table of the store's own column types."""
    converted = []
    for row in rows:
        out = dict(row)
        for column in schema:
            value = out.get(column.name)
            if value is None:
                continue
            if pa.types.is_timestamp(column.type):
                out[column.name] = datetime.fromisoformat(value)
            elif pa.types.is_map(column.type):
                out[column.name] = [tuple(pair) for pair in value]
        converted.append(out)
    return pa.Table.from_pylist(converted, schema=schema)


def import_episodes(store: ReplayStore, path: str | Path) -> ImportSummary:
    """Insert the rows of an episodes file into ``store`` in one transaction."""
    rows = _read(Path(path))
    summary = ImportSummary()
    pairs = [(r["run_id"], r["episode_id"]) for r in rows["episodes"]]
    stored = set(
        store.con.execute(
            f"SELECT run_id, episode_id FROM {SCHEMA}.episodes WHERE run_id IN (SELECT unnest(?))",
            [sorted({run for run, _ in pairs})],
        ).fetchall()
    )
    new = {pair for pair in pairs if pair not in stored}
    known_runs = {r[0] for r in store.con.execute(f"SELECT run_id FROM {SCHEMA}.runs").fetchall()}
    with store.transaction():
        for table in TABLE_ORDER:
            if table == "runs":
                keep = [r for r in rows[table] if r["run_id"] not in known_runs]
                summary.runs = len(keep)
            elif table == "model_calls":  # batch-level calls belong to a run, the others to an episode
                keep = [
                    r
                    for r in rows[table]
                    if (r["run_id"], r["episode_id"]) in new
                    or (r["episode_id"] is None and r["run_id"] not in known_runs)
                ]
            else:
                keep = [r for r in rows[table] if (r["run_id"], r["episode_id"]) in new]
            if not keep:
                continue
            schema = store.con.sql(f"SELECT * FROM {SCHEMA}.{table} LIMIT 0").to_arrow_table().schema
            store._insert(table, _arrow(keep, schema))
    summary.episodes = len(new)
    summary.skipped = len(pairs) - len(new)
    return summary
