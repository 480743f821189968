"""osim envs as the data and the reward of RL recipes (GRPO, verbal-feedback RL): one module, no trainer.

Everything goes through the env API itself, so every task works the same way:

- ``observation_prompt``: the chat prompt a role sees for a row and seed, rendered by the env exactly as
  a policy would see it (no model call);
- ``EnvScorer.score``: a single-turn completion scored the way an episode is: reset with the row, step
  the role with the completion, read ``infos[role]["score"]`` / ``["judge_error"]`` at the end. A judge
  failure is an ``Outcome`` with ``score=None`` and the ``error``, never a 0 (README "An env.step loop");
- ``play_episodes``: whole multi-turn episodes in lockstep. The trained model plays one role (the
  *trained role*); the other roles are played by given policies, the task's default policies
  (``default_policies()``) or, for other policy roles, by the same model without being trained on.
  The trained role's tokens are recorded per turn as one sequence: ``prompt_ids`` (its first prompt)
  then ``completion_ids`` with ``env_mask`` 1 on the tokens the model generated and 0 on the tokens
  the env added between its turns (what others said, turn prompts, the chat template's glue);
- ``write_rollouts``: finished episodes into the replay store, one run per training step with the
  step in the run's config (``replays.ReplayStore``), so ``store.summary(run_id)`` reads a curve.

The model sees, at every turn, exactly the token sequence that is trained on: its first observation,
its own raw completions, and after each of them the messages the env rendered for it since (its own
actions are not re-rendered; the turn prompt of a turn stays in the text). The chat template must
render a conversation's prefix as a prefix of the whole (ChatML does; ``learners.chat_tokens``), and
anything else raises ``ValueError`` rather than mis-masking.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import osim_env
from osim_env.data import Scenario
from osim_env.wrappers import call_policy

Messages = list[dict[str, str]]
Generate = Callable[[Sequence[Sequence[int]]], list[list[int]]]
"""Token ids of a completion for each context (token ids), stopping at the end-of-turn token."""


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to set up: env id, data row, seed, the trained role (``None``: the env's first policy
    role), env options (``max_turns``, ``judge_model``, ...) and verbal feedback given at reset (shown to
    the policy roles in their system prompt; verbal-feedback RL's refined rollout)."""

    env_id: str
    scenario: Scenario
    seed: int
    role: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    feedback: str | None = None


@dataclass
class Outcome:
    """How an episode of the trained role ended: ``score`` in [0, 1], or ``None`` with ``error`` (a judge
    error, a failed partner, a single-turn task that did not end); the record and judgments to store."""

    spec: EpisodeSpec
    role: str
    score: float | None
    error: str | None
    record: Any
    judgments: dict[str, Any]
    policies: dict[str, dict[str, Any]]


@dataclass
class EpisodeRollout(Outcome):
    """A multi-turn episode with the trained role's tokens: ``completion_ids`` holds every token after
    its first prompt; ``env_mask[i]`` is 1 where the model generated ``completion_ids[i]``."""

    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    turns: int = 0


