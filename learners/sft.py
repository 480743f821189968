"""Behavioural midtraining and SFT on TRL's ``SFTTrainer``: ``osim train sft`` or ``train_sft(config)``.

Data: chat corpora (``data``: ``PATH[:RATIO]`` sources, globs allowed; per-source modes decide which
side is learned, ``learners.corpus``) and/or the episodes of an osim run in a replay store
(``from_store``/``run``/``min_score``, through ``replays.to_dataset``'s ``sft`` export, assistant turns
as targets). Each conversation is tokenized with labels on every target turn only
(``learners.chat_tokens``) and handed to ``SFTTrainer`` pre-tokenized, so TRL's own collator, loss,
token counting, checkpointing and resume do the training.

Without ratios and without ``streaming`` the corpus is read once into memory; with ratios (an endless
seeded mixture) or ``streaming`` it is a ``datasets.IterableDataset`` read lazily, and ``max_steps``
sets the length of training.

    from learners.sft import SFTRecipeConfig, train_sft
    summary = train_sft(SFTRecipeConfig(data=["chats/*.jsonl:2", "dialogues.parquet:1"],
                                         source_mode=["lmsys=swap"], max_steps=200))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from learners.chat_tokens import tokenize_conversation
from learners.common import (
    TrainConfig,
    last_checkpoint,
    load_model,
    lora_config,
    quiet_printer,
    save_final,
    train_summary,
    trainer_arguments,
)
from learners.corpus import (
    Conversation,
    CorpusError,
    ModeTable,
    ReadStats,
    parse_sources,
    read_corpus,
)


@dataclass
class SFTRecipeConfig(TrainConfig):
    """``osim train sft``: the shared fields plus where the conversations come from."""

    data: list[str] = field(
        default_factory=list, metadata={"help": "corpus sources PATH[:RATIO] (globs; repeatable)"}
    )
    source_mode: list[str] = field(
        default_factory=list,
        metadata={"help": "DATA_SOURCE=MODE: as_is | swap | dialogue[:NAME] (repeatable)"},
    )
    default_mode: str = field(default="as_is", metadata={"help": "mode of a data source not named"})
    on_invalid: str = field(default="raise", metadata={"help": "a malformed row: raise | skip"})
    streaming: bool = field(default=False, metadata={"help": "read the corpus lazily (needs max_steps)"})
    from_store: str | None = field(default=None, metadata={"help": "replay store to take episodes from"})
    run: str | None = field(default=None, metadata={"help": "run id in --from-store (default: all runs)"})
    min_score: float | None = field(default=None, metadata={"help": "keep store episodes scoring at least"})
    role: str | None = field(default=None, metadata={"help": "store role to learn (default: policy roles)"})
    env_id: str | None = field(default=None, metadata={"help": "only store episodes of this env"})
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate"})


def mode_table(config: SFTRecipeConfig) -> ModeTable:
    modes = {}
    for item in config.source_mode:
        source, sep, mode = item.partition("=")
        if not sep or not source or not mode:
            raise CorpusError(f"source_mode must look like DATA_SOURCE=MODE, got {item!r}")
        modes[source] = mode
    return ModeTable(modes, default=config.default_mode or None)


def store_conversations(config: SFTRecipeConfig) -> list[Conversation]:
    """The stored episodes chosen by ``from_store``/``run``/``min_score``/``role``/``env_id``, as
    conversations whose assistant turns (the role's actions) are the targets."""
    from replays import ReplayStore, to_dataset

    with ReplayStore(config.from_store, read_only=True) as store:
        dataset = to_dataset(
            store,
            "sft",
            run_id=config.run,
            min_score=config.min_score,
            role=config.role,
            env_id=config.env_id,
        )
    out = []
    for row in dataset:
        messages = tuple({"role": m["role"], "content": m["content"]} for m in row["messages"])
        out.append(Conversation(row["env_id"], messages, tuple(m["role"] == "assistant" for m in messages)))
    return out


class SFTData:
    """The training conversations of a config, tokenized, with what was read counted in ``stats``."""

    def __init__(self, config: SFTRecipeConfig, tokenizer: Any) -> None:
        if not config.data and not config.from_store:
            raise CorpusError("no training data: give data sources (PATH[:RATIO]) or from_store")
        self.config = config
        self.tokenizer = tokenizer
        self.sources = parse_sources(config.data)
        self.modes = mode_table(config)
        self.stats = ReadStats()
        self.mixture = bool(self.sources) and self.sources[0].ratio is not None
        self.streaming = config.streaming or self.mixture
        if self.streaming and config.max_steps <= 0:
            raise CorpusError("a mixture with ratios or a streamed corpus needs max_steps > 0")
        if self.mixture and config.from_store:
            raise CorpusError("from_store cannot be mixed with ratio sources; drop the ratios")
        self.stored = store_conversations(config) if config.from_store else []
        if config.from_store and not self.stored:
            raise CorpusError(f"no stored episode in {config.from_store} matches run/min_score/role/env_id")

    def conversations(self) -> Iterator[Conversation]:
        for conversation in self.stored:
            self.stats.rows[conversation.data_source] += 1
            yield conversation
        yield from read_corpus(
            self.sources,
            self.modes,
            seed=self.config.seed,
            on_invalid=self.config.on_invalid,
            stats=self.stats,
        )

    def examples(self) -> Iterator[dict[str, list[int]]]:
        for conversation in self.conversations():
            yield tokenize_conversation(self.tokenizer, conversation.messages, conversation.targets)

    def dataset(self) -> Any:
        import datasets

        if self.streaming:
            return datasets.IterableDataset.from_generator(self.examples)
        rows = list(self.examples())
        if not rows:
            raise CorpusError("the corpus holds no valid row")
        return datasets.Dataset.from_list(rows)


def build_trainer(config: SFTRecipeConfig, *, callbacks: list[Any] | None = None) -> tuple[Any, Any, SFTData]:
    """(trainer, tokenizer, data) for ``config``: ``SFTTrainer`` on the tokenized conversations."""
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_model(config.model)
    data = SFTData(config, tokenizer)
    args = SFTConfig(
        **trainer_arguments(config), max_length=config.max_length, shuffle_dataset=not data.streaming
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data.dataset(),
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=callbacks,
    )
    return trainer, tokenizer, data


def train_sft(config: SFTRecipeConfig) -> dict[str, Any]:
    """Train, save the final model to ``config.output_dir`` and return the JSON summary."""
    from learners.progress import RichProgress

    trainer, tokenizer, data = build_trainer(config, callbacks=[RichProgress(enabled=config.progress)])
    quiet_printer(trainer)
    resume = last_checkpoint(config.output_dir) if config.resume else None
    trainer.train(resume_from_checkpoint=resume)
    paths = save_final(trainer, tokenizer, config)
    return train_summary(
        trainer, config, recipe="sft", resumed_from=resume, data=data.stats.as_dict(), **paths
    )
