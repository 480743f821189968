"""The replay viewer's pages over a real store, through Starlette's test client (no browser): runs, the
filtered episode list, an episode (transcript, judgments, calls, scenario, "view as"), compare, escaping,
masked secrets, read-only serving and the ``osim replay serve`` command. ``test_viewer_browser.py``
drives the same pages in headless Chromium."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from testing_judges import ValidTurnShareJudge

import osim_env
from judges.judgment import Feedback, Judgment
from osim.runner import Runner, jobs_for
from osim.viewer.app import create_app
from osim.viewer.leaderboard_hook import LeaderboardPanel
from osim.viewer.queries import EpisodeQuery
from osim.viewer.redact import HIDDEN, redact
from policies import ScriptedPolicy
from replays import EpisodeResult, JudgmentRow, ReplayStore

ROW = {
    "scenario": "At a flea market, agent1 sells a record player to agent2.",
    "agent1_name": "Greta",
    "agent2_name": "Sami",
    "agent1_goal": "AGENT1-PRIVATE-GOAL: sell it for at least 140 euros.",
    "agent2_goal": "AGENT2-PRIVATE-GOAL: pay at most 100 euros.",
    "relationship": "stranger",
}
HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "**bold** [click](javascript:window.__pwned=3) <b>not bold</b>",
    "</pre><script>window.__pwned = 4</script>",
]
THOUGHT = "GREEN-THOUGHT: never mention the vet bill"
AGENT1_LINES = [
    json.dumps({"action_type": "speak", "argument": f"Hello! {HOSTILE[0]} Fancy a record player?"}),
    f"<think>{THOUGHT}</think>"
    + json.dumps({"action_type": "speak", "argument": f"Look: {HOSTILE[1]} {HOSTILE[2]}"}),
    "<think>only thinking, no action</think>",
]
AGENT2_LINES = [
    json.dumps({"action_type": "non-verbal communication", "argument": "squints at the price tag"}),
    json.dumps({"action_type": "speak", "argument": f"I can pay 90. {HOSTILE[3]}"}),
]
SECRET = "sk-SECRETSECRETSECRET123456"
LOCAL = "http://127.0.0.1"


@dataclass(frozen=True)
class ViewerStore:
    """A store with two runs on one Sotopia scenario (plus Hi-ToM in the first), extra judgments,
    a failed judgment, a tampered episode and a run whose specs hold secrets."""

    path: Path
    first: str  # run: 2 Sotopia episodes (ROW) + 3 Hi-ToM episodes
    second: str  # run: 2 Sotopia episodes of ROW, another agent1 script
    manual: str  # run: a judge_error episode and a tampered one, specs with secrets
    sotopia: tuple[str, ...]  # episode ids of the first run's Sotopia episodes (seeds 0, 1)
    hitom: tuple[str, ...]
    judge_error: str
    tampered: str


def _scripted_run(path: Path, agent1: list[str], name: str, hitom: bool) -> Runner:
    runner = Runner(
        path,
        policy=ScriptedPolicy(["<answer>A</answer>", "<answer>B</answer>", "no answer"], name="letters"),
        roles={
            "agent1": ScriptedPolicy(agent1, name=name),
            "agent2": ScriptedPolicy(AGENT2_LINES, name="partner"),
        },
        judge=ValidTurnShareJudge(),
        concurrency=1,
        progress=False,
    )
    jobs = jobs_for("soul/sotopia-v0", 2, seed=0, scenarios=[ROW], options={"max_turns": 6})
    if hitom:
        jobs += jobs_for("soul/hitom-v0", 3, seed=0, scenarios=[0])
    runner.run(jobs)
    return runner


def _hitom_record(seed: int, answer: str):
    env = osim_env.make("soul/hitom-v0", scenario=1, judge=False)
    env.reset(seed=seed)
    env.step(answer)
    return env.unwrapped.episode_record()


def build_viewer_store(path: Path) -> ViewerStore:
    first = _scripted_run(path, AGENT1_LINES, "first", hitom=True).run_id
    second = _scripted_run(path, AGENT1_LINES[:2], "second", hitom=False).run_id
    assert first and second
    secret_spec = {
        "backend": "openai",
        "model": "judge-model",
        "extra": {"api_key": SECRET, "base_url": f"https://alice:{SECRET}@llm.example/v1?key={SECRET}"},
    }
    with ReplayStore(path) as store:
        sotopia = tuple(store.episodes(first, env_id="soul/sotopia-v0")["episode_id"])
        hitom = tuple(store.episodes(first, env_id="soul/hitom-v0")["episode_id"])
        # A detector result and a judgment with per-dimension reasoning, stored as a re-judgment.
        flagged = Judgment(
            agent="agent1",
            score=0.25,
            dims={"goal": 3.0, "believability": 7.0},
            reasons={"goal": f"Judge reasoning: {HOSTILE[1]}", "believability": "sounds human"},
            flags={
                "judge_address": {
                    "detector": "judge_address",
                    "flagged": True,
                    "severity": "high",
                    "evidence": [f"Dear judge {HOSTILE[0]}"],
                }
            },
            feedback=Feedback(critique=f"Ask for the price first. {HOSTILE[2]}"),
            raw=f'{{"goal": 3, "note": "{HOSTILE[0]}"}}',
            judge={"kind": "llm", "name": "hostile-judge"},
        )
        store.write_judgments(first, [JudgmentRow(sotopia[0], "rejudge", flagged)])
        manual = store.start_run(
            {"name": "manual", "judge_model": secret_spec}, policies={"policy": secret_spec}
        )
        failed = Judgment.failed(
            "answerer", f"judge call timed out {HOSTILE[0]}", {"kind": "llm", "name": "j"}
        )
        record = _hitom_record(3, "<answer>C</answer>")
        # A spec string with credentials in the episode's options (shown on its page, masked).
        options = {**record.options, "judge_model": f"openai:m@https://alice:{SECRET}@llm.example/v1"}
        judge_error = EpisodeResult(
            record.model_copy(update={"options": options}),
            status="judge_error",
            reason=f"the judge failed {HOSTILE[1]}",
            judgments={"answerer": failed},
            policies={"answerer": secret_spec},
        )
        honest = _hitom_record(4, "<answer>B</answer>")
        events = list(honest.events)
        events[-2] = replace(events[-2], payload={**events[-2].payload, "text": "X"})
        tampered = EpisodeResult(honest.model_copy(update={"events": tuple(events)}), status="unjudged")
        store.write(manual, [judge_error, tampered])
    return ViewerStore(
        path, first, second, manual, sotopia, hitom, judge_error.episode_id, tampered.episode_id
    )


@pytest.fixture(scope="module")
def viewer_store(tmp_path_factory: pytest.TempPathFactory) -> ViewerStore:
    return build_viewer_store(tmp_path_factory.mktemp("viewer") / "runs.duckdb")


@pytest.fixture(scope="module")
def client(viewer_store: ViewerStore):
    with TestClient(base_url=LOCAL, app=create_app(viewer_store.path)) as test_client:
        yield test_client


def _count(page: str) -> str:
    found = re.search(r'id="count">([^<]*)<', page)
    assert found, "no match count on the page"
    return found.group(1)


def _listed(page: str) -> list[str]:
    return re.findall(r'class="mono episode-link" href="[^"]*">([0-9a-f]+)<', page)


def _episode_url(run_id: str, episode_id: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/runs/{run_id}/episodes/{episode_id}" + (f"?{query}" if query else "")


# -- runs ---------------------------------------------------------------------------------------------
def test_runs_page_lists_runs_with_counts_scores_and_the_leaderboard_hook(
    client: TestClient, viewer_store: ViewerStore
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    for run_id in (viewer_store.first, viewer_store.second, viewer_store.manual):
        assert f'href="/runs/{run_id}"' in page
    assert "soul/sotopia-v0, soul/hitom-v0" in page or "soul/hitom-v0, soul/sotopia-v0" in page
    assert "agent1=scripted:first" in page and "rule:valid_turn_share" in page
    with ReplayStore(viewer_store.path, read_only=True) as store:
        episodes = store.episodes(viewer_store.first)
        ok = episodes[episodes["status"] == "ok"]["score"]
    row = re.search(rf'href="/runs/{viewer_store.first}".*?</tr>', page, re.S).group(0)  # type: ignore[union-attr]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:5] == [str(len(episodes)), str(len(ok)), "0", "0", "0"]
    ci = 1.96 * ok.std(ddof=1) / len(ok) ** 0.5
    assert cells[5].strip() == f"{ok.mean():.3f} ± {ci:.3f}"
    # This client runs without the leaderboard hook: the section says so.
    assert 'id="leaderboard-none"' in page


def test_the_leaderboard_panel_is_osim_leaderboard_s_table_and_plot(viewer_store: ViewerStore) -> None:
    from osim.viewer.leaderboard_hook import find_hook

    with ReplayStore(viewer_store.path, read_only=True) as store:
        panel = find_hook()(store)
    assert panel is not None and panel.columns[0] == "task"
    tasks = [row[0] for row in panel.rows]
    assert "hitom" in tasks and "sotopia" in tasks and "SOUL average" in tasks
    assert panel.plot_png is not None and panel.plot_png.startswith(b"\x89PNG")
    with TestClient(base_url=LOCAL, app=create_app(viewer_store.path, leaderboard=find_hook())) as hooked:
        page = hooked.get("/").text
        assert "<th>task</th>" in page and '<img class="plot" src="/leaderboard.png"' in page


def test_leaderboard_hook_table_and_plot(viewer_store: ViewerStore) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1))
    axes.bar(["first"], [0.5])
    png = io.BytesIO()
    figure.savefig(png, format="png")
    plt.close(figure)

    def panel(store: ReplayStore) -> LeaderboardPanel:
        n = store.sql("SELECT count(*) FROM runs").fetchone()[0]
        return LeaderboardPanel(["policy", "runs"], [[f"<b>{HOSTILE[0]}</b>", n]], png.getvalue())

    with TestClient(base_url=LOCAL, app=create_app(viewer_store.path, leaderboard=panel)) as hooked:
        page = hooked.get("/").text
        assert "<td>3</td>" in page and html.escape(HOSTILE[0], quote=False) in page
        assert '<img class="plot" src="/leaderboard.png"' in page
        plot = hooked.get("/leaderboard.png")
        assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
        assert plot.content == png.getvalue()

    def broken(store: ReplayStore) -> LeaderboardPanel:
        raise RuntimeError("no such table: leaderboard")

    with TestClient(base_url=LOCAL, app=create_app(viewer_store.path, leaderboard=broken)) as failing:
        page = failing.get("/").text
        assert "the leaderboard hook failed: RuntimeError: no such table: leaderboard" in page
        assert viewer_store.first in page  # the runs are still listed
        assert failing.get("/leaderboard.png").status_code == 404


# -- the episode list ---------------------------------------------------------------------------------
def test_episode_list_filters_sorts_and_pages(client: TestClient, viewer_store: ViewerStore) -> None:
    base = f"/runs/{viewer_store.first}"
    assert _count(client.get(base).text).startswith("5 episodes match")
    assert set(_listed(client.get(f"{base}?env=soul/hitom-v0").text)) == set(viewer_store.hitom)
    # Score range and sort: the Sotopia episodes score 2/3, the Hi-ToM ones 1 (valid) or 0.
    with ReplayStore(viewer_store.path, read_only=True) as store:
        frame = store.episodes(viewer_store.first)
    by_score = frame.sort_values(["score", "episode_id"], ascending=[False, True])
    assert _listed(client.get(f"{base}?sort=score&desc=1").text) == list(by_score["episode_id"])
    middle = frame[(frame["score"] >= 0.5) & (frame["score"] <= 0.9)]
    listed = _listed(client.get(f"{base}?min_score=0.5&max_score=0.9").text)
    assert set(listed) == set(middle["episode_id"]) == set(viewer_store.sotopia)
    # Termination reason, full-text search in messages, flags.
    ended = frame["termination"].iloc[0]
    assert set(_listed(client.get(base, params={"termination": ended}).text)) == set(
        frame[frame["termination"] == ended]["episode_id"]
    )
    assert set(_listed(client.get(f"{base}?q=PRICE+TAG").text)) == set(viewer_store.sotopia)
    assert _listed(client.get(f"{base}?q=no+such+words+anywhere").text) == []
    # The text is literal: no LIKE wildcards (a "_" would match the "i" of "window").
    assert _listed(client.get(f"{base}?q=%25").text) == [] == _listed(client.get(f"{base}?q=w_ndow").text)
    assert set(_listed(client.get(f"{base}?q=window.__pwned").text)) == set(viewer_store.sotopia)
    assert _listed(client.get(f"{base}?flag=any").text) == [viewer_store.sotopia[0]]
    assert _listed(client.get(f"{base}?flag=judge_address").text) == [viewer_store.sotopia[0]]
    assert _listed(client.get(f"{base}?flag=other_detector").text) == []
    flagged_row = client.get(f"{base}?flag=any").text
    assert '<span class="badge flag">judge_address</span>' in flagged_row
    # Status across the manual run; pages of one episode each.
    manual = f"/runs/{viewer_store.manual}"
    assert _listed(client.get(f"{manual}?status=judge_error").text) == [viewer_store.judge_error]
    first_page = client.get(f"{base}?sort=seed&per_page=2").text
    assert _count(first_page) == "5 episodes match; page 1 of 3" and len(_listed(first_page)) == 2
    assert 'id="next"' in first_page and 'id="prev"' not in first_page
    last_page = client.get(f"{base}?sort=seed&per_page=2&page=3").text
    assert len(_listed(last_page)) == 1 and 'id="prev"' in last_page and 'id="next"' not in last_page
    pages = _listed(first_page) + _listed(client.get(f"{base}?sort=seed&per_page=2&page=2").text)
    assert len(set(pages + _listed(last_page))) == 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("min_score=abc", "min_score must be a number, not &#39;abc&#39;"),
        ("max_score=nan", "max_score must be a finite number"),
        ("sort=drop+table", "sort must be one of"),
        ("status=great", "status must be one of ok, judge_error, failed, unjudged"),
        ("page=0", "page must be a positive whole number"),
        ("per_page=100000", "per_page must be at most 500"),
    ],
)
def test_bad_list_parameters_are_a_400_with_the_reason(
    client: TestClient, viewer_store: ViewerStore, params: str, message: str
) -> None:
    response = client.get(f"/runs/{viewer_store.first}?{params}")
    assert response.status_code == 400
    assert message in response.text


def test_query_parameters_round_trip() -> None:
    query = EpisodeQuery.from_params({"env": "soul/hitom-v0", "min_score": "0.5", "desc": "1", "page": "2"})
    assert query.params() == {"env": "soul/hitom-v0", "min_score": "0.5", "desc": "1", "page": "2"}
    assert EpisodeQuery.from_params(query.params(page=1)) == EpisodeQuery(
        env="soul/hitom-v0", min_score=0.5, desc=True
    )


# -- one episode --------------------------------------------------------------------------------------
def test_episode_page_shows_transcript_judgments_calls_and_scenario(
    client: TestClient, viewer_store: ViewerStore
) -> None:
    response = client.get(_episode_url(viewer_store.first, viewer_store.sotopia[0]))
    assert response.status_code == 200
    page = response.text
    with ReplayStore(viewer_store.path, read_only=True) as store:
        record = store.episode(viewer_store.sotopia[0], viewer_store.first)
        calls = store.model_calls(viewer_store.first)
    # Every event, with its source, turn and visibility; thinking collapsed; invalid actions marked.
    assert page.count('<li class="event') == len(record.events)
    for event in record.events:
        assert f'data-index="{event.index}"' in page
    assert (
        f'<details class="thinking"><summary>thinking</summary><pre class="text">{THOUGHT}</pre></details>'
        in page
    )
    assert "invalid action: empty after removing thinking" in page
    assert page.count("turn 0</span>") >= 1 and "seen by all" in page
    # Judgments: the run's and the re-judgment, with dimensions, reasoning, flags, feedback and raw output.
    assert "rule:valid_turn_share (run)" in page and "llm:hostile-judge (rejudge)" in page
    assert "<td>believability</td>" in page and "sounds human" in page
    assert "judge_address: fired (high)" in page
    assert "Ask for the price first." in page and "raw judge output" in page
    # Model calls of this episode, and the scenario row.
    n_calls = int((calls["episode_id"] == viewer_store.sotopia[0]).sum())
    assert n_calls > 0 and page.count("<td>act</td>") == n_calls
    assert html.escape(ROW["agent2_goal"], quote=True) in page
    # The same scenario in the other run is offered for comparison.
    assert f"run_b={viewer_store.second}&amp;b={viewer_store.sotopia[0]}" in page


def test_judge_errors_are_errors_not_scores(client: TestClient, viewer_store: ViewerStore) -> None:
    page = client.get(_episode_url(viewer_store.manual, viewer_store.judge_error)).text
    assert '<p class="error judge-error">judge call timed out &lt;script&gt;' in page
    assert '<span class="badge status-failed">error</span>' in page
    assert '<dd class="score">-</dd>' in page


def _observation(page: str) -> list[tuple[str, str]]:
    """The (role, content) messages of the "view as" panel, unescaped."""
    found = re.findall(
        r'<li class="msg role-(\w+)"><div class="meta"><span class="role">\w+</span></div>'
        r'<pre class="text">(.*?)</pre></li>',
        page,
        re.S,
    )
    return [(role, html.unescape(content)) for role, content in found]


def test_view_as_shows_exactly_the_agents_observation(client: TestClient, viewer_store: ViewerStore) -> None:
    with ReplayStore(viewer_store.path, read_only=True) as store:
        record = store.episode(viewer_store.sotopia[0], viewer_store.first)
    # The same episode stepped again in a plain loop: what each agent observes at its end.
    env = osim_env.make("soul/sotopia-v0", scenario=ROW, judge=False, max_turns=6)
    env.reset(seed=record.seed)
    for event in record.events:
        if event.source in record.agents and "raw" in event.payload:
            env.step(event.payload["raw"])
    assert env.unwrapped.episode_id == record.episode_id
    for agent, other in (("agent1", "agent2"), ("agent2", "agent1")):
        page = client.get(_episode_url(viewer_store.first, record.episode_id, **{"as": agent})).text
        seen = _observation(page)
        assert seen == [(m["role"], m["content"]) for m in env.observe(agent)["messages"]]
        text = html.unescape(page)
        assert ROW[f"{agent}_goal"] in text
        assert ROW[f"{other}_goal"] not in text  # another agent's private goal never shows
        assert "GREEN-THOUGHT" not in text  # thinking is nobody's observation
        assert 'id="transcript-section"' not in page and 'id="judgments"' not in page
        assert "reproduced exactly" in page


def test_view_as_refuses_an_episode_that_does_not_reproduce(
    client: TestClient, viewer_store: ViewerStore
) -> None:
    response = client.get(_episode_url(viewer_store.manual, viewer_store.tampered, **{"as": "answerer"}))
    assert response.status_code == 200
    assert "the episode does not reproduce: event" in response.text
    assert '<ol class="observation"' not in response.text
    unknown = client.get(_episode_url(viewer_store.first, viewer_store.sotopia[0], **{"as": "nobody"}))
    assert unknown.status_code == 404 and "&#39;nobody&#39; is not an agent of this episode" in unknown.text


def test_compare_shows_two_episodes_of_one_scenario(client: TestClient, viewer_store: ViewerStore) -> None:
    episode = viewer_store.sotopia[0]
    url = f"/compare?run_a={viewer_store.first}&a={episode}&run_b={viewer_store.second}&b={episode}"
    page = client.get(url).text
    assert 'id="side-1"' in page and 'id="side-2"' in page
    assert "agent1: scripted:first" in page and "agent1: scripted:second" in page
    assert page.count("invalid action: empty after removing thinking") == 1  # only the first run's script
    as_agent2 = client.get(url + "&as=agent2").text
    assert as_agent2.count('<ol class="observation" data-agent="agent2">') == 2
    assert "AGENT1-PRIVATE-GOAL" not in as_agent2
    other = client.get(
        f"/compare?run_a={viewer_store.first}&a={episode}&run_b={viewer_store.first}&b={viewer_store.hitom[0]}"
    )
    assert other.status_code == 400 and "compare shows two episodes of one scenario" in other.text
    missing = client.get(f"/compare?run_a={viewer_store.first}&a={episode}&run_b=nope&b=nope")
    assert missing.status_code == 404


def test_unknown_runs_and_episodes_are_404(client: TestClient, viewer_store: ViewerStore) -> None:
    assert client.get("/runs/no-such-run").status_code == 404
    response = client.get(_episode_url(viewer_store.first, "0000000000000000"))
    assert response.status_code == 404 and "no episode" in response.text


# -- safety -------------------------------------------------------------------------------------------
def test_model_and_data_text_is_escaped_everywhere(client: TestClient, viewer_store: ViewerStore) -> None:
    pages = [
        client.get(_episode_url(viewer_store.first, viewer_store.sotopia[0])),
        client.get(_episode_url(viewer_store.first, viewer_store.sotopia[0], **{"as": "agent2"})),
        client.get(_episode_url(viewer_store.manual, viewer_store.judge_error)),
        client.get(f"/runs/{viewer_store.manual}"),
        client.get(f"/runs/{viewer_store.first}?q={HOSTILE[0]}"),
    ]
    for response in pages:
        assert response.status_code == 200
        page = response.text
        for text in HOSTILE:
            assert text not in page  # never as markup
        assert "window.__pwned" in page  # ... but as text
        # The only elements are the templates' own: one script tag (the viewer's), no image.
        assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/static/viewer.js" defer>']
        assert "<img" not in page
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in pages[0].text


def test_secrets_are_never_shown(client: TestClient, viewer_store: ViewerStore) -> None:
    for url in (
        "/",
        f"/runs/{viewer_store.manual}",
        _episode_url(viewer_store.manual, viewer_store.judge_error),
    ):
        page = client.get(url).text
        assert SECRET not in page and "alice" not in page
    masked = redact(
        {
            "api_key": "k",
            "nested": [{"Authorization": "Bearer abc", "url": "http://u:p@h/v1?token=t&x=1"}],
            "note": f"uses {SECRET}",
            "header": "Bearer abcdefghijkl",
            "sampling": {"max_tokens": 64, "hf_token": "hf_x"},
        }
    )
    assert masked == {
        "api_key": HIDDEN,
        "nested": [{"Authorization": HIDDEN, "url": f"http://{HIDDEN}@h/v1?token={HIDDEN}&x=1"}],
        "note": f"uses {HIDDEN}",
        "header": f"Bearer {HIDDEN}",
        "sampling": {"max_tokens": 64, "hf_token": HIDDEN},
    }


def test_the_viewer_only_reads(client: TestClient, viewer_store: ViewerStore) -> None:
    before = hashlib.sha256(viewer_store.path.read_bytes()).hexdigest()
    for url in (
        "/",
        f"/runs/{viewer_store.first}",
        _episode_url(viewer_store.first, viewer_store.sotopia[1]),
    ):
        assert client.post(url).status_code == 405
        assert client.delete(url).status_code == 405
        assert client.get(url).status_code == 200
    assert client.app.state.viewer.store.read_only
    # Only the local names: a page that rebinds its own name to 127.0.0.1 gets nothing.
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200
    assert hashlib.sha256(viewer_store.path.read_bytes()).hexdigest() == before


# -- the command --------------------------------------------------------------------------------------
def _serve(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "osim", "replay", "serve", "--store", str(store), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The page at ``url`` once the server answers (a server that exits first fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url} after {timeout:.0f} s")


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.terminate()
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def test_serve_binds_localhost_and_warns_for_another_host(viewer_store: ViewerStore) -> None:
    from conftest import free_port

    port = free_port()
    process = _serve(viewer_store.path, "--port", str(port))
    try:
        page = wait_for_page(f"http://127.0.0.1:{port}/", process)
    finally:
        out, err = stop(process)
    assert viewer_store.first in page
    assert f"http://127.0.0.1:{port}/" in out and "warning" not in err
    port = free_port()
    process = _serve(viewer_store.path, "--port", str(port), "--host", "0.0.0.0")
    try:
        wait_for_page(f"http://127.0.0.1:{port}/", process)
    finally:
        out, err = stop(process)
    assert "osim: warning: serving on 0.0.0.0: anyone who can reach this address can read" in err


def test_serve_refuses_a_port_in_use(viewer_store: ViewerStore, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from osim.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["replay", "serve", "--store", str(viewer_store.path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"osim: error: cannot listen on 127.0.0.1:{port} (") and "pass another --port" in err
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "missing.duckdb"], "osim: error: no replay store at missing.duckdb"),
        (["--port", "0"], "osim: error: --port must be between 1 and 65535, got 0"),
    ],
)
def test_serve_user_errors_are_one_line(
    viewer_store: ViewerStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    from osim.cli import main

    monkeypatch.chdir(tmp_path)
    store = [] if "--store" in args else ["--store", str(viewer_store.path)]
    assert main(["replay", "serve", *store, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
