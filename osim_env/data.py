"""Loading task rows: the published Parquet layout, JSONL, or plain dicts.

Every task reads its fields from ``extra_info`` (the published layout) or from a bare object.
A row that does not validate raises ``RowError`` naming the file, the row and the field, so a bad
data file is fixed at its source instead of silently producing odd episodes.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from osim_env.seeding import stable_hash

RowT = TypeVar("RowT", bound=BaseModel)


class RowError(ValueError):
    """A data row that cannot be used: which file, which row, which field, and why.

    ``row`` is the row's 0-based index among the file's rows; ``line`` its 1-based line in a text
    file (JSONL). The message counts from 1, the way an editor does: "line 7" in a JSONL file, "row 3"
    in Parquet or JSON.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        line: int | None = None,
    ):
        self.file, self.row, self.field, self.reason, self.line = file, row, field, reason, line
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"line {line}" if line is not None else f"row {row + 1}" if row is not None else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclass(frozen=True)
class Scenario:
    """A validated row and its stable id."""

    row: BaseModel
    scenario_id: str


def decode_structured(value: Any) -> Any:
    """Decode a string-encoded list/dict: ``json.loads``, then ``ast.literal_eval``, never ``eval``."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{":
        return value
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        return value


def is_published(raw: Mapping[str, Any]) -> bool:
    """Whether ``raw`` is in the published layout: it has ``data_source``, or its ``extra_info`` is an
    object. A bare row may have a task field of its own called ``extra_info`` (FanToM's extra context,
    a string); such a row is not unwrapped."""
    return "data_source" in raw or isinstance(raw.get("extra_info"), Mapping)


def task_fields(raw: Mapping[str, Any], data_source: str | tuple[str, ...]) -> tuple[dict[str, Any], Any]:
    """The task fields of a row in the published layout or a bare one, and its ``index`` if any.

    ``data_source`` is the accepted value, or a tuple (canonical value, aliases...) for a task whose
    published files use more than one name; then the row's own value is kept in the fields as
    ``data_source`` (a task whose variants are named by it reads it there)."""
    if is_published(raw):
        source = raw.get("data_source")
        accepted = (data_source,) if isinstance(data_source, str) else data_source
        if source is not None and source not in accepted:
            expected = repr(accepted[0]) if len(accepted) == 1 else f"one of {list(accepted)!r}"
            raise RowError(f"data_source is {source!r}, expected {expected}", field="data_source")
        extra = decode_structured(raw.get("extra_info"))
        if not isinstance(extra, Mapping):
            raise RowError("extra_info must be an object with the task fields", field="extra_info")
        fields = dict(extra)
        if source is not None and len(accepted) > 1:
            fields.setdefault("data_source", source)
    else:
        fields = dict(raw)
    return fields, fields.get("index")


def validate_row(model: type[RowT], fields: Mapping[str, Any]) -> RowT:
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or None
        raise RowError(first.get("msg", str(exc)), field=loc) from exc
    except RowError:
        raise
    except ValueError as exc:
        raise RowError(str(exc)) from exc


def scenario_id_for(row: BaseModel, index: Any) -> str:
    if index is not None and index != "":
        return str(index)
    return stable_hash("row", row.model_dump(mode="json"))


def to_scenario(value: Any, model: type[BaseModel], data_source: str | tuple[str, ...]) -> Scenario:
    """Accept a ``Scenario``, a row model, or a dict (published layout or bare)."""
    if isinstance(value, Scenario):
        if not isinstance(value.row, model):
            raise TypeError(f"the scenario's row is a {type(value.row).__name__}, not a {model.__name__}")
        return value
    if isinstance(value, model):
        return Scenario(value, scenario_id_for(value, getattr(value, "index", None)))
    if isinstance(value, Mapping):
        fields, index = task_fields(value, data_source)
        row = validate_row(model, fields)
        return Scenario(row, scenario_id_for(row, index))
    raise TypeError(
        f"scenario must be a {model.__name__}, a dict or an int index, got {type(value).__name__}"
    )


def _raw_rows(path: Path) -> Iterator[tuple[int | None, Mapping[str, Any]]]:
    """(1-based line for a text file or None, raw row) for each row of ``path``."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for raw in pq.read_table(path).to_pylist():
            yield None, raw
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for i, text in enumerate(fh):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise RowError(f"not valid JSON: {exc.msg}", file=str(path), line=i + 1) from exc
                if not isinstance(obj, dict):
                    raise RowError("a row must be a JSON object", file=str(path), line=i + 1)
                yield i + 1, obj
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise RowError("a .json data file must hold a list of rows", file=str(path))
        for raw in data:
            yield None, raw
    else:
        raise RowError(
            f"unsupported data file type {suffix!r} (use .parquet, .jsonl or .json)", file=str(path)
        )


def load_rows(
    path: str | Path,
    model: type[BaseModel],
    data_source: str | tuple[str, ...],
    *,
    on_invalid: Literal["raise", "skip"] = "raise",
) -> tuple[list[Scenario], int]:
    """Load and validate every row of ``path``. Returns (scenarios, number of skipped rows)."""
    path = Path(path)
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    scenarios: list[Scenario] = []
    skipped = 0
    for i, (line, raw) in enumerate(_raw_rows(path)):
        try:
            fields, index = task_fields(raw, data_source)
            row = validate_row(model, fields)
        except RowError as exc:
            if on_invalid == "skip":
                skipped += 1
                continue
            raise RowError(exc.reason, file=str(path), row=i, field=exc.field, line=line) from exc
        scenarios.append(Scenario(row, scenario_id_for(row, index)))
    return scenarios, skipped


def fixture_path(task_package: str) -> Path:
    return Path(str(resources.files(task_package).joinpath("data", "fixture.jsonl")))
