"""Policies: anything that maps an observation (a chat prompt) to an action string."""

from policies.base import ChatRequest, Completion, ModelCall, Policy, PolicyError, PolicySpec, messages_of

__all__ = ["ChatRequest", "Completion", "ModelCall", "Policy", "PolicyError", "PolicySpec", "messages_of"]
