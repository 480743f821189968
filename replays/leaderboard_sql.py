"""Read-only leaderboard SQL over a replay store: task scores, breakdowns and sweep-level metrics.

Every aggregate is one SQL statement over the store's tables (README "Sweeps and the leaderboard"), so
a leaderboard over millions of events costs a few scans, never a Python loop over records. The queries
know no task: the caller (``osim.leaderboard``) says which env ids, judgment dims and scenario fields a
breakdown reads. All of them read only the judgments each run wrote itself (``origin = 'run'``) for the
episode's policy agents, and group by the run's policy label and the env id.

- A run's **policy label** is the spec string a sweep stored in its config (``sweep.policy``), else
  ``backend:model`` of the run's policy spec.
- An episode counts in ``n`` when its status is ``ok``; ``judge_error`` episodes count in ``n_error`` and
  ``failed`` ones in ``n_failed``; both are left out of every mean (an error is never a zero).
- ``invalid_rate``: the share of ``ok`` episodes in which a policy agent made an invalid action (it is
  scored by the task's rule for invalid answers, usually 0, and counted here).
- ``flag_rate``: the share of ``ok`` episodes whose policy judgment has a detector flag set. Detectors
  never change an evaluation score; this column is where they show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replays.schema import SCHEMA

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# The label of a run's policy: the sweep's spec string, else backend:model of the stored spec.
POLICY_LABEL = (
    "coalesce(config->>'$.sweep.policy', "
    "nullif(concat_ws(':', config->'$.policy'->>'backend', config->'$.policy'->>'model'), ''), '?')"
)
# Whether any detector of a judgment flagged it (``flags`` maps detector name -> Flag JSON). A text match
# on the stored JSON, minified or not: a quote inside a string value is escaped, so only a real key
# matches; parsing every judgment's flags (or a regular expression) costs more than the rest of the
# selection.
_FLAGS_TEXT = "CAST(j.flags AS VARCHAR)"
ANY_FLAG = (
    f"coalesce(contains({_FLAGS_TEXT}, '\"flagged\":true') OR contains({_FLAGS_TEXT}, '\"flagged\": true'), "
    "false)"
)


# The selection every query reads, built once per leaderboard: the selected runs with their policy label,
# a view of their episodes, and two temporary tables: the runs' own judgments of policy agents (the one
# large join of the leaderboard, done once) and one row per judged episode (its mean policy-agent score
# and whether a detector flagged it). Scenario rows are not copied: a query that reads scenario fields
# joins back to the episodes of its one task.
_SELECTION = (
    f"""CREATE OR REPLACE TEMP TABLE lb_runs AS
        SELECT run_id, {POLICY_LABEL} AS policy FROM {SCHEMA}.runs {{where}}""",
    f"""CREATE OR REPLACE TEMP VIEW lb_eps AS
        SELECT e.run_id, e.episode_id, e.env_id, e.status, e.scenario, e.policy_agents, r.policy
        FROM {SCHEMA}.episodes e JOIN lb_runs r USING (run_id)""",
    f"""CREATE OR REPLACE TEMP TABLE lb_judg AS
        SELECT p.run_id, p.episode_id, p.env_id, p.status, p.policy, j.agent, j.score, j.dims,
               j.error, {ANY_FLAG} AS flagged, j.flags
        FROM {SCHEMA}.judgments j JOIN lb_eps p USING (run_id, episode_id)
        WHERE j.origin = 'run' AND list_contains(p.policy_agents, j.agent)""",
    """CREATE OR REPLACE TEMP TABLE lb_score AS
        SELECT run_id, episode_id, any_value(policy) AS policy, any_value(env_id) AS env_id,
               any_value(status) AS status, avg(score) AS score, bool_or(flagged) AS flagged
        FROM lb_judg GROUP BY run_id, episode_id""",
)
TEMP_OBJECTS = (("TABLE", "lb_score"), ("TABLE", "lb_judg"), ("VIEW", "lb_eps"), ("TABLE", "lb_runs"))


@contextmanager
def selected(con: duckdb.DuckDBPyConnection, runs: Sequence[str] | None = None) -> Iterator[None]:
    """Select ``runs`` (default: every run) for the queries of this module, which all read the selection;
    its temporary tables and view are dropped on exit (a read-only store stays untouched)."""
    where, params = "", []
    if runs is not None:
        where, params = "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [list(runs)]
    try:
        con.execute(_SELECTION[0].format(where=where), params)
        for statement in _SELECTION[1:]:
            con.execute(statement)
        yield
    finally:
        for kind, name in TEMP_OBJECTS:
            con.execute(f"DROP {kind} IF EXISTS temp.main.{name}")


def task_scores(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per (policy, env id): episodes, n, n_error, n_failed, mean score over ``ok`` episodes with its
    95% CI (normal approximation, 1.96·s/√n), ``invalid_rate`` and ``flag_rate``. Three small
    aggregates (episode counts, judged scores, invalid actions) joined at the end, so no join is as
    large as the store."""
    sql = f"""WITH
    counts AS (
        SELECT policy, env_id, count(*) AS episodes, count(*) FILTER (WHERE status = 'ok') AS n,
               count(*) FILTER (WHERE status = 'judge_error') AS n_error,
               count(*) FILTER (WHERE status = 'failed') AS n_failed
        FROM (SELECT policy, env_id, status FROM lb_eps) GROUP BY policy, env_id
    ),
    scores AS (
        SELECT policy, env_id, avg(score) AS score, 1.96 * stddev_samp(score) / sqrt(count(score)) AS ci95,
               avg(CAST(coalesce(flagged, false) AS DOUBLE)) AS flag_rate
        FROM lb_score WHERE status = 'ok' GROUP BY policy, env_id
    ),
    invalid AS (  -- ok episodes in which a policy agent (an agent judged in lb_judg) made an invalid action
        SELECT j.policy, j.env_id, count(DISTINCT (j.run_id, j.episode_id)) AS n_invalid
        FROM (SELECT DISTINCT run_id, episode_id, source FROM {SCHEMA}.events
              WHERE kind = 'invalid_action' AND run_id IN (SELECT run_id FROM lb_runs)) i
        JOIN lb_judg j ON j.run_id = i.run_id AND j.episode_id = i.episode_id AND j.agent = i.source
        WHERE j.status = 'ok'
        GROUP BY j.policy, j.env_id
    )
    SELECT c.policy, c.env_id, c.episodes, c.n, c.n_error, c.n_failed, s.score, s.ci95,
           CASE WHEN c.n > 0 THEN coalesce(i.n_invalid, 0) / c.n END AS invalid_rate, s.flag_rate
    FROM counts c LEFT JOIN scores s USING (policy, env_id) LEFT JOIN invalid i USING (policy, env_id)
    ORDER BY c.env_id, c.policy"""
    return con.execute(sql).df()


