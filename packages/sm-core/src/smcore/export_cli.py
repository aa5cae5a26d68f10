"""``sm-core export KIND``: a whole list as CSV or Parquet, read from the database directly.

The same lists as the API's ``?format=csv|parquet`` (the routes' sources in ``smcore.api``,
written by :mod:`smcore.api.tabular`), for lists too large to fetch over HTTP: pages are read
one keyset page at a time and written as they come, with the progress on stderr. A file is
written to a temporary name beside it and renamed when complete.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO, get_args

import psycopg
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from devstack import DevstackError
from devstack.settings import endpoints
from smcore.api import fleet, follows, history, posts, syncs, tabular
from smcore.api.tabular import Format, Source
from smcore.fleet.status import State as AccountState
from smcore.settings import Settings
from smcore.store import db, ledger, profiles
from smcore.store.follows import Direction, Kind
from smcore.store.history import Metric
from smcore.store.models import Status
from smcore.sync.models import Platform

err = Console(stderr=True)


class ListKind(StrEnum):
    """What to export (the API route with the same list)."""

    POSTS = "posts"  # /bloggers/{id}/posts
    COMMENTS = "comments"  # /posts/{id}/comments
    LIKERS = "likers"  # /posts/{id}/likers
    FOLLOW_EVENTS = "follow-events"  # /bloggers/{id}/follow-events
    METRICS = "metrics"  # /bloggers/{id}/metrics or /posts/{id}/metrics
    CALLS = "calls"  # /syncs/{id}/calls
    CHILDREN = "children"  # /syncs/{id}/children
    SYNCS = "syncs"  # /syncs
    ACCOUNTS = "accounts"  # /fleet/accounts


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class Sort(StrEnum):
    TIME = "time"
    ENGAGEMENT = "engagement"


class _Missing(Exception):
    """The profile, post or JobCall named is not stored."""


Check = Callable[[AsyncConnection], Awaitable[None]]


def _moment(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a time zone (Z or +HH:MM)", param_hint=name)
    return moment


_NEEDS: dict[ListKind, str] = {
    ListKind.POSTS: "profile",
    ListKind.COMMENTS: "post",
    ListKind.LIKERS: "post",
    ListKind.FOLLOW_EVENTS: "profile",
    ListKind.CALLS: "sync",
    ListKind.CHILDREN: "sync",
}
"""The subject option each kind needs (metrics: one of --profile and --post)."""


def _check_subject(kind: ListKind, opts: dict[str, Any]) -> None:
    """Refuse a missing subject before any database is opened."""
    if kind is ListKind.METRICS:
        if (opts["profile"] is None) == (opts["post"] is None):
            raise typer.BadParameter("metrics needs one of --profile and --post")
    elif kind in _NEEDS and opts[_NEEDS[kind]] is None:
        option = f"--{_NEEDS[kind]}"
        raise typer.BadParameter(f"{kind.value} needs {option} ID", param_hint=option)


def _exists(subject: profiles.Subject, subject_id: int) -> Check:
    async def check(conn: AsyncConnection) -> None:
        if not await profiles.exists(conn, subject, subject_id):
            where = "sm-core fleet list, or GET /api/v1/bloggers?q=NAME"
            if subject == "post":
                where = "GET /api/v1/bloggers/{id}/posts"
            raise _Missing(f"no {subject} {subject_id} is stored: find its id with {where}")

    return check


def _job(job_id: int) -> Check:
    async def check(conn: AsyncConnection) -> None:
        if not await ledger.job_exists(conn, job_id):
            raise _Missing(f"no JobCall {job_id}: list them with GET /api/v1/syncs")

    return check


async def _nothing(_: AsyncConnection) -> None:
    return None


Built = tuple[Source[Any], Check]


def _posts(opts: dict[str, Any], _: AsyncEngine) -> Built:
    profile = opts["profile"]
    found = posts.posts_source(
        profile, sort=opts["sort"].value, since=opts["since"], until=opts["until"]
    )
    return found, _exists("profile", profile)


def _comments(opts: dict[str, Any], _: AsyncEngine) -> Built:
    post = opts["post"]
    return posts.comments_source(post), _exists("post", post)


def _likers(opts: dict[str, Any], _: AsyncEngine) -> Built:
    post = opts["post"]
    return posts.likers_source(post), _exists("post", post)


def _follow_events(opts: dict[str, Any], _: AsyncEngine) -> Built:
    profile = opts["profile"]
    found = follows.events_source(
        profile,
        direction=opts["direction"],
        kind=opts["event"],
        since=opts["since"],
        until=opts["until"],
    )
    return found, _exists("profile", profile)


def _metrics(opts: dict[str, Any], _: AsyncEngine) -> Built:
    subject: profiles.Subject = "profile" if opts["profile"] is not None else "post"
    subject_id = opts["profile"] if subject == "profile" else opts["post"]
    found = history.history_source(
        subject, subject_id, since=opts["since"], until=opts["until"], metric=opts["metric"]
    )
    return found, _exists(subject, subject_id)


def _calls(opts: dict[str, Any], _: AsyncEngine) -> Built:
    job = opts["sync"]
    return syncs.calls_source(job, status=opts["status"], stream=opts["stream"]), _job(job)


def _children(opts: dict[str, Any], _: AsyncEngine) -> Built:
    job = opts["sync"]
    return syncs.children_source(job, status=opts["status"]), _job(job)


def _syncs(opts: dict[str, Any], _: AsyncEngine) -> Built:
    return syncs.jobs_source(status=opts["status"], platform=opts["platform"]), _nothing


def _accounts(opts: dict[str, Any], engine: AsyncEngine) -> Built:
    found = fleet.accounts_source(engine, state=opts["state"], platform=opts["platform"])
    return found, _nothing


_SOURCES: dict[ListKind, Callable[[dict[str, Any], AsyncEngine], Built]] = {
    ListKind.POSTS: _posts,
    ListKind.COMMENTS: _comments,
    ListKind.LIKERS: _likers,
    ListKind.FOLLOW_EVENTS: _follow_events,
    ListKind.METRICS: _metrics,
    ListKind.CALLS: _calls,
    ListKind.CHILDREN: _children,
    ListKind.SYNCS: _syncs,
    ListKind.ACCOUNTS: _accounts,
}
"""Each kind's list and the check that its subject exists."""


