"""Chat corpora of human behaviour, read lazily, checked row by row, mixed by ratio.

A corpus row is ``{"data_source": str, "messages": [{"role", "content"}, ...]}`` (Parquet or JSONL;
``messages`` may also be a JSON string). What the model learns from a row depends on the mode of its
``data_source`` (README.md#train):

- ``as_is``: the assistant turns are the targets (ordinary SFT);
- ``swap``: a human–AI chat played from the human's side: user and assistant roles are swapped, so the
  human's turns become the assistant turns the model learns, and the AI's turns its prompts;
- ``dialogue`` (or ``dialogue:NAME``): one participant of a human–human dialogue. The learned
  participant is ``NAME``, else the row's ``speaker`` field, else the speaker of the last turn; its
  turns become assistant turns, everybody else's user turns.

A system message (the persona, the "social grounding") is kept as the first message. A malformed row
raises ``CorpusError`` naming the file, row (counted from 1) and field, or is counted and skipped with
``on_invalid="skip"``.

Sources are ``PATH[:RATIO]`` strings; ``PATH`` may be a glob. Without ratios the corpus is the files
read once, in order. With ratios it is an endless seeded stream that draws each next row from source
``i`` with probability ``ratio_i / sum(ratios)``; a source that runs out starts over (oversampling),
one that is drawn rarely is subsampled. Nothing is held in memory beyond one Parquet batch per source.
"""

from __future__ import annotations

import glob
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Mode = Literal["as_is", "swap", "dialogue"]
MODES = ("as_is", "swap", "dialogue")
SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
_PARQUET_BATCH_ROWS = 1024


class CorpusError(ValueError):
    """A corpus file or row that cannot be used, with where it is: file, row (from 1) and field."""

    def __init__(self, message: str, *, file: str = "", row: int | None = None, field: str = "") -> None:
        where = ", ".join(
            part
            for part in (file, f"row {row}" if row is not None else "", f"field {field!r}" if field else "")
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field = file, row, field


@dataclass(frozen=True)
class Source:
    """One ``PATH[:RATIO]`` entry: the files its glob matched and its mixture weight."""

    spec: str
    files: tuple[Path, ...]
    ratio: float | None


@dataclass(frozen=True)
class Conversation:
    """A training conversation: chat messages and, per message, whether it is a target (in the loss)."""

    data_source: str
    messages: tuple[dict[str, str], ...]
    targets: tuple[bool, ...]


@dataclass
class ReadStats:
    """What a read has seen so far: rows yielded per data source and rows skipped as invalid."""

    rows: Counter = field(default_factory=Counter)
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_by_source": dict(self.rows),
            "skipped": self.skipped,
            "skipped_examples": self.skipped_examples,
        }


def parse_sources(specs: Sequence[str]) -> list[Source]:
    """``PATH[:RATIO]`` strings as sources. Ratios are all given or all omitted; a glob must match."""
    sources = []
    for spec in specs:
        path, ratio = _split_ratio(spec)
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        files = tuple(Path(m) for m in matches if Path(m).is_file())
        if not files:
            raise CorpusError(f"no corpus file matches {path!r}", file=path)
        for f in files:
            if f.suffix not in SUFFIXES:
                raise CorpusError(f"a corpus file is .jsonl or .parquet, got {f.suffix!r}", file=str(f))
        sources.append(Source(spec, files, ratio))
    given = [s.ratio is not None for s in sources]
    if any(given) and not all(given):
        raise CorpusError("give a ratio to every source or to none (PATH:RATIO)")
    return sources


def _split_ratio(spec: str) -> tuple[str, float | None]:
    head, sep, tail = spec.rpartition(":")
    if not sep or not head:
        return spec, None
    try:
        ratio = float(tail)
    except ValueError:
        return spec, None  # a ':' that is part of the path
    if not ratio > 0:
        raise CorpusError(f"a mixture ratio must be > 0, got {tail!r}", file=head)
    return head, ratio


def iter_raw_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number from 1, row) of one file, lazily: JSONL line by line, Parquet batch by batch."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, CorpusError(f"not JSON: {exc.msg}", file=str(path), row=n)


class ModeTable:
    """The mode of each data source (``{"lmsys": "swap", "convai": "dialogue:B"}``) with a default."""

    def __init__(self, modes: Mapping[str, str] | None = None, default: str | None = "as_is") -> None:
        self.modes = dict(modes or {})
        self.default = default
        for mode in [*self.modes.values(), *([default] if default else [])]:
            if mode.partition(":")[0] not in MODES:
                raise CorpusError(f"unknown mode {mode!r}; modes: {', '.join(MODES)} (dialogue:NAME)")

    def of(self, data_source: str) -> str | None:
        return self.modes.get(data_source, self.default)


