"""Shared SOUL-Index conventions (judges/soul_index.py): data_source table, rendered options, A/B order."""

from __future__ import annotations

import pytest

from judges.soul_index import DATA_SOURCES, ab_flip, accepted_sources, rendered_options


def test_data_source_table_has_the_thirteen_canonical_keys_and_their_aliases():
    assert len(DATA_SOURCES) == 13
    assert accepted_sources("behavior_chain") == ("behavior_chain", "behaviorchain")
    assert "alignx_history16" in accepted_sources("alignx")
    with pytest.raises(KeyError, match="unknown SOUL-Index data_source"):
        accepted_sources("humanual")


def test_rendered_options_are_the_last_run_in_order():
    text = "A. Smith arrived.\nB. Jones left.\nQuestion?\nA) one\nB) two\nC) three\nthanks"
    assert rendered_options(text) == ["one", "two", "three"]
    assert rendered_options("A. x\nC. y\nA. p\nB. q") == ["p", "q"]
    for bad in ("no options here", "A. only one", "A. x\nB. y\nstory\nA. lonely"):
        with pytest.raises(ValueError, match="options not found"):
            rendered_options(bad)


def test_ab_flip_depends_only_on_the_scenario_id():
    flips = [ab_flip(i) for i in range(64)]
    assert 16 < sum(flips) < 48
    assert ab_flip(17) == ab_flip("17")
