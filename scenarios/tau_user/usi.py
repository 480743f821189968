"""The User Simulation Index at sweep level (docs/tasks.md#tau-user-usi), from stored episodes and a
human reference file.

A reference is JSON: ``features`` (human mean per feature), ``tasks`` (per ``"<domain>/<task_id>"``: human
``success`` in [0, 1], a difficulty ``bin`` and optional ``survey`` answers; a task without ``success`` or
``survey`` falls back to the row's ``human_success`` / ``human_survey``), or ``batches``, a list of such
references (several human batches: the result is their mean and standard deviation).

- D1-D4 (style, information, clarification, error reaction) = 100 x the mean Dice similarity, over the
  group's features present in the reference, of the human mean and the model's mean over the episodes of
  the shared tasks.
- Outcome = 100 x (1 - ECE), ECE = sum over difficulty bins of (n_b / n) x |model success_b - human
  success_b|, with n_b the bin's episodes, model success the mean task reward and human success the mean
  of the tasks' human success over those episodes.
- Evaluation alignment (when episodes have survey answers and the reference has surveys) = 100 x the mean
  over tasks of (1 - mean normalized ordinal distance) over the survey fields both answered.
- USI = the mean of the available components.

``bike_rental`` has a synthetic reference (``data/usi_reference_bike_rental.json``) for tests and the demo;
osim ships no human data.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from osim_env.episode import EpisodeRecord
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.features import FEATURE_GROUPS, dice, features
from scenarios.tau_user.judge import (
    ended_by_user_stop,
    row_of,
    rule_components,
    user_messages,
)

GROUP_COMPONENTS = {"style": "D1", "information": "D2", "clarification": "D3", "error_reaction": "D4"}
SYNTHETIC_REFERENCE = Path(__file__).parent / "data" / "usi_reference_bike_rental.json"
YES_NO_FIELDS = ("task_success", "reuse")
SCALE = (1, 5)


def load_reference(path: str | Path = SYNTHETIC_REFERENCE) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def task_key(record: EpisodeRecord) -> str:
    row = row_of(record)
    return f"{row.domain}/{row.task_id}"


def rule_task_reward(record: EpisodeRecord) -> float | None:
    """The task reward from the rule components; None when the task's basis needs the NL judge (the
    episode is then left out of the outcome rather than scored without it)."""
    row = row_of(record)
    task = row.task()
    if "NL_ASSERTION" in task.reward_basis:
        return None
    if not ended_by_user_stop(record):
        return 0.0
    reward = 1.0
    for value in rule_components(record, task, load_domain(row.domain)).values():
        reward *= value
    return reward


def survey_of(record: EpisodeRecord) -> dict[str, Any] | None:
    for event in record.events:
        if event.source == "user" and event.kind == "action" and event.payload.get("survey"):
            return dict(event.payload["survey"])
    return None


def ordinal(field: str, value: Any) -> float | None:
    """A survey answer on [0, 1] (yes/no fields: 1/0; 1-5 scales linearly), or None if unusable."""
    if field in YES_NO_FIELDS:
        if isinstance(value, bool):
            return float(value)
        text = str(value).strip().lower()
        return {"yes": 1.0, "no": 0.0}.get(text)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    low, high = SCALE
    return (number - low) / (high - low) if low <= number <= high else None


def survey_agreement(model: Mapping[str, Any], human: Mapping[str, Any]) -> float | None:
    """1 - mean normalized distance over the fields both surveys answered usably."""
    distances = []
    for field, value in model.items():
        m, h = ordinal(field, value), ordinal(field, human.get(field))
        if m is not None and h is not None:
            distances.append(abs(m - h))
    return 1 - statistics.fmean(distances) if distances else None


def _usi_one(
    episodes: Sequence[EpisodeRecord], rewards: Sequence[float | None], reference: Mapping[str, Any]
) -> dict[str, float]:
    tasks = reference.get("tasks", {})
    shared = [(e, r) for e, r in zip(episodes, rewards, strict=True) if task_key(e) in tasks]
    if not shared:
        raise ValueError("no episode is on a task of the human reference")
    components: dict[str, float] = {}
    values = [features(user_messages(e)) for e, _ in shared]
    human = reference.get("features", {})
    for group, names in FEATURE_GROUPS.items():
        targeted = [n for n in names if n in human]
        if targeted:
            sims = [dice(human[n], statistics.fmean(v[n] for v in values)) for n in targeted]
            components[GROUP_COMPONENTS[group]] = 100 * statistics.fmean(sims)
    bins: dict[str, list[tuple[float, float]]] = {}
    for episode, reward in shared:
        info = tasks[task_key(episode)]
        human_success = info.get("success", row_of(episode).human_success)
        if reward is not None and human_success is not None:
            bins.setdefault(str(info.get("bin", "all")), []).append((reward, float(human_success)))
    n = sum(len(b) for b in bins.values())
    if n:
        ece = sum(
            len(b) / n * abs(statistics.fmean(m for m, _ in b) - statistics.fmean(h for _, h in b))
            for b in bins.values()
        )
        components["outcome"] = 100 * (1 - ece)
    per_task: dict[str, list[float]] = {}
    for episode, _ in shared:
        survey = survey_of(episode)
        human_survey = tasks[task_key(episode)].get("survey") or row_of(episode).human_survey
        if survey and human_survey:
            agreement = survey_agreement(survey, human_survey)
            if agreement is not None:
                per_task.setdefault(task_key(episode), []).append(agreement)
    if per_task:
        components["alignment"] = 100 * statistics.fmean(statistics.fmean(v) for v in per_task.values())
    components["usi"] = statistics.fmean(components.values())
    return components


def usi(
    episodes: Iterable[EpisodeRecord],
    reference: Mapping[str, Any],
    task_rewards: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """USI and its components for finished episodes against a human reference. ``task_rewards`` (one per
    episode, e.g. ``judgments.dims["task_reward"]`` from the store; None for a failed judgment) default to
    the rule task reward. With several human batches: each component's mean and its std over batches."""
    episodes = list(episodes)
    rewards = list(task_rewards) if task_rewards is not None else [rule_task_reward(e) for e in episodes]
    if len(rewards) != len(episodes):
        raise ValueError(f"{len(rewards)} task rewards for {len(episodes)} episodes")
    batches = reference.get("batches") or [reference]
    results = [_usi_one(episodes, rewards, batch) for batch in batches]
    keys = list(dict.fromkeys(k for r in results for k in r))
    out: dict[str, Any] = {k: statistics.fmean(r[k] for r in results if k in r) for k in keys}
    if len(results) > 1:
        out["std"] = {k: statistics.pstdev([r[k] for r in results if k in r]) for k in keys}
    first = batches[0].get("tasks", {})
    out["n_episodes"] = sum(task_key(e) in first for e in episodes)
    out["n_batches"] = len(results)
    return out
