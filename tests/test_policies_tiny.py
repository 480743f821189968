"""The tiny local model: a real, loadable HF directory, built deterministically, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from policies.tiny import HEAD_DIM, HIDDEN_SIZE, IM_END, PAD, build_tiny_model, is_tiny_model_dir

CHAT = [
    {"role": "system", "content": "You are Greta."},
    {"role": "user", "content": "How much is the record player?"},
    {"role": "assistant", "content": "150 euros."},
    {"role": "user", "content": "Too much!"},
]


def test_same_seed_gives_identical_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    again = build_tiny_model(tmp_path / "again", arch="qwen3", seed=0)
    names = sorted(p.name for p in tiny_model_dir.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= set(names)
    for name in names:
        assert (tiny_model_dir / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_gives_other_weights_same_tokenizer(tmp_path: Path, tiny_model_dir: Path) -> None:
    other = build_tiny_model(tmp_path / "other", seed=1)
    a, b = load_file(tiny_model_dir / "model.safetensors"), load_file(other / "model.safetensors")
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert (tiny_model_dir / "tokenizer.json").read_bytes() == (other / "tokenizer.json").read_bytes()
    assert is_tiny_model_dir(other, "qwen3", 1) and not is_tiny_model_dir(other, "qwen3", 0)


def test_build_leaves_global_torch_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "m", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_config_is_small_and_servable(tiny_model_dir: Path) -> None:
    config = AutoConfig.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert config.model_type == "qwen3"
    assert (config.num_hidden_layers, config.hidden_size, config.head_dim) == (2, HIDDEN_SIZE, HEAD_DIM)
    assert config.head_dim >= 32  # vLLM rejects 16
    assert config.vocab_size == len(tokenizer)  # no id decodes to nothing
    assert config.max_position_embeddings >= 4096  # whole multi-turn episodes fit
    assert config.eos_token_id == tokenizer.convert_tokens_to_ids(IM_END)


def test_tokenizer_chat_template_padding_and_special_tokens(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.padding_side == "left"
    assert (tokenizer.eos_token, tokenizer.pad_token) == (IM_END, PAD)
    assert tokenizer.eos_token_id != tokenizer.pad_token_id
    text = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are Greta.<|im_end|>\n"
        "<|im_start|>user\nHow much is the record player?<|im_end|>\n"
        "<|im_start|>assistant\n150 euros.<|im_end|>\n"
        "<|im_start|>user\nToo much!<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    without = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=False)
    assert without == text.removesuffix("<|im_start|>assistant\n")
    # byte-level BPE: any text round-trips, special tokens are single ids
    sample = "Grüße — 150 € 🎶 <answer>B</answer>"
    assert tokenizer.decode(tokenizer.encode(sample, add_special_tokens=False)) == sample
    assert len(tokenizer.encode(IM_END, add_special_tokens=False)) == 1
    batch = tokenizer(["hi", "a much longer prompt here"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0].item() == tokenizer.pad_token_id
    assert batch["attention_mask"][0, 0].item() == 0


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_both_architectures_load_and_generate_deterministically(tmp_path: Path, arch: str) -> None:
    path = build_tiny_model(tmp_path / arch, arch=arch, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == arch
    inputs = tokenizer.apply_chat_template(
        CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    first = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    second = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert torch.equal(first, second)
    assert first.shape[1] > inputs["input_ids"].shape[1]