def episode_specs(
    env_id: str,
    scenarios: Sequence[Scenario] | None,
    n: int,
    *,
    seed: int = 0,
    role: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[EpisodeSpec]:
    """``n`` specs cycling through ``scenarios`` (the env's fixture rows when ``None``), seeds
    ``seed, seed+1, ...``: a small task is covered row by row."""
    rows = list(scenarios) if scenarios is not None else osim_env.make_raw(env_id).candidate_scenarios()
    if not rows:
        raise ValueError(f"{env_id}: no rows to set episodes up from")
    return [EpisodeSpec(env_id, rows[i % len(rows)], seed + i, role, dict(options or {})) for i in range(n)]


def trained_role(env: Any, role: str | None = None) -> str:
    """The role the model is trained to play: ``role`` if given (it must be a policy role), else the
    first policy role."""
    raw = env.unwrapped
    roles = raw.policy_agents()
    if role is None:
        if not roles:
            raise ValueError(f"{raw.env_id} has no policy role to train")
        return roles[0]
    if role not in env.possible_agents:
        raise ValueError(f"{raw.env_id} has no role {role!r}; roles are {list(env.possible_agents)}")
    return role


class EnvPool:
    """Env instances by (env id, options), reused across episodes so that a task's judge is built once;
    ``take`` hands out an idle one (a new one when all are busy), ``give`` returns it."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[Any]] = {}

    @staticmethod
    def _key(spec: EpisodeSpec) -> tuple[str, str]:
        return spec.env_id, repr(sorted(spec.options.items()))

    def take(self, spec: EpisodeSpec) -> Any:
        idle = self._idle.setdefault(self._key(spec), [])
        env = idle.pop() if idle else osim_env.make(spec.env_id, **dict(spec.options))
        reset: dict[str, Any] = {"scenario": spec.scenario}
        if spec.feedback:
            reset["feedback"] = spec.feedback
        env.reset(seed=spec.seed, options=reset)
        return env

    def give(self, spec: EpisodeSpec, env: Any) -> None:
        self._idle.setdefault(self._key(spec), []).append(env)

    def close(self) -> None:
        for envs in self._idle.values():
            for env in envs:
                env.close()
        self._idle.clear()


def observation_prompt(
    spec: EpisodeSpec, pool: EnvPool | None = None, *, with_feedback: bool = True
) -> Messages:
    """The chat prompt of the trained role at the start of ``spec``'s episode, as the env renders it (with
    its turn prompt when it acts first); ``with_feedback=False`` leaves ``spec.feedback`` out (the prompt
    an exported training example gets)."""
    own = pool is None
    pool = pool or EnvPool()
    env = pool.take(spec)
    try:
        role = trained_role(env, spec.role)
        return [dict(m) for m in env.unwrapped.messages_for(role, with_feedback=with_feedback)]
    finally:
        pool.give(spec, env)
        if own:
            pool.close()


def _finished_outcome(env: Any, spec: EpisodeSpec, role: str, policies: dict[str, dict[str, Any]]) -> Outcome:
    """Read the score of ``role`` from a finished (or failed) episode: a judge error, a failed episode or
    an unjudged one is ``score=None`` with the reason."""
    raw = env.unwrapped
    info = raw.infos.get(role, {})
    score: float | None = None
    error: str | None = None
    if raw.status == "failed":
        error = f"episode failed: {raw.termination}"
    elif info.get("judge_error"):
        error = f"judge error: {info['judge_error']}"
    elif raw.status == "unjudged":
        error = "the episode was not judged (judge=False)"
    elif info.get("score") is None:
        error = f"the judge gave no score for {role!r}"
    else:
        score = float(info["score"])
    return Outcome(spec, role, score, error, raw.episode_record(), dict(raw.judgments), policies)


class EnvScorer:
    """Scores single-turn completions through the env: reset with the row, step the trained role with
    the completion, read its score at the end. Judge warnings become the ``Outcome``'s ``error``."""

    def __init__(self, policy_spec: Mapping[str, Any] | None = None) -> None:
        self.pool = EnvPool()
        self.policy_spec = dict(policy_spec or {"backend": "trained"})

    def score(self, spec: EpisodeSpec, completion: str) -> Outcome:
        env = self.pool.take(spec)
        try:
            role = trained_role(env, spec.role)
            policies = {role: self.policy_spec}
            if env.agent_selection != role:
                raise ValueError(f"{spec.env_id}: {role!r} does not act first; use the multi-turn rollout")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a judge error: recorded in the Outcome
                env.step(completion)
            if env.unwrapped.status == "running":
                env.unwrapped.abort("single-turn scoring: the episode did not end after one action")
            return _finished_outcome(env, spec, role, policies)
        finally:
            self.pool.give(spec, env)

    def close(self) -> None:
        self.pool.close()


# -- multi-turn --------------------------------------------------------------------------------------
def _render(tokenizer: Any, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool) -> str:
    return str(
        tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=generation_prompt
        )
    )


def _prefix_error() -> ValueError:
    return ValueError(
        "the chat template does not render a conversation's prefix as a prefix of it; multi-turn "
        "rollouts need a prefix-preserving template (e.g. ChatML)"
    )


