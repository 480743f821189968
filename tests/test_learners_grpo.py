"""``learners.grpo``: a real learning signal on a learnable reward (single-turn, TRL's GRPOTrainer), and
multi-turn GRPO on Sotopia end to end: TRL's loss mask is exactly the model's own tokens, every episode
is in the replay store with its training step, a judge error gives no reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_learners_env_rollouts import own_runs  # the trained role's turns in a masked sequence

from judges.rules import LexicalDiversityJudge
from learners.env_rollouts import EnvScorer, episode_specs, hf_generator, observation_prompt
from learners.grpo import GRPORecipeConfig, GRPOStats, build_trainer, train_grpo
from learners.sft import SFTRecipeConfig, train_sft
from replays import ReplayStore
from scenarios.hitom import load as load_hitom

PLACES = [
    "attic_box",
    "red_tin",
    "oak_chest",
    "blue_jar",
    "glass_case",
    "straw_basket",
    "tool_rack",
    "seed_drawer",
]
NAMES = ["Ines", "Tobi", "Mila", "Oren", "Pau", "Kemi", "Lis", "Wen"]
QUIET = {"save_steps": 1000, "progress": False, "logging_steps": 1}


def constant_gold_rows(path: Path) -> Path:
    """Hi-ToM-style rows whose gold is always option B: a reward a policy can learn without reading."""
    rows = []
    for i in range(8):
        who, other = NAMES[i], NAMES[(i + 3) % 8]
        options = [PLACES[(i + k) % 8] for k in range(4)]
        rows.append(
            {
                "story": f"1 {who} and {other} came in. 2 The key is in the {options[1]}. 3 {who} left",
                "question": f"Where does {who} think the key is?",
                "choices": ", ".join(f"{letter}. {o}" for letter, o in zip("ABCD", options)),
                "correct_answer": options[1],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sampled_accuracy(model_dir: str, specs, *, samples: int = 4) -> float:
    """Mean env score of ``samples`` sampled answers (temperature 1, seeded) per spec."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(123)
    generate = hf_generator(model, tokenizer, max_new_tokens=8)
    scorer = EnvScorer()
    scores = []
    for spec in specs:
        text = tokenizer.apply_chat_template(
            observation_prompt(spec), tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for out in generate([ids] * samples):
            scores.append(scorer.score(spec, tokenizer.decode(out, skip_special_tokens=True)).score)
    return sum(scores) / len(scores)


def test_grpo_raises_the_reward_of_a_format_taught_model(tmp_path):
    rows = load_hitom(str(constant_gold_rows(tmp_path / "rows.jsonl")))
    assert {r.row.gold for r in rows} == {"B"}
    specs = episode_specs("soul/hitom-v0", rows, len(rows))
    # SFT first teaches the answer format, with the four letters equally often (no preference for B).
    answers = [{"role": "assistant", "content": f"<answer>{letter}</answer>"} for letter in "ABCD"]
    chats = [{"data_source": "fmt", "messages": [*observation_prompt(s), a]} for s in specs for a in answers]
    (tmp_path / "fmt.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    sft = train_sft(
        SFTRecipeConfig(
            data=[str(tmp_path / "fmt.jsonl")], model="tiny", output_dir=str(tmp_path / "sft"), max_steps=20,
            learning_rate=3e-3, per_device_train_batch_size=8, max_length=1024, **QUIET,
        )
    )  # fmt: skip
    before = sampled_accuracy(sft["model"], specs[:4])
    summary = train_grpo(
        GRPORecipeConfig(
            env="soul/hitom-v0", model=sft["model"], output_dir=str(tmp_path / "grpo"), max_steps=12,
            prompts=8, num_generations=8, per_device_train_batch_size=16, max_completion_length=8,
            learning_rate=1e-3, **QUIET,
        ),
        scenarios=rows,
    )  # fmt: skip
    rewards = [r["reward"] for r in summary["rewards"]]
    assert len(rewards) == 12 and summary["mode"] == "single"
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.25, rewards
    after = sampled_accuracy(summary["model"], specs[:4])
    assert after > before + 0.2, (before, after)
    assert summary["samples"] == 12 * 16 and summary["excluded_samples"] == 0


def test_stats_exclude_unscored_samples_and_count_groups_without_signal():
    stats = GRPOStats()
    stats.add(
        [1.0, 0.0, None, 1.0, None, None, 0.5, 0.5],
        [None, None, "judge error: x", None, "e", "e", None, None],
        2,
    )
    assert (stats.samples, stats.excluded, stats.groups, stats.groups_skipped) == (8, 3, 4, 3)
    assert stats.errors == ["judge error: x", "e", "e"]


def lexical_rollout_config(tmp_path: Path, **kw) -> GRPORecipeConfig:
    base = dict(
        env="soul/sotopia-v0", model="tiny", output_dir=str(tmp_path / "out"), max_steps=2, prompts=2,
        num_generations=2, per_device_train_batch_size=2, max_completion_length=8, learning_rate=1e-3,
        option=["max_turns=4", "eval_position=agent1"], partner=["agent2=tiny?max_new_tokens=8"],
        store=str(tmp_path / "rollouts.duckdb"), **QUIET,
    )  # fmt: skip
    return GRPORecipeConfig(**{**base, **kw})


def test_multi_turn_grpo_masks_everything_but_the_models_turns(tmp_path):
    import torch

    config = lexical_rollout_config(tmp_path)
    trainer, tokenizer, data, stats = build_trainer(config, env_kwargs={"judge": LexicalDiversityJudge()})
    assert data.mode == "multi"
    batch = [data.dataset()[i] for i in (0, 0)]  # one group: the prompt twice, as TRL's sampler gives it
    out = trainer._generate_and_score_completions(batch)
    loss_mask = (out["completion_mask"] * out["tool_mask"]).tolist()
    with ReplayStore(config.store, read_only=True) as store:
        episodes = store.episodes(stats.rollout_runs[0])
        assert store.run_config(stats.rollout_runs[0])["step"] == 0
        for row, ids, mask in zip(episodes.itertuples(), out["completion_ids"].tolist(), loss_mask):
            events = store.episode(row.episode_id).events
            actions = [e.payload["raw"] for e in events if e.source == "agent1" and "raw" in e.payload]
            learned = [tokenizer.decode(run, skip_special_tokens=True) for run in own_runs(ids, mask)]
            assert learned == actions and len(actions) == 2  # agent1 acts on turns 1 and 3 of 4
    assert len(episodes) == 2 and set(episodes["status"]) == {"ok"}
    assert torch.isfinite(out["advantages"]).all()
    assert stats.samples == 2 and stats.excluded == 0


def test_multi_turn_grpo_trains_end_to_end_and_stores_every_episode_with_its_step(tmp_path):
    summary = train_grpo(lexical_rollout_config(tmp_path), env_kwargs={"judge": LexicalDiversityJudge()})
    assert summary["steps"] == 2 and summary["mode"] == "multi"
    assert summary["samples"] == 4 and summary["excluded_samples"] == 0
    assert all(r["reward"] is not None for r in summary["rewards"])
    with ReplayStore(str(tmp_path / "rollouts.duckdb"), read_only=True) as store:
        steps = sorted(store.run_config(r)["step"] for r in summary["rollout_runs"])
        assert steps == [0, 1]
        assert store.counts()["episodes"] == 4
    assert Path(summary["model"], "model.safetensors").is_file()


def failing_judge(record):
    """A fake judge that always fails: the fault to inject (a real rule judge cannot fail on demand)."""
    raise RuntimeError("judge backend down")


def test_a_judge_error_is_no_reward_and_the_episode_is_stored_as_judge_error(tmp_path):
    config = lexical_rollout_config(tmp_path, max_steps=1)
    summary = train_grpo(config, env_kwargs={"judge": failing_judge})
    assert summary["excluded_samples"] == 2 and summary["groups_skipped"] == 1
    assert summary["rewards"][0]["reward"] is None  # NaN in TRL's logs: no score, never a 0
    assert "judge backend down" in summary["first_errors"][0]
    with ReplayStore(config.store, read_only=True) as store:
        assert set(store.episodes(summary["rollout_runs"][0])["status"]) == {"judge_error"}


@pytest.mark.parametrize("bad", [dict(option=["max_turns"]), dict(partner=["agent2"]), dict(mode="both")])
def test_bad_settings_are_value_errors(tmp_path, bad):
    from learners.grpo import grpo_data

    with pytest.raises(ValueError):
        grpo_data(lexical_rollout_config(tmp_path, **bad))
