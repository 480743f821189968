"""Rollouts for verbal-feedback RL: episodes of an osim env played by the model being trained.

Several episodes of one scenario run in lockstep (one batched ``generate`` per round over the episodes
whose turn it is); the auxiliary roles (partners, narrators, directors) are played by the env's default
policies, and envs come from ``learners.env_rollouts.EnvPool`` (reused, so a task's judge is built
once). Every turn of a policy-played agent is recorded twice: the prompt it saw and the same prompt
rendered without privileged feedback (``messages_for(agent, with_feedback=False)``), with the generated
token ids, so a refined rollout can be trained under x as well as under (x, h).
An episode that failed, or whose judge failed, carries ``error`` and no reward.

``learners.env_rollouts`` (the GRPO recipe's) trains one role per episode, as one token sequence
from its first prompt; Ditto needs more than that: every policy-played agent of an episode (CoSER's
characters), and every turn's prompt rendered both with and without the privileged feedback (the joint
group trains refined samples under x, the feedback group under (x, h)). So turns are recorded here with
both renderings, and the episode's outcome is read from its judgments the same way: a failed episode or
judge is ``error``, never a reward.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from learners.env_rollouts import EnvPool, EpisodeSpec, cached_policy, hf_generator
from osim_env.data import Scenario
from osim_env.episode import EpisodeRecord
from osim_env.seeding import derive_seed
from osim_env.wrappers import call_policy

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Turn:
    """One action of a policy-played agent: the prompt under x, the prompt as seen (with feedback on a
    refined rollout), the generated token ids and their text."""

    agent: str
    prompt: Messages
    prompt_seen: Messages
    completion_ids: tuple[int, ...]
    text: str


@dataclass
class Rollout:
    """One episode: its seed, the feedback it was given (refined rollouts), its turns and outcome."""

    seed: int
    feedback: str | None
    turns: list[Turn] = field(default_factory=list)
    reward: float | None = None
    error: str | None = None
    record: EpisodeRecord | None = None
    judgment: Any = None  # the first judged policy agent's Judgment (what the feedback writer reads)
    refined_seed: int = 0  # the seed of this draft's refined rollout (derived from the seed and "refined")


class Generator:
    """Batched sampling for chat prompts (``learners.env_rollouts.hf_generator``), seeded per call."""

    def __init__(
        self, model: Any, tokenizer: Any, *, max_new_tokens: int = 64, temperature: float = 1.0
    ) -> None:
        self.tokenizer = tokenizer
        self._generate = hf_generator(
            model, tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, top_p=1.0, top_k=0
        )

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(str(text), add_special_tokens=False)["input_ids"])

    def __call__(self, prompts: Sequence[Messages], seed: int) -> list[tuple[tuple[int, ...], str]]:
        """(completion token ids up to and including the first end-of-sequence token, text) per prompt."""
        import torch

        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            rows = self._generate([self.prompt_ids(p) for p in prompts])
        finally:
            torch.random.set_rng_state(state)
        return [(tuple(row), self.tokenizer.decode(row, skip_special_tokens=True)) for row in rows]


Generate = Callable[[Sequence[Messages], int], list[tuple[tuple[int, ...], str]]]


def play(
    env_id: str,
    scenario: Any,
    seeds: Sequence[int],
    generate: Generate,
    *,
    feedbacks: Sequence[str | None] | None = None,
    env_options: dict[str, Any] | None = None,
    auxiliary: dict[str, Any] | None = None,
    pool: Any = None,
    judge: Any = None,
    sample_seed: int = 0,
) -> list[Rollout]:
    """Play one episode of ``scenario`` (a row, a fixture index or a ``Scenario``) per seed, with
    ``feedbacks[i]`` as the private feedback event of episode i, if any; the policy roles are sampled
    from ``generate``, the auxiliary roles played by the env's default policies. ``auxiliary`` caches
    those policies by spec (and the task's judge) and ``pool`` (``learners.env_rollouts.EnvPool``) the
    envs between calls. ``judge`` (default: the task's own, unless the ``judge`` env option is given)
    scores the finished episodes of the call together (``judge_batch``: concurrent calls for an LLM
    judge), not one by one inside each env."""
    import osim_env

    options = dict(env_options or {})
    if not isinstance(scenario, Scenario):
        scenario = osim_env.make_raw(env_id, scenario=scenario, **options).candidate_scenarios()[0]
    feedbacks = list(feedbacks) if feedbacks is not None else [None] * len(seeds)
    cache = auxiliary if auxiliary is not None else {}
    if judge is None and "judge" not in options:  # the task's default judge, built once
        key = f"judge:{env_id}:{sorted(options.items())!r}"
        if key not in cache:
            cache[key] = osim_env.make_raw(env_id, **options).default_judge()
        judge = cache[key]
    if judge:
        options["judge"] = False  # judged below, in one batch
    own_pool = pool is None
    pool = pool or EnvPool()
    specs = [
        EpisodeSpec(env_id, scenario, seed, None, options, feedback)
        for seed, feedback in zip(seeds, feedbacks, strict=True)
    ]
    envs = [pool.take(spec) for spec in specs]
    rollouts = [Rollout(seed=spec.seed, feedback=spec.feedback) for spec in specs]
    try:
        players = [_auxiliary_policies(env, cache) for env in envs]
        for round_ in range(10_000):
            acting = [i for i, env in enumerate(envs) if _advance(env, players[i])]
            if not acting:
                break
            raws = [envs[i].unwrapped for i in acting]
            agents = [raw.agent_selection for raw in raws]
            seen = [[dict(m) for m in raw.messages_for(a)] for raw, a in zip(raws, agents)]
            plain = [
                [dict(m) for m in raw.messages_for(a, with_feedback=False)] for raw, a in zip(raws, agents)
            ]
            outputs = generate(seen, derive_seed(sample_seed, round_))
            for i, agent, x, xh, (ids, text) in zip(acting, agents, plain, seen, outputs):
                rollouts[i].turns.append(Turn(agent, x, xh, ids, text))
                _step(envs[i], text)
        raws = [env.unwrapped for env in envs]
        judgments = _judge_all(judge, raws) if judge else [None] * len(raws)
        for raw, rollout, judged in zip(raws, rollouts, judgments):
            _finish(raw, rollout, judged)
    finally:
        for spec, env in zip(specs, envs):
            pool.give(spec, env)
        if own_pool:
            pool.close()
    return rollouts


def _auxiliary_policies(env: Any, cache: dict[str, Any]) -> dict[str, Any]:
    """The env's default policy of each auxiliary role, parsed once per spec."""
    return {role: cached_policy(spec, cache) for role, spec in env.unwrapped.default_policies().items()}


def _step(env: Any, action: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a judge error: read into Rollout.error
        env.step(action)


def _advance(env: Any, players: dict[str, Any]) -> bool:
    """Play the auxiliary roles (and step past finished agents) until a policy agent is to act: True,
    or the episode is over: False. A failing auxiliary policy fails the episode with the reason."""
    raw = env.unwrapped
    policy_agents = set(raw.policy_agents())
    while env.agents:
        agent = env.agent_selection
        if env.terminations[agent] or env.truncations[agent]:
            _step(env, None)
            continue
        if agent in policy_agents:
            return True
        if agent not in players:
            raw.abort(f"no policy for the auxiliary role {agent!r}")
            continue
        try:
            action = call_policy(players[agent], env.observe(agent))
        except Exception as exc:  # the episode fails; never text in the conversation
            raw.abort(f"policy for {agent!r} failed: {type(exc).__name__}: {exc}")
            continue
        _step(env, action)
    return False


def _judge_all(judge: Any, raws: Sequence[Any]) -> list[Any]:
    """Judgments ({agent: Judgment}) of the finished episodes, in one ``judge_batch`` where the judge has
    one; a judge that raises gives each episode the reason (a str) instead. Failed episodes: ``None``."""
    from osim_env.aio import run_sync

    index = [i for i, raw in enumerate(raws) if raw.status != "failed"]
    records = [raws[i].episode_record() for i in index]
    out: list[Any] = [None] * len(raws)
    try:
        if hasattr(judge, "judge_batch"):
            results = list(run_sync(judge.judge_batch(records)))
        else:
            results = [
                judge.judge_episode(r) if hasattr(judge, "judge_episode") else judge(r) for r in records
            ]
    except Exception as exc:  # never a score: every episode of the batch gets the error
        results = [f"the judge raised {type(exc).__name__}: {exc}"] * len(records)
    for i, result in zip(index, results):
        out[i] = result
    return out


def _finish(raw: Any, rollout: Rollout, judgments: Any = None) -> None:
    """Reward (mean score of the judged policy agents), error, record and judgment of a finished episode;
    ``judgments``: the batch judge's result for it (else the env's own judgments are read)."""
    rollout.record = raw.episode_record()
    rollout.refined_seed = raw.component_seed("refined")
    if raw.status == "failed":
        rollout.error = f"episode failed: {raw.termination}"
        return
    if isinstance(judgments, str):
        rollout.error = f"judge failed: {judgments}"
        return
    judgments = raw.judgments if judgments is None else judgments
    judged = [judgments[a] for a in raw.policy_agents() if a in judgments]
    if not judged:
        rollout.error = "no judgment of a policy agent"
        return
    rollout.judgment = judged[0]
    failed = [j for j in judged if j.error is not None or j.score is None]
    if failed:
        rollout.error = f"judge failed: {failed[0].error}"
        return
    rollout.reward = sum(float(j.score) for j in judged) / len(judged)
