from __future__ import annotations

import pytest
from pydantic import ValidationError

from osim_env.events import Event, EventLog


def test_log_is_dense_ordered_and_round_trips():
    log = EventLog()
    a = log.append("message", "alice", {"text": "hi"}, turn=0)
    b = log.append("message", "bob", {"text": "psst"}, turn=1, visibility=["alice"])
    assert (a.index, b.index) == (0, 1)
    assert b.visibility == ("alice",)
    again = EventLog.from_dicts(log.to_dicts())
    assert list(again) == list(log)


def test_visibility_filters_per_agent():
    log = EventLog()
    log.append("message", "alice", {"text": "public"}, turn=0)
    log.append("feedback", "env", {"text": "secret"}, turn=0, visibility=("alice",))
    assert [e.text for e in log.visible("alice")] == ["public", "secret"]
    assert [e.text for e in log.visible("bob")] == ["public"]
    assert log.last(kind="feedback").text == "secret"
    assert log.last(source="carol") is None


def test_events_are_frozen_and_kinds_checked():
    log = EventLog()
    event = log.append("message", "alice", {"text": "hi"}, turn=0)
    with pytest.raises(ValidationError):
        event.turn = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown event kind"):
        log.append("shout", "alice", {}, turn=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Event(index=0, turn=0, kind="shout", source="a")  # type: ignore[arg-type]


def test_field_dicts_are_the_events_own():
    log = EventLog()
    log.append("message", "alice", {"text": "hi"}, turn=0)
    log.append("feedback", "env", {"text": "psst"}, turn=0, visibility=["alice"])
    again = EventLog.from_dicts(log.to_dicts())
    for events in (log, again):
        assert len(events._fields) == len(events)
        assert all(fields is event.__dict__ for fields, event in zip(events._fields, events))


def test_a_log_with_gaps_is_rejected():
    event = Event(index=3, turn=0, kind="message", source="a")
    with pytest.raises(ValueError, match="dense"):
        EventLog([event])


def test_appended_events_equal_validated_events():
    log = EventLog()
    fast = log.append("message", "alice", {"text": "hi"}, turn=2, visibility=["bob"])
    validated = Event(
        index=0, turn=2, kind="message", source="alice", visibility=("bob",), payload={"text": "hi"}
    )
    assert fast == validated
    assert fast.model_dump() == validated.model_dump()
    assert Event.model_validate_json(fast.model_dump_json()) == fast
    assert fast.model_fields_set == validated.model_fields_set


def test_observation_messages_are_read_only_dicts():
    import copy
    import json
    import pickle

    from osim_env.messages import Message

    m = Message(role="user", content="hi")
    assert isinstance(m, dict) and json.dumps(m) == '{"role": "user", "content": "hi"}'
    for edit in (lambda: m.__setitem__("content", "x"), lambda: m.update(content="x"), lambda: m.pop("role")):
        with pytest.raises(TypeError, match="read-only"):
            edit()
    assert copy.deepcopy(m) == m and type(copy.deepcopy(m)) is Message
    assert pickle.loads(pickle.dumps(m)) == m
    editable = dict(m)
    editable["content"] = "changed"
    assert m["content"] == "hi"