@dataclass(frozen=True)
class DimBreakdown:
    """Mean of judgment dims of ``env_id`` named ``prefix + key`` (keys listed, or every key with the
    prefix), reported as breakdown ``name`` with the prefix removed."""

    env_id: str
    name: str
    prefix: str = ""
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldBreakdown:
    """Mean episode score of ``env_id`` by the value of scenario field ``field`` (a JSON path)."""

    env_id: str
    name: str
    field: str


def _dim_part(spec: DimBreakdown, params: list[Any]) -> str:
    """Keyed dims are looked up in each judgment's map; prefixed ones need the map's entries."""
    if spec.keys:
        params += [spec.name, list(spec.keys), spec.prefix, spec.env_id]
        return """
        SELECT policy, env_id, ? AS breakdown, key, avg(value) AS value, count(value) AS n
        FROM (SELECT policy, env_id, k.key, dims[k.prefix || k.key] AS value
              FROM lb_judg, (SELECT unnest(?::VARCHAR[]) AS key, ? AS prefix) k
              WHERE status = 'ok' AND error IS NULL AND env_id = ?)
        WHERE value IS NOT NULL
        GROUP BY ALL"""
    params += [spec.name, len(spec.prefix) + 1, spec.env_id, spec.prefix]
    return """
        SELECT policy, env_id, ? AS breakdown, substr(d.key, ?) AS key, avg(d.value) AS value, count(*) AS n
        FROM (SELECT policy, env_id, unnest(map_entries(dims)) AS d
              FROM lb_judg WHERE status = 'ok' AND error IS NULL AND env_id = ?)
        WHERE starts_with(d.key, ?)
        GROUP BY ALL"""


