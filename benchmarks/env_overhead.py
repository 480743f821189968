"""Env overhead: steps/s of a Sotopia episode loop vs PettingZoo's rps_v2 raw AEC loop.

Both loops run in this process with instant policies (Sotopia: scripted JSON actions cycled;
rps: ``action_space(agent).sample()``, PettingZoo's random-action loop), no judging, so the
figure is the cost of the env itself: parsing, the event log, scheduling and rendering
observations. Prints one JSON object.
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
    args = parser.parse_args()
    rps_steps_per_s(0.2)  # warm-up
    sotopia_steps_per_s(0.2)
    # Interleave short rounds so that background load hits both loops alike; report medians.
    osim_rates, rps_rates, ratios = [], [], []
    for _ in range(args.rounds):
        osim_rate, _ = sotopia_steps_per_s(args.seconds)
        rps_rate, _ = rps_steps_per_s(args.seconds)
        osim_rates.append(osim_rate)
        rps_rates.append(rps_rate)
        ratios.append(osim_rate / rps_rate)
    print(
        json.dumps(
            {
                "osim_steps_per_s": round(statistics.median(osim_rates), 1),
                "pettingzoo_rps_steps_per_s": round(statistics.median(rps_rates), 1),
                "ratio": round(statistics.median(ratios), 3),
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
