"""``osim_env.json_text.decode_json`` answers exactly as ``json.loads`` does, and never crashes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osim_env.json_text import LONE_SURROGATE, InvalidJSON, decode_json

# JSON values with what a decoder can get wrong: big and negative integers, float edge values
# (NaN and the infinities json writes as NaN / Infinity), escapes, astral characters and lone
# surrogates, duplicate-prone keys, nesting.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.lists(st.characters(codec=None) | st.sampled_from("\ud83d\ude00\udfff"), max_size=12).map("".join)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='ab"\\\u00e9\U0001f600', max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


def _reference(text: str) -> tuple[str, str]:
    """What ``json.loads`` makes of ``text``: ("ok", repr of the value) or ("error", its reason);
    a value that is not Unicode text (a lone surrogate) is refused."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return "error", exc.msg
    except RecursionError:
        return "error", "nested too deeply"
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "error", LONE_SURROGATE
    return "ok", repr(value)


def _ours(text: str) -> tuple[str, str]:
    try:
        return "ok", repr(decode_json(text))
    except InvalidJSON as exc:
        return "error", exc.reason


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.booleans(), st.sampled_from(["", " ", "\n", "\t", "\ufeff", "\x0c"]))
def test_a_written_value_decodes_as_json_loads_decodes_it(value, ascii_only, padding):
    # repr compares types (1 vs 1.0 vs True), key order and the sign of zero; NaN's repr is stable.
    text = padding + json.dumps(value, ensure_ascii=ascii_only) + padding
    assert _ours(text) == _reference(text)


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.data())
def test_a_damaged_text_is_refused_or_read_as_json_loads_does(value, data):
    text = json.dumps(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(st.sampled_from(["", ",", "}", "{", "'", '"', "\\", "\n", "NaN", "\ud800", "01", "."]))
    damaged = text[:cut] + insert + text[cut + data.draw(st.integers(min_value=0, max_value=2)) :]
    assert _ours(damaged) == _reference(damaged)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"action_type": "speak", "argument": ', "Expecting value"),
        ("{'a': 1}", "Expecting property name enclosed in double quotes"),
        ('{"a": 1,}', "Expecting property name enclosed in double quotes"),
        ('{"a": "x\ny"}', "Invalid control character at"),
        ('{"a": 1} and more', "Extra data"),
        ('\ufeff{"a": 1}', "Unexpected UTF-8 BOM (decode using utf-8-sig)"),
    ],
)
def test_the_reason_for_invalid_json_is_json_s_own(text, reason):
    with pytest.raises(InvalidJSON) as caught:
        decode_json(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_values_json_accepts_and_a_strict_parser_might_not_are_kept():
    assert repr(decode_json('{"a": NaN, "b": -Infinity}')) == "{'a': nan, 'b': -inf}"
    assert decode_json('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}  # a whole surrogate pair
    assert decode_json('{"a": 1, "b": 2, "a": 3}') == {"a": 3, "b": 2}
    assert list(decode_json('{"b": 1, "a": 2}')) == ["b", "a"]


@pytest.mark.parametrize(
    "text",
    ['{"a": "\\ud83d"}', '{"a": ["ok", "\\ude00 tail"]}', '{"\\ud800": 1}', '{"a": "\ud800"}'],
    ids=["escape", "in-a-list", "in-a-key", "raw-character"],
)
def test_half_a_surrogate_pair_is_refused_though_json_accepts_it(text):
    json.loads(text)  # json gives a str that cannot be encoded as UTF-8
    with pytest.raises(InvalidJSON) as caught:
        decode_json(text)
    assert caught.value.reason == LONE_SURROGATE


def test_deep_nesting_is_refused_instead_of_raising_recursion_error():
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(InvalidJSON, match="nested too deeply"):
        decode_json(deep)
    moderately_deep = "[" * 300 + "]" * 300  # deeper than the fast parser goes, fine for json
    assert decode_json(moderately_deep) == json.loads(moderately_deep)


def test_what_is_not_text_is_a_type_error_as_in_json():
    with pytest.raises(TypeError):
        decode_json(123)  # type: ignore[arg-type]
