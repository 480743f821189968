"""SimulatorArena: simulate a student being tutored in math (``soul/simarena-math-v0``) or a user writing a
document with an AI assistant (``soul/simarena-doc-v0``) (docs/tasks.md#simarena).

One file may hold rows of both tasks: ``load`` routes each row by its ``data_source`` (the canonical key or
its file-stem alias, ``sim_arena_math``/``sim_math`` and ``sim_arena_doc``/``sim_doc``); any other value is
a ``RowError``. A bare row without ``data_source`` is a math row if it has ``problem``, a document row if it
has ``document_type``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from osim_env.data import RowError, Scenario, load_rows, scenario_id_for, validate_row
from scenarios.simarena.schema import DOC_SOURCES, MATH_SOURCES, DocRow, MathRow, merge_raw

ALL_SOURCES = (*MATH_SOURCES, *DOC_SOURCES)


class _AnyFields(BaseModel):
    """Every task field of a row, unchecked: ``load`` validates them once it knows the task."""

    model_config = ConfigDict(extra="allow", frozen=True)


def row_model_for(fields: dict[str, Any]) -> type[MathRow] | type[DocRow]:
    source = fields.get("data_source")
    if source in MATH_SOURCES:
        return MathRow
    if source in DOC_SOURCES:
        return DocRow
    try:
        merged = merge_raw(fields)
    except ValueError as exc:
        raise RowError(str(exc), field="raw") from exc
    if "problem" in merged:
        return MathRow
    if "document_type" in merged:
        return DocRow
    raise RowError("a bare row needs data_source, problem or document_type", field="data_source")


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """SimulatorArena rows (math and document) from a published Parquet file or JSONL."""
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    # First pass: the published layout and the data_source table (unknown sources fail here).
    untyped, _ = load_rows(path, _AnyFields, ALL_SOURCES, on_invalid=on_invalid)
    scenarios = []
    for i, item in enumerate(untyped):
        fields = dict(item.row.model_extra or {})
        try:
            row = validate_row(row_model_for(fields), fields)
        except RowError as exc:
            if on_invalid == "skip":
                continue
            raise RowError(exc.reason, file=str(path), row=i, field=exc.field) from exc
        scenarios.append(Scenario(row, scenario_id_for(row, fields.get("index"))))
    return scenarios


__all__ = ["DocRow", "MathRow", "load"]
