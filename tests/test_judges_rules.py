"""Rule judges and metrics, checked against hand-computed values (and lexicalrichness)."""

from __future__ import annotations

import math

import pytest
from judges_fakes import record_with_turns

from judges.lexical import hdd, lexical_profile, mattr, ttr, word_tokens, yules_k
from judges.matching import (
    candidate_match,
    choices_present,
    contains_phrase,
    csqa_role_adherence,
    exact_location_match,
    normalize_location,
    token_f1,
)
from judges.overlap import bleu4, rouge_l
from judges.rules import (
    ChoiceLeakJudge,
    LexicalDiversityJudge,
    LocationMatchJudge,
    MCQJudge,
    ReferenceOverlapJudge,
    TokenF1Judge,
)


# -- matching --------------------------------------------------------------------------------------
def test_location_normalization_and_exact_match():
    assert normalize_location("The Biscuit_Tin.") == "biscuit tin"
    assert exact_location_match("in the biscuit_tin", "biscuit_tin")
    assert exact_location_match("On the shelf!", "shelf")
    assert not exact_location_match("the sugar jar", "biscuit_tin")
    assert not exact_location_match("biscuit tin, sugar jar", "biscuit_tin")


def test_candidate_match_excludes_other_candidates():
    cands = ["biscuit_tin", "sugar_jar"]
    assert candidate_match("The biscuit tin.", "biscuit_tin", cands)
    assert not candidate_match("biscuit tin or sugar jar", "biscuit_tin", cands)
    assert not candidate_match("the sugar_jar", "biscuit_tin", cands)
    # A candidate inside a longer one is not "mentioned": "red box" names only "red box".
    assert candidate_match("in the red box", "red box", ["box", "red box"])
    assert not candidate_match("in the red box", "box", ["box", "red box"])
    # Whole phrases only: "boxes" does not name "box".
    assert not contains_phrase("the boxes", "box")
    assert not candidate_match("boxes", "box", ["box", "crate"])


def test_csqa_substring_rule():
    choices = ["bank", "library", "river bank", "park", "school"]
    assert csqa_role_adherence("where can i borrow books around here", choices) == (1.0, [])
    assert csqa_role_adherence("Should I go to the BANK?", choices) == (0.0, ["bank"])
    # "river-bank" becomes "river bank", which also contains "bank": k = 2 -> answered.
    assert csqa_role_adherence("the river-bank, maybe", choices) == (0.0, ["bank", "river bank"])
    assert csqa_role_adherence("bank, library or park?", choices)[0] == 1.0  # k = 3: restating
    assert choices_present("parking lot", choices) == []  # padded: "park" is not in "parking"
    with pytest.raises(ValueError):
        csqa_role_adherence("x", [])


def test_token_f1_by_hand():
    # pred [cat, sat] vs gold [cat, sat, down]: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("The cat sat.", "cat sat down") == pytest.approx(0.8)
    assert token_f1("a dog", "cat") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("the", "cat") == 0.0


# -- lexical ---------------------------------------------------------------------------------------
def test_lexical_metrics_by_hand():
    tokens = word_tokens("A a, b; C!")
    assert tokens == ["a", "a", "b", "c"]
    assert ttr(tokens) == 0.75
    assert mattr(tokens, window=50) == 0.75  # 50 tokens or fewer: plain TTR
    assert mattr(tokens, window=2) == pytest.approx((0.5 + 1 + 1) / 3)
    assert yules_k(tokens) == pytest.approx(1e4 * (4 + 1 + 1 - 4) / 16)  # 1250
    assert hdd(tokens) == pytest.approx(0.75)  # s = min(42, 4) = 4: every type is drawn
    # s = 2: a (f=2): 1 - C(2,2)/C(4,2) = 5/6; b, c (f=1): 1 - C(3,2)/6 = 1/2 -> (5/6 + 1) / 2
    assert hdd(tokens, sample_size=2) == pytest.approx(11 / 12)
    assert lexical_profile("")["mattr"] == 0.0 and yules_k([]) == 0.0


def test_lexical_metrics_match_lexicalrichness():
    from lexicalrichness import LexicalRichness

    text = (
        "dinner idea w leftover rice fast pls no eggs allergic then what about a veggie skillet with "
        "peppers and onions and maybe some soy sauce or chili oil i have rice and peppers but no onions "
        "can i use leeks instead of onions and how long do i fry the rice before adding the sauce thanks "
        "also is frozen rice ok or should it thaw first because mine is frozen solid from last week"
    )
    tokens = word_tokens(text)
    assert len(tokens) > 60
    reference = LexicalRichness(tokens, preprocessor=None, tokenizer=None)
    assert mattr(tokens, 50) == pytest.approx(reference.mattr(window_size=50), abs=1e-6)
    assert hdd(tokens, 42) == pytest.approx(reference.hdd(draws=42), abs=1e-6)
    assert yules_k(tokens) == pytest.approx(reference.yulek, abs=1e-6)
    assert ttr(tokens) == pytest.approx(reference.ttr, abs=1e-6)


