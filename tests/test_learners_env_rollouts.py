"""``learners.env_rollouts``: prompts rendered by the env, single-turn scoring through the env (a judge
error is no score), multi-turn episodes whose trained tokens are exactly the model's own, the store."""

from __future__ import annotations

import json

import pytest

import osim_env
from judges.judgment import Judgment
from learners.env_rollouts import (
    EnvScorer,
    EpisodeSpec,
    episode_specs,
    hf_generator,
    observation_prompt,
    play_episodes,
    write_rollouts,
)
from replays import ReplayStore


def fake_failing_judge(record):
    """A fake judge that fails: the fault a real rule judge cannot be made to produce."""
    raise RuntimeError("judge backend down")


def fake_length_judge(record):
    """A fake rule judge: the trained agent's score is its number of valid actions / 10."""
    acts = [e for e in record.events if e.source == "agent1" and e.kind == "message"]
    return {"agent1": Judgment(agent="agent1", score=min(1.0, len(acts) / 10), judge={"kind": "fake-length"})}


def test_specs_cycle_rows_and_prompts_are_the_envs_rendering():
    rows = osim_env.make_raw("soul/hitom-v0").candidate_scenarios()
    specs = episode_specs("soul/hitom-v0", None, len(rows) + 1, seed=7)
    assert [s.seed for s in specs] == list(range(7, 8 + len(rows)))
    assert specs[len(rows)].scenario.scenario_id == rows[0].scenario_id
    env = osim_env.make("soul/hitom-v0", scenario=rows[1])
    env.reset(seed=8)
    assert observation_prompt(specs[1]) == env.observe("answerer")["messages"]
    noted = EpisodeSpec("soul/hitom-v0", rows[1], 8, feedback="Track who saw the move.")
    assert "Track who saw the move." in json.dumps(observation_prompt(noted))
    assert observation_prompt(noted, with_feedback=False) == observation_prompt(specs[1])


def test_single_turn_scores_come_from_the_env_and_a_judge_error_is_no_score():
    spec = episode_specs("soul/hitom-v0", None, 1)[0]
    gold = spec.scenario.row.gold
    wrong = next(letter for letter in "ABCD" if letter != gold)
    scorer = EnvScorer()
    right = scorer.score(spec, f"Because... <answer>{gold}</answer>")
    assert (right.score, right.error, right.role) == (1.0, None, "answerer")
    assert scorer.score(spec, f"<answer>{wrong}</answer>").score == 0.0
    assert scorer.score(spec, "no idea").score == 0.0  # an invalid answer is a real 0, not an error
    broken = EnvScorer().score(EpisodeSpec(**{**vars(spec), "options": {"judge": fake_failing_judge}}), "x")
    assert broken.score is None and "judge backend down" in broken.error
    assert broken.record.status == "judge_error"


def scripted_generate(tokenizer, calls):
    """A deterministic ``Generate``: the n-th call answers every context with the n-th JSON action and
    records the contexts it was given."""

    def generate(contexts):
        calls.append([list(c) for c in contexts])
        text = json.dumps({"action_type": "speak", "argument": f"offer {len(calls)}"})
        return [tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]] * len(
            contexts
        )

    return generate


def partner(observation):
    return json.dumps({"action_type": "speak", "argument": "PARTNER LINE"})


