"""A LoRA checkpoint of ``osim train`` loads as ``hf:PATH`` and as ``vllm:PATH`` (merged once, cached)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learners.sft import SFTRecipeConfig, train_sft
from policies.base import ChatRequest
from policies.vllm_engine import merged_checkpoint

ROW = {
    "data_source": "chats",
    "messages": [
        {"role": "user", "content": "where is the key?"},
        {"role": "assistant", "content": "It is in the red box. Thanks for your help!"},
    ],
}
REQUEST = ChatRequest(messages=[{"role": "user", "content": "where is the key?"}])


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("lora")
    (tmp / "c.jsonl").write_text(json.dumps(ROW) + "\n")
    config = SFTRecipeConfig(
        model=str(tiny_model_dir), data=[str(tmp / "c.jsonl")], output_dir=str(tmp / "out"), max_steps=30,
        per_device_train_batch_size=1, learning_rate=2e-2, lora=True, lora_r=8, merge_lora=True,
        save_steps=1000, progress=False,
    )  # fmt: skip
    train_sft(config)
    return tmp / "out"


def test_an_adapter_merges_once_into_a_cached_model_directory(lora_checkpoint, tiny_model_dir):
    from safetensors.torch import load_file

    assert merged_checkpoint(tiny_model_dir) == str(tiny_model_dir)  # a full model is used as is
    merged = Path(merged_checkpoint(lora_checkpoint))
    assert merged != lora_checkpoint and (merged / "config.json").is_file()
    assert merged_checkpoint(lora_checkpoint) == str(merged)  # cached
    ours, trainer = (
        load_file(merged / "model.safetensors"),
        load_file(lora_checkpoint / "merged" / "model.safetensors"),
    )
    assert ours.keys() == trainer.keys() and all((ours[k] - trainer[k]).abs().max() < 1e-5 for k in ours)


def test_hf_and_vllm_policies_load_the_lora_checkpoint(lora_checkpoint):
    from conftest import require_vllm

    from policies import parse_spec

    hf = parse_spec(f"hf:{lora_checkpoint}?max_new_tokens=12")
    learned = hf.complete(REQUEST).text
    assert learned.startswith("It is in the red box"), learned  # the trained answer, not the base's
    require_vllm()
    vllm = parse_spec(f"vllm:{lora_checkpoint}?max_new_tokens=12&dtype=float32")
    try:
        assert vllm.spec.model == str(lora_checkpoint)
        assert vllm.complete(REQUEST).text == learned
    finally:
        vllm.close()
