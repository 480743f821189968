"""Ditto's math against hand-computed numbers: eq. 6 advantages, group composition (G + k members, errors
dropped, σ = 0), the multi-agent broadcast, the clipped token-level loss and L_fb; and the rollouts it
trains on: a refined sample rendered without its feedback for the joint group, with it for L_fb."""

from __future__ import annotations

import json

import pytest
import torch

from learners.ditto import build_sequences, gate_and_write
from learners.ditto_objective import (
    Member,
    broadcast,
    clipped_token_loss,
    feedback_group,
    group_advantages,
    is_degenerate,
    joint_group,
    member_advantages,
)
from learners.ditto_rollouts import Rollout, Turn, play
from osim_env.env import FEEDBACK_HEADING
from osim_env.seeding import derive_seed
from scenarios.hitom.feedback import default_feedback_writer

HITOM = "soul/hitom-v0"


def test_eq6_advantages_use_the_population_std_and_eps():
    # mean 0.5, population std 0.5: ±0.5 / (0.5 + 1e-6)
    assert group_advantages([1.0, 0.0, 0.0, 1.0]) == pytest.approx([0.999998, -0.999998, -0.999998, 0.999998])
    # mean 0.5, population std sqrt(1/6) = 0.4082483
    a = group_advantages([1.0, 0.5, 0.0])
    assert a == pytest.approx([0.5 / (0.40824829 + 1e-6), 0.0, -0.5 / (0.40824829 + 1e-6)], abs=1e-7)
    assert group_advantages([0.7, 0.7, 0.7]) == [0.0, 0.0, 0.0]  # σ = 0: zero advantage
    assert group_advantages([1.0]) == [0.0]  # fewer than 2 members
    assert group_advantages([]) == []


def test_the_joint_group_has_g_plus_k_members_without_error_episodes():
    drafts = [Member(("d", 0), 1.0), Member(("d", 1), 0.0), Member(("d", 2), None), Member(("d", 3), 0.0)]
    refined = [Member(("r", 1), 1.0, True), Member(("r", 3), None, True)]
    joint = joint_group(drafts, refined)
    assert [m.key for m in joint] == [("d", 0), ("d", 1), ("d", 3), ("r", 1)]  # 4 + 2 - 2 errors
    advantages = member_advantages(joint)  # rewards 1, 0, 0, 1: mean 0.5, std 0.5
    assert advantages[("d", 0)] == pytest.approx(0.999998) and advantages[("d", 1)] == pytest.approx(
        -0.999998
    )
    assert advantages[("r", 1)] == pytest.approx(0.999998)
    fb = feedback_group(refined)  # one member left: zero advantage, the group is skipped
    assert member_advantages(fb) == {("r", 1): 0.0} and is_degenerate(fb)
    assert not is_degenerate(joint) and is_degenerate([Member(1, 0.5), Member(2, 0.5)])
    with pytest.raises(ValueError, match="drop error episodes"):
        member_advantages(drafts)


def test_a_multi_agent_episode_counts_once_and_broadcasts_its_advantage():
    advantages = member_advantages([Member("coser", 1.0), Member("other", 0.0)])
    assert advantages == pytest.approx({"coser": 0.999998, "other": -0.999998})  # 3 turns do not weigh 3x
    keyed = broadcast(advantages, {"coser": 3, "other": 1})
    assert [k for k, _ in keyed] == ["coser"] * 3 + ["other"]
    assert [a for _, a in keyed] == pytest.approx([0.999998] * 3 + [-0.999998])


def test_the_clipped_token_level_loss_matches_hand_computed_values():
    logps = torch.tensor([[0.5, -0.5, 0.0], [0.5, -0.5, 0.0]], requires_grad=True)
    old = torch.zeros(2, 3)
    advantages = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    loss = clipped_token_loss(logps, old, advantages, mask, clip=0.2)
    # seq 0 (A=+1): min(e^.5, 1.2) = 1.2; min(e^-.5, 0.8) = 0.60653; the third token is masked.
    # seq 1 (A=-1): min(-e^.5, -1.2) = -1.64872; min(-e^-.5, -0.8) = -0.8; ratio 1: -1.  Five tokens.
    expected = -(1.2 + 0.6065307 - 1.6487213 - 0.8 - 1.0) / 5
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-6)
    loss.backward()
    grad = logps.grad
    assert float(grad[0, 0]) == 0.0 and float(grad[1, 1]) == 0.0  # clipped tokens carry no gradient
    assert float(grad[0, 2]) == 0.0  # masked
    assert float(grad[0, 1]) == pytest.approx(-0.6065307 / 5, abs=1e-6)
    assert float(grad[1, 0]) == pytest.approx(1.6487213 / 5, abs=1e-6)
    assert float(grad[1, 2]) == pytest.approx(1.0 / 5, abs=1e-6)
    # a shared divisor: micro-batches of one group add up to the whole group's token-level loss
    halves = [
        clipped_token_loss(
            logps[i : i + 1], old[i : i + 1], advantages[i : i + 1], mask[i : i + 1], num_tokens=5
        )
        for i in range(2)
    ]
    assert float(sum(halves).detach()) == pytest.approx(expected, abs=1e-6)
    # one divisor per sequence (the tokens of its own group x 2 groups): the mean of two group losses
    each = clipped_token_loss(logps, old, advantages, mask, num_tokens=torch.tensor([2.0 * 2, 3.0 * 2]))
    group0, group1 = -(1.2 + 0.6065307) / 2, -(-1.6487213 - 0.8 - 1.0) / 3
    assert float(each.detach()) == pytest.approx((group0 + group1) / 2, abs=1e-6)