async def _counted(
    pages: AsyncIterator[list[BaseModel]], progress: Progress, task: Any
) -> AsyncIterator[list[BaseModel]]:
    async for page in pages:
        yield page
        progress.advance(task, len(page))


async def _write(url: str, kind: ListKind, opts: dict[str, Any], fmt: Format, out: BinaryIO) -> int:
    engine = db.async_engine(url, pool_size=1)
    try:
        source, check = _SOURCES[kind](opts, engine)
        async with engine.connect() as conn:
            await check(conn)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed} rows"),
                TimeElapsedColumn(),
                console=err,
            ) as progress:
                task = progress.add_task(f"{kind.value} → {fmt.value}", total=None)
                pages = _counted(tabular.items(conn, source), progress, task)
                async for chunk in tabular.chunks(fmt, source.model, pages):
                    out.write(chunk)
                return int(progress.tasks[0].completed)
    finally:
        await engine.dispose()


def export_command(
    ctx: typer.Context,
    kind: Annotated[ListKind, typer.Argument(help="The list to write.", show_default=False)],
    fmt: Annotated[FileFormat, typer.Option("--format", help="The file's format.")] = (
        FileFormat.CSV
    ),
    output: Annotated[
        str,
        typer.Option(help="The file to write; - is stdout (csv only)."),
    ] = "-",
    profile: Annotated[
        int | None, typer.Option(help="The profile id (posts, follow-events, metrics).")
    ] = None,
    post: Annotated[
        int | None, typer.Option(help="The post id (comments, likers, metrics).")
    ] = None,
    sync: Annotated[int | None, typer.Option(help="The JobCall id (calls, children).")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="At or after this time (ISO 8601, a zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Before this time (ISO 8601, a zone).")
    ] = None,
    sort: Annotated[Sort, typer.Option(help="posts: newest or most engaging first.")] = (Sort.TIME),
    direction: Annotated[
        str, typer.Option(help="follow-events: follower or following.")
    ] = "follower",
    event: Annotated[
        str | None, typer.Option(help="follow-events: only follow or only unfollow.")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="metrics: only these (repeat the option).")
    ] = None,
    status: Annotated[
        Status | None, typer.Option(help="calls, children, syncs: only this status.")
    ] = None,
    stream: Annotated[str | None, typer.Option(help="calls: only this stream.")] = None,
    platform: Annotated[
        Platform | None, typer.Option(help="syncs, accounts: only this platform.")
    ] = None,
    state: Annotated[AccountState | None, typer.Option(help="accounts: only this state.")] = None,
) -> None:
    """Write a whole list (all its pages, under the filters given) as CSV or Parquet."""
    settings: Settings = ctx.obj
    file_format = Format(fmt.value)
    if file_format is Format.PARQUET and output == "-":
        raise typer.BadParameter("Parquet needs --output PATH (a file)", param_hint="--output")
    opts = {
        "profile": profile,
        "post": post,
        "sync": sync,
        "since": _moment("--from", since),
        "until": _moment("--to", until),
        "sort": sort,
        "direction": _one_of(direction, Direction, "--direction"),
        "event": _one_of(event, Kind, "--event") if event is not None else None,
        "metric": [_one_of(m, Metric, "--metric") for m in metric or []] or None,
        "status": status,
        "stream": stream,
        "platform": platform,
        "state": state,
    }
    _check_subject(kind, opts)
    try:
        with endpoints(settings, temporal=False) as ep:
            if output == "-":
                rows = asyncio.run(
                    _write(ep.database_url, kind, opts, file_format, sys.stdout.buffer)
                )
            else:
                rows = _to_file(Path(output), ep.database_url, kind, opts, file_format)
    except _Missing as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except (DevstackError, psycopg.Error, DBAPIError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    if output != "-":
        err.print(f"{rows} rows → {output}", highlight=False)


def _one_of(value: str, allowed: Any, option: str) -> Any:
    choices = get_args(allowed)
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=option)
    return value


def _to_file(path: Path, url: str, kind: ListKind, opts: dict[str, Any], fmt: Format) -> int:
    """Written to a temporary file beside ``path``, renamed over it when complete."""
    folder = path.resolve().parent
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            rows = asyncio.run(_write(url, kind, opts, fmt, out))
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return rows