def _field_part(spec: FieldBreakdown, params: list[Any]) -> str:
    params += [spec.name, "$." + spec.field, spec.env_id]
    return """
        SELECT policy, any_value(env_id) AS env_id, ? AS breakdown, key, avg(score) AS value, count(*) AS n
        FROM (SELECT policy, env_id, score, scenario->>? AS key FROM lb_fields WHERE env_id = ?)
        WHERE key IS NOT NULL
        GROUP BY policy, key"""


def breakdowns(
    con: duckdb.DuckDBPyConnection,
    specs: Sequence[DimBreakdown | FieldBreakdown],
) -> pd.DataFrame:
    """One long table (policy, env_id, breakdown, key, value, n) over ``ok`` episodes, in one statement
    (``DimBreakdown``: judged agents; ``FieldBreakdown``: episodes, whose scenario rows are read in one
    join for all the tasks asked for)."""
    params: list[Any] = []
    parts = [_dim_part(s, params) if isinstance(s, DimBreakdown) else _field_part(s, params) for s in specs]
    if not parts:
        parts = [
            "SELECT NULL AS policy, NULL AS env_id, NULL AS breakdown, NULL AS key, NULL AS value, 0 AS n"
        ]
    body = "\nUNION ALL\n".join(f"({p})" for p in parts)
    envs = sorted({s.env_id for s in specs if isinstance(s, FieldBreakdown)})
    sql = f"""WITH lb_fields AS MATERIALIZED (
        SELECT s.policy, s.env_id, s.score, e.scenario
        FROM lb_score s JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
        WHERE s.status = 'ok' AND s.env_id IN (SELECT unnest(?::VARCHAR[]))
            AND e.env_id IN (SELECT unnest(?::VARCHAR[]))
    )
    SELECT * FROM ({body}) WHERE policy IS NOT NULL ORDER BY env_id, breakdown, key, policy"""
    return con.execute(sql, [envs, envs, *params]).df()


