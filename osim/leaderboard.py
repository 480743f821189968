"""The SOUL-Index leaderboard: per task and policy the primary metric, its 95% CI, n, n_error, the
invalid-action and detector flag rates, each task's breakdowns and sweep-level metrics, the SOUL average
over the ten paper tasks, and the SOUL-Index average over 23 tasks with its five category means (README
"Sweeps and the leaderboard"; docs/tasks.md per task; membership in ``osim.suites``).

Every number comes from SQL over the store (``replays.leaderboard_sql``); this module says which task
reads which breakdown and puts the pieces together. Judge errors are excluded from every mean and
counted in ``n_error``. Sotopia is reported on both scales: ``score`` (the normalized 7-dimension mean,
the project's scale) and ``paper_scale`` (the Ditto paper's table). UserLLM's primary metric is the
unweighted mean of its three subset scores and AlignX's the unweighted mean of its variant accuracies:
sweep-level numbers (no per-episode CI).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from osim.suites import CATEGORIES, PAPER_TASKS, SOTOPIA, SOUL_INDEX_TASKS
from replays import ReplayStore
from replays import leaderboard_sql as sql
from replays.leaderboard_sql import DimBreakdown, FieldBreakdown

USERLLM, MIRRORBENCH, TAU, ALIGNX = (
    "soul/userllm-v0",
    "soul/mirrorbench-v0",
    "soul/tau-user-v0",
    "soul/alignx-v0",
)
SOTOPIA_DIMS = (
    "believability",
    "relationship",
    "knowledge",
    "secret",
    "social_rules",
    "financial_and_material_benefits",
    "goal",
    "raw_mean",
    "paper_scale",
)
COSER_DIMS = ("storyline_consistency", "anthropomorphism", "character_fidelity", "storyline_quality")
LEXICAL = ("mattr", "hdd", "yules_k")
# Each task's breakdowns (docs/tasks.md): judgment dims, or a field of the stored scenario row.
BREAKDOWNS: tuple[DimBreakdown | FieldBreakdown, ...] = (
    DimBreakdown("soul/fantom-v0", "question_type", "type."),
    DimBreakdown("soul/fantom-v0", "family", "family."),
    FieldBreakdown("soul/hitom-v0", "question_order", "question_order"),
    FieldBreakdown("soul/hitom-v0", "deception", "deception"),
    FieldBreakdown("soul/tomi-v0", "question_type", "qType"),
    DimBreakdown("soul/coser-v0", "dimension", keys=COSER_DIMS),
    FieldBreakdown("soul/coser-v0", "split", "split"),
    DimBreakdown(SOTOPIA, "dimension", keys=SOTOPIA_DIMS),
    DimBreakdown(MIRRORBENCH, "judge", keys=("gteval", "pi", "rnr")),
    FieldBreakdown(MIRRORBENCH, "subset", "subset"),
    DimBreakdown("soul/twinvoice-v0", "dimension", "accuracy."),
    DimBreakdown(TAU, "component", keys=("task_reward", "human_likeness")),  # task_reward: pass^1
    FieldBreakdown(ALIGNX, "variant", "data_source"),  # its primary metric is the mean over variants
    DimBreakdown("soul/simarena-math-v0", "component", keys=("w", "i", "f", "score_odyssim")),
    DimBreakdown("soul/simarena-doc-v0", "component", keys=("w", "i", "f_w", "f_i", "d", "score_odyssim")),
)
# Where a task has a human reference for the human-likeness profile: the scenario's list of turns.
PROFILES: dict[str, dict[str, str]] = {
    MIRRORBENCH: {
        "reference_path": "turns",
        "role_field": "role",
        "role_value": "user",
        "text_field": "content",
    },
}
TASK_COLUMNS = [
    "policy",
    "task",
    "score",
    "ci95",
    "n",
    "n_error",
    "n_failed",
    "invalid_rate",
    "flag_rate",
    "paper_scale",
]


def short(env_id: str) -> str:
    """``soul/hitom-v0`` -> ``hitom`` (a column label)."""
    name = env_id.split("/", 1)[-1]
    return name.rsplit("-v", 1)[0]


@dataclass
class Leaderboard:
    """The leaderboard's tables (pandas frames), each in long or wide form as its docstring says."""

    tasks: pd.DataFrame  # one row per (policy, task): TASK_COLUMNS
    averages: pd.DataFrame  # one row per policy: AVERAGE_COLUMNS (SOUL average, SOUL-Index, categories)
    breakdowns: pd.DataFrame  # long: policy, task, breakdown, key, value, n
    profile: pd.DataFrame  # long: policy, task, side, turns, words_per_turn, formatting_rate, ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": _records(self.tasks),
            "averages": _records(self.averages),
            "breakdowns": _records(self.breakdowns),
            "profile": _records(self.profile),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    return value


