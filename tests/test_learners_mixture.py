"""Corpus mixtures: ``PATH:RATIO`` sources are drawn in proportion, seeded and reproducible, a small
source is oversampled, and the SFT recipe streams them lazily."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from learners.corpus import CorpusError, ModeTable, ReadStats, parse_sources, read_corpus
from learners.sft import SFTRecipeConfig, train_sft


def chat(source: str, i: int) -> dict:
    return {
        "data_source": source,
        "messages": [
            {"role": "user", "content": f"{source} question {i}"},
            {"role": "assistant", "content": f"{source} answer {i}"},
        ],
    }


@pytest.fixture()
def sources(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "a").mkdir()
    for part in range(2):  # one source as a glob over two files
        rows = [chat("a", 10 * part + i) for i in range(10)]
        (tmp_path / "a" / f"part{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(chat("b", i)) + "\n" for i in range(3)))
    return f"{tmp_path}/a/*.jsonl", str(tmp_path / "b.jsonl")


def draw(specs: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    stream = read_corpus(parse_sources(specs), ModeTable(), seed=seed)
    return [(c.data_source, c.messages[0]["content"]) for c in itertools.islice(stream, n)]


def test_a_two_to_one_mixture_draws_about_two_rows_to_one_seeded(sources):
    a, b = sources
    rows = draw([f"{a}:2", f"{b}:1"], 3000, seed=0)
    counts = Counter(source for source, _ in rows)
    assert 1.75 < counts["a"] / counts["b"] < 2.3, counts
    # b has 3 rows: drawn ~1000 times it starts over (oversampling); a's 20 rows are all read in order
    assert len({text for source, text in rows if source == "b"}) == 3
    assert [t for s, t in rows if s == "a"][:20] == [f"a question {i}" for i in range(20)]
    assert draw([f"{a}:2", f"{b}:1"], 3000, seed=0) == rows
    assert draw([f"{a}:2", f"{b}:1"], 3000, seed=1) != rows
    flipped = Counter(source for source, _ in draw([f"{a}:1", f"{b}:2"], 3000, seed=0))
    assert 1.75 < flipped["b"] / flipped["a"] < 2.3, flipped


def test_without_ratios_sources_are_read_once_in_order(sources):
    a, b = sources
    rows = draw([a, b], 1000, seed=0)
    assert len(rows) == 23 and rows[-1] == ("b", "b question 2")


def test_ratios_are_all_or_none_and_positive(sources):
    a, b = sources
    with pytest.raises(CorpusError, match="every source or to none"):
        parse_sources([f"{a}:2", b])
    with pytest.raises(CorpusError, match="must be > 0"):
        parse_sources([f"{a}:0"])


def test_sft_streams_a_mixture_and_counts_rows_by_source(tmp_path, sources, tiny_model_dir):
    a, b = sources
    config = SFTRecipeConfig(
        model=str(tiny_model_dir), data=[f"{a}:2", f"{b}:1"], output_dir=str(tmp_path / "out"), max_steps=6,
        per_device_train_batch_size=8, save_steps=1000, logging_steps=2, progress=False,
    )  # fmt: skip
    summary = train_sft(config)
    seen = summary["data"]["rows_by_source"]
    assert summary["steps"] == 6 and seen["a"] + seen["b"] >= 48
    assert 1.4 < seen["a"] / seen["b"] < 2.8, seen
    with pytest.raises(CorpusError, match="needs max_steps"):
        train_sft(SFTRecipeConfig(model=str(tiny_model_dir), data=[f"{a}:2", f"{b}:1"], progress=False))
    assert isinstance(ReadStats().as_dict()["rows_by_source"], dict)