def flag_rates(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per (policy, env id, detector): the share of ``ok`` judged policy agents the detector flagged. A
    task's judge runs the same detectors on every judgment, so the detector names come from one
    judgment per task and the flagged ones; only flagged judgments (few) have their flags parsed."""
    sql = """
    WITH ok AS (SELECT policy, env_id, flags, flagged FROM lb_judg WHERE status = 'ok' AND flags IS NOT NULL),
    totals AS (SELECT policy, env_id, count(*) AS n, any_value(flags) AS sample FROM ok GROUP BY ALL),
    named AS (
        SELECT policy, env_id, f.key AS key
        FROM (SELECT policy, env_id, unnest(map_entries(sample::MAP(VARCHAR, JSON))) AS f FROM totals)
        WHERE json_type(f.value) = 'OBJECT'
    ),
    hits AS (
        SELECT policy, env_id, f.key AS key, count(*) AS k
        FROM (SELECT policy, env_id, unnest(map_entries(flags::MAP(VARCHAR, JSON))) AS f
              FROM ok WHERE flagged)
        WHERE f.value->>'flagged' = 'true'
        GROUP BY ALL
    )
    SELECT policy, env_id, 'flag' AS breakdown, key, coalesce(h.k, 0) / t.n AS value, t.n AS n
    FROM (SELECT * FROM named UNION SELECT policy, env_id, key FROM hits) d
    JOIN totals t USING (policy, env_id) LEFT JOIN hits h USING (policy, env_id, key)
    ORDER BY env_id, key, policy"""
    return con.execute(sql).df()


def lexical_z(
    con: duckdb.DuckDBPyConnection,
    env_id: str,
    metrics: Sequence[str],
    *,
    subset_field: str | None = None,
) -> pd.DataFrame:
    """MirrorBench's lexical z-scores (docs/tasks.md#mirrorbench): per metric m,
    ``z = (mean proxy.m − mean human.m) / std human.m`` over the same episodes (sample std; NULL with
    fewer than two episodes or no spread). Every judgment carries both profiles, a failed judge's too,
    so judge errors count here. With ``subset_field`` also per subset (``key`` = ``metric@subset``)."""
    params: list[Any] = []
    parts = []
    for m in metrics:
        parts.append(
            f"(avg(dims['proxy.{m}']) - avg(dims['human.{m}'])) / nullif(stddev_samp(dims['human.{m}']), 0) "
            f'AS "{m}"'
        )
    group = "GROUPING SETS ((policy, env_id), (policy, env_id, subset))" if subset_field else "policy, env_id"
    subset = "e.scenario->>?" if subset_field else "NULL"
    if subset_field:
        params.append("$." + subset_field)
    params.append(env_id)
    params.append(env_id)
    sql = f"""
    SELECT policy, env_id, subset, {", ".join(parts)}, count(*) AS n
    FROM (SELECT j.*, {subset} AS subset
          FROM lb_judg j JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
          WHERE j.env_id = ? AND e.env_id = ? AND j.status <> 'failed')
    GROUP BY {group} ORDER BY policy, subset NULLS FIRST"""
    return con.execute(sql, params).df()


def userllm_subsets(con: duckdb.DuckDBPyConnection, env_id: str) -> pd.DataFrame:
    """UserLLM's sweep-level metrics (docs/tasks.md#userllm), per policy: CSQA and NQ mean scores, the
    PRISM parts over valid PRISM judgments (first-turn diversity = 1 − mean pairwise unigram Jaccard of
    first-turn messages, over pairs within one run, i.e. one sweep, so that the cost grows with the size
    of a sweep and not with the number of sweeps stored; termination F1 with the last turn as positive,
    AI rate = 1 − mean human_like, mean intent overlap), the PRISM subset score (mean of diversity, F1,
    1 − AI rate, 1 − overlap over those defined) and the UserLLM score: the unweighted mean of the
    subset scores present. This is ``scenarios.userllm.judge.subset_scores`` as SQL."""
    sql = f"""WITH
    u AS (
        SELECT j.*, e.scenario, CASE WHEN e.scenario->>'$.source' = 'commonsense_qa' THEN 'csqa'
                         WHEN e.scenario->>'$.source' = 'natural_questions' THEN 'nq'
                         WHEN lower(e.scenario->>'$.source') LIKE '%prism%' THEN 'prism' END AS subset
        FROM lb_judg j JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
        WHERE j.env_id = ? AND e.env_id = ?
    ),
    prism AS (SELECT * FROM u WHERE subset = 'prism' AND error IS NULL AND dims['valid'] = 1.0),
    firsts AS (  -- the message of each first-turn PRISM reply, as its set of words
        SELECT f.policy, f.run_id, f.episode_id, f.agent,
               list_distinct(regexp_extract_all(lower(arg_max(v.text, v.idx)), '[a-z0-9'']+')) AS words
        FROM (SELECT * FROM prism WHERE dims['first_turn'] = 1.0) f
        JOIN {SCHEMA}.events v ON v.run_id = f.run_id AND v.episode_id = f.episode_id AND v.source = f.agent
        WHERE v.kind = 'message'
        GROUP BY f.policy, f.run_id, f.episode_id, f.agent
        HAVING coalesce(arg_max(v.text, v.idx), '') <> ''
    ),
    diversity AS (
        SELECT a.policy, 1.0 - avg(CASE WHEN len(list_distinct(list_concat(a.words, b.words))) = 0 THEN 1.0
            ELSE len(list_intersect(a.words, b.words))
                 / len(list_distinct(list_concat(a.words, b.words))) END) AS first_turn_diversity
        FROM firsts a JOIN firsts b
            ON a.run_id = b.run_id AND (a.episode_id, a.agent) < (b.episode_id, b.agent)
        GROUP BY a.policy
    ),
    parts AS (
        SELECT policy,
               2 * count(*) FILTER (WHERE gold AND pred) / nullif(
                   2 * count(*) FILTER (WHERE gold AND pred) + count(*) FILTER (WHERE gold <> pred), 0
               ) AS termination_f1,
               1.0 - avg(dims['human_like']) AS ai_rate,
               avg(dims['intent_overlap']) AS intent_overlap
        FROM (SELECT *, CASE WHEN dims['termination_correct'] IS NOT NULL
                             THEN (scenario->>'$.is_last_turn') = 'true' END AS gold,
                        CASE WHEN dims['termination_correct'] IS NOT NULL THEN dims['ended'] = 1.0 END AS pred
              FROM prism)
        GROUP BY policy
    ),
    means AS (
        SELECT policy, avg(score) FILTER (WHERE subset = 'csqa') AS csqa,
               avg(score) FILTER (WHERE subset = 'nq') AS nq
        FROM u WHERE score IS NOT NULL GROUP BY policy
    ),
    policies AS (SELECT DISTINCT policy FROM u)
    SELECT policy, csqa, nq, first_turn_diversity, termination_f1, ai_rate, intent_overlap,
           list_avg(list_filter([first_turn_diversity, termination_f1, 1.0 - ai_rate, 1.0 - intent_overlap],
                                lambda x: x IS NOT NULL)) AS prism
    FROM policies LEFT JOIN means USING (policy) LEFT JOIN diversity USING (policy)
    LEFT JOIN parts USING (policy) ORDER BY policy"""
    frame = con.execute(sql, [env_id, env_id]).df()
    frame["score"] = frame[["csqa", "nq", "prism"]].mean(axis=1, skipna=True)
    return frame


# A line of a policy's text "has formatting" when it starts like a list item or a header, or holds bold.
FORMATTING = r"(^|\n)\s*([-*•]\s|\d+[.)]\s|#{1,6}\s)|\*\*"


def text_profile(
    con: duckdb.DuckDBPyConnection,
    env_id: str,
    *,
    reference_path: str,
    role_field: str,
    role_value: str,
    text_field: str,
) -> pd.DataFrame:
    """The human-likeness profile of the policy's text against the human reference of the same rows:
    per side (``policy`` turns; ``human`` = the scenario's reference list at ``reference_path`` whose
    ``role_field`` is ``role_value``): words per turn, the share of turns with formatting (lists,
    headers, bold), mean word length (word choice) and the type-token ratio of all turns together
    (lexical diversity). One row per (policy, side)."""
    params = [env_id, text_field, "$." + reference_path, role_field, role_value]
    sql = f"""WITH
    eps AS (SELECT * FROM lb_eps WHERE env_id = ? AND status <> 'failed'),
    turns AS (
        SELECT p.policy, 'policy' AS side, v.text
        FROM {SCHEMA}.events v JOIN eps p USING (run_id, episode_id)
        WHERE v.kind = 'message' AND list_contains(p.policy_agents, v.source) AND coalesce(v.text, '') <> ''
        UNION ALL
        SELECT policy, 'human' AS side, t->>? AS text
        FROM (SELECT p.policy, unnest(CAST(p.scenario->? AS JSON[])) AS t, ? AS rf, ? AS rv FROM eps p)
        WHERE t->>rf = rv
    ),
    words AS (
        SELECT policy, side, text, regexp_extract_all(lower(text), '\\w+') AS w FROM turns
    )
    SELECT policy, side, count(*) AS turns, avg(len(w)) AS words_per_turn,
           avg(CAST(regexp_matches(text, '{FORMATTING}') AS DOUBLE)) AS formatting_rate,
           sum(list_sum(list_transform(w, lambda x: length(x)))) / nullif(sum(len(w)), 0) AS word_length,
           any_value(types) / nullif(sum(len(w)), 0) AS type_token_ratio
    FROM words JOIN (
        SELECT policy, side, count(DISTINCT word) AS types
        FROM (SELECT policy, side, unnest(w) AS word FROM words) GROUP BY ALL
    ) USING (policy, side)
    GROUP BY policy, side ORDER BY policy, side"""
    return con.execute(sql, params).df()