# -- overlap ---------------------------------------------------------------------------------------
def test_bleu_and_rouge_by_hand():
    hyp, ref = "The cat sat on the mat.", "the cat sat on a mat"
    # n-gram precisions 5/6, 3/5, 2/4, 1/3, no brevity penalty -> (1/12) ** (1/4)
    assert bleu4(hyp, ref) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-4)
    # LCS "the cat sat on mat" = 5 of 6 on both sides
    assert rouge_l(hyp, ref) == pytest.approx(5 / 6)
    assert bleu4("", ref) == 0.0 and rouge_l(hyp, "") == 0.0


# -- rule judges on episode records ------------------------------------------------------------------
def _one_turn(text: str, scenario: dict, kind: str = "message"):
    return record_with_turns(
        [("answerer", text, kind)], scenario, agents=["answerer"], policy_agents=["answerer"]
    )


MCQ_ROW = {"question": "q", "options": ["w", "x", "y", "z"], "gold": "B"}


@pytest.mark.parametrize(
    ("text", "score", "reason"),
    [
        ("Because of the move.\n<answer>B</answer>", 1.0, None),
        ("Thinking...\nAnswer: (b).", 1.0, None),
        ("<answer>C</answer>", 0.0, None),
        ("I'd say B fits", 0.0, "no answer found"),
        ("<answer>B, C</answer>", 0.0, "more than one letter"),
        ("<answer>E</answer>", 0.0, "letter out of range"),
    ],
)
def test_mcq_judge(text, score, reason):
    j = MCQJudge("gold", n_options=4).judge_episode(_one_turn(text, MCQ_ROW))["answerer"]
    assert j.error is None and j.score == score
    assert j.dims["valid"] == (0.0 if reason else 1.0)
    if reason:
        assert j.reasons["answer"] == reason


def test_mcq_judge_invalid_action_keeps_env_reason():
    j = MCQJudge("gold").judge_episode(_one_turn("empty after removing thinking", MCQ_ROW, "invalid_action"))
    assert j["answerer"].score == 0.0 and j["answerer"].reasons["answer"] == "empty after removing thinking"


def test_mcq_judge_reads_thinking_free_raw():
    record = record_with_turns(
        [("answerer", "<think>maybe A</think>\n<answer>B</answer>")],
        MCQ_ROW,
        agents=["answerer"],
        policy_agents=["answerer"],
    )
    assert MCQJudge("gold").judge_episode(record)["answerer"].score == 1.0


def test_location_judge():
    row = {"correct_answer": "biscuit_tin", "cands": ["biscuit_tin", "sugar_jar"]}
    judge = LocationMatchJudge()
    assert judge.judge_episode(_one_turn("<answer>the biscuit tin</answer>", row))["answerer"].score == 1.0
    assert (
        judge.judge_episode(_one_turn("<answer>biscuit tin, sugar jar</answer>", row))["answerer"].score
        == 0.0
    )
    missing = judge.judge_episode(_one_turn("the biscuit tin", row))["answerer"]
    assert missing.score == 0.0 and missing.reasons["answer"] == "no answer found"
    no_cands = {"correct_answer": "biscuit_tin"}
    assert (
        judge.judge_episode(_one_turn("<answer>in the biscuit_tin</answer>", no_cands))["answerer"].score
        == 1.0
    )
    string_cands = {"correct_answer": "biscuit_tin", "cands": "['biscuit_tin', 'sugar_jar']"}
    assert judge.judge_episode(_one_turn("<answer>sugar jar</answer>", string_cands))["answerer"].score == 0.0


def test_choice_leak_judge():
    row = {"choices": {"label": ["A", "B", "C"], "text": ["bank", "library", "park"]}}
    judge = ChoiceLeakJudge()
    leaked = judge.judge_episode(_one_turn("is it the library?", row))["answerer"]
    assert leaked.score == 0.0 and leaked.dims["choices_named"] == 1.0
    assert judge.judge_episode(_one_turn("where do people borrow books", row))["answerer"].score == 1.0


def test_token_f1_lexical_and_overlap_judges():
    row = {"answer": "cat sat down", "reference": "the cat sat on a mat"}
    f1 = TokenF1Judge("answer").judge_episode(_one_turn("<answer>the cat sat</answer>", row))["answerer"]
    assert f1.score == pytest.approx(0.8)
    lex = LexicalDiversityJudge().judge_episode(_one_turn("A a, b; C!", row))["answerer"]
    assert lex.score == 0.75 and lex.dims["yules_k"] == pytest.approx(1250.0)
    overlap = ReferenceOverlapJudge("reference").judge_episode(_one_turn("The cat sat on the mat.", row))
    assert overlap["answerer"].score == pytest.approx(5 / 6)
    assert math.isclose(overlap["answerer"].dims["bleu4"], (1 / 12) ** 0.25, abs_tol=1e-4)
