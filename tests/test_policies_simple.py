"""Model-free policies (scripted, replay, random choice, human at a pseudo-terminal) and parse_spec."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from judges.extraction import extract_answer
from policies import (
    ChatRequest,
    HFPolicy,
    HumanPolicy,
    OpenAIChatPolicy,
    PolicyError,
    RandomChoicePolicy,
    ReplayPolicy,
    ScriptedPolicy,
    parse_spec,
)

OBS = {"messages": [{"role": "user", "content": "Your turn."}]}
REPO = Path(__file__).resolve().parents[1]


def speak(text: str) -> str:
    return json.dumps({"action_type": "speak", "argument": text})


# -- scripted -------------------------------------------------------------------------------------
def test_scripted_plays_in_order_and_cycles() -> None:
    policy = ScriptedPolicy(["a", "b", "c"])
    assert [policy.act(OBS) for _ in range(4)] == ["a", "b", "c", "a"]
    assert asyncio.run(policy.act_batch([OBS, OBS])) == ["b", "c"]
    assert policy.spec.backend == "scripted" and policy.spec.extra["actions"] == ["a", "b", "c"]
    assert len(policy.pop_calls()) == 6


def test_scripted_without_cycle_raises_when_exhausted() -> None:
    policy = ScriptedPolicy(["only"], cycle=False)
    assert policy.act(OBS) == "only"
    with pytest.raises(PolicyError, match="exhausted"):
        policy.act(OBS)


def test_scripted_from_file_skips_blank_lines(tmp_path: Path) -> None:
    script = tmp_path / "turns.txt"
    script.write_text("hello there\n\n  \n<think>hm</think>fine\n", encoding="utf-8")
    policy = ScriptedPolicy.from_file(script)
    assert policy.actions == ["hello there", "<think>hm</think>fine"]
    assert policy.act(OBS) == "hello there"
    [c] = asyncio.run(policy.complete_batch([ChatRequest(messages=OBS["messages"])]))
    assert (c.text, c.raw) == ("<think>hm</think>fine", "<think>hm</think>fine")  # verbatim


# -- replay ---------------------------------------------------------------------------------------
def test_replay_reproduces_a_stored_episode(sotopia_episode) -> None:
    agent1 = ScriptedPolicy(
        [
            speak("Lovely record player. How much?"),
            "<think>stay firm</think>" + speak("I could do 150."),
            json.dumps({"action_type": "non-verbal communication", "argument": "smiles"}),
            "this is plain speech, not JSON",
        ]
    )
    agent2 = ScriptedPolicy(
        [speak("Would you take 90?"), json.dumps({"action_type": "none", "argument": ""})]
    )
    original = sotopia_episode(agent1, agent2, max_turns=8)
    replayed = sotopia_episode(
        ReplayPolicy(original, "agent1"), ReplayPolicy(original, "agent2"), max_turns=8
    )
    assert [e.to_dict() for e in replayed.events] == [e.to_dict() for e in original.events]
    # The raw action (thinking included) is what gets replayed; the env keeps the thinking apart.
    assert ReplayPolicy(original, "agent1").actions[1].startswith("<think>stay firm</think>")
    assert original.events_of("agent1")[1].payload["thinking"] == "stay firm"


def test_replay_from_event_dicts_and_running_out(sotopia_episode) -> None:
    original = sotopia_episode(ScriptedPolicy([speak("hi")]), ScriptedPolicy([speak("hello")]), max_turns=4)
    dicts = [e.to_dict() for e in original.events]
    policy = ReplayPolicy(dicts, "agent2")
    assert policy.actions == [speak("hello")] * 2
    assert [policy.act(OBS), policy.act(OBS)] == [speak("hello")] * 2
    with pytest.raises(PolicyError, match="ran out after 2 turns"):
        policy.act(OBS)
    with pytest.raises(ValueError, match="no stored actions"):
        ReplayPolicy(dicts, "nobody")
    # A replay that runs out mid-episode fails the episode; it never invents a turn.
    longer = sotopia_episode(ScriptedPolicy([speak("hi")]), ReplayPolicy(original, "agent2"), max_turns=8)
    assert longer.status == "failed" and "ran out" in (longer.termination or "")
    assert len(longer.events_of("agent2")) == 2


# -- random choice --------------------------------------------------------------------------------
def test_random_choice_is_seeded_uniform_and_parseable() -> None:
    answers = asyncio.run(RandomChoicePolicy(4, seed=1).act_batch([OBS] * 400))
    again = asyncio.run(RandomChoicePolicy(4, seed=1).act_batch([OBS] * 400))
    other = asyncio.run(RandomChoicePolicy(4, seed=2).act_batch([OBS] * 400))
    assert answers == again and answers != other
    letters = Counter(extract_answer(a, n_options=4).answer for a in answers)
    assert set(letters) == {"A", "B", "C", "D"}
    assert min(letters.values()) > 60  # uniform: 100 expected each
    custom = RandomChoicePolicy(letters=["x", "y"], seed=0)
    assert {custom.act(OBS) for _ in range(50)} == {"<answer>x</answer>", "<answer>y</answer>"}
    with pytest.raises(ValueError):
        RandomChoicePolicy(1)


# -- human at a terminal --------------------------------------------------------------------------
HUMAN_SCRIPT = """
import sys
from policies import HumanPolicy, PolicyError
policy = HumanPolicy()
chat = [{"role": "system", "content": "You are Greta."}, {"role": "user", "content": "How much is it?"}]
print("ACTION1=" + repr(policy.act({"messages": chat})), flush=True)
chat += [{"role": "assistant", "content": "150"}, {"role": "user", "content": "Too much!"}]
print("ACTION2=" + repr(policy.act({"messages": chat})), flush=True)
try:
    policy.act({"messages": chat})