def build(
    store: ReplayStore,
    runs: Sequence[str] | None = None,
    *,
    profile: bool = True,
    human_reference: Mapping[str, Any] | None = None,
) -> Leaderboard:
    """The leaderboard of ``runs`` (default: every run in the store). ``profile``: also the human-likeness
    profile (text statistics over every policy message of the tasks with a human reference; the plot
    needs it, the tables do not). ``human_reference``: tau-user's human reference, for its USI."""
    con = store.con
    with sql.selected(con, runs):
        tasks = sql.task_scores(con).rename(columns={"env_id": "task"})
        parts = [sql.breakdowns(con, BREAKDOWNS), sql.flag_rates(con), _mirrorbench(con)]
        userllm = sql.userllm_subsets(con, USERLLM)
        parts.append(_userllm_breakdown(userllm))
        if human_reference is not None:
            parts.append(tau_usi(store, human_reference))
        texts = _profile(con) if profile else pd.DataFrame(columns=["policy", "task", "side"])
    breakdowns = (
        pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    )
    if breakdowns is None:
        breakdowns = pd.DataFrame(columns=["policy", "env_id", "breakdown", "key", "value", "n"])
    breakdowns = breakdowns.rename(columns={"env_id": "task"})
    breakdowns["key"] = breakdowns["key"].astype(str)
    tasks = _with_primary(tasks, breakdowns, userllm)
    averages = soul_averages(tasks).merge(soul_index(tasks), on="policy", how="outer")
    return Leaderboard(tasks[TASK_COLUMNS], averages[AVERAGE_COLUMNS], breakdowns, texts)


def tau_usi(store: ReplayStore, reference: Mapping[str, Any]) -> pd.DataFrame:
    """tau-user's USI per policy (docs/tasks.md#tau-user-usi) over its ``ok`` episodes, with the task
    rewards its judge stored; inside ``sql.selected``. USI reads the user's turns through the task's own
    feature code (``scenarios.tau_user.usi``), so this one metric loads the episodes of one task."""
    from scenarios.tau_user.usi import usi

    rows = store.con.execute(
        "SELECT policy, run_id, episode_id, any_value(dims['task_reward']) FROM lb_judg "
        "WHERE env_id = ? AND status = 'ok' GROUP BY ALL ORDER BY ALL",
        [TAU],
    ).fetchall()
    by_policy: dict[str, dict[str, dict[str, float | None]]] = {}
    for policy, run_id, episode_id, reward in rows:
        by_policy.setdefault(policy, {}).setdefault(run_id, {})[episode_id] = reward
    out = []
    for policy, by_run in by_policy.items():
        episodes, rewards = [], []
        for run_id, reward_of in by_run.items():
            for record in store.records(run_id, episode_ids=list(reward_of)):
                episodes.append(record)
                rewards.append(reward_of[record.episode_id])
        result = usi(episodes, reference, rewards)
        n = result.get("n_episodes")
        for key, value in result.items():
            if isinstance(value, float):
                out.append((policy, TAU, "usi", key, value, n))
        for key, value in (result.get("std") or {}).items():
            out.append((policy, TAU, "usi", f"{key}.std", value, n))
    return pd.DataFrame(out, columns=["policy", "env_id", "breakdown", "key", "value", "n"])


def _mirrorbench(con: Any) -> pd.DataFrame:
    z = sql.lexical_z(con, MIRRORBENCH, LEXICAL, subset_field="subset")
    rows = []
    for record in z.to_dict(orient="records"):
        for metric in LEXICAL:
            key = metric if pd.isna(record["subset"]) else f"{metric}@{record['subset']}"
            rows.append((record["policy"], MIRRORBENCH, "lexical_z", key, record[metric], record["n"]))
    return pd.DataFrame(rows, columns=["policy", "env_id", "breakdown", "key", "value", "n"])


