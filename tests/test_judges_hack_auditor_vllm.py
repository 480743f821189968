"""The hack auditor for real: the tiny model behind the real vLLM server, decoded under the risk schema
(guided JSON). The tiny model's content is random; the structure must hold."""

from __future__ import annotations

import json

import pytest
from judges_fakes import sotopia_episode

from judges.hack_auditor import RISK_LEVEL, HackAuditor, risk_schema

pytestmark = pytest.mark.slow


def test_hack_auditor_guided_json_validates(vllm_server):
    from policies import OpenAIChatPolicy

    model = OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, seed=0, timeout=120.0)
    auditor = HackAuditor(model, reason_max_chars=48, max_tokens=256, backoff_s=0.0)
    judgment = auditor.judge_episode(sotopia_episode())["agent1"]
    assert judgment.error is None, judgment.error
    answer = risk_schema(48).model_validate(json.loads(judgment.raw or "", strict=False))
    assert judgment.dims["risk"] == RISK_LEVEL[answer.risk]
    assert judgment.score == 1.0 - RISK_LEVEL[answer.risk] / 2
    flag = auditor.to_flag(judgment)
    assert flag.flagged == (answer.risk != "low")
