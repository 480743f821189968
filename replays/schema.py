"""The store's DuckDB layout: raw tables in schema ``records``, researcher views in ``main``.

Tables and views share names (``episodes``, ``events``), so the tables live in their own schema and
``SELECT * FROM episodes`` reads the view (the table columns plus the run's scores). The store
attaches the file under a fixed catalog name, so a file called ``records.duckdb`` still works from
Python; opened directly in the DuckDB shell, such a file would make ``records`` ambiguous.
"""

from __future__ import annotations

SCHEMA = "records"
SCHEMA_VERSION = 2  # 2: payload keys in their own columns (text stored once)

TABLES: dict[str, str] = {
    "meta": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    """,
    "runs": """
        run_id VARCHAR PRIMARY KEY,
        config JSON,
        policies JSON,
        judges JSON,
        osim_version VARCHAR,
        created_at TIMESTAMP
    """,
    "episodes": """
        run_id VARCHAR NOT NULL,
        episode_id VARCHAR NOT NULL,
        env_id VARCHAR NOT NULL,
        scenario_id VARCHAR NOT NULL,
        seed BIGINT,
        scenario JSON,
        options JSON,
        agents VARCHAR[],
        policy_agents VARCHAR[],
        policies JSON,
        status VARCHAR NOT NULL,
        reason VARCHAR,
        termination VARCHAR,
        truncated BOOLEAN,
        n_events INTEGER,
        n_turns INTEGER,
        observation_index INTEGER[],
        observation_sha VARCHAR[],
        started_at TIMESTAMP,
        finished_at TIMESTAMP,
        duration_s DOUBLE,
        judge_s DOUBLE,
        stored_at TIMESTAMP,
        PRIMARY KEY (run_id, episode_id)
    """,
    "events": """
        run_id VARCHAR NOT NULL,
        episode_id VARCHAR NOT NULL,
        idx INTEGER NOT NULL,
        turn INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        visibility VARCHAR[],
        text VARCHAR,
        action_type VARCHAR,
        raw VARCHAR,
        thinking VARCHAR,
        reason VARCHAR,
        payload_keys VARCHAR NOT NULL,
        payload_extra JSON
    """,
    "judgments": """
        run_id VARCHAR NOT NULL,
        episode_id VARCHAR NOT NULL,
        judge_id VARCHAR NOT NULL,
        judge JSON,
        origin VARCHAR NOT NULL,
        agent VARCHAR NOT NULL,
        score DOUBLE,
        dims MAP(VARCHAR, DOUBLE),
        reasons MAP(VARCHAR, VARCHAR),
        feedback JSON,
        flags JSON,
        raw VARCHAR,
        error VARCHAR,
        created_at TIMESTAMP
    """,
    "model_calls": """
        run_id VARCHAR NOT NULL,
        episode_id VARCHAR,
        role VARCHAR,
        purpose VARCHAR NOT NULL,
        policy_id VARCHAR,
        policy JSON,
        latency_s DOUBLE,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached BOOLEAN,
        error VARCHAR
    """,
}

# Payload keys stored in their own VARCHAR columns of ``events``, so an event's text is stored once (not
# again inside a JSON payload). Any other key, and a value of these keys that is not a string, is stored as
# JSON in ``payload_extra``; ``payload_keys`` is the payload's key order (a JSON list).
PAYLOAD_COLUMNS: tuple[str, ...] = ("text", "action_type", "raw", "thinking", "reason")

# An event's payload as JSON, rebuilt from those columns (``replays.tables.payload_columns`` writes them):
# each key of ``payload_keys`` in order, its value from ``payload_extra`` when there, else its column.
_COLUMN_OF_KEY = " ".join(f"WHEN '{c}' THEN v.{c}" for c in PAYLOAD_COLUMNS)
PAYLOAD_JSON = f"""CAST('{{' || array_to_string(list_transform(
        json_transform(v.payload_keys, '["VARCHAR"]'),
        lambda k: to_json(k) || ':' || CASE
            WHEN map_contains(v.payload_extra::MAP(VARCHAR, JSON), k)
                THEN coalesce((v.payload_extra::MAP(VARCHAR, JSON))[k], 'null')
            ELSE coalesce(to_json(CASE k {_COLUMN_OF_KEY} END), 'null')
        END), ',') || '}}' AS JSON)"""

# Views researchers query. ``score`` on an episode is the mean over its policy agents of the
# judgments written by the run itself (re-judgments live in ``scores`` with origin 'rejudge').
VIEWS: dict[str, str] = {
    "runs": f"SELECT * FROM {SCHEMA}.runs",
    "episodes": f"""
        SELECT e.run_id, e.episode_id, e.env_id, e.scenario_id, e.seed, e.status, e.reason,
               e.termination, e.truncated, e.n_turns, e.n_events, e.agents, e.policy_agents,
               e.policies, e.options, s.score, coalesce(s.n_judged, 0) AS n_judged,
               coalesce(s.n_judge_errors, 0) AS n_judge_errors,
               e.started_at, e.finished_at, e.duration_s, e.judge_s
        FROM {SCHEMA}.episodes e
        LEFT JOIN (
            SELECT j.run_id, j.episode_id, avg(j.score) AS score, count(*) AS n_judged,
                   count(j.error) AS n_judge_errors
            FROM {SCHEMA}.judgments j
            JOIN {SCHEMA}.episodes p USING (run_id, episode_id)
            WHERE j.origin = 'run' AND list_contains(p.policy_agents, j.agent)
            GROUP BY j.run_id, j.episode_id
        ) s USING (run_id, episode_id)
    """,
    "events": f"""
        SELECT v.run_id, v.episode_id, e.env_id, e.scenario_id, v.idx, v.turn, v.kind, v.source,
               v.visibility, v.visibility IS NULL AS public,
               coalesce(v.text, v.payload_extra->>'text') AS text, {PAYLOAD_JSON} AS payload
        FROM {SCHEMA}.events v JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
    """,
    "messages": f"""
        SELECT v.run_id, v.episode_id, e.env_id, e.scenario_id, v.idx, v.turn, v.source AS speaker,
               v.kind, coalesce(v.action_type, v.payload_extra->>'action_type') AS action_type,
               coalesce(v.text, v.payload_extra->>'text') AS text, v.visibility,
               v.visibility IS NULL AS public, list_contains(e.policy_agents, v.source) AS is_policy_agent
        FROM {SCHEMA}.events v JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
        WHERE v.kind IN ('message', 'action', 'narration', 'join', 'leave')
    """,
    "scores": f"""
        SELECT j.run_id, j.episode_id, e.env_id, e.scenario_id, e.seed, e.status, j.agent,
               list_contains(e.policy_agents, j.agent) AS is_policy_agent, j.judge_id, j.judge,
               j.origin, j.score, j.dims, j.reasons, j.error, j.feedback->>'critique' AS feedback,
               j.flags, j.created_at
        FROM {SCHEMA}.judgments j JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
    """,
    "dimension_scores": f"""
        SELECT j.run_id, j.episode_id, e.env_id, j.judge_id, j.origin, j.agent,
               unnest(map_keys(j.dims)) AS dimension, unnest(map_values(j.dims)) AS value
        FROM {SCHEMA}.judgments j JOIN {SCHEMA}.episodes e USING (run_id, episode_id)
    """,
}


def ddl() -> list[str]:
    """Statements that create the schema, tables and views (idempotent)."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    statements += [f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} ({cols})" for name, cols in TABLES.items()]
    statements += [f"CREATE OR REPLACE VIEW main.{name} AS {sql}" for name, sql in VIEWS.items()]
    return statements
