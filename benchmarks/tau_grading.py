"""tau-user grading against tau2's own grader, per task (docs/tasks.md#tau-user-judge).

For every task of the chosen domains (airline and retail by default; they need tau2, see
`scripts/install_tau.sh`), two episodes are played through `soul/tau-user-v0`, each with a scripted user
that sends the task's known info and then `###STOP###`: one with the oracle agent (the gold actions, then
the required outputs) and one with an agent that only says "I cannot help". Each episode is graded by
osim's judge (the task reward) and by tau2's own evaluators on the same trajectory; the per-task rewards,
whether they agree, and the grading time per task (osim: cold = the first time a task is graded in the
process, and warm; tau2) are printed as one JSON object.

    python benchmarks/tau_grading.py                        # airline + retail, every task
    python benchmarks/tau_grading.py --domains bike_rental  # the shipped domain (osim only, no tau2 column)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import osim_env
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy
from policies.oracle import OraclePolicy
from scenarios.tau_user.domain import domain_tasks
from scenarios.tau_user.judge import TauUserJudge

ENV_ID = "soul/tau-user-v0"
CANNOT_HELP = "I'm sorry, I cannot help with that."


def play(domain: str, task_id: str, agent: Any, mode: str) -> Any:
    """One episode: the scripted user (known info, then ###STOP###) against ``agent``; unjudged."""
    task = domain_tasks(domain)[task_id]
    opening = task.known_info or task.instructions
    env = AutoPlay(
        osim_env.make(ENV_ID, scenario={"domain": domain, "task_id": task_id}, agent=mode, judge=False),
        {"agent": agent},
    )
    env.reset(seed=0)
    user = ScriptedPolicy([opening, "###STOP###"], cycle=False)
    for _ in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else user.act(env.observe("user")))
    return env.unwrapped.episode_record()


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def grade(judge: TauUserJudge, record: Any) -> tuple[float | None, float, float]:
    """(task reward, seconds the first time, seconds again)."""
    first, cold = timed(judge.judge_episode, record)
    _, warm = timed(judge.judge_episode, record)
    return first["user"].dims.get("task_reward"), cold, warm


def run(domains: list[str], limit: int | None, with_tau2: bool) -> dict[str, Any]:
    if ENV_ID not in osim_env.registry():
        osim_env.register(ENV_ID, "scenarios.tau_user.env:env")
    if with_tau2:
        from scenarios.tau_user.tau2_domains import tau2_reward
    judge = TauUserJudge(reward="task")
    tasks: list[dict[str, Any]] = []
    for domain in domains:
        for task_id in list(domain_tasks(domain))[:limit]:
            row: dict[str, Any] = {"domain": domain, "task_id": task_id}
            for name, agent, mode in (
                ("oracle", OraclePolicy(), "oracle"),
                ("cannot_help", lambda obs: CANNOT_HELP, "llm"),
            ):
                record = play(domain, task_id, agent, mode)
                reward, cold, warm = grade(judge, record)
                row[f"{name}_osim"], row[f"{name}_osim_cold_s"], row[f"{name}_osim_warm_s"] = (
                    reward,
                    cold,
                    warm,
                )
                if with_tau2 and domain != "bike_rental":
                    row[f"{name}_tau2"], row[f"{name}_tau2_s"] = timed(tau2_reward, record)
            tasks.append(row)
    return summarize(tasks)


def summarize(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    def times(key: str) -> dict[str, float]:
        values = [t[key] for t in tasks if key in t]
        if not values:
            return {}
        return {"mean": statistics.fmean(values), "max": max(values), "median": statistics.median(values)}

    compared = [t for t in tasks if "oracle_tau2" in t]
    gold_ok = [t for t in compared if t["oracle_tau2"] == 1.0]
    return {
        "tasks": len(tasks),
        "oracle_one_where_tau2_grades_gold_one": sum(t["oracle_osim"] == 1.0 for t in gold_ok),
        "tau2_grades_gold_one": len(gold_ok),
        "cannot_help_agreements": sum(t["cannot_help_osim"] == t["cannot_help_tau2"] for t in compared),
        "oracle_agreements": sum(t["oracle_osim"] == t["oracle_tau2"] for t in compared),
        "compared_with_tau2": len(compared),
        "osim_grading_s": {
            "oracle_cold": times("oracle_osim_cold_s"),
            "oracle_warm": times("oracle_osim_warm_s"),
            "cannot_help_cold": times("cannot_help_osim_cold_s"),
            "cannot_help_warm": times("cannot_help_osim_warm_s"),
        },
        "tau2_grading_s": {"oracle": times("oracle_tau2_s"), "cannot_help": times("cannot_help_tau2_s")},
        "per_task": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", nargs="+", default=["airline", "retail"])
    parser.add_argument("--limit", type=int, default=None, help="at most this many tasks per domain")
    parser.add_argument("--no-tau2", action="store_true", help="skip tau2's grader (osim's only)")
    args = parser.parse_args()
    print(json.dumps(run(args.domains, args.limit, not args.no_tau2), indent=1))


if __name__ == "__main__":
    main()
