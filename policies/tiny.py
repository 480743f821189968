"""A tiny causal LM built locally, for tests and the offline demo.

Nothing is downloaded: a byte-level BPE tokenizer is trained in-process on a small built-in corpus
and a 2-layer model is randomly initialised from a config. Its text is gibberish, but it is a real
Hugging Face model directory that ``transformers`` loads and vLLM serves, so every code path
(chat templates, batching, padding, sampling, token accounting, structured output) runs for real.
The same seed gives the same files.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Literal

Arch = Literal["qwen3", "llama"]

IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)

# ChatML, the format of Qwen chat models: system/user/assistant turns and a generation prompt.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

HIDDEN_SIZE = 64
HEAD_DIM = 32  # vLLM's attention kernels reject head_dim 16
NUM_LAYERS = 2
MAX_POSITIONS = 8192  # long enough for a whole multi-turn episode prompt
VOCAB_SIZE = 1024
INITIALIZER_RANGE = 0.2  # wider than the usual 0.02 so greedy argmax is not decided by float noise

_CORPUS = """\
Hello, how are you today? I am fine, thank you. What would you like to talk about?
I think we should meet at the cafe near the station at noon on Saturday.
Could you help me move the boxes into the blue crate before the guests arrive?
She said the gig got moved to Sunday, but Mara left before she heard it.
The answer is B. I chose it because the green bottle was in the kitchen.
Please keep your reply short and friendly, and say what you want to do next.
We agreed to split the last slice of cake, but then my brother ate it anyway.
If you lend me the bike this weekend, I will fix the flat tyre for you.
My goal is to convince my roommate to clean the kitchen without starting a fight.
That sounds reasonable. Let me think about it and get back to you tomorrow.
No, I don't think that is fair. You promised to pay half of the rent this month.
The teacher asked the students to explain their answers in one or two sentences.
Where is the key? It was in the drawer, then Oskar moved it to the red box.
I'm sorry, I didn't mean to upset you. Can we start over and talk calmly?
Thanks for your help! Have a great evening, and see you at the meeting.
Action: waves goodbye and leaves the room. Speech: "See you later!"
{"answer": "A", "score": 7, "reasoning": "The reply stays in character and reaches its goal."}
<answer>C</answer> <think>The ball was moved while Anna was outside.</think>
user assistant system message content role name goal secret persona scenario
one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 10 100
"""


def _train_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2/Qwen style) trained on the built-in corpus."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = _CORPUS.splitlines()
    # A few passes over the corpus in different line orders make enough merges for the vocab.
    corpus = [*lines, *reversed(lines), *(a + " " + b for a, b in itertools.pairwise(lines))]
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


def _model_config(arch: Arch, vocab_size: int, pad_id: int, eos_id: int) -> Any:
    common: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN_SIZE,
        "intermediate_size": 2 * HIDDEN_SIZE,
        "num_hidden_layers": NUM_LAYERS,
        "num_attention_heads": HIDDEN_SIZE // HEAD_DIM,
        "num_key_value_heads": 1,
        "head_dim": HEAD_DIM,
        "max_position_embeddings": MAX_POSITIONS,
        "initializer_range": INITIALIZER_RANGE,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "torch_dtype": "float32",
    }
    if arch == "qwen3":
        from transformers import Qwen3Config

        return Qwen3Config(**common)
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common)
    raise ValueError(f"unknown arch {arch!r}; expected 'qwen3' or 'llama'")


def build_tiny_model(path: str | Path, arch: Arch = "qwen3", seed: int = 0) -> Path:
    """Write a tiny randomly initialised chat model (weights, config, tokenizer) to ``path``.

    The directory loads with ``AutoModelForCausalLM``/``AutoTokenizer`` and is served by vLLM. The
    global torch RNG is left untouched (weights come from a forked RNG seeded with ``seed``).
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    raw_tokenizer = _train_tokenizer(VOCAB_SIZE)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw_tokenizer,
        eos_token=IM_END,
        pad_token=PAD,
        padding_side="left",
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    pad_id = tokenizer.convert_tokens_to_ids(PAD)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)

    # The model's vocabulary is exactly the tokenizer's: no id can decode to nothing.
    config = _model_config(arch, len(tokenizer), pad_id, eos_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _write_marker(path, arch, seed)
    return path


def _write_marker(path: Path, arch: str, seed: int) -> None:
    """Record how the directory was built (the cache in ``parse_spec`` checks it)."""
    (path / "osim_tiny.json").write_text(
        json.dumps({"arch": arch, "seed": seed, "version": 1}, sort_keys=True)
    )


def is_tiny_model_dir(path: str | Path, arch: str = "qwen3", seed: int = 0) -> bool:
    """True when ``path`` holds a complete tiny model built with these arguments."""
    path = Path(path)
    marker = path / "osim_tiny.json"
    if not marker.is_file() or not (path / "model.safetensors").is_file():
        return False
    try:
        built = json.loads(marker.read_text())
    except ValueError:
        return False
    return built == {"arch": arch, "seed": seed, "version": 1}
