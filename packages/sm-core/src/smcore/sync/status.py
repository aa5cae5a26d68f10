"""Where a sync stands: its JobCall and its ServiceCalls summed per stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import db, ledger


async def job_status(database_url: str, job_id: int) -> dict[str, Any] | None:
    """A JobCall with its ServiceCalls summed per stream (and the tree's size)."""
    engine = db.async_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await report(conn, job_id)
    finally:
        await engine.dispose()


async def report(conn: AsyncConnection, job_id: int) -> dict[str, Any] | None:
    """A JobCall with its ServiceCalls summed per stream, or None."""
    job = await ledger.get_job(conn, job_id)
    if job is None:
        return None
    calls = await ledger.calls_of(conn, job_id)
    streams: dict[str, dict[str, Any]] = {}
    for call in calls:
        entry = streams.setdefault(
            call["stream"], {"pages": 0, "items": 0, "failed": 0, "skipped": 0, "subjects": set()}
        )
        if call["status"] == "succeeded":
            entry["pages"] += 1
            entry["items"] += int((call["result_summary"] or {}).get("items", 0))
        elif call["status"] in ("failed", "skipped"):
            entry[call["status"]] += 1
            entry["last_error"] = call["error_message"]
        if call["subject_id"] is not None:
            entry["subjects"].add(call["subject_id"])
        entry["cursor"] = call["cursor"]
    for entry in streams.values():
        entry["subjects"] = len(entry["subjects"])
    return {
        "job_call_id": job.id,
        "status": job.status,
        "platform": job.platform,
        "kind": job.kind,
        "subject_id": job.subject_id,
        "params": job.params,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error_message,
        "service_calls": len(calls),
        "streams": streams,
        "result_summary": job.result_summary,
    }