def turn(agent: str, prompt: str, feedback: str | None, completion: tuple[int, ...]) -> Turn:
    seen = prompt if feedback is None else f"{prompt} [{feedback}]"
    return Turn(
        agent, [{"role": "user", "content": prompt}], [{"role": "user", "content": seen}], completion, ""
    )


def rollout(seed: int, reward: float | None, feedback: str | None = None, turns: int = 1) -> Rollout:
    error = None if reward is not None else "judge failed: boom"
    return Rollout(
        seed=seed, feedback=feedback, reward=reward, error=error,
        turns=[turn(f"a{t % 2}", f"x{t}", feedback, (seed, t, 7)) for t in range(turns)],
    )  # fmt: skip


def ids(messages):
    return [ord(c) for c in messages[0]["content"]]


def test_groups_train_refined_samples_under_x_and_the_feedback_group_under_x_h():
    drafts = [rollout(0, 1.0), rollout(1, 0.0), rollout(2, None), rollout(3, 0.0)]
    refined = [rollout(11, 1.0, "check exits"), rollout(13, 0.0, "who lied?")]
    result = build_sequences(drafts, refined, ids)
    group = [s for s in result.sequences if s.loss == "group"]
    fb = [s for s in result.sequences if s.loss == "feedback"]
    # joint group: rewards 1, 0, 0, 1, 0 (the error draft dropped): mean 0.4, std sqrt(0.24)
    std = 0.24**0.5 + 1e-6
    assert [s.advantage for s in group] == pytest.approx(
        [0.6 / std, -0.4 / std, -0.4 / std, 0.6 / std, -0.4 / std]
    )
    assert [s.completion for s in group] == [(0, 0, 7), (1, 0, 7), (3, 0, 7), (11, 0, 7), (13, 0, 7)]
    assert all(bytes(s.prompt).decode() == "x0" for s in group)  # refined samples without their feedback
    # feedback group: the refined samples alone, rewards 1 and 0, under (x, h)
    assert [s.advantage for s in fb] == pytest.approx([0.999998, -0.999998])
    assert [bytes(s.prompt).decode() for s in fb] == ["x0 [check exits]", "x0 [who lied?]"]
    assert result.errors == 1 and not result.skipped
    assert result.draft_rewards == [1.0, 0.0, 0.0] and result.refined_rewards == [1.0, 0.0]


def test_l_fb_is_the_clipped_loss_of_the_feedback_group_alone():
    """On-policy (ρ = 1) L_fb = -Σ_i Â_i · |y_i| / Σ_i |y_i| over the refined samples under (x, h)."""
    refined = [rollout(11, 1.0, "h1"), rollout(13, 0.0, "h2")]
    refined[1].turns[0] = turn("a0", "x0", "h2", (1, 2, 3, 4))  # 2 sequences: 3 and 4 tokens
    fb = [s for s in build_sequences([], refined, ids).sequences if s.loss == "feedback"]
    logps = torch.zeros(2, 4)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    adv = torch.tensor([s.advantage for s in fb])
    loss = clipped_token_loss(logps, logps, adv, mask)
    assert float(loss) == pytest.approx(-(3 * 0.999998 - 4 * 0.999998) / 7, abs=1e-6)


def test_a_multi_agent_draft_gives_one_sequence_per_agent_turn_with_its_episode_advantage():
    drafts = [rollout(0, 1.0, turns=3), rollout(1, 0.0)]
    result = build_sequences(drafts, [], ids)
    assert [s.completion[0] for s in result.sequences] == [0, 0, 0, 1]
    assert [s.advantage for s in result.sequences] == pytest.approx([0.999998] * 3 + [-0.999998])
    same = build_sequences([rollout(0, 0.5), rollout(1, 0.5)], [], ids)
    assert same.skipped and all(s.advantage == 0.0 for s in same.sequences)


# -- real episodes ---------------------------------------------------------------------------------------
def scripted(*texts):
    """A generate function that answers with ``texts`` in turn (a stand-in for sampling)."""
    answers = iter(texts)
    return lambda prompts, seed: [((1, 2), next(answers)) for _ in prompts]


