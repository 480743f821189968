"""The HUMANUAL judge for real: the tiny model behind a real vLLM server, decoded under the judge's JSON
schema (guided decoding). The tiny model's content is random; with a short output budget its answer is
cut, and a cut answer must be recorded as a judge error, never as a score."""

from __future__ import annotations

import pytest

import osim_env
from scenarios.humanual.judge import AlignmentAnswer, HumanualJudge

pytestmark = pytest.mark.slow


def test_a_cut_judge_answer_from_vllm_is_a_judge_error_not_a_score(vllm_server):
    from policies import OpenAIChatPolicy

    model = OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, seed=0, timeout=120.0)
    # 24 tokens cannot hold the smallest valid answer, so the output is cut whatever the model says.
    judge = HumanualJudge(model, max_tokens=24, backoff_s=0.0)
    env = osim_env.make("soul/humanual-book-v0", judge=judge)
    env.reset(seed=0)
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env.step("<response>Good boats, wooden people. Three stars.</response>")
    raw = env.unwrapped
    judgment = raw.judgments["user"]
    assert judgment.score is None and "judge output cut at" in str(judgment.error)
    assert raw.status == "judge_error" and env.infos["user"]["score"] is None
    assert judgment.judge["model"]["backend"] == "openai" and judgment.judge["scoring"] == "alignment"
    (call,) = model.calls  # one call: a cut output is neither retried nor repaired
    assert call.error is None and call.completion_tokens == 24
    assert judge.schema is AlignmentAnswer  # the schema sent for guided decoding