class _Track:
    """The trained role's side of one live episode: the messages it has seen and its token sequence."""

    def __init__(self, spec: EpisodeSpec, env: Any, role: str, tokenizer: Any) -> None:
        self.spec, self.env, self.role, self.tokenizer = spec, env, role, tokenizer
        self.messages: Messages = []
        self.prompt_ids: list[int] = []
        self.completion_ids: list[int] = []
        self.env_mask: list[int] = []
        self.cursor = 0  # log position before the trained role's last action
        self.turns = 0
        self.ended_with_eos = False

    def context(self) -> list[int]:
        """The ids the model continues now: the first prompt, or everything so far plus the env's new
        messages for the trained role (mask 0)."""
        raw = self.env.unwrapped
        if not self.messages:
            self.messages = [dict(m) for m in raw.messages_for(self.role)]
            text = _render(self.tokenizer, self.messages, generation_prompt=True)
            self.prompt_ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            return list(self.prompt_ids)
        before = _render(self.tokenizer, self.messages, generation_prompt=False)
        header = (
            _render(self.tokenizer, self.messages[:-1], generation_prompt=True) + self.messages[-1]["content"]
        )
        if not before.startswith(header):
            raise _prefix_error()
        closing = before[len(header) :]  # the end-of-turn text after the last completion
        eos = self.tokenizer.eos_token or ""
        if self.ended_with_eos and eos and closing.startswith(eos):
            closing = closing[len(eos) :]
        self.messages += self._new_messages(raw)
        after = _render(self.tokenizer, self.messages, generation_prompt=True)
        if not after.startswith(before):
            raise _prefix_error()
        bridge = list(self.tokenizer(closing + after[len(before) :], add_special_tokens=False)["input_ids"])
        self.completion_ids += bridge
        self.env_mask += [0] * len(bridge)
        return self.prompt_ids + self.completion_ids

    def _new_messages(self, raw: Any) -> Messages:
        """What the env rendered for the trained role since its last action, merged like the env merges
        lines, minus its own actions (the model already has their tokens), plus the turn prompt."""
        out: Messages = []
        for event in raw.log[self.cursor :]:
            if event.kind == "feedback" or not event.visible_to(self.role):
                continue
            rendered = raw.render_event(self.role, event)
            if rendered is None:
                continue
            chat_role, text = rendered
            if chat_role == "assistant" and event.source == self.role:
                continue
            if out and out[-1]["role"] == chat_role:
                out[-1] = {"role": chat_role, "content": f"{out[-1]['content']}\n{text}"}
            else:
                out.append({"role": chat_role, "content": text})
        prompt = raw.turn_prompt(self.role)
        if prompt:
            if out and out[-1]["role"] == "user":
                out[-1] = {"role": "user", "content": f"{out[-1]['content']}\n\n{prompt}"}
            else:
                out.append({"role": "user", "content": prompt})
        return out

    def act(self, generated: Sequence[int]) -> None:
        """Append the model's tokens (mask 1) and step the env with their text."""
        ids = list(generated)
        eos_id = self.tokenizer.eos_token_id
        self.ended_with_eos = bool(ids) and ids[-1] == eos_id
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        self.completion_ids += ids
        self.env_mask += [1] * len(ids)
        self.messages.append({"role": "assistant", "content": text})
        self.cursor = len(self.env.unwrapped.log)
        self.turns += 1
        self.env.step(text)


def _default_others(env: Any, role: str, others: Mapping[str, Any], cache: dict[str, Any]) -> dict[str, Any]:
    """Who plays each role but the trained one: ``others``, else the task's default policy (parsed once
    per spec), else ``None`` (another policy role: the trained model plays it, untrained)."""
    defaults = env.unwrapped.default_policies()
    out: dict[str, Any] = {}
    for agent in env.possible_agents:
        if agent == role:
            continue
        if agent in others:
            out[agent] = others[agent]
        elif agent in defaults:
            out[agent] = cached_policy(defaults[agent], cache)
        else:
            out[agent] = None
    return out


def cached_policy(spec: Any, cache: dict[str, Any]) -> Any:
    """A policy spec string parsed once per ``cache`` (a policy object is returned as it is)."""
    from policies import parse_spec

    if not isinstance(spec, str):
        return spec
    if spec not in cache:
        cache[spec] = parse_spec(spec)
    return cache[spec]


def _spec_of(policy: Any) -> dict[str, Any]:
    spec = getattr(policy, "spec", None)
    if spec is not None and hasattr(spec, "model_dump"):
        return dict(spec.model_dump(mode="json"))
    if isinstance(spec, Mapping):
        return dict(spec)
    return {"backend": "callable", "model": getattr(policy, "__qualname__", type(policy).__name__)}


def _advance(
    env: Any, role: str, players: Mapping[str, Any], self_play: list[Any], generate: Generate
) -> None:
    """Step the other roles until the trained role acts or the episode ends. A role played by the trained
    model (``players[agent] is None``) is generated from its own rendered prompt, outside the loss. A
    failing policy fails the episode (its reason recorded), never becomes text."""
    raw = env.unwrapped
    while env.agents and raw.status == "running":
        agent = env.agent_selection
        if agent == role:
            return
        policy = players.get(agent)
        try:
            if policy is None:
                action = self_play[0](env, agent, generate)
            else:
                action = call_policy(policy, env.observe(agent))
        except Exception as exc:
            raw.abort(f"policy for {agent!r} failed: {type(exc).__name__}: {exc}")
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # judge errors are read from infos
            env.step(action)


