"""On-policy distillation (``learners.distill``): prompts are rendered osim observations, and the
student's per-token reverse KL to a different tiny teacher falls over training."""

from __future__ import annotations

import osim_env
from learners.distill import OnPolicyDistillConfig, reverse_kl_per_token, task_prompts, train_on_policy


def test_task_prompts_are_the_policy_roles_first_observations():
    prompts = task_prompts(["soul/hitom-v0", "soul/sotopia-v0"], 2, seed=3)
    assert len(prompts) == 4
    env = osim_env.make("soul/hitom-v0", judge=False)
    env.reset(seed=4)
    assert prompts[1] == env.observe("answerer")["messages"]
    sotopia = osim_env.make("soul/sotopia-v0", judge=False)
    sotopia.reset(seed=3)
    assert prompts[2] == sotopia.observe(sotopia.agent_selection)["messages"]
    assert sotopia.agent_selection in sotopia.unwrapped.policy_agents()
    assert task_prompts(["soul/hitom-v0"], 2, seed=3) == prompts[:2]


def test_on_policy_distillation_lowers_the_students_kl_to_the_teacher(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from policies.spec import tiny_model_dir as build_tiny

    teacher_dir = build_tiny(seed=1)  # same tokenizer, other random weights
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir)
    prompts = task_prompts(["soul/hitom-v0"], 4, seed=0)
    student = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = reverse_kl_per_token(student, teacher, tokenizer, prompts, max_new_tokens=16)
    config = OnPolicyDistillConfig(
        model=str(tiny_model_dir), teacher=str(teacher_dir), env=["soul/hitom-v0"], prompts=4,
        output_dir=str(tmp_path / "out"), max_steps=16, per_device_train_batch_size=4,
        max_completion_length=16, learning_rate=3e-3, logging_steps=4, save_steps=1000, progress=False,
    )  # fmt: skip
    summary = train_on_policy(config)
    trained = AutoModelForCausalLM.from_pretrained(summary["model"])
    after = reverse_kl_per_token(trained, teacher, tokenizer, prompts, max_new_tokens=16)
    assert after < 0.75 * before, (before, after)
    assert summary["last_loss"] < summary["first_loss"]  # the loss is that KL, on the student's samples
    assert summary["recipe"] == "distill-on-policy" and summary["prompts"] == 4
