"""The viewer's Starlette app: four server-rendered pages over one read-only store.

Every page is a Jinja2 template with autoescaping on, and every response carries a Content Security
Policy that allows only the viewer's own script and stylesheet: text from a model, a judge or a data
row is shown as text and never runs, even if a template were wrong. Metadata (specs, configs,
options) is masked by ``osim.viewer.redact`` before it reaches a template. The app only reads: the
store is opened read-only and the app has GET routes only. It answers only requests addressed to
``allowed_hosts`` (by default the local names), so a web page in the same browser cannot reach it
under a name of its own (DNS rebinding).

The leaderboard's table and plot reach the runs page through ``create_app(..., leaderboard=hook)``
(``osim.viewer.leaderboard_hook``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osim.viewer import queries
from osim.viewer.agent_view import AgentViews, agent_views
from osim.viewer.leaderboard_hook import LeaderboardHook, LeaderboardPanel
from osim_env.events import Event
from replays.store import ReplayStore

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
AGENT_VIEW_CACHE = 32  # replayed episodes kept (a replay is the costly part of "view as")


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response (pages, static files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                headers = [(k, v) for k, v in own if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def event_view(event: Event) -> dict[str, Any]:
    """One event as the transcript shows it: the payload's parts by role, the rest as JSON."""
    payload = dict(event.payload)
    known = {"text", "action_type", "thinking", "reason", "raw"}
    extra = {k: v for k, v in payload.items() if k not in known}
    text = event.text if "text" in payload else ""
    if event.kind == "end":
        text = str(payload.get("reason", ""))
        extra.pop("reason", None)
    return {
        "index": event.index,
        "turn": event.turn,
        "kind": event.kind,
        "source": event.source,
        "visibility": "all" if event.visibility is None else ", ".join(event.visibility),
        "public": event.visibility is None,
        "text": text,
        "action_type": payload.get("action_type"),
        "thinking": payload.get("thinking") or "",
        "reason": payload.get("reason") if event.kind != "end" else None,
        "raw": payload.get("raw") if event.kind == "invalid_action" else None,
        "extra": json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str) if extra else "",
    }


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = lambda x: "-" if x is None else f"{x:.3f}"
    env.filters["seconds"] = lambda x: "-" if x is None else f"{x:.2f} s"
    env.filters["pretty"] = lambda x: json.dumps(x, ensure_ascii=False, indent=2, default=str)
    env.filters["q"] = lambda x: quote(str(x), safe="")
    env.globals["qs"] = lambda params: urlencode(params)
    return Jinja2Templates(env=env)