def _self_play_turn(tokenizer: Any) -> Callable[[Any, str, Generate], str]:
    def turn(env: Any, agent: str, generate: Generate) -> str:
        text = _render(tokenizer, env.unwrapped.messages_for(agent), generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return str(tokenizer.decode(generate([ids])[0], skip_special_tokens=True))

    return turn


def play_episodes(
    specs: Sequence[EpisodeSpec],
    generate: Generate,
    tokenizer: Any,
    *,
    others: Mapping[str, Any] | None = None,
    max_total_tokens: int | None = None,
    max_new_tokens: int = 0,
    pool: EnvPool | None = None,
    policy_spec: Mapping[str, Any] | None = None,
) -> list[EpisodeRollout]:
    """Play every spec's episode to its end, batching the trained role's turns across episodes (one
    ``generate`` call per round). ``others`` maps roles to policies (anything ``call_policy`` takes).
    An episode whose sequence would pass ``max_total_tokens`` (counting ``max_new_tokens`` for the next
    turn) is ended as failed (no score)."""
    own_pool = pool is None
    pool = pool or EnvPool()
    cache: dict[str, Any] = {}
    self_play = [_self_play_turn(tokenizer)]
    tracks: list[_Track] = []
    players: list[dict[str, Any]] = []
    try:
        for spec in specs:
            env = pool.take(spec)
            role = trained_role(env, spec.role)
            tracks.append(_Track(spec, env, role, tokenizer))
            players.append(_default_others(env, role, others or {}, cache))
        while True:
            waiting: list[tuple[_Track, list[int]]] = []
            for track, who in zip(tracks, players, strict=True):
                _advance(track.env, track.role, who, self_play, generate)
                raw = track.env.unwrapped
                if raw.status != "running":
                    continue
                context = track.context()
                if max_total_tokens is not None and len(context) + max_new_tokens > max_total_tokens:
                    raw.abort(f"the trained role's sequence would pass {max_total_tokens} tokens")
                    continue
                waiting.append((track, context))
            if not waiting:
                break
            for (track, _), ids in zip(waiting, generate([c for _, c in waiting]), strict=True):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    track.act(ids)
        out = []
        trained = dict(policy_spec or {"backend": "trained"})
        for track, who in zip(tracks, players, strict=True):
            policies = {track.role: trained} | {
                a: (trained if p is None else _spec_of(p)) for a, p in who.items() if a in track.env.agents
            }
            outcome = _finished_outcome(track.env, track.spec, track.role, policies)
            out.append(
                EpisodeRollout(
                    **vars(outcome),
                    prompt_ids=track.prompt_ids,
                    completion_ids=track.completion_ids,
                    env_mask=track.env_mask,
                    turns=track.turns,
                )
            )
        return out
    finally:
        for track in tracks:
            pool.give(track.spec, track.env)
        if own_pool:
            pool.close()


def hf_generator(
    model: Any,
    tokenizer: Any,
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
) -> Generate:
    """A ``Generate`` on a transformers model: one left-padded sampled batch per call; each result ends
    at (and includes) the first end-of-turn token (the tokenizer's or one the model's generation config
    names), or after ``max_new_tokens``. Seed torch for repeatability."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    configured = configured if isinstance(configured, list) else [configured]
    eos = [t for t in dict.fromkeys([tokenizer.eos_token_id, *configured]) if t is not None]

    def generate(contexts: Sequence[Sequence[int]]) -> list[list[int]]:
        import torch

        if not contexts:
            return []
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        width = max(len(c) for c in contexts)
        ids = torch.tensor([[pad] * (width - len(c)) + list(c) for c in contexts], device=model.device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=model.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=top_k,  # 0: no top-k cut (not the model's generation_config default)
                    max_new_tokens=max_new_tokens,
                    pad_token_id=pad,
                    eos_token_id=eos,
                )
        finally:
            model.train(was_training)
        rows = out[:, width:].tolist()
        return [row[: next((k + 1 for k, t in enumerate(row) if t in eos), len(row))] for row in rows]

    return generate


# -- the replay store ----------------------------------------------------------------------------------
def write_rollouts(store: Any, outcomes: Iterable[Outcome], *, step: int, config: Mapping[str, Any]) -> str:
    """Write finished episodes to the replay store (a path or an open ``ReplayStore``) as one run whose
    config is ``config`` plus ``{"step": step}``; returns the run id. Episode ids are a hash of (env,
    row, seed), so give the episodes of one step distinct seeds."""
    from replays import EpisodeResult, ReplayStore

    results = [
        EpisodeResult(record=o.record, reason=o.error, judgments=dict(o.judgments), policies=dict(o.policies))
        for o in outcomes
    ]
    run_config = {**dict(config), "step": int(step)}
    if isinstance(store, ReplayStore):
        run_id = store.start_run(run_config)
        store.write(run_id, results)
        return run_id
    with ReplayStore(store) as opened:
        run_id = opened.start_run(run_config)
        opened.write(run_id, results)
    return run_id
