"""Env overhead: steps/s of a Sotopia episode loop and a CoSER episode loop vs PettingZoo's rps_v2
raw AEC loop.

The loops run in this process with instant policies (Sotopia: scripted JSON actions cycled; CoSER:
four roles, two characters, the environment and the director, with scripted lines and director
choices, some of them falling back; rps: ``action_space(agent).sample()``, PettingZoo's
random-action loop), no judging, so the figure is the cost of the env itself: parsing, the event
log, scheduling and rendering observations. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pettingzoo.classic import rps_v2

import osim_env


def sotopia_steps_per_s(min_seconds: float) -> tuple[float, int]:
    env = osim_env.make_raw("soul/sotopia-v0", scenario=0, judge=False)
    actions = [
        '{"action_type": "speak", "argument": "I could go to 120 if you throw in the records."}',
        '{"action_type": "non-verbal communication", "argument": "raises an eyebrow"}',
    ]
    steps, seed = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        env.reset(seed=seed)
        seed += 1
        for _agent in env.agent_iter():
            obs, reward, terminated, truncated, info = env.last()
            env.step(None if terminated or truncated else actions[steps % 2])
            steps += 1
    return steps / (time.perf_counter() - start), steps


COSER_LINES = {
    "character:Hedda": "[He is hiding something.] The wax is still warm, Master. (holds up the letter)",
    "character:Master Aurel": "Warm wax proves nothing, child. (turns back to the gears)",
    "environment": "Snow piles against the window; the stove ticks.",
}
# Valid choices, the current speaker (a fallback), an early end (refused before round 5), the end.
DIRECTOR_LINES = (
    "Hedda presses on.\nNext Speaker: Master Aurel",
    "Next Speaker: Environment",
    "Next Speaker: Environment",
    "Next Speaker: Hedda",
    "<END CHAT>",
    "Next Speaker: Master Aurel",
)


def coser_steps_per_s(min_seconds: float, max_rounds: int) -> tuple[float, int]:
    """Fixture row 0 (Hedda, Master Aurel, the environment, the director): a director turn after
    every round; ``max_rounds`` rounds unless the director ends the scene first."""
    env = osim_env.make_raw("soul/coser-v0", scenario=0, judge=False, max_rounds=max_rounds)
    steps, seed, choice = 0, 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        env.reset(seed=seed)
        seed += 1
        for agent in env.agent_iter():
            obs, reward, terminated, truncated, info = env.last()
            if terminated or truncated:
                action = None
            elif agent == "director":
                action, choice = DIRECTOR_LINES[choice % len(DIRECTOR_LINES)], choice + 1
            else:
                action = COSER_LINES[agent]
            env.step(action)
            steps += 1
    return steps / (time.perf_counter() - start), steps


def rps_steps_per_s(min_seconds: float) -> tuple[float, int]:
    env = rps_v2.raw_env(num_actions=3, max_cycles=20)
    steps, seed = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        env.reset(seed=seed)
        seed += 1
        for agent in env.agent_iter():
            obs, reward, terminated, truncated, info = env.last()
            env.step(None if terminated or truncated else env.action_space(agent).sample())
            steps += 1
    return steps / (time.perf_counter() - start), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="seconds per loop per round")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (the median is reported)")
    parser.add_argument("--coser-max-rounds", type=int, default=20, help="CoSER scene length (max_rounds)")
    args = parser.parse_args()
    rps_steps_per_s(0.2)  # warm-up
    sotopia_steps_per_s(0.2)
    coser_steps_per_s(0.2, args.coser_max_rounds)
    # Interleave short rounds so that background load hits every loop alike; report medians.
    osim_rates, coser_rates, rps_rates, ratios, coser_ratios = [], [], [], [], []
    for _ in range(args.rounds):
        osim_rate, _ = sotopia_steps_per_s(args.seconds)
        coser_rate, _ = coser_steps_per_s(args.seconds, args.coser_max_rounds)
        rps_rate, _ = rps_steps_per_s(args.seconds)
        osim_rates.append(osim_rate)
        coser_rates.append(coser_rate)
        rps_rates.append(rps_rate)
        ratios.append(osim_rate / rps_rate)
        coser_ratios.append(coser_rate / rps_rate)
    print(
        json.dumps(
            {
                "osim_steps_per_s": round(statistics.median(osim_rates), 1),
                "pettingzoo_rps_steps_per_s": round(statistics.median(rps_rates), 1),
                "ratio": round(statistics.median(ratios), 3),
                "coser_steps_per_s": round(statistics.median(coser_rates), 1),
                "coser_ratio": round(statistics.median(coser_ratios), 3),
                "coser_max_rounds": args.coser_max_rounds,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
