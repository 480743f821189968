"""What the task tests share: a scripted ``osim run`` stored and replayed, and a policy that fails.

Every task checks that its episodes, valid and invalid answers alike, go through the command line into
the store and replay exactly (docs/new-task.md, test checklist item 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from osim.cli import main
from policies import ChatRequest, Completion, PolicyError, ScriptedPolicy
from replays import ReplayStore, replay_stored


def scripted_run(
    env_id: str, tmp_path: Path, answers: Sequence[str], *, episodes: int, options: Sequence[str] = ()
) -> Path:
    """``osim run env_id`` with a scripted policy cycling through ``answers`` (``options``: ``KEY=VALUE``
    env options); asserts it succeeded and returns the store."""
    script = tmp_path / "answers.txt"
    script.write_text("\n".join(answers) + "\n", encoding="utf-8")
    store = tmp_path / "scripted.duckdb"
    argv = ["run", env_id, "--policy", f"scripted:{script}", "--episodes", str(episodes), "--seed", "0",
            "--store", str(store), "--concurrency", "1", "--no-progress"]  # fmt: skip
    for option in options:
        argv += ["--option", option]
    assert main(argv) == 0
    return store


def replayed_episodes(store: Path) -> Any:
    """The store's episodes (a DataFrame), each checked to replay exactly."""
    with ReplayStore(store, read_only=True) as s:
        episodes = s.episodes()
        for row in episodes.itertuples():
            assert replay_stored(s, row.episode_id, row.run_id).ok, row.episode_id
    return episodes


class FakeFailingPolicy(ScriptedPolicy):
    """Fake: a backend whose call fails after its retries (a real backend cannot be made to on demand)."""

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        raise PolicyError("HTTP 503 after 3 attempts")
