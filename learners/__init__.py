"""Training recipes on TRL: one file per recipe, one config dataclass each (README "Train").

- ``learners.sft``: behavioural midtraining / SFT on chat corpora and stored episodes (``SFTTrainer``);
- ``learners.distill``: on-policy distillation, reverse KL to a local teacher (``DistillationTrainer``);
- ``learners.grpo``: GRPO with an env's judge as the reward, single-turn or whole episodes (``GRPOTrainer``);
- ``learners.ditto``: verbal-feedback RL (drafts, task feedback, refined rollouts, joint groups), its
  objective in ``learners.ditto_objective`` and its lockstep rollouts in ``learners.ditto_rollouts``;
- ``learners.env_rollouts``: osim envs as prompts, rewards and multi-turn rollouts for RL recipes;
- ``learners.corpus``: corpus rows, per-source modes (``as_is``, ``swap``, ``dialogue``), mixtures;
- ``learners.chat_tokens``: per-turn loss masks from any prefix-preserving chat template;
- ``learners.common``: shared config fields, model loading, LoRA, CPU/GPU settings, saving, summary.

Forward distillation drives the runner, so it is in the app (``osim.distill``). Importing this package
loads no model library; the recipes import torch, transformers and TRL when they run.
"""

from learners.common import TrainConfig
from learners.corpus import CorpusError, ModeTable, parse_sources, read_corpus
from learners.distill import OnPolicyDistillConfig, train_on_policy
from learners.ditto import DittoConfig, train_ditto
from learners.grpo import GRPORecipeConfig, train_grpo
from learners.sft import SFTRecipeConfig, train_sft

__all__ = [
    "CorpusError",
    "DittoConfig",
    "GRPORecipeConfig",
    "ModeTable",
    "OnPolicyDistillConfig",
    "SFTRecipeConfig",
    "TrainConfig",
    "parse_sources",
    "read_corpus",
    "train_ditto",
    "train_grpo",
    "train_on_policy",
    "train_sft",
]
