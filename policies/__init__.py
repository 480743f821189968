"""Policies: anything that maps an observation (a chat prompt) to an action string.

Model backends (``HFPolicy``, ``VLLMPolicy``, ``OpenAIChatPolicy``) and the tiny-model builder are
imported on first use, so ``import policies`` stays cheap and vLLM stays optional.
"""

from typing import Any

from policies.base import (
    BatchPolicyError,
    ChatRequest,
    Completion,
    ModelCall,
    Policy,
    PolicyError,
    PolicySpec,
    messages_of,
)
from policies.human import HumanPolicy
from policies.sampling import Sampling
from policies.scripted import RandomChoicePolicy, ReplayPolicy, ScriptedPolicy
from policies.spec import parse_spec, tiny_model_dir

_LAZY = {
    "HFPolicy": "policies.hf",
    "VLLMPolicy": "policies.vllm_engine",
    "OpenAIChatPolicy": "policies.openai_chat",
    "build_tiny_model": "policies.tiny",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'policies' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BatchPolicyError",
    "ChatRequest",
    "Completion",
    "HFPolicy",
    "HumanPolicy",
    "ModelCall",
    "OpenAIChatPolicy",
    "Policy",
    "PolicyError",
    "PolicySpec",
    "RandomChoicePolicy",
    "ReplayPolicy",
    "Sampling",
    "ScriptedPolicy",
    "VLLMPolicy",
    "build_tiny_model",
    "messages_of",
    "parse_spec",
    "tiny_model_dir",
]
