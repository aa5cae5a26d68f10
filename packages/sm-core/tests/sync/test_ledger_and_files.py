"""After one real sync (socialsim, Temporal, PostgreSQL), shared by the module: the sync's
ServiceCall tree read back as the ledger holds it (``/syncs/{id}/calls``), a batch's children
(``/syncs/{id}/children``), every list route's CSV and Parquet equal to its JSON pages joined,
and ``sm-core export`` writing the file the route serves."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
import pytest_asyncio
import sqlalchemy as sa
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from devstack.pytest_plugin import DatabaseTemplates
from smcore import cli
from smcore.api.app import create_app
from smcore.fleet import accounts
from smcore.orchestration import client as orchestration
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import SyncInput
from smcore.sync.service import create_batch, create_job
from socialsim.testing import serve

USERNAME = "user_0006"  # seed 2: public, posts with comments and likers (test_post_reads.py)


@dataclass
class World:
    database_url: str
    api: httpx.AsyncClient
    job_id: int
    batch_id: int
    profile_id: int
    post_id: int

    def rows(self, query: str, *args: Any) -> list[Any]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    database_templates: DatabaseTemplates,
    smcore_template: str,
    temporal_env: WorkflowEnvironment,
    sim_settings: Callable[..., Settings],
) -> AsyncIterator[World]:
    with (
        database_templates.clone(smcore_template) as url,
        serve(seed=2, profiles=6, channels=0, tiktok_accounts=1) as sim,
    ):
        engine = db.async_engine(url, pool_size=2)
        try:
            job_id = await create_job(
                engine, platform="instagram", scope="all", username=USERNAME, full=True
            )
            async with running_worker(
                sim_settings(sim), database_url=url, client=temporal_env.client
            ):
                handle = await orchestration.start_sync(
                    temporal_env.client, SyncInput(job_id, db.database_name(url))
                )
                result = await handle.result()
                assert result.status == "succeeded", result.summary
                # A second follower pass three simulated days later: follows and unfollows.
                httpx.post(
                    f"{sim.url}/_sim/clock", json={"advance_hours": 72}, timeout=60
                ).raise_for_status()
                again = await create_job(
                    engine, platform="instagram", scope="subscriptions", username=USERNAME
                )
                handle = await orchestration.start_sync(
                    temporal_env.client, SyncInput(again, db.database_name(url))
                )
                result = await handle.result()
                assert result.status == "succeeded", result.summary
            # A batch that never ran: its children are pending JobCalls.
            batch_id = await create_batch(
                engine,
                [
                    {"platform": "instagram", "scope": "profile", "username": f"user_000{i}"}
                    for i in range(1, 6)
                ],
            )
            report = await accounts.import_rows(
                engine,
                accounts.read_text(
                    "platform,username,cadence\n"
                    + "".join(f"instagram,user_000{i},{i}h\n" for i in range(1, 6)),
                    fmt="csv",
                ),
            )
            assert report.added == 5
            async with engine.begin() as conn:  # scheduled: a lag that does not change
                await conn.execute(
                    sa.text("UPDATE sync_schedules SET next_due_at = now() + interval '1 day'")
                )
        finally:
            await engine.dispose()
        with psycopg.connect(url) as conn:
            profile_id, post_id = conn.execute(
                "SELECT p.social_profile_id, p.id FROM posts p "
                "JOIN social_profiles s ON s.id = p.social_profile_id AND s.username = %s "
                "ORDER BY (SELECT count(*) FROM likes l WHERE l.post_id = p.id) "
                "+ (SELECT count(*) FROM comments c WHERE c.post_id = p.id) DESC, p.id LIMIT 1",
                (USERNAME,),
            ).fetchone() or (0, 0)
        app = create_app(Settings(), database_url=url, temporal_address=None)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                yield World(url, api, job_id, batch_id, profile_id, post_id)


async def _pages(w: World, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every JSON page of a keyset-paged list, joined."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        page = await w.api.get(path, params=query)
        assert page.status_code == 200, page.text
        found += page.json()[key]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def test_a_syncs_calls_are_its_ledger_as_a_tree(world: World) -> None:
    w = world
    calls = await _pages(w, f"/api/v1/syncs/{w.job_id}/calls", "items", limit=7)
    ledger = w.rows(
        "SELECT id, parent_service_call_id, stream, status, kind, subject_id "
        "FROM service_calls WHERE job_call_id = %s ORDER BY id",
        w.job_id,
    )
    assert len(ledger) > 7, "more than one page of calls"
    assert [
        (c["id"], c["parent_service_call_id"], c["stream"], c["status"], c["kind"], c["subject_id"])
        for c in calls
    ] == [tuple(r) for r in ledger]
    seen: set[int] = set()
    linked = 0
    for call in calls:
        parent = call["parent_service_call_id"]
        assert parent is None or parent in seen, "a parent comes before its children"
        linked += parent is not None
        seen.add(call["id"])
    assert linked, "the chains of paged streams link calls to their parents"

    stream = ledger[-1][2]
    only = await _pages(
        w, f"/api/v1/syncs/{w.job_id}/calls", "items", stream=stream, status="succeeded"
    )
    assert [c["id"] for c in only] == [
        r[0] for r in ledger if r[2] == stream and r[3] == "succeeded"
    ]
    assert (await w.api.get("/api/v1/syncs/999999999/calls")).status_code == 404


async def test_a_batchs_children_page_by_page(world: World) -> None:
    w = world
    children = await _pages(w, f"/api/v1/syncs/{w.batch_id}/children", "items", limit=2)
    assert [c["id"] for c in children] == [
        r[0]
        for r in w.rows(
            "SELECT id FROM job_calls WHERE parent_job_call_id = %s ORDER BY id", w.batch_id
        )
    ]
    assert len(children) == 5
    assert {c["parent_job_call_id"] for c in children} == {w.batch_id}
    failed = await w.api.get(f"/api/v1/syncs/{w.batch_id}/children", params={"status": "failed"})
    assert failed.json() == {"items": [], "next_cursor": None}
    none = await w.api.get(f"/api/v1/syncs/{w.job_id}/children")
    assert none.json()["items"] == [], "a sync has no children"
    assert (await w.api.get("/api/v1/syncs/999999999/children")).status_code == 404


def _lists(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every list route: its path, the key of its items (None: a plain list), its page size."""
    return [
        (f"/api/v1/bloggers/{w.profile_id}/posts", "items", {"limit": 4}),
        (f"/api/v1/bloggers/{w.profile_id}/posts", "items", {"sort": "engagement", "limit": 4}),
        (f"/api/v1/posts/{w.post_id}/comments", "items", {"limit": 2}),
        (f"/api/v1/posts/{w.post_id}/likers", "items", {"limit": 2}),
        (f"/api/v1/bloggers/{w.profile_id}/follow-events", "items", {"limit": 5}),
        (f"/api/v1/bloggers/{w.profile_id}/metrics", "points", {"limit": 1}),
        (f"/api/v1/posts/{w.post_id}/metrics", "points", {"limit": 1, "metric": ["likes"]}),
        (f"/api/v1/syncs/{w.job_id}/calls", "items", {"limit": 10}),
        (f"/api/v1/syncs/{w.batch_id}/children", "items", {"limit": 2}),
        ("/api/v1/syncs", "", {"limit": 500}),
        ("/api/v1/fleet/accounts", "", {"limit": 1000}),
    ]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _as_json(value: Any, like: Any) -> Any:
    """A Parquet cell as the JSON page has it (times as instants, nested values as JSON)."""
    if isinstance(value, datetime):
        return value
    if isinstance(like, dict | list):
        return json.loads(value)
    return value