def test_multi_turn_tokens_are_the_models_own_and_the_loss_mask_covers_only_them(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    specs = episode_specs(
        "soul/sotopia-v0",
        None,
        2,
        seed=3,
        options={"max_turns": 6, "eval_position": "agent1", "judge": fake_length_judge},
    )
    calls: list = []
    rollouts = play_episodes(
        specs, scripted_generate(tokenizer, calls), tokenizer, others={"agent2": partner}
    )
    assert len(calls) == 3 and all(len(c) == 2 for c in calls)  # both episodes' turns in one batch
    for k, rollout in enumerate(rollouts):
        assert rollout.role == "agent1" and rollout.turns == 3 and rollout.error is None
        assert rollout.score == pytest.approx(0.3)
        assert rollout.policies["agent2"]["backend"] == "callable"
        learned = [t for t, m in zip(rollout.completion_ids, rollout.env_mask) if m]
        own = "".join(
            json.dumps({"action_type": "speak", "argument": f"offer {n}"}) + "<|im_end|>" for n in (1, 2, 3)
        )
        assert tokenizer.decode(learned) == own
        context = [t for t, m in zip(rollout.completion_ids, rollout.env_mask) if not m]
        assert "PARTNER LINE" in tokenizer.decode(context) and "offer" not in tokenizer.decode(context)
        # Every turn's context is a prefix of the final sequence: what the model saw is what is trained.
        sequence = rollout.prompt_ids + rollout.completion_ids
        for turn_calls in calls:
            assert sequence[: len(turn_calls[k])] == turn_calls[k]
        assert calls[0][k] == rollout.prompt_ids
        assert rollout.record.status == "ok" and len(rollout.record.events) > 6


def test_a_too_long_episode_fails_without_a_score_and_is_stored_with_its_step(tmp_path, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    generate = hf_generator(model, tokenizer, max_new_tokens=8)
    spec = episode_specs(
        "soul/sotopia-v0",
        None,
        1,
        options={"max_turns": 4, "eval_position": "agent1", "judge": fake_length_judge},
    )[0]
    full = play_episodes([spec], generate, tokenizer, others={"agent2": partner})[0]
    assert full.turns == 2 and full.score is not None and 0 < sum(full.env_mask) <= 16
    budget = len(full.prompt_ids) + 10
    cut = play_episodes([spec], generate, tokenizer, others={"agent2": partner}, max_total_tokens=budget,
                        max_new_tokens=8)[0]  # fmt: skip
    assert cut.score is None and "would pass" in cut.error and cut.record.status == "failed"
    store = tmp_path / "rollouts.duckdb"
    run_a = write_rollouts(str(store), [full], step=0, config={"purpose": "test"})
    run_b = write_rollouts(str(store), [cut], step=5, config={"purpose": "test"})
    with ReplayStore(str(store), read_only=True) as replay:
        assert replay.run_config(run_b) == {"purpose": "test", "step": 5}
        assert replay.summary(run_a)["ok"].iloc[0] == 1
        assert replay.summary(run_b)["failed"].iloc[0] == 1


def own_runs(ids: list[int], mask: list[int]) -> list[list[int]]:
    """The maximal runs of ids whose mask is 1 (one per turn of the trained role)."""
    runs: list[list[int]] = []
    previous = 0
    for token, m in zip(ids, mask):
        if m and not previous:
            runs.append([])
        if m:
            runs[-1].append(token)
        previous = m
    return runs


@pytest.mark.parametrize(
    ("env_id", "options"),
    [
        ("soul/mirrorbench-v0", {"max_turns": 6}),
        ("soul/tau-user-v0", {"max_turns": 6}),
        ("soul/coser-v0", {"max_turns": 6, "max_rounds": 3}),  # other characters: the model, untrained
    ],
)
def test_every_multi_turn_task_plays_with_the_model_and_masks_its_turns(tiny_model_dir, env_id, options):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from judges.rules import LexicalDiversityJudge

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    specs = episode_specs(env_id, None, 2, options={**options, "judge": LexicalDiversityJudge()})
    rollouts = play_episodes(specs, hf_generator(model, tokenizer, max_new_tokens=8), tokenizer)
    for rollout in rollouts:
        assert rollout.record.status == "ok" and rollout.score is not None and rollout.turns >= 1
        actions = [
            e.payload["raw"] for e in rollout.record.events if e.source == rollout.role and "raw" in e.payload
        ]
        runs = own_runs(rollout.completion_ids, rollout.env_mask)
        assert [tokenizer.decode(r, skip_special_tokens=True) for r in runs] == actions
        assert len(runs) == rollout.turns and all(len(r) <= 8 for r in runs)
