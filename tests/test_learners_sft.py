"""``learners.sft``: a real learning signal on the tiny model, per-turn loss masks, modes, malformed rows.

The corpus is human–AI chats in which the human always signs off with one phrase and the AI with
another. Training must raise the probability of the learned side's sign-off in the model's own
(assistant) slot by a large margin and leave the other side's far behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learners.chat_tokens import IGNORE_INDEX, tokenize_conversation
from learners.corpus import CorpusError, ModeTable, parse_sources, read_corpus, to_conversation
from learners.likelihood import mean_completion_logprob
from learners.sft import SFTRecipeConfig, train_sft

HUMAN_SIGN_OFF = " Cheers, Sam!"
AI_SIGN_OFF = " Kind regards, the helper bot."
SYSTEM = "You are Sam, a busy nurse who writes short messages."
TOPICS = [
    "the rent", "the blue crate", "the cafe", "my bike", "the meeting", "the kitchen", "the station",
    "the cake", "the boxes", "the guests", "the key", "the drawer",
]  # fmt: skip


def human_ai_chat(i: int) -> dict:
    a, b = TOPICS[i % len(TOPICS)], TOPICS[(i * 5 + 3) % len(TOPICS)]
    return {
        "data_source": "chats",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Can you help me with {a}?{HUMAN_SIGN_OFF}"},
            {"role": "assistant", "content": f"Of course, here is a plan for {a}.{AI_SIGN_OFF}"},
            {"role": "user", "content": f"And what about {b}?{HUMAN_SIGN_OFF}"},
            {"role": "assistant", "content": f"For {b}, start early.{AI_SIGN_OFF}"},
        ],
    }


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def slot_pairs(sign_off: str) -> list[tuple[list[dict], str]]:
    """(prompt, completion) pairs that put ``sign_off`` in the model's (assistant) slot, after the
    text a turn of the learned side starts with, on held-out topics."""
    pairs = []
    for topic in ("the garden", "my sister", "the train"):
        other = {"role": "user", "content": f"What do you need with {topic}?"}
        prompt = [{"role": "system", "content": SYSTEM}, other]
        pairs.append((prompt, f"I need help with {topic}.{sign_off}"))
    return pairs


def sign_off_logprobs(model_dir: Path | str) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return {
        "human": mean_completion_logprob(model, tokenizer, slot_pairs(HUMAN_SIGN_OFF)),
        "ai": mean_completion_logprob(model, tokenizer, slot_pairs(AI_SIGN_OFF)),
    }


def small_config(tmp_path: Path, data: list[str], **kw) -> SFTRecipeConfig:
    defaults = dict(
        model="tiny", output_dir=str(tmp_path / "out"), max_steps=30, learning_rate=3e-3,
        per_device_train_batch_size=8, logging_steps=5, save_steps=1000, max_length=512, progress=False,
    )  # fmt: skip
    return SFTRecipeConfig(data=data, **{**defaults, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(
        tmp_path_factory.mktemp("corpus") / "chats.jsonl", [human_ai_chat(i) for i in range(24)]
    )


@pytest.mark.parametrize(("mode", "learned", "other"), [("swap", "human", "ai"), ("as_is", "ai", "human")])
def test_sft_learns_the_side_its_mode_names(tmp_path, tiny_model_dir, corpus, mode, learned, other):
    before = sign_off_logprobs(tiny_model_dir)
    summary = train_sft(small_config(tmp_path, [str(corpus)], source_mode=[f"chats={mode}"]))
    after = sign_off_logprobs(summary["model"])
    gain = {side: after[side] - before[side] for side in before}
    # The learned side's sign-off becomes far likelier in the model's slot (a ratio of e^15 or more);
    # the other side's, never a target, gains far less.
    assert gain[learned] > 15.0, (before, after)
    assert gain[learned] > gain[other] + 10.0, (before, after)
    assert after[learned] > after[other] + 10.0, (before, after)
    assert summary["last_loss"] < 0.5 * summary["first_loss"]
    assert summary["data"]["rows_by_source"]["chats"] >= 24
    assert json.loads((tmp_path / "out" / "train_summary.json").read_text())["steps"] == 30


def test_every_target_turn_is_in_the_loss_and_nothing_else(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    conversation = to_conversation(human_ai_chat(0), ModeTable({"chats": "swap"}))
    assert [m["role"] for m in conversation.messages] == ["system", "assistant", "user", "assistant", "user"]
    out = tokenize_conversation(tokenizer, conversation.messages, conversation.targets)
    learned = tokenizer.decode(
        [t for t, label in zip(out["input_ids"], out["labels"]) if label != IGNORE_INDEX]
    )
    human_turns = [m["content"] for m in human_ai_chat(0)["messages"] if m["role"] == "user"]
    assert learned == "".join(f"{turn}<|im_end|>" for turn in human_turns)
    assert SYSTEM not in learned and AI_SIGN_OFF not in learned


def test_dialogue_mode_learns_one_participant_and_keeps_the_system_prompt():
    row = {
        "data_source": "talk",
        "messages": [
            {"role": "system", "content": "Two neighbours chat."},
            {"role": "Ana", "content": "Morning!"},
            {"role": "Ben", "content": "Hi Ana."},
            {"role": "Ana", "content": "Nice weather."},
        ],
    }
    as_ben = to_conversation(row, ModeTable({"talk": "dialogue:Ben"}))
    assert [m["role"] for m in as_ben.messages] == ["system", "user", "assistant", "user"]
    assert as_ben.targets == (False, False, True, False)
    last_speaker = to_conversation(row, ModeTable({"talk": "dialogue"}))
    assert last_speaker.targets == (False, True, False, True)
    with pytest.raises(CorpusError, match=r"row 3.*'speaker'.*'Cy'"):
        to_conversation({**row, "speaker": "Cy"}, ModeTable({"talk": "dialogue"}), file="f.jsonl", row=3)


def test_a_malformed_row_names_file_row_and_field_or_is_skipped(tmp_path):
    good = human_ai_chat(1)
    bad_content = {"data_source": "chats", "messages": [{"role": "user", "content": 7}]}
    path = write_jsonl(tmp_path / "c.jsonl", [good, bad_content, good])
    (tmp_path / "c.jsonl").write_text(path.read_text() + "{not json\n")
    with pytest.raises(CorpusError) as err:
        list(read_corpus(parse_sources([str(path)]), ModeTable()))
    assert (
        str(path) in str(err.value) and "row 2" in str(err.value) and "messages[0].content" in str(err.value)
    )
    from learners.corpus import ReadStats

    stats = ReadStats()
    rows = list(read_corpus(parse_sources([str(path)]), ModeTable(), on_invalid="skip", stats=stats))
    assert len(rows) == 2 and stats.skipped == 2
    assert "row 4" in stats.skipped_examples[1]
    with pytest.raises(CorpusError, match="no mode for data source 'chats'"):
        list(read_corpus(parse_sources([str(path)]), ModeTable(default=None)))
    with pytest.raises(CorpusError, match="no corpus file matches"):
        parse_sources([str(tmp_path / "missing-*.jsonl")])


def test_parquet_rows_with_json_string_messages_read_lazily(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [human_ai_chat(i) for i in range(5)]
    table = pa.table(
        {
            "data_source": [r["data_source"] for r in rows],
            "messages": [json.dumps(r["messages"]) for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    out = list(read_corpus(parse_sources([str(tmp_path / "*.parquet")]), ModeTable({"chats": "swap"})))
    assert len(out) == 5 and out[0].messages[1]["content"].endswith(HUMAN_SIGN_OFF)