except PolicyError as exc:
    print("ERROR=" + str(exc), flush=True)
"""


class Terminal:
    """A child process on a pseudo-terminal: read what it prints, type lines into it."""

    def __init__(self, code: str) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "dumb"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} did not appear; terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {text!r}; it showed:\n{self.seen}")
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        shown, self.seen = self.seen, self.seen[self.seen.index(text) + len(text) :]
        return shown

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


def test_human_policy_through_a_pseudo_terminal() -> None:
    terminal = Terminal(HUMAN_SCRIPT)
    try:
        first = terminal.expect("your turn> ")
        assert "[system]\nYou are Greta." in first and "[user]\nHow much is it?" in first
        terminal.type(b"\n")  # an empty line is not a turn
        terminal.expect("(empty; type your turn and press Enter)")
        terminal.type("I'd say 120 €, final offer.\n".encode())
        terminal.expect('ACTION1="I\'d say 120 €, final offer."')
        second = terminal.expect("your turn> ")
        assert "Too much!" in second and "You are Greta." not in second  # only what is new
        terminal.type(b"Fine, 130.\n")
        terminal.expect("ACTION2='Fine, 130.'")
        terminal.expect("your turn> ")
        terminal.type(b"\x04")  # Ctrl-D: end of input is an error, never an empty action
        terminal.expect("ERROR=no input")
    finally:
        assert terminal.close() == 0


def test_human_policy_with_streams() -> None:
    import io

    out = io.StringIO()
    policy = HumanPolicy(input=io.StringIO("hello\n"), output=out)
    assert policy.act(OBS) == "hello"
    assert "[user]\nYour turn." in out.getvalue()
    assert policy.spec.backend == "human"


# -- parse_spec -----------------------------------------------------------------------------------
def test_parse_spec_simple_backends(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("one\ntwo\n")
    scripted = parse_spec(f"scripted:{script}")
    assert isinstance(scripted, ScriptedPolicy) and scripted.actions == ["one", "two"]
    assert isinstance(parse_spec("random"), RandomChoicePolicy)
    three = parse_spec("random:3?seed=9")
    assert isinstance(three, RandomChoicePolicy) and three.letters == ["A", "B", "C"] and three.seed == 9
    assert isinstance(parse_spec("human"), HumanPolicy)
    assert parse_spec(scripted) is scripted


def test_parse_spec_openai_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    plain = parse_spec("openai:gpt-5-nano")
    assert isinstance(plain, OpenAIChatPolicy) and plain.model == "gpt-5-nano" and plain.base_url is None
    local = parse_spec("openai:org/model@v2@http://127.0.0.1:8000/v1?temperature=0.7&max_retries=2")
    assert local.model == "org/model@v2" and local.base_url == "http://127.0.0.1:8000/v1"
    assert local.sampling == {"temperature": 0.7} and local.max_retries == 2
    assert local.spec.model_dump(mode="json")["extra"]["base_url"] == "http://127.0.0.1:8000/v1"


def test_parse_spec_tiny_builds_once_and_loads_hf(osim_cache_dir: Path, tiny_model_dir: Path) -> None:
    policy = parse_spec("tiny", max_new_tokens=4)
    assert isinstance(policy, HFPolicy)
    assert Path(policy.spec.model) == tiny_model_dir and tiny_model_dir.parent == osim_cache_dir
    stamp = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    again = parse_spec(f"hf:{tiny_model_dir}?max_new_tokens=4")
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == stamp  # cached, not rebuilt
    assert again.act(OBS) == policy.act(OBS)
    assert not [p for p in osim_cache_dir.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("gpt4", "unknown policy spec"),
        ("hf:", "needs a target"),
        ("random:x", "number of options"),
        ("tiny:onnx", "serves with"),
        ("openai:@http://x/v1", "no model name"),
    ],
)
def test_parse_spec_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)
