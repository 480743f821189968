"""Reading a judge model's answer into its pydantic schema.

Models wrap JSON in code fences, add a sentence after it, or write near-valid JSON (trailing commas,
single quotes). The first JSON object in the text is decoded as is; only if that fails is it repaired
with ``json_repair``. Whatever comes out must then validate against the schema, whose range checks make
an out-of-range value a parse failure like any other. A failure raises ``ParseError`` with a reason
that ends up in ``Judgment.error``; there is no default value.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from osim_env.json_text import LONE_SURROGATE, holds_lone_surrogate

SchemaT = TypeVar("SchemaT", bound=BaseModel)

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


class ParseError(ValueError):
    """A judge output that does not yield a valid answer."""


def _candidates(text: str) -> list[str]:
    """Texts that may hold the answer object: fenced blocks first, then the whole text."""
    return [m.group(1) for m in _FENCE.finditer(text)] + [text]


def _decode_first_object(text: str) -> dict[str, Any] | None:
    """Strict decode of the object that starts at the first ``{`` (inner objects are never tried: a
    broken outer object must be repaired, not replaced by one of its parts)."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        # strict=False: raw control characters inside strings (which grammar-guided decoding lets
        # through) are accepted; everything else must be valid JSON.
        obj, _ = json.JSONDecoder(strict=False).raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _repair_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        return None
    import json_repair

    snippet = text[start : end + 1] if end > start else text[start:]
    obj = json_repair.repair_json(snippet, return_objects=True, skip_json_loads=True)
    if isinstance(obj, list):  # several objects one after another: the first is the answer
        obj = next((o for o in obj if isinstance(o, dict)), None)
    return obj if isinstance(obj, dict) and obj else None


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (fenced or bare, trailing text ignored), repaired if near-valid."""
    for candidate in _candidates(text):
        obj = _decode_first_object(candidate)
        if obj is not None:
            return obj
    for candidate in _candidates(text):
        obj = _repair_object(candidate)
        if obj is not None:
            return obj
    raise ParseError("no JSON object found in the judge output")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:6]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 6
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_answer(text: str, schema: type[SchemaT]) -> SchemaT:
    """Parse and validate a judge output against ``schema`` or raise ``ParseError``."""
    obj = extract_json_object(text)
    if holds_lone_surrogate(obj):  # a "\ud83d" escape alone: no store can write the reason
        raise ParseError(f"the answer {LONE_SURROGATE}")
    try:
        return schema.model_validate(obj)
    except ValidationError as exc:
        raise ParseError(f"answer does not match the schema: {_describe(exc)}") from exc