def to_conversation(raw: Any, modes: ModeTable, *, file: str = "", row: int | None = None) -> Conversation:
    """A checked corpus row as a training conversation under its source's mode."""

    def fail(message: str, field_name: str = "") -> CorpusError:
        return CorpusError(message, file=file, row=row, field=field_name)

    if isinstance(raw, CorpusError):
        raise raw
    if not isinstance(raw, Mapping):
        raise fail(f"a row is an object, got {type(raw).__name__}")
    source = raw.get("data_source", "")
    if not isinstance(source, str):
        raise fail(f"must be a string, got {type(source).__name__}", "data_source")
    mode = modes.of(source)
    if mode is None:
        raise fail(f"no mode for data source {source!r} (give one, or a default mode)", "data_source")
    messages = _messages(raw.get("messages"), fail)
    kind, _, name = mode.partition(":")
    if kind == "as_is":
        out = messages
        targets = [m["role"] == "assistant" for m in out]
    elif kind == "swap":
        flip = {"user": "assistant", "assistant": "user"}
        out = [{**m, "role": flip.get(m["role"], m["role"])} for m in messages]
        targets = [m["role"] == "assistant" for m in out]
    else:
        out, targets = _dialogue(messages, name or raw.get("speaker"), fail)
    if not any(targets):
        raise fail(f"no target turn under mode {mode!r} (nothing to learn from this row)", "messages")
    return Conversation(source, tuple(out), tuple(targets))


def _messages(value: Any, fail: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise fail("a string that is not a JSON list of messages", "messages") from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise fail("must be a non-empty list of {role, content} messages", "messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise fail(f"message {i} is not an object", f"messages[{i}]")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role:
            raise fail("must be a non-empty string", f"messages[{i}].role")
        if not isinstance(content, str):
            raise fail(f"must be a string, got {type(content).__name__}", f"messages[{i}].content")
        if role == "system" and i != 0:
            raise fail("a system message must come first", f"messages[{i}].role")
        out.append({"role": role, "content": content})
    return out


def _dialogue(
    messages: list[dict[str, str]], speaker: Any, fail: Any
) -> tuple[list[dict[str, str]], list[bool]]:
    """One participant's turns become assistant turns, everybody else's user turns."""
    turns = [m for m in messages if m["role"] != "system"]
    if not turns:
        raise fail("a dialogue needs at least one turn", "messages")
    target = speaker if speaker is not None else turns[-1]["role"]
    if not isinstance(target, str) or target not in {m["role"] for m in turns}:
        raise fail(f"the learned speaker {target!r} has no turn in this dialogue", "speaker")
    out, targets = [], []
    for m in messages:
        if m["role"] == "system":
            out.append(m)
            targets.append(False)
        else:
            mine = m["role"] == target
            out.append({"role": "assistant" if mine else "user", "content": m["content"]})
            targets.append(mine)
    return out, targets


def read_source(
    source: Source, modes: ModeTable, *, on_invalid: str = "raise", stats: ReadStats | None = None
) -> Iterator[Conversation]:
    """The conversations of one source's files, in order, read lazily."""
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    stats = stats if stats is not None else ReadStats()
    for path in source.files:
        for n, raw in iter_raw_rows(path):
            try:
                conversation = to_conversation(raw, modes, file=str(path), row=n)
            except CorpusError as exc:
                if on_invalid == "raise":
                    raise
                stats.skipped += 1
                if len(stats.skipped_examples) < 5:
                    stats.skipped_examples.append(str(exc))
                continue
            stats.rows[conversation.data_source] += 1
            yield conversation


def read_corpus(
    sources: Sequence[Source],
    modes: ModeTable,
    *,
    seed: int = 0,
    on_invalid: str = "raise",
    stats: ReadStats | None = None,
) -> Iterator[Conversation]:
    """The corpus as one lazy stream: sources in order without ratios, else a seeded endless mixture."""
    stats = stats if stats is not None else ReadStats()
    if not sources or sources[0].ratio is None:
        for source in sources:
            yield from read_source(source, modes, on_invalid=on_invalid, stats=stats)
        return
    yield from _mixture(sources, modes, seed=seed, on_invalid=on_invalid, stats=stats)


def _mixture(
    sources: Sequence[Source], modes: ModeTable, *, seed: int, on_invalid: str, stats: ReadStats
) -> Iterator[Conversation]:
    weights = np.array([float(s.ratio or 0.0) for s in sources])
    rng = np.random.default_rng(seed)
    readers = [read_source(s, modes, on_invalid=on_invalid, stats=stats) for s in sources]
    while True:
        i = int(rng.choice(len(sources), p=weights / weights.sum()))
        conversation = next(readers[i], None)
        if conversation is None:  # exhausted: start the source over (oversampling)
            readers[i] = read_source(sources[i], modes, on_invalid=on_invalid, stats=stats)
            conversation = next(readers[i], None)
            if conversation is None:
                raise CorpusError(f"source {sources[i].spec!r} has no valid row", file=sources[i].spec)
        yield conversation
