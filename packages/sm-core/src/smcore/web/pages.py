"""The dashboard: server-rendered pages over the same store functions as the API.

Pages: search (``/``), a profile (``/bloggers/{id}``), a post (``/posts/{id}``), the syncs
(``/syncs``, ``/syncs/{id}`` with live progress), the fleet (``/fleet``), sign-in (``/login``).
Reads follow ``API_PUBLIC_READS``: when false, every page asks for a sign-in first. Starting a
sync always needs a signed-in session and the form's CSRF token.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Path, Query, Request, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from devstack.objectstore import ObjectNotFound, ObjectStore, open_store
from smcore.api.deps import MAX_ID, Engine, State, parse_cursor
from smcore.fleet import plan as fleet_plan
from smcore.fleet import status as fleet_status
from smcore.orchestration import client as orchestration
from smcore.store import follows, history, ledger, profiles
from smcore.store import posts as stored_posts
from smcore.store import search as profile_search
from smcore.store.models import FINISHED, Status
from smcore.sync import status as sync_status
from smcore.sync.errors import JobError
from smcore.sync.models import Platform, Scope, SyncInput
from smcore.sync.service import create_job
from smcore.sync.streams import scopes_of
from smcore.web import charts, reads, session

HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["compact"] = charts.compact
templates.env.globals["spark"] = charts.spark
templates.env.globals["FINISHED"] = {s.value for s in FINISHED}

router = APIRouter(include_in_schema=False)

POSTS_PER_PAGE = 25
COMMENTS_PER_PAGE = 30
HISTORY_POINTS = 1000
CALLS_SHOWN = 2000
SCOPES = {p.value: [s.value for s in scopes_of(p)] for p in Platform}
ALL_SCOPES = [s.value for s in Scope]

# Pages draw only from this server: no inline script, no third-party anything.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SignInRequired(Exception):
    """Reads are private and the visitor has no session: send them to the sign-in page."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the API key their session was issued for, if any."""

    key: str | None
    cookie: str | None

    @property
    def signed_in(self) -> bool:
        return self.key is not None

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.key, self.cookie) if self.key and self.cookie else ""


def _viewer(request: Request) -> Viewer:
    cookie = request.cookies.get(session.COOKIE)
    key = session.holder(cookie, request.app.state.core.keys, time.time())
    return Viewer(key, cookie if key else None)


def _back(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _reader(request: Request) -> Viewer:
    viewer = _viewer(request)
    if not request.app.state.core.settings.api_public_reads and not viewer.signed_in:
        raise SignInRequired(_back(request))
    return viewer


Reader = Annotated[Viewer, Depends(_reader)]
AnyViewer = Annotated[Viewer, Depends(_viewer)]


def _page(
    request: Request, name: str, viewer: Viewer, status_code: int = 200, **context: Any
) -> Response:
    response = templates.TemplateResponse(
        request, name, {"viewer": viewer, **context}, status_code=status_code
    )
    response.headers.update(_HEADERS)
    return response


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme) may follow a sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"not a time: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ sign-in


@router.get("/login")
async def login_form(request: Request, viewer: AnyViewer, next: str | None = None) -> Response:
    return _page(request, "login.html", viewer, next=_safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request,
    state: State,
    key: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    match = None
    for candidate in state.keys:
        if key and secrets.compare_digest(key, candidate):
            match = candidate
    if match is None:
        error = (
            "This server has no API keys (set API_KEYS) so nobody can sign in."
            if not state.keys
            else "That key is not one of this server's API keys."
        )
        await asyncio.sleep(0.2)  # a guess costs time
        return _page(
            request,
            "login.html",
            Viewer(None, None),
            status.HTTP_401_UNAUTHORIZED,
            next=_safe_next(next),
            error=error,
        )
    cookie = session.issue(match, time.time())
    response = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        session.COOKIE,
        cookie,
        max_age=session.LIFETIME_S,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _checked(viewer: Viewer, token: str | None) -> None:
    if viewer.key is None or viewer.cookie is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in with an API key first")
    if not session.csrf_valid(viewer.key, viewer.cookie, token):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the form is stale or came from another site: reload it"
        )


