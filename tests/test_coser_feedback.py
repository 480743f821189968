"""CoSER feedback: built from the judge's worst flaws, never repeating 8 words of the book's scene."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from judges.judgment import Judgment
from scenarios.coser.feedback import default_feedback_writer, gold_of, top_flaws
from scenarios.coser.judge import DIMENSIONS

FLAWS = {
    "storyline_consistency": [
        {"instance": "Hedda gives up at once", "reason": "she presses on", "severity": 4}
    ],
    "anthropomorphism": [{"instance": "Aurel offers help", "reason": "assistant-like", "severity": 2}],
    "character_fidelity": [],
    "storyline_quality": [{"instance": "Hm. Hm.", "reason": "repetition", "severity": 5}],
}


def draft():
    env = osim_env.make("soul/coser-v0", scenario=0, judge=False, max_rounds=2)
    env.reset(seed=0)
    env.step("[He hides it.] Hm. (looks away)")
    env.step("Next Speaker: Master Aurel")
    env.step("How can I help you today, child?")
    raw = env.unwrapped
    judgment = Judgment(
        agent="character:Hedda",
        score=0.6,
        dims={d: 60.0 for d in DIMENSIONS},
        reasons={d: json.dumps(f) for d, f in FLAWS.items()},
        judge={"kind": "coser"},
    )
    return raw.episode_record(), judgment


def answer(feedback: str) -> str:
    return json.dumps({"critiques": dict.fromkeys(DIMENSIONS, "c"), "reflection": "r", "feedback": feedback})


def test_flaws_are_ranked_by_severity_and_the_prompt_has_them():
    record, judgment = draft()
    assert top_flaws(judgment)[0] == "[5] storyline_quality: Hm. Hm. — repetition"
    model = FakeJudgeModel(
        [answer("Hedda should keep pressing her master. Aurel should stay proud, not helpful.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("Hedda should keep pressing")
    prompt = model.requests[0].messages[-1]["content"]
    assert "Hedda gives up at once" in prompt and "Hedda: Hm. (looks away)" in prompt
    assert "He hides it" not in prompt.split("## The simulated scene")[1]  # the draft's thoughts stay out


def test_feedback_repeating_the_reference_is_regenerated_once_then_dropped():
    record, judgment = draft()
    quote = "Say: the wax on this letter is still warm, Master."  # 8+ words of the book's first line
    assert gold_of(record).span == 8
    model = FakeJudgeModel([answer(quote), answer(quote)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "repeats 8 words" in result.error and len(model.requests) == 2
    model = FakeJudgeModel(
        [answer(quote), answer("Let Hedda notice the warm seal before Aurel dismisses her.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "warm seal" in result.feedback.critique


def test_feedback_goes_privately_to_every_policy_character_of_the_refined_run():
    env = osim_env.make("soul/coser-v0", scenario=1, judge=False, policy_characters=["Ilse", "Tomas"])
    env.reset(seed=0, options={"feedback": "Tomas should stay evasive."})
    raw = env.unwrapped
    for agent in ("character:Ilse", "character:Tomas"):
        assert "Tomas should stay evasive." in raw.messages_for(agent)[0]["content"]
        assert "Tomas should stay evasive." not in raw.messages_for(agent, with_feedback=False)[0]["content"]
    for agent in ("character:Bram", "environment", "director"):
        assert "Tomas should stay evasive." not in str(raw.messages_for(agent))
