from __future__ import annotations

import pytest

from judges.extraction import extract_answer, gold_letter, parse_options
from osim_env.thinking import strip_thinking


@pytest.mark.parametrize(
    ("text", "visible", "thinking", "error"),
    [
        ("plain", "plain", "", None),
        ("<think>plan</think>Hello", "Hello", "plan", None),
        ("<THINK>a</THINK> x <seed:think>b</seed:think> y", "x  y", "a\n\nb", None),
        ("Hello <think>never closed", "Hello", "never closed", None),
        ("<think>only thoughts</think>", "", "only thoughts", "empty after removing thinking"),
        ("reasoning first</think>answer", "answer", "reasoning first", None),
    ],
)
def test_strip_thinking(text, visible, thinking, error):
    out = strip_thinking(text)
    assert (out.visible, out.thinking, out.error) == (visible, thinking, error)


@pytest.mark.parametrize(
    ("text", "answer", "reason"),
    [
        ("B", "B", None),
        ("(b)", "B", None),
        ("Answer: C.", "C", None),
        ("**D**", "D", None),
        ("Final answer is (a)", "A", None),
        ("reasoning...\nB.", "B", None),
        ("I'd say B fits", None, "no answer found"),
        ("B is right, I think\nbecause", None, "no answer found"),
        ("", None, "no answer found"),
        ("<answer>A</answer> no wait <answer>c</answer>", "C", None),
        ("<answer>A and B</answer>", None, "more than one letter"),
        ("<answer>A, C</answer>", None, "more than one letter"),
        ("<answer>E</answer>", None, "letter out of range"),
        ("<answer>the oak chest</answer>", None, "no answer found"),
    ],
)
def test_extract_answer_mcq(text, answer, reason):
    out = extract_answer(text, n_options=4)
    assert (out.answer, out.reason) == (answer, reason)


def test_extract_answer_open():
    assert extract_answer("<answer> biscuit_tin </answer>").answer == "biscuit_tin"
    assert extract_answer("biscuit_tin").reason == "no answer found"
    assert extract_answer("<answer></answer>").reason == "no answer found"


def test_parse_options_keeps_commas_inside_options():
    assert parse_options("A. red box, under the rags, B. blue tin, C. a, b and c") == [
        "red box, under the rags",
        "blue tin",
        "a, b and c",
    ]
    assert parse_options(["x", " y "]) == ["x", "y"]
    with pytest.raises(ValueError):
        parse_options("red, blue")


def test_gold_letter_needs_exactly_one_match():
    assert gold_letter(["a", "b", "c"], "c") == "C"
    with pytest.raises(ValueError, match="matches 0"):
        gold_letter(["a", "b"], "z")
    with pytest.raises(ValueError, match="matches 2"):
        gold_letter(["a", "a"], "a")