def _instant(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value)
    return value


async def test_every_list_as_csv_and_parquet_is_its_json_pages_joined(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smcore.api import tabular  # noqa: PLC0415 - the constant patched below

    # Files are written a keyset page (and a row group) at a time: make that several pages.
    monkeypatch.setattr(tabular, "PAGE_ROWS", 3)
    w = world
    for path, key, params in _lists(w):
        if key:
            want = await _pages(w, path, key, **params)
        else:
            answer = await w.api.get(path, params=params)
            assert answer.status_code == 200, answer.text
            want = answer.json()
        assert len(want) > 1 or "metrics" in path, f"{path}: a list of more than one row"
        filters = {k: v for k, v in params.items() if k != "limit"}

        got = await w.api.get(path, params=filters | {"format": "csv", "limit": 1})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("text/csv")
        assert got.headers["content-disposition"].startswith("attachment; filename=")
        assert got.headers["content-disposition"].endswith('.csv"')
        table = list(csv.reader(io.StringIO(got.text)))
        assert table[0] == list(want[0]), f"{path}: the columns are the JSON item's fields"
        assert table[1:] == [[_csv_cell(v) for v in item.values()] for item in want], path

        got = await w.api.get(path, params=filters | {"format": "parquet"})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/vnd.apache.parquet"
        parquet = pq.ParquetFile(io.BytesIO(got.content))
        assert parquet.schema_arrow.names == list(want[0]), path
        assert parquet.num_row_groups == -(-len(want) // 3), f"{path}: a row group per page"
        rows = parquet.read().to_pylist()
        assert [
            {k: _as_json(v, item[k]) for k, v in row.items()}
            for row, item in zip(rows, want, strict=True)
        ] == [{k: _instant(v) for k, v in item.items()} for item in want], path

    missing = await w.api.get("/api/v1/posts/999999999/likers", params={"format": "csv"})
    assert missing.status_code == 404, "a file of an unknown subject is a 404, not an empty file"


def _sm_core(*args: str, database_url: str) -> Result:
    """``sm-core ARGS`` in this process (a subprocess would spend seconds importing)."""
    return CliRunner().invoke(cli.app, list(args), env={"DATABASE_URL": database_url})


async def test_export_writes_the_file_the_route_serves(world: World, tmp_path: Path) -> None:
    w = world
    target = tmp_path / "likers.parquet"
    done = await asyncio.to_thread(
        _sm_core, "export", "likers", "--post", str(w.post_id), "--format", "parquet",
        "--output", str(target), database_url=w.database_url,
    )  # fmt: skip
    assert done.exit_code == 0, done.output[-3000:]
    served = await w.api.get(f"/api/v1/posts/{w.post_id}/likers", params={"format": "parquet"})
    assert pq.read_table(target).equals(pq.read_table(io.BytesIO(served.content)))
    assert len(pq.read_table(target)) > 1
    assert [p.name for p in os.scandir(tmp_path) if p.name.endswith(".part")] == []

    done = await asyncio.to_thread(
        _sm_core, "export", "calls", "--sync", str(w.job_id), "--status", "succeeded",
        database_url=w.database_url,
    )  # fmt: skip
    assert done.exit_code == 0, done.output[-3000:]
    served = await w.api.get(
        f"/api/v1/syncs/{w.job_id}/calls", params={"format": "csv", "status": "succeeded"}
    )
    assert done.stdout_bytes == served.content, "csv on stdout, byte for byte"

    done = await asyncio.to_thread(
        _sm_core, "export", "posts", "--profile", "999999999", database_url=w.database_url
    )
    assert done.exit_code == 1
    assert "no profile 999999999" in done.output
    assert "find its id" in done.output
