"""Batches: many profile syncs as child workflows; every outcome recorded, constant payloads."""

from __future__ import annotations

from typing import Any

from smcore.orchestration import client as orchestration
from smcore.orchestration.workflows import BATCH_SLICE
from smcore.store import db
from smcore.sync.service import create_batch
from socialsim.testing import serve

CORRUPT = 4


async def largest_event_bytes(client: Any, workflow_id: str) -> tuple[int, int]:
    """The largest event in a workflow's history over all its runs (continue-as-new), and the
    number of runs."""
    largest = runs = 0
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        runs += 1
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            largest = max(largest, event.ByteSize())
    return largest, runs


async def test_a_batch_of_210_records_every_outcome_with_payloads_of_constant_size(
    syncer: Any,
) -> None:
    with serve(seed=11, profiles=210, channels=0) as sim:
        s = syncer(sim)
        index = s.truth("instagram")["profiles"]
        names = [p["username"] for p in index if p["exists"]][:200]
        names += [p["username"] for p in index if not p["exists"]][:10]
        engine = db.async_engine(s.database_url, pool_size=2)
        try:
            batch = await create_batch(
                engine,
                [{"platform": "instagram", "scope": "profile", "username": n} for n in names],
            )
        finally:
            await engine.dispose()
        # Rows broken by some other writer: the children fail, the batch goes on.
        s.rows(
            'UPDATE job_calls SET params = params || \'{"scope": "bogus"}\' WHERE id IN '
            "(SELECT id FROM job_calls WHERE parent_job_call_id = %s ORDER BY id LIMIT %s) "
            "RETURNING id",
            batch,
            CORRUPT,
        )
        async with s.worker(max_concurrent_activities=64):
            handle = await orchestration.start_batch(
                s.env.client, batch, db=db.database_name(s.database_url), concurrency=48
            )
            result = await handle.result()
        statuses = dict(
            s.rows(
                "SELECT status, count(*) FROM job_calls WHERE parent_job_call_id = %s "
                "GROUP BY status",
                batch,
            )
        )
        assert sum(statuses.values()) == len(names) == 210
        assert result.counts == statuses
        assert statuses.get("failed") == CORRUPT
        assert statuses.get("skipped", 0) >= 10  # the missing usernames
        assert "pending" not in statuses and "running" not in statuses
        failed = s.rows(
            "SELECT error_message FROM job_calls WHERE parent_job_call_id = %s "
            "AND status = 'failed'",
            batch,
        )
        assert all("bogus" in (e[0] or "") for e in failed)
        kind, status, summary = s.rows(
            "SELECT kind, status, result_summary FROM job_calls WHERE id = %s", batch
        )[0]
        assert (kind, status) == ("batch", "partial")
        assert summary["children"] == statuses
        largest, runs = await largest_event_bytes(s.env.client, handle.id)
        assert runs == 210 // BATCH_SLICE + 1  # the last run finds the slice empty
        # A slice of 100 ids is the largest thing in it, whatever the batch's size.
        assert largest < 4096, largest