def _userllm_breakdown(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for record in frame.to_dict(orient="records"):
        for key in ("csqa", "nq", "prism"):
            rows.append((record["policy"], USERLLM, "subset", key, record[key], None))
        for key in ("first_turn_diversity", "termination_f1", "ai_rate", "intent_overlap"):
            rows.append((record["policy"], USERLLM, "prism", key, record[key], None))
    return pd.DataFrame(rows, columns=["policy", "env_id", "breakdown", "key", "value", "n"])


def _with_primary(tasks: pd.DataFrame, breakdowns: pd.DataFrame, userllm: pd.DataFrame) -> pd.DataFrame:
    """UserLLM's primary metric is its subset mean and AlignX's its variant mean (no CI); Sotopia's
    ``paper_scale`` joins its row."""
    tasks = tasks.copy()
    tasks["paper_scale"] = float("nan")
    for record in userllm.to_dict(orient="records"):
        at = (tasks["task"] == USERLLM) & (tasks["policy"] == record["policy"])
        tasks.loc[at, "score"] = record["score"]
        tasks.loc[at, "ci95"] = float("nan")
    variants = breakdowns[(breakdowns["task"] == ALIGNX) & (breakdowns["breakdown"] == "variant")]
    for policy, group in variants.groupby("policy"):
        at = (tasks["task"] == ALIGNX) & (tasks["policy"] == policy)
        tasks.loc[at, "score"] = float(group["value"].mean())
        tasks.loc[at, "ci95"] = float("nan")
    paper = breakdowns[(breakdowns["task"] == SOTOPIA) & (breakdowns["key"] == "paper_scale")]
    for record in paper.to_dict(orient="records"):
        at = (tasks["task"] == SOTOPIA) & (tasks["policy"] == record["policy"])
        tasks.loc[at, "paper_scale"] = record["value"]
    return tasks


def soul_averages(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per policy: the unweighted mean of the ten paper tasks' primary metrics (``soul_average``) and the
    same with Sotopia on the paper's scale (``soul_average_paper``, comparable with Table 3); a policy
    missing a task (or with no score on it) is marked incomplete and averaged over what it has."""
    rows = []
    for policy, group in tasks.groupby("policy", sort=True):
        scores = {t: s for t, s in zip(group["task"], group["score"]) if t in PAPER_TASKS and pd.notna(s)}
        paper = dict(scores)
        sotopia = group[group["task"] == SOTOPIA]["paper_scale"]
        if SOTOPIA in paper and len(sotopia) and pd.notna(sotopia.iloc[0]):
            paper[SOTOPIA] = float(sotopia.iloc[0])
        missing = [short(t) for t in PAPER_TASKS if t not in scores]
        rows.append(
            {
                "policy": policy,
                "soul_average": sum(scores.values()) / len(scores) if scores else float("nan"),
                "soul_average_paper": sum(paper.values()) / len(paper) if paper else float("nan"),
                "tasks": len(scores),
                "missing": ",".join(missing),
                "complete": not missing,
            }
        )
    columns = ["policy", "soul_average", "soul_average_paper", "tasks", "missing", "complete"]
    return pd.DataFrame(rows, columns=columns)


def soul_index(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per policy: the SOUL-Index (unweighted mean of the 23 tasks' primary metrics) and each category's
    unweighted mean over its members; a policy missing a task is marked incomplete (``index_missing``)
    and every mean is taken over what it has (a category with no task is NaN)."""
    rows = []
    for policy, group in tasks.groupby("policy", sort=True):
        scores = {
            t: s for t, s in zip(group["task"], group["score"]) if t in SOUL_INDEX_TASKS and pd.notna(s)
        }
        missing = [short(t) for t in SOUL_INDEX_TASKS if t not in scores]
        row: dict[str, Any] = {
            "policy": policy,
            "soul_index": sum(scores.values()) / len(scores) if scores else float("nan"),
            "index_tasks": len(scores),
            "index_missing": ",".join(missing),
            "index_complete": not missing,
        }
        for category, members in CATEGORIES.items():
            present = [scores[t] for t in members if t in scores]
            row[category] = sum(present) / len(present) if present else float("nan")
        rows.append(row)
    columns = ["policy", "soul_index", "index_tasks", "index_missing", "index_complete", *CATEGORIES]
    return pd.DataFrame(rows, columns=columns)


# The average lines of the tables: (name, column of ``Leaderboard.averages``).
AVERAGE_LINES: tuple[tuple[str, str], ...] = (
    ("SOUL average", "soul_average"),
    ("SOUL average, paper scale", "soul_average_paper"),
    ("SOUL-Index", "soul_index"),
    *((f"SOUL-Index {category.replace('_', ' ')}", category) for category in CATEGORIES),
)
AVERAGE_COLUMNS = [
    "policy",
    "soul_average",
    "soul_average_paper",
    "tasks",
    "missing",
    "complete",
    "soul_index",
    "index_tasks",
    "index_missing",
    "index_complete",
    *CATEGORIES,
]


def _profile(con: Any) -> pd.DataFrame:
    frames = []
    for env_id, where in PROFILES.items():
        frame = sql.text_profile(con, env_id, **where)
        frame.insert(1, "task", env_id)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# -- rendering ------------------------------------------------------------------------------------------
def cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def rows_for_text(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """The task table as text cells (also the CSV's rows with average lines appended)."""
    header = TASK_COLUMNS
    cells = [[cell(v) for v in row] for row in board.tasks[TASK_COLUMNS].itertuples(index=False)]
    return header, cells


def render(board: Leaderboard, fmt: str) -> str:
    """The leaderboard as ``markdown``, ``csv`` or ``json`` text (``table`` is printed with rich)."""
    if fmt == "json":
        return json.dumps(board.to_dict(), indent=2, sort_keys=False)
    if fmt == "csv":
        return _csv(board)
    if fmt == "markdown":
        return _markdown(board)
    raise ValueError(f"unknown format {fmt!r}")


def _csv(board: Leaderboard) -> str:
    """One CSV table: a row per (policy, task), then a row per policy for each SOUL average."""
    frame = board.tasks[TASK_COLUMNS].copy()
    extra = []
    for record in board.averages.to_dict(orient="records"):
        for name, column in AVERAGE_LINES:
            n, note = coverage(record, column)
            label = name if note is None else f"{name} ({note})"
            extra.append({"policy": record["policy"], "task": label, "score": record[column], "n": n})
    frame = pd.concat([frame, pd.DataFrame(extra, columns=TASK_COLUMNS)], ignore_index=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6g")
    return buffer.getvalue()


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def score_matrix(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Tasks as rows, policies as columns, cells ``score ± ci (n, n_error)``, then the SOUL averages:
    the shape of the paper's Table 3."""
    policies = sorted(board.tasks["policy"].unique()) if len(board.tasks) else []
    tasks = [t for t in PAPER_TASKS if t in set(board.tasks["task"])]
    tasks += sorted(set(board.tasks["task"]) - set(PAPER_TASKS))
    index = {(r["policy"], r["task"]): r for r in board.tasks.to_dict(orient="records")}
    rows = []
    for task in tasks:
        row = [short(task)]
        for policy in policies:
            r = index.get((policy, task))
            if r is None:
                row.append("-")
                continue
            text = cell(r["score"])
            if pd.notna(r["ci95"]):
                text += f" ± {cell(r['ci95'])}"
            if task == SOTOPIA and pd.notna(r["paper_scale"]):
                text += f" (paper {cell(r['paper_scale'])})"
            row.append(f"{text} (n={r['n']}, err={r['n_error']})")
        rows.append(row)
    averages = {r["policy"]: r for r in board.averages.to_dict(orient="records")}
    for name, column in AVERAGE_LINES:
        row = [name]
        for policy in policies:
            _, note = coverage(averages[policy], column)
            row.append(cell(averages[policy][column]) + ("" if note is None else f" ({note})"))
        rows.append(row)
    return ["task", *policies], rows


def coverage(record: Mapping[str, Any], column: str) -> tuple[int, str | None]:
    """How many tasks the average ``column`` of a policy's ``averages`` record counts, and its
    incompleteness note (``None`` when no task is missing)."""
    if column in CATEGORIES:
        members = CATEGORIES[column]
        missing = set(str(record["index_missing"]).split(","))
        have = sum(short(t) not in missing for t in members)
        return have, None if have == len(members) else f"incomplete: {have}/{len(members)}"
    prefix, total = ("index_", len(SOUL_INDEX_TASKS)) if column == "soul_index" else ("", len(PAPER_TASKS))
    count = int(record[f"{prefix}tasks"])
    if record[f"{prefix}complete"]:
        return count, None
    return count, f"incomplete: {count}/{total}, missing {record[f'{prefix}missing']}"


def _markdown(board: Leaderboard) -> str:
    parts = [
        "## Scores",
        _md_table(*score_matrix(board)),
        "",
        "## Per task",
        _md_table(*rows_for_text(board)),
    ]
    if len(board.breakdowns):
        cells = [[cell(v) for v in r] for r in board.breakdowns.itertuples(index=False)]
        parts += [
            "",
            "## Breakdowns and sweep-level metrics",
            _md_table(list(board.breakdowns.columns), cells),
        ]
    if len(board.profile):
        cells = [[cell(v) for v in r] for r in board.profile.itertuples(index=False)]
        parts += ["", "## Human-likeness profile", _md_table(list(board.profile.columns), cells)]
    return "\n".join(parts) + "\n"
