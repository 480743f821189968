"""The SimulatorArena judges for real: the tiny model behind a real vLLM server, decoded under each
query's JSON schema (guided decoding), once (docs/tasks.md#simarena). The tiny model's content is random:
a valid answer must give a score in [0, 1] with the raw Likert values in range; an output cut at the token
budget must be recorded as a judge error, never as a score."""

from __future__ import annotations

import pytest

import osim_env
from scenarios.simarena.judge import SimArenaJudge

pytestmark = pytest.mark.slow


def test_simarena_judge_guided_json_once(vllm_server):
    from policies import OpenAIChatPolicy

    model = OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, seed=0, timeout=120.0)
    env = osim_env.make("soul/simarena-math-v0", scenario=0, judge=False, max_student_turns=1)
    env.reset(seed=0)
    env.step("Query: is it 10 because 4 plus 6")
    env.step("Can 10 muffins be packed only in boxes of 4?")
    record = env.unwrapped.episode_record()
    judge = SimArenaJudge(model, max_tokens=256, attempts=1, backoff_s=0.0)
    judgment = judge.judge_episode(record)["student"]
    assert len(model.calls) == 3  # writing, interaction, fulfillment (the row has target features)
    if judgment.error is None:
        assert 0.0 <= judgment.score <= 1.0
        assert 1 <= judgment.dims["writing_style"] <= 5 and 1 <= judgment.dims["interaction_style"] <= 5
        assert judgment.dims["n_components"] == 3
    else:
        assert judgment.score is None
        assert "cut at" in judgment.error or "attempts" in judgment.error
