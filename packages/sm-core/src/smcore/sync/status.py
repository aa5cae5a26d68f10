"""Where a sync stands: its JobCall and its ServiceCalls summed per stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import db, ledger
from smcore.transform import analysis


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
    found = await report_and_calls(conn, job_id)
    return found[0] if found else None


async def report_and_calls(
    conn: AsyncConnection, job_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """:func:`report` and the ServiceCalls it summed (read once), or None."""
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
        "transform": await transform(conn, job.subject_id) if job.subject_id else None,
    }, calls


_MEDIA = text(
    """
    SELECT m.fetch_status, count(*) FROM media m JOIN posts p ON p.id = m.post_id
    WHERE p.social_profile_id = :profile GROUP BY m.fetch_status
    """
)


async def transform(conn: AsyncConnection, profile_id: int) -> dict[str, Any]:
    """The profile's Transform stage: its media files by download state, its analyses by
    status, and the latest analysis error (an outage of the analysis service shows here)."""
    media: dict[str, int] = dict((await conn.execute(_MEDIA, {"profile": profile_id})).all())
    analyses, errors = await analysis.by_status(conn, profile_id)
    open_error = next(
        (errors[s] for s in ("unsubmitted", "pending", "processing") if s in errors), None
    )
    return {
        "media": media,
        "analyses": analyses,
        "last_error": open_error or errors.get("failed"),
    }