def feedback_file(tmp_path, *hints):
    lines = [
        json.dumps({"critiques": {"belief_tracking": "x"}, "reflection": "y", "feedback": h}) for h in hints
    ]
    path = tmp_path / "feedback.txt"
    path.write_text("\n".join(lines) + "\n")
    return f"scripted:{path}"


def test_a_refined_rollout_carries_private_feedback_and_renders_without_it_under_x(tmp_path):
    drafts = play(HITOM, 0, [5, 6], scripted("<answer>A</answer>", "<answer>B</answer>"))
    assert [d.reward for d in drafts] == [1.0, 0.0] and drafts[0].error is None
    assert drafts[1].refined_seed == derive_seed(6, HITOM, "refined")
    writer = default_feedback_writer(feedback_file(tmp_path, "Check who was in the attic when it moved."))
    chosen, texts, failed = gate_and_write(drafts, writer, "below:1")
    assert chosen == [1] and texts == ["Check who was in the attic when it moved."] and failed == 0
    refined = play(HITOM, 0, [drafts[1].refined_seed], scripted("<answer>A</answer>"), feedbacks=texts)
    turn_ = refined[0].turns[0]
    system_seen = turn_.prompt_seen[0]["content"]
    assert FEEDBACK_HEADING in system_seen and texts[0] in system_seen
    assert texts[0] not in json.dumps(turn_.prompt) and FEEDBACK_HEADING not in json.dumps(turn_.prompt)
    assert turn_.prompt == drafts[1].turns[0].prompt  # under x the refined sample has the draft's prompt
    assert refined[0].reward == 1.0 and refined[0].record.events[0].kind == "feedback"


def test_leaking_feedback_is_regenerated_once_then_the_draft_gets_no_refined_rollout(tmp_path):
    drafts = play(HITOM, 0, [5], scripted("<answer>B</answer>"))
    writer = default_feedback_writer(feedback_file(tmp_path, "The answer is A.", "It is in the oak_chest."))
    assert gate_and_write(drafts, writer, "all") == ([], [], 1)


def test_an_unjudged_episode_is_an_error_without_reward():
    drafts = play(HITOM, 0, [5], scripted("<answer>A</answer>"), env_options={"judge": False})
    assert drafts[0].reward is None and drafts[0].error
    assert build_sequences(drafts, [], ids).sequences == []


def test_a_coser_episode_trains_every_turn_of_every_character_with_its_episode_advantage(tmp_path):
    """Real multi-agent episodes: a scripted narrator/director and a rule judge that gives every
    character of an episode the same score (here: the episode seed / 4, so the three episodes differ)."""
    from judges.judgment import Judgment

    (tmp_path / "partner.txt").write_text("The snow keeps falling.\n")

    def judge(record):
        return {a: Judgment(agent=a, score=record.seed / 4) for a in record.policy_agents}

    options = {"partner_model": f"scripted:{tmp_path / 'partner.txt'}", "max_rounds": 4, "judge": judge}
    lines = iter(f"[thinking {i}] Line {i}. (nods)" for i in range(100))
    generate = lambda prompts, seed: [((i, 9), next(lines)) for i, _ in enumerate(prompts)]  # noqa: E731
    drafts = play("soul/coser-v0", 0, [1, 2, 3], generate, env_options=options)
    assert [d.reward for d in drafts] == [0.25, 0.5, 0.75]
    agents = {t.agent for d in drafts for t in d.turns}
    assert len(agents) >= 2 and all(a.startswith("character:") for a in agents)
    assert len({t.agent for t in drafts[0].turns}) == 2  # both characters played by the policy
    result = build_sequences(drafts, [], ids)
    advantages = member_advantages([Member(i, d.reward) for i, d in enumerate(drafts)])
    expected = [advantages[i] for i, d in enumerate(drafts) for _ in d.turns]
    assert len(result.sequences) == sum(len(d.turns) for d in drafts)
    assert [s.advantage for s in result.sequences] == pytest.approx(expected)
    # three episodes, counted once each however many turns they have: mean 0.5, std sqrt(1/24)
    a = 0.25 / (0.2041241 + 1e-6)
    assert sorted(advantages.values()) == pytest.approx([-a, 0.0, a], abs=1e-6)


def test_a_judge_that_raises_is_an_error_for_every_episode_of_the_batch_never_a_reward():
    def broken(record):
        raise RuntimeError("judge service down")

    drafts = play(HITOM, 0, [5, 6], scripted("<answer>A</answer>", "<answer>B</answer>"), judge=broken)
    assert [d.reward for d in drafts] == [None, None]
    assert all("judge service down" in d.error for d in drafts)
    assert build_sequences(drafts, [], ids).errors == 2