class Viewer:
    """The pages, over one store opened read-only (one DuckDB connection, used under a lock)."""

    def __init__(self, store_path: str | Path, leaderboard: LeaderboardHook | None = None) -> None:
        self.store = ReplayStore(store_path, read_only=True)
        queries.index_episodes(self.store)
        self.store_path = str(store_path)
        self.leaderboard = leaderboard
        self.templates = _templates()
        self._lock = threading.Lock()
        self._views: OrderedDict[tuple[str, str], AgentViews] = OrderedDict()
        self._choices: dict[str, dict[str, list[str]]] = {}  # per run (the store cannot change)
        self._panel: tuple[LeaderboardPanel | None, str | None] | None = None  # (panel, hook error)

    def close(self) -> None:
        with self._lock:
            self.store.close()

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context = {"store_path": self.store_path, **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def not_found(self, request: Request, what: str) -> HTMLResponse:
        return self.page(request, "error.html", 404, title="Not found", message=what)

    # -- pages --------------------------------------------------------------------------------------
    def runs(self, request: Request) -> Response:
        with self._lock:
            runs = queries.runs(self.store)
            panel, error = self._leaderboard()
        return self.page(request, "runs.html", runs=runs, leaderboard=panel, leaderboard_error=error)

    def leaderboard_plot(self, request: Request) -> Response:
        with self._lock:
            panel, _ = self._leaderboard()
        if panel is None or panel.plot_png is None:
            return self.not_found(request, "no leaderboard plot")
        return Response(panel.plot_png, media_type="image/png")

    def episodes(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        with self._lock:
            if not queries.run_exists(self.store, run_id):
                return self.not_found(request, f"no run {run_id!r} in {self.store_path}")
            choices = self._choices.get(run_id) or queries.filter_choices(self.store, run_id)
            self._choices[run_id] = choices
            try:
                query = queries.EpisodeQuery.from_params(request.query_params)
            except queries.BadQuery as exc:
                return self.page(
                    request, "episodes.html", 400, run_id=run_id, query=queries.EpisodeQuery(), page=None,
                    choices=choices, error=str(exc), statuses=queries.STATUSES, sorts=queries.SORTS,
                )  # fmt: skip
            page = queries.episodes(self.store, run_id, query)
        return self.page(
            request, "episodes.html", run_id=run_id, query=query, page=page, choices=choices, error=None,
            statuses=queries.STATUSES, sorts=queries.SORTS,
        )  # fmt: skip

    def episode(self, request: Request) -> Response:
        run_id, episode_id = request.path_params["run_id"], request.path_params["episode_id"]
        view_as = request.query_params.get("as", "")
        with self._lock:
            detail = queries.episode(self.store, run_id, episode_id)
            if detail is None:
                return self.not_found(request, f"no episode {episode_id!r} in run {run_id!r}")
            others = queries.same_scenario(self.store, run_id, detail.record)
        context = self._episode_context(detail, view_as)
        status = 404 if context["view_error"] and view_as not in detail.record.agents else 200
        return self.page(request, "episode.html", status, detail=detail, others=others, **context)

    def compare(self, request: Request) -> Response:
        params = request.query_params
        view_as = params.get("as", "")
        pairs = [(params.get(f"run_{side}", ""), params.get(side, "")) for side in ("a", "b")]
        details = []
        with self._lock:
            for run_id, episode_id in pairs:
                detail = queries.episode(self.store, run_id, episode_id) if run_id and episode_id else None
                if detail is None:
                    return self.not_found(request, f"no episode {episode_id!r} in run {run_id!r} to compare")
                details.append(detail)
        a, b = (d.record for d in details)
        if (a.env_id, a.scenario_id) != (b.env_id, b.scenario_id):
            message = (
                f"compare shows two episodes of one scenario; these are {a.env_id} scenario {a.scenario_id} "
                f"and {b.env_id} scenario {b.scenario_id}"
            )
            return self.page(request, "error.html", 400, title="Different scenarios", message=message)
        sides = [{"detail": d, **self._episode_context(d, view_as)} for d in details]
        agents = sorted(set(a.agents) | set(b.agents))
        return self.page(request, "compare.html", sides=sides, view_as=view_as, agents=agents)

    # -- helpers ------------------------------------------------------------------------------------
    def _leaderboard(self) -> tuple[LeaderboardPanel | None, str | None]:
        """The hook's panel, built once (called under the lock); a hook that raises is shown as an error."""
        if self._panel is None:
            try:
                self._panel = (self.leaderboard(self.store) if self.leaderboard else None, None)
            except Exception as exc:
                self._panel = (None, f"the leaderboard hook failed: {type(exc).__name__}: {exc}")
        return self._panel

    def _episode_context(self, detail: queries.EpisodeDetail, view_as: str) -> dict[str, Any]:
        """The transcript, or (``view_as`` an agent) that agent's observation from a replay."""
        record = detail.record
        context: dict[str, Any] = {"view_as": view_as, "messages": None, "view_error": None, "replay": ""}
        context["events"] = [] if view_as else [event_view(e) for e in record.events]
        if not view_as:
            return context
        views = self._agent_views(detail)
        context["replay"] = views.replay
        if views.error is not None:
            context["view_error"] = views.error
        elif view_as not in views.messages:
            context["view_error"] = f"{view_as!r} is not an agent of this episode ({', '.join(views.agents)})"
        else:
            context["messages"] = views.of(view_as)
        return context

    def _agent_views(self, detail: queries.EpisodeDetail) -> AgentViews:
        key = (detail.run_id, detail.record.episode_id)
        with self._lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
                return cached
        views = agent_views(detail.record, detail.digests)  # outside the lock: the store is not used
        with self._lock:
            self._views[key] = views
            while len(self._views) > AGENT_VIEW_CACHE:
                self._views.popitem(last=False)
        return views


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def create_app(
    store_path: str | Path,
    *,
    leaderboard: LeaderboardHook | None = None,
    allowed_hosts: Sequence[str] = LOCAL_HOSTS,
) -> Starlette:
    """The viewer app over the store at ``store_path`` (opened read-only until the app shuts down),
    answering requests whose Host is one of ``allowed_hosts`` (``"*"``: any)."""
    viewer = Viewer(store_path, leaderboard)
    routes = [
        Route("/", viewer.runs, name="runs"),
        Route("/leaderboard.png", viewer.leaderboard_plot, name="leaderboard_plot"),
        Route("/runs/{run_id}", viewer.episodes, name="episodes"),
        Route("/runs/{run_id}/episodes/{episode_id}", viewer.episode, name="episode"),
        Route("/compare", viewer.compare, name="compare"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            viewer.close()

    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
        Middleware(SecurityHeaders),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.viewer = viewer
    return app
