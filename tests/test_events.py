from __future__ import annotations

import json

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


def test_event_kinds_are_checked_and_events_have_no_extra_attributes():
    log = EventLog()
    event = log.append("message", "alice", {"text": "hi"}, turn=0)
    with pytest.raises(AttributeError):
        event.mood = "sad"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown event kind"):
        log.append("shout", "alice", {}, turn=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"index": 0, "turn": 0, "kind": "shout", "source": "a"}, "kind"),
        ({"index": -1, "turn": 0, "kind": "message", "source": "a"}, "index"),
        ({"index": 0, "turn": -2, "kind": "message", "source": "a"}, "turn"),
        ({"index": 0, "turn": 0, "kind": "message"}, "source"),
        ({"index": 0, "turn": 0, "kind": "message", "source": "a", "mood": "sad"}, "mood"),
    ],
)
def test_events_from_outside_are_validated(data, field):
    with pytest.raises(ValidationError, match=field):
        Event.validate(data)


def test_a_log_with_gaps_is_rejected():
    event = Event(index=3, turn=0, kind="message", source="a")
    with pytest.raises(ValueError, match="dense"):
        EventLog([event])


def test_appended_events_equal_constructed_and_validated_events():
    log = EventLog()
    fast = log.append("message", "alice", {"text": "hi"}, turn=2, visibility=["bob"])
    validated = Event(
        index=0, turn=2, kind="message", source="alice", visibility=("bob",), payload={"text": "hi"}
    )
    assert fast == validated
    assert Event.validate(fast.to_dict()) == fast
    assert Event.validate(json.dumps(fast.to_dict())) == fast


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