@router.post("/logout")
async def logout(viewer: AnyViewer, csrf: Annotated[str | None, Form()] = None) -> Response:
    _checked(viewer, csrf)
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(session.COOKIE)
    return response


# ------------------------------------------------------------------------------ search


@router.get("/")
async def search(
    request: Request,
    *,
    engine: Engine,
    viewer: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    platform: Annotated[Platform | Literal[""], Query()] = "",
    page: Annotated[int, Query(ge=1, le=100)] = 1,
) -> Response:
    per_page = 20
    q = q.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    async with engine.begin() as conn:
        found = await profile_search.search(
            conn, q=q, platform=platform or None, limit=per_page, offset=(page - 1) * per_page
        )
    return _page(
        request,
        "search.html",
        viewer,
        q=q,
        platform=platform,
        platforms=[p.value for p in Platform],
        found=found,
        page=page,
        more=page * per_page < found.total and page < 100,
    )


# ------------------------------------------------------------------------------ profile


@router.get("/bloggers/{blogger_id}")
async def profile(
    request: Request,
    *,
    engine: Engine,
    viewer: Reader,
    blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    sort: stored_posts.Sort = "time",
    cursor: Annotated[str | None, Query(pattern=r"^-?[0-9]{1,17}\.[0-9]{1,18}$")] = None,
) -> Response:
    async with engine.connect() as conn:
        row = await profiles.get(conn, blogger_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no profile {blogger_id}")
        snapshots = await history.metric_history(conn, "profile", blogger_id, limit=HISTORY_POINTS)
        rows = await stored_posts.page(
            conn, blogger_id, sort=sort, after=parse_cursor(cursor), limit=POSTS_PER_PAGE + 1
        )
        shown = rows[:POSTS_PER_PAGE]
        ids = [p["id"] for p in shown]
        series = await reads.post_series(conn, ids)
        thumbs = await reads.thumbnails(conn, ids)
        forecasts = await reads.forecasts(conn, ids)
        changes = await follows.events(conn, blogger_id, limit=20)
        job_id = await profiles.last_job_id(conn, blogger_id)
        last_job = await ledger.get_job(conn, job_id) if job_id is not None else None
    followers = [
        (s["observed_at"], s["followers"]) for s in snapshots if s["followers"] is not None
    ]
    engagement = [
        (s["observed_at"], s["engagement_rate"])
        for s in snapshots
        if s["engagement_rate"] is not None
    ]
    last = shown[-1] if len(rows) > POSTS_PER_PAGE else None
    return _page(
        request,
        "profile.html",
        viewer,
        profile=row,
        followers=charts.line(followers, label="Followers"),
        engagement=charts.line(engagement, label="Engagement rate"),
        posts=shown,
        series=series,
        thumbs=thumbs,
        forecasts=forecasts,
        sort=sort,
        next_cursor=f"{last['sort_key']}.{last['id']}" if last else None,
        changes=changes,
        last_job=last_job,
        scopes=SCOPES[row["platform"]],
    )


# ------------------------------------------------------------------------------ post


@router.get("/posts/{post_id}")
async def post(
    request: Request,
    *,
    engine: Engine,
    viewer: Reader,
    post_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    cursor: Annotated[str | None, Query(pattern=r"^-?[0-9]{1,17}\.[0-9]{1,18}$")] = None,
) -> Response:
    async with engine.connect() as conn:
        row = await stored_posts.one(conn, post_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no post {post_id}")
        owner = await profiles.get(conn, row["social_profile_id"])
        media = await stored_posts.media(conn, post_id)
        caption = await stored_posts.caption_analysis(conn, post_id)
        forecast = (await reads.forecasts(conn, [post_id])).get(post_id)
        snapshots = await history.metric_history(conn, "post", post_id, limit=HISTORY_POINTS)
        rows = await stored_posts.comments(
            conn, post_id, after=parse_cursor(cursor), limit=COMMENTS_PER_PAGE + 1
        )
        coverage = await stored_posts.likers_coverage(conn, post_id)
    comments = rows[:COMMENTS_PER_PAGE]
    last = comments[-1] if len(rows) > COMMENTS_PER_PAGE else None
    metric = "views" if any(s["views"] is not None for s in snapshots) else "likes"
    return _page(
        request,
        "post.html",
        viewer,
        post=row,
        owner=owner,
        media=media,
        caption=caption,
        forecast=forecast,
        chart=charts.line(
            [(s["observed_at"], s[metric]) for s in snapshots if s[metric] is not None],
            label=metric.capitalize(),
        ),
        comments=comments,
        next_cursor=f"{last['sort_key']}.{last['id']}" if last else None,
        coverage=coverage,
    )


@router.get("/media/{media_id}")
async def media_file(
    request: Request,
    engine: Engine,
    viewer: Reader,
    media_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    async with engine.connect() as conn:
        found = await reads.media_file(conn, media_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"media {media_id} is not downloaded")
    store = _store(request)
    try:
        data = await asyncio.to_thread(store.get, found["object_key"])
    except ObjectNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"media {media_id} is gone") from None
    # Content-addressed: a key never holds other bytes.
    return Response(
        data,
        media_type=found["content_type"] or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=31536000, immutable", **_HEADERS},
    )


def _store(request: Request) -> ObjectStore:
    """The media store, opened on first use."""
    store: ObjectStore | None = getattr(request.app.state, "media_store", None)
    if store is None:
        settings = request.app.state.core.settings
        store = open_store(
            settings.media_store_location(), endpoint_url=settings.media_s3_endpoint_url
        )
        request.app.state.media_store = store
    return store


# ------------------------------------------------------------------------------ syncs


def _tree(calls: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """ServiceCalls in tree order with their depth: each call after its parent. A stream's
    pages chain (each page's parent is the page before it) and stay at one depth; a call
    under a call of another stream (a post's comments under its page) goes one deeper."""
    by_id = {c["id"]: c for c in calls}
    children: dict[int | None, list[dict[str, Any]]] = {}
    for call in calls:
        parent = call["parent_service_call_id"]
        children.setdefault(parent if parent in by_id else None, []).append(call)
    ordered: list[tuple[int, dict[str, Any]]] = []
    stack = [(0, c) for c in reversed(children.get(None, []))]
    while stack:
        depth, call = stack.pop()
        ordered.append((depth, call))
        for child in reversed(children.get(call["id"], [])):
            stack.append((depth + (child["stream"] != call["stream"]), child))
    return ordered


@router.get("/syncs")
async def syncs(
    request: Request,
    engine: Engine,
    viewer: Reader,
    status_: Annotated[Status | Literal[""], Query(alias="status")] = "",
) -> Response:
    async with engine.connect() as conn:
        jobs = await ledger.recent_jobs(conn, status=status_ or None, platform=None, limit=100)
    return _page(
        request,
        "syncs.html",
        viewer,
        jobs=jobs,
        status=status_,
        statuses=[s.value for s in Status],
        scopes=SCOPES,
        error=None,
        form={},
    )


@router.post("/syncs")
async def start_sync(
    request: Request,
    *,
    engine: Engine,
    state: State,
    viewer: AnyViewer,
    platform: Annotated[Platform, Form()],
    username: Annotated[str, Form(max_length=100)],
    scope: Annotated[str, Form(max_length=20)] = "all",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _checked(viewer, csrf)
    try:
        job_id = await create_job(
            engine, platform=platform, scope=scope, username=username.strip() or None
        )
    except JobError as exc:
        async with engine.connect() as conn:
            jobs = await ledger.recent_jobs(conn, status=None, platform=None, limit=100)
        return _page(
            request,
            "syncs.html",
            viewer,
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            jobs=jobs,
            status="",
            statuses=[s.value for s in Status],
            scopes=SCOPES,
            all_scopes=ALL_SCOPES,
            error=str(exc),
            form={"platform": platform.value, "username": username, "scope": scope},
        )
    client = await state.temporal()
    await orchestration.start_sync(client, SyncInput(job_id, engine.url.database or ""))
    return RedirectResponse(f"/syncs/{job_id}", status.HTTP_303_SEE_OTHER)


@router.get("/syncs/{job_call_id}")
async def sync(
    request: Request,
    engine: Engine,
    viewer: Reader,
    job_call_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    async with engine.connect() as conn:
        found = await sync_status.report_and_calls(conn, job_call_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sync {job_call_id}")
        report, calls = found
        subject = await profiles.get(conn, report["subject_id"]) if report["subject_id"] else None
        children = await ledger.children_page(conn, job_call_id, limit=CALLS_SHOWN + 1)
    return _page(
        request,
        "sync.html",
        viewer,
        report=report,
        subject=subject,
        children=children[:CALLS_SHOWN],
        more_children=len(children) > CALLS_SHOWN,
        tree=_tree(calls)[:CALLS_SHOWN],
        calls=len(calls),
        shown=CALLS_SHOWN,
    )


@router.get("/syncs/{job_call_id}/progress")
async def sync_progress(
    request: Request, engine: Engine, job_call_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """The sync page's live numbers, polled by ``static/app.js`` while the sync runs."""
    if not request.app.state.core.settings.api_public_reads and not _viewer(request).signed_in:
        return JSONResponse({"detail": "sign in first"}, status.HTTP_401_UNAUTHORIZED)
    async with engine.connect() as conn:
        report = await sync_status.report(conn, job_call_id)
    if report is None:
        return JSONResponse({"detail": f"no sync {job_call_id}"}, status.HTTP_404_NOT_FOUND)
    streams = {
        name: {k: s[k] for k in ("pages", "items", "failed", "skipped")}
        for name, s in report["streams"].items()
    }
    return JSONResponse(
        {
            "status": str(report["status"]),
            "finished": report["status"] in FINISHED,
            "service_calls": report["service_calls"],
            "streams": streams,
            "error": report["error"],
        },
        headers={"Cache-Control": "no-store"},
    )


# ------------------------------------------------------------------------------ fleet


@router.get("/fleet")
async def fleet(request: Request, engine: Engine, state: State, viewer: Reader) -> Response:
    now = datetime.now(UTC)
    report = await fleet_status.status(engine, now=now)
    load = await fleet_plan.plan(state.settings, engine, now=now)
    troubled = {}
    for name in (fleet_status.State.FAILING, fleet_status.State.OVERDUE):
        troubled[name.value] = await fleet_status.accounts(engine, state=name, limit=20, now=now)
    return _page(
        request,
        "fleet.html",
        viewer,
        report=report,
        plan=load,
        states=[s.value for s in fleet_status.State],
        troubled=troubled,
    )


# ------------------------------------------------------------------------------ wiring


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: its pages, its static files, its error pages."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if is_page(request):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
            )
            return error_page(request, status.HTTP_422_UNPROCESSABLE_ENTITY, problems)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(SignInRequired)
    async def sign_in(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.back)}", status.HTTP_303_SEE_OTHER)


def is_page(request: Request) -> bool:
    """Whether an error should be an HTML page (a browser asking for one of ours)."""
    path = request.url.path
    return not path.startswith(
        ("/api/", "/openapi", "/docs", "/redoc", "/metrics", "/health")
    ) and ("text/html" in request.headers.get("accept", ""))


def error_page(request: Request, status_code: int, detail: str) -> Response:
    return _page(
        request, "error.html", _viewer(request), status_code, code=status_code, detail=detail
    )
