"""The replay viewer in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium) against ``osim replay serve`` on a real store. List -> filter -> open an episode ->
"view as" each agent -> compare, asserting what is on screen and what is nowhere in the page; hostile
text from a model stays text. Skipped only when Chromium is not installed
(``scripts/install_browser.sh`` installs it)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_viewer import (
    HOSTILE,
    ROW,
    THOUGHT,
    ViewerStore,
    build_viewer_store,
    stop,
    wait_for_page,
)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


CHROMIUM = _find("chromium", "chromium-browser", "/usr/lib/chromium/chromium")
CHROMEDRIVER = _find("chromedriver", "/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "Chromium and its driver are not installed (bash scripts/install_browser.sh)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402  (only where Chromium is there to drive)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.expected_conditions import staleness_of  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def viewer_store(tmp_path_factory: pytest.TempPathFactory) -> ViewerStore:
    return build_viewer_store(tmp_path_factory.mktemp("viewer-browser") / "runs.duckdb")


@pytest.fixture(scope="module")
def server(viewer_store: ViewerStore) -> Iterator[str]:
    """``osim replay serve`` on a free port, stopped by its PID at the end."""
    import sys

    from conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "osim",
            "replay",
            "serve",
            "--store",
            str(viewer_store.path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_page(base + "/", process)
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: WebDriver, element: WebElement) -> None:
    """Click a link or button and wait until the page it leads to has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(staleness_of(page))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _body(driver: WebDriver) -> str:
    """The text a person sees on the page (hidden elements, e.g. closed details, excluded)."""
    return driver.find_element(By.TAG_NAME, "body").text


def _errors(driver: WebDriver) -> list[dict]:
    """Console errors since the last call (a blocked inline script or a CSP violation shows here)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_list_filter_open_view_as_and_compare(
    browser: WebDriver, server: str, viewer_store: ViewerStore
) -> None:
    browser.get(server + "/")
    _open(browser, browser.find_element(By.CSS_SELECTOR, f'a[href="/runs/{viewer_store.first}"]'))
    assert browser.find_element(By.ID, "count").text.startswith("5 episodes match")

    # Filter: one env, a phrase from the conversation, sorted by score.
    Select(browser.find_element(By.ID, "f-env")).select_by_visible_text("soul/sotopia-v0")
    browser.find_element(By.ID, "f-q").send_keys("price tag")
    _open(browser, browser.find_element(By.ID, "f-apply"))
    assert browser.find_element(By.ID, "count").text == "2 episodes match; page 1 of 1"
    listed = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.episode-link")]
    assert sorted(listed) == sorted(viewer_store.sotopia)
    assert "soul/hitom-v0" not in browser.find_element(By.ID, "episodes").text

    # Open the first episode: the transcript, thinking collapsed, the invalid action marked.
    _open(browser, browser.find_element(By.LINK_TEXT, viewer_store.sotopia[0]))
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Episode {viewer_store.sotopia[0]}"
    thinking = browser.find_element(By.CSS_SELECTOR, "details.thinking")
    assert thinking.get_attribute("open") is None
    assert "GREEN-THOUGHT" not in _body(browser)
    thinking.find_element(By.TAG_NAME, "summary").click()
    assert THOUGHT in _body(browser)
    invalid = browser.find_element(By.CSS_SELECTOR, "li.event.kind-invalid_action")
    assert "invalid action: empty after removing thinking" in invalid.text
    assert "agent1" in invalid.text and "seen by all" in invalid.text
    assert "judge_address: fired (high)" in browser.find_element(By.ID, "judgments").text
    assert "act" in browser.find_element(By.ID, "calls").text

    # View as each agent: its own private goal, never the other's, anywhere in the page.
    for agent, other in (("agent1", "agent2"), ("agent2", "agent1")):
        _open(browser, browser.find_element(By.ID, f"view-as-{agent}"))
        view = browser.find_element(By.ID, "agent-view")
        assert view.find_element(By.TAG_NAME, "h2").text == f"What {agent} saw"
        assert ROW[f"{agent}_goal"] in view.text
        assert ROW[f"{other}_goal"] not in browser.page_source
        assert "GREEN-THOUGHT" not in browser.page_source
        assert not browser.find_elements(By.ID, "transcript-section")
        roles = [li.get_attribute("class") for li in view.find_elements(By.CSS_SELECTOR, "li.msg")]
        assert roles[0] == "msg role-system" and "msg role-assistant" in roles
    assert "squints at the price tag" in browser.find_element(By.ID, "agent-view").text

    # Back to all events, then compare with the same scenario in the other run.
    _open(browser, browser.find_element(By.ID, "view-all"))
    assert browser.find_element(By.ID, "transcript-section").is_displayed()
    _open(
        browser, browser.find_element(By.CSS_SELECTOR, f'a.compare-link[href*="run_b={viewer_store.second}"]')
    )
    sides = browser.find_elements(By.CSS_SELECTOR, "section.side")
    assert len(sides) == 2 and all(side.is_displayed() for side in sides)
    assert "agent1: scripted:first" in sides[0].text and "agent1: scripted:second" in sides[1].text
    assert sides[0].location["y"] == sides[1].location["y"]  # side by side, not stacked
    assert len(sides[0].find_elements(By.CSS_SELECTOR, "li.kind-invalid_action")) == 1
    assert not sides[1].find_elements(By.CSS_SELECTOR, "li.kind-invalid_action")
    _open(browser, browser.find_element(By.ID, "view-as-agent2"))
    observations = browser.find_elements(By.CSS_SELECTOR, 'ol.observation[data-agent="agent2"]')
    assert len(observations) == 2 and all(ROW["agent2_goal"] in o.text for o in observations)
    assert ROW["agent1_goal"] not in browser.page_source
    assert _errors(browser) == []


def test_compare_two_episodes_picked_in_the_list(
    browser: WebDriver, server: str, viewer_store: ViewerStore
) -> None:
    browser.get(f"{server}/runs/{viewer_store.first}?sort=seed")
    button = browser.find_element(By.ID, "compare-picked")
    assert not button.is_enabled()
    picks = {p.get_attribute("value"): p for p in browser.find_elements(By.CSS_SELECTOR, "input.pick")}
    picks[viewer_store.sotopia[0]].click()
    picks[viewer_store.hitom[0]].click()
    assert not button.is_enabled()  # two scenarios: nothing to compare
    picks[viewer_store.hitom[0]].click()
    picks[viewer_store.sotopia[1]].click()
    assert button.is_enabled()
    _open(browser, button)
    sides = browser.find_elements(By.CSS_SELECTOR, "section.side h2")
    assert {s.text for s in sides} == set(viewer_store.sotopia)
    assert _errors(browser) == []


@pytest.mark.parametrize("view", ["", "?as=agent2", "?as=agent1"])
def test_hostile_text_renders_as_text(
    browser: WebDriver, server: str, viewer_store: ViewerStore, view: str
) -> None:
    browser.get(f"{server}/runs/{viewer_store.first}/episodes/{viewer_store.sotopia[0]}{view}")
    browser.find_element(By.TAG_NAME, "h1")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    main = browser.find_element(By.TAG_NAME, "main")
    assert main.find_elements(By.TAG_NAME, "img") == []
    assert main.find_elements(By.TAG_NAME, "script") == []
    assert main.find_elements(By.TAG_NAME, "b") == []
    assert browser.find_elements(By.CSS_SELECTOR, "a[href^='javascript']") == []
    text = _body(browser)
    # Shown literally (in agent1's own view its lines are the JSON it wrote, quotes escaped).
    assert HOSTILE[0] in text and "<img src=x onerror=" in text and HOSTILE[2] in text
    assert _errors(browser) == []


def test_judge_error_page_renders_errors_as_text(
    browser: WebDriver, server: str, viewer_store: ViewerStore
) -> None:
    browser.get(f"{server}/runs/{viewer_store.manual}/episodes/{viewer_store.judge_error}")
    error = browser.find_element(By.CSS_SELECTOR, "p.judge-error")
    assert error.text == f"judge call timed out {HOSTILE[0]}"
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.find_element(By.CSS_SELECTOR, "dd.score").text == "-"
    assert _errors(browser) == []
