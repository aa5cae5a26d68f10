"""Analyses: a synced profile's stored media, captions and comments sent to the analysis
service (``trendflow serve``, the ``000_…`` Transform contract), polled until they finish.

Each subject has one ``analyses`` row per kind (image or video for a media file, text for a
caption or a comment, prediction for a post). A round (:func:`advance`) moves the profile's
rows one step:

1. new subjects get an ``unsubmitted`` row (media once stored, every caption and comment, and
   with ``ANALYSIS_PREDICTIONS`` every post published in the :data:`PREDICTION_WINDOW` before
   the sync's observation time that has metric snapshots);
2. due ``unsubmitted`` rows are submitted: a media file as an image or video job by its
   object-store key, captions and comments as text jobs of ``ANALYSIS_TEXT_BATCH``, a post's
   forecast as a prediction job of its snapshots (see :func:`_submit_predictions`);
3. due ``pending``/``processing`` rows are polled, each job once, with backoff;
4. a finished job's result is stored on its rows (with the analysis version), and the
   ``@handles`` of captions and comments in ``mentions``, resolved to stored profiles.

The service being down never fails anything: the rows stay open with the error and a later
check time (backoff up to ``ANALYSIS_POLL_MAX_S``); a job the service lost (404) is submitted
again under the same idempotency key; one unfinished after ``ANALYSIS_JOB_TIMEOUT_S`` is failed
as timed out and, being retryable, submitted again by a later sync (up to :data:`MAX_TRIES`).

A forecast is asked again by a later sync that wrote a new snapshot of the post (a new
idempotency key, with that sync's job id): the row reopens with the newer job's id and keeps the
old forecast until the new one replaces it. A service without a prediction model answers 422:
the profile's open prediction rows fail at once as ``no_prediction_model`` (one request per
profile and sync, not one per post and round).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore import metrics
from smcore.store.history import OBSERVED_AT, followers_at
from smcore.store.models import AnalysisStatus
from smcore.transform.models import Round

log = structlog.get_logger(__name__)

MAX_TRIES = 3  # submissions of a subject that failed retryably (a timeout, a lost job)
MEDIA_PER_ROUND = 50
TEXT_JOBS_PER_ROUND = 5
POLLS_PER_ROUND = 100
PREDICTIONS_PER_ROUND = 50
PREDICTION_WINDOW = timedelta(days=21)  # the model's longest horizon: later, nothing to forecast
MAX_OBSERVATIONS = 2000  # PredictionJobRequest's limit; the newest are sent
NO_PREDICTION_MODEL = "no_prediction_model"
OPEN = (AnalysisStatus.UNSUBMITTED, AnalysisStatus.PENDING, AnalysisStatus.PROCESSING)
REMOTE_STATUSES = {"pending", "processing", "done", "failed"}


class AnalysisUnavailableError(Exception):
    """The analysis service could not be reached, or answered 5xx/429: try again later."""


class AnalysisRefusedError(Exception):
    """The analysis service rejected a request (4xx): sending it again cannot help.

    Attributes:
        status: the HTTP status.
        body: the response's body (JSON when the service sent JSON, else its text).
    """

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {str(body)[:500]}")
        self.status = status
        self.body = body

    @property
    def no_prediction_model(self) -> bool:
        """The service has no prediction model (``trendflow serve``'s 422 on ``kind``)."""
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        return self.status == 422 and any(
            isinstance(d, dict)
            and d.get("type") == "invalid_job"
            and d.get("loc") == ["body", "kind"]
            for d in detail or []
        )


def _refused(response: httpx.Response) -> AnalysisRefusedError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    return AnalysisRefusedError(response.status_code, body)


class AnalysisClient:
    """The analysis service's HTTP API: submit a job, read a job."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str = "") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = await self.http.request(
                method, self.base_url + path, headers=headers, **kwargs
            )
        except httpx.TransportError as error:
            raise AnalysisUnavailableError(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise AnalysisUnavailableError(f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    async def submit(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /v1/jobs``: the job (new, or the existing one for the same item)."""
        response = await self._send(
            "POST", "/v1/jobs", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        if response.status_code not in (200, 201, 202):
            raise _refused(response)
        return _job(response)

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """``GET /v1/jobs/{id}``; None when the service does not know the job."""
        response = await self._send("GET", f"/v1/jobs/{job_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _refused(response)
        return _job(response)


def _job(response: httpx.Response) -> dict[str, Any]:
    try:
        job = response.json()
    except ValueError as error:
        raise AnalysisUnavailableError(f"not JSON: {response.text[:200]}") from error
    if not isinstance(job, dict) or not job.get("id") or job.get("status") not in REMOTE_STATUSES:
        raise AnalysisUnavailableError(f"not a job: {response.text[:200]}")
    return job


@dataclass(frozen=True)
class Analyst:
    """How analyses are asked for (from settings; one per worker)."""

    client: AnalysisClient
    namespace: str  # this database's name: idempotency keys must not collide across stores
    config: dict[str, Any] = field(default_factory=dict)
    comments: bool = True
    predictions: bool = False
    text_batch: int = 100
    poll_initial_s: float = 2.0
    poll_max_s: float = 300.0
    job_timeout_s: float = 3600.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.poll_max_s, self.poll_initial_s * 2 ** min(attempts, 20)))


# The profile's analyses, whatever their subject.
_MINE = """
    mine AS (
        SELECT a.id FROM analyses a
        JOIN media m ON a.subject_type = 'media' AND m.id = a.subject_id
        JOIN posts p ON p.id = m.post_id WHERE p.social_profile_id = :profile
        UNION ALL
        SELECT a.id FROM analyses a
        JOIN posts p ON a.subject_type = 'post' AND p.id = a.subject_id
        WHERE p.social_profile_id = :profile
        UNION ALL
        SELECT a.id FROM analyses a
        JOIN comments c ON a.subject_type = 'comment' AND c.id = a.subject_id
        JOIN posts p ON p.id = c.post_id WHERE p.social_profile_id = :profile
    )
"""
_BY_STATUS = text(
    f"""
    WITH {_MINE}
    SELECT a.status, count(*),
           (array_agg(a.error_code || ': ' || a.error_message ORDER BY a.updated_at DESC)
                FILTER (WHERE a.error_code IS NOT NULL))[1]
    FROM analyses a JOIN mine ON mine.id = a.id GROUP BY a.status
    """  # noqa: S608 - the interpolation is this module's constant
)
_ENQUEUE_MEDIA = text(
    """
    INSERT INTO analyses (subject_type, subject_id, kind, job_call_id)
    SELECT 'media', m.id, CASE WHEN m.media_type = 'video' THEN 'video' ELSE 'image' END, :job
    FROM media m JOIN posts p ON p.id = m.post_id
    WHERE p.social_profile_id = :profile AND m.fetch_status = 'stored'
    ORDER BY m.id
    ON CONFLICT DO NOTHING
    """
)
_ENQUEUE_CAPTIONS = text(
    """
    INSERT INTO analyses (subject_type, subject_id, kind, job_call_id)
    SELECT 'post', p.id, 'text', :job FROM posts p
    WHERE p.social_profile_id = :profile AND p.caption <> ''
    ORDER BY p.id
    ON CONFLICT DO NOTHING
    """
)
_ENQUEUE_COMMENTS = text(
    """
    INSERT INTO analyses (subject_type, subject_id, kind, job_call_id)
    SELECT 'comment', c.id, 'text', :job FROM comments c JOIN posts p ON p.id = c.post_id
    WHERE p.social_profile_id = :profile AND c.text <> ''
    ORDER BY c.id
    ON CONFLICT DO NOTHING
    """
)
# Failed retryably (timed out, lost): submitted again, a few times over later syncs.
_REOPEN = text(
    f"""
    WITH {_MINE}
    UPDATE analyses a SET status = 'unsubmitted', remote_job_id = NULL, next_check_at = now(),
        updated_at = now()
    FROM mine
    WHERE a.id = mine.id AND a.status = 'failed' AND a.retryable AND a.attempts < {MAX_TRIES}
    """  # noqa: S608 - the interpolations are this module's constants
)
_DUE_MEDIA = text(
    f"""
    WITH {_MINE}
    SELECT a.id, a.kind, m.object_key, m.ext_id, p.platform
    FROM analyses a JOIN mine ON mine.id = a.id
    JOIN media m ON m.id = a.subject_id JOIN posts p ON p.id = m.post_id
    WHERE a.subject_type = 'media' AND a.status = 'unsubmitted' AND a.next_check_at <= now()
    ORDER BY a.id LIMIT {MEDIA_PER_ROUND}
    """  # noqa: S608 - the interpolations are this module's constants
)
_DUE_TEXTS = text(
    f"""
    WITH {_MINE}
    SELECT a.id, a.subject_type, a.subject_id, p.platform, p.ext_id AS post_ext_id,
           coalesce(c.text, p.caption) AS text
    FROM analyses a JOIN mine ON mine.id = a.id
    LEFT JOIN comments c ON a.subject_type = 'comment' AND c.id = a.subject_id
    JOIN posts p ON p.id = CASE WHEN a.subject_type = 'post' THEN a.subject_id ELSE c.post_id END
    WHERE a.kind = 'text' AND a.status = 'unsubmitted' AND a.next_check_at <= now()
    ORDER BY a.id LIMIT :limit
    """  # noqa: S608 - the interpolations are this module's constants
)
_DUE_JOBS = text(
    f"""
    WITH {_MINE}
    SELECT a.remote_job_id, a.kind, min(a.submitted_at) AS submitted_at,
           max(a.attempts) AS attempts, extract(epoch FROM now() - min(a.submitted_at)) AS age
    FROM analyses a JOIN mine ON mine.id = a.id
    WHERE a.status IN ('pending', 'processing') AND a.next_check_at <= now()
    GROUP BY a.remote_job_id, a.kind
    LIMIT {POLLS_PER_ROUND}
    """  # noqa: S608 - the interpolations are this module's constants
)
_OPEN = text(
    f"""
    WITH {_MINE}
    SELECT count(*), extract(epoch FROM min(a.next_check_at) - now())
    FROM analyses a JOIN mine ON mine.id = a.id
    WHERE a.status IN ('unsubmitted', 'pending', 'processing')
    """  # noqa: S608 - the interpolations are this module's constants
)
_SUBMITTED = text(
    """
    UPDATE analyses SET status = :status, remote_job_id = :remote, submitted_at = now(),
        next_check_at = now() + make_interval(secs => :wait), attempts = attempts + 1,
        error_code = NULL, error_message = NULL, retryable = NULL, updated_at = now()
    WHERE id = ANY(CAST(:ids AS bigint[]))
    """
)
_WAIT = text(
    """
    UPDATE analyses SET next_check_at = now() + make_interval(secs => :wait),
        error_code = :code, error_message = :message, updated_at = now()
    WHERE id = ANY(CAST(:ids AS bigint[]))
    """
)
_POLLED = text(
    """
    UPDATE analyses SET status = :status,
        next_check_at = now() + make_interval(secs => :wait), updated_at = now()
    WHERE remote_job_id = :remote AND status IN ('pending', 'processing')
    """
)
_LOST = text(
    """
    UPDATE analyses SET status = 'unsubmitted', remote_job_id = NULL, next_check_at = now(),
        error_code = 'lost', error_message = 'the analysis service no longer knows the job',
        updated_at = now()
    WHERE remote_job_id = :remote AND status IN ('pending', 'processing')
    """
)
_FAILED = text(
    """
    UPDATE analyses SET status = 'failed', error_code = :code, error_message = :message,
        retryable = :retryable, finished_at = now(), updated_at = now()
    WHERE (remote_job_id = :remote OR id = ANY(CAST(:ids AS bigint[]))) AND status <> 'done'
    """
)
# A finished job's result on all its rows (a media or prediction job: one result for the
# rows that asked for it).
_DONE_ALL = text(
    """
    UPDATE analyses SET status = 'done', result = :result, versions = :versions,
        finished_at = now(), error_code = NULL, error_message = NULL, retryable = NULL,
        updated_at = now()
    WHERE remote_job_id = :remote
    """
).bindparams(bindparam("result", type_=JSONB), bindparam("versions", type_=JSONB))
# A finished text job's results on its rows, one statement per job: ``rows`` is a JSON array
# of (subject_type, subject_id, result).
_DONE = text(
    """
    UPDATE analyses a SET status = 'done', result = r.result, versions = :versions,
        finished_at = now(), error_code = NULL, error_message = NULL, retryable = NULL,
        updated_at = now()
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS r(subject_type text, subject_id bigint, result jsonb)
    WHERE a.remote_job_id = :remote AND a.subject_type = r.subject_type
      AND a.subject_id = r.subject_id
    """
).bindparams(bindparam("versions", type_=JSONB))
_MENTIONS = text(
    """
    INSERT INTO mentions (post_id, comment_id, source, handle, mentioned_profile_id)
    SELECT m.post_id, m.comment_id, m.source, m.handle, sp.id
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS m(post_id bigint, comment_id bigint, source text, handle text, platform text)
    LEFT JOIN social_profiles sp ON sp.platform = m.platform AND lower(sp.username) = m.handle
    ON CONFLICT DO NOTHING
    """
)
# One more attempt for each row; the most any of them has had.
_COUNT_ATTEMPT = text(
    """
    WITH counted AS (
        UPDATE analyses SET attempts = attempts + 1 WHERE id = ANY(CAST(:ids AS bigint[]))
        RETURNING attempts
    )
    SELECT max(attempts) - 1 FROM counted
    """
)
# ---------------------------------------------------------------- predictions
# A post's forecast (kind 'prediction'): asked for posts published in the window before the
# sync's time (the provider's clock when the sync read the profile, else the sync's start).
_SYNC_TIME = "COALESCE((sync.params->>'observed_at')::timestamptz, sync.started_at, now())"
_ENQUEUE_PREDICTIONS = text(
    f"""
    INSERT INTO analyses (subject_type, subject_id, kind, job_call_id)
    SELECT 'post', p.id, 'prediction', :job
    FROM posts p JOIN job_calls sync ON sync.id = :job
    WHERE p.social_profile_id = :profile
      AND p.taken_at > {_SYNC_TIME} - CAST(:window AS interval)
      AND EXISTS (
          SELECT 1 FROM metric_snapshots s WHERE s.subject_type = 'post' AND s.subject_id = p.id
      )
    ORDER BY p.id
    ON CONFLICT DO NOTHING
    """  # noqa: S608 - the interpolation is this module's constant
)
# A newer sync wrote a snapshot of the post: its forecast is asked again with that sync's id
# (the old result stays until the new one replaces it). Only a newer job: an older sync's
# Transform still running never takes the row back.
_REASK_PREDICTIONS = text(
    f"""
    UPDATE analyses a SET status = 'unsubmitted', remote_job_id = NULL, job_call_id = :job,
        attempts = 0, next_check_at = now(), error_code = NULL, error_message = NULL,
        retryable = NULL, updated_at = now()
    FROM posts p JOIN job_calls sync ON sync.id = :job
    WHERE a.subject_type = 'post' AND a.kind = 'prediction' AND p.id = a.subject_id
      AND p.social_profile_id = :profile
      AND p.taken_at > {_SYNC_TIME} - CAST(:window AS interval)
      AND (a.job_call_id IS NULL OR a.job_call_id < :job)
      AND EXISTS (
          SELECT 1 FROM metric_snapshots s
          WHERE s.subject_type = 'post' AND s.subject_id = p.id AND s.job_call_id = :job
      )
    """  # noqa: S608 - the interpolation is this module's constant
)
# The account's followers at its latest observation at or before publication (as
# store.exports.post_metrics has them for training: what the model may know).
_DUE_PREDICTIONS = text(
    f"""
    SELECT a.id, a.job_call_id, p.platform, p.ext_id, p.taken_at, p.caption, sp.username,
           f.followers AS channel_followers
    FROM analyses a JOIN posts p ON a.subject_type = 'post' AND p.id = a.subject_id
    JOIN social_profiles sp ON sp.id = p.social_profile_id
    {followers_at("p.social_profile_id", "p.taken_at")}
    WHERE p.social_profile_id = :profile AND a.kind = 'prediction'
      AND a.status = 'unsubmitted' AND a.next_check_at <= now()
    ORDER BY a.id LIMIT {PREDICTIONS_PER_ROUND}
    """  # noqa: S608 - the interpolations are constants (store.history's, this module's)
)
# A row's observations: the post's snapshots up to the row's sync (so one key, one body),
# at provider time, none before publication (the service refuses those).
_OBSERVATIONS = text(
    f"""
    SELECT a.id, {OBSERVED_AT} AS observed_at, s.views, s.likes
    FROM analyses a JOIN posts p ON p.id = a.subject_id
    JOIN metric_snapshots s ON s.subject_type = 'post' AND s.subject_id = p.id
    LEFT JOIN job_calls j ON j.id = s.job_call_id
    WHERE a.id = ANY(CAST(:ids AS bigint[]))
      AND (s.job_call_id IS NULL OR a.job_call_id IS NULL OR s.job_call_id <= a.job_call_id)
      AND {OBSERVED_AT} >= p.taken_at
    ORDER BY a.id, 2, s.id
    """  # noqa: S608 - the interpolation is store.history's constant
)
_NO_MODEL = text(
    """
    UPDATE analyses a SET status = 'failed', error_code = :code, error_message = :message,
        retryable = false, finished_at = now(), updated_at = now()
    FROM posts p
    WHERE a.subject_type = 'post' AND a.kind = 'prediction' AND p.id = a.subject_id
      AND p.social_profile_id = :profile AND a.status = 'unsubmitted'
    """
)

_POST_OF_COMMENT = text("SELECT id, post_id FROM comments WHERE id = ANY(CAST(:ids AS bigint[]))")
_PLATFORM_OF_POST = text("SELECT id, platform FROM posts WHERE id = ANY(CAST(:ids AS bigint[]))")


async def by_status(
    conn: AsyncConnection, profile_id: int
) -> tuple[dict[str, int], dict[str, str]]:
    """The profile's analyses counted by status, and each status's latest error."""
    counts: dict[str, int] = {}
    errors: dict[str, str] = {}
    for status, n, error in await conn.execute(_BY_STATUS, {"profile": profile_id}):
        counts[status] = n
        if error:
            errors[status] = error
    return counts, errors


async def advance(engine: AsyncEngine, analyst: Analyst, *, job_id: int, profile_id: int) -> Round:
    """One step for every analysis of the profile (see the module's doc)."""
    params = {"profile": profile_id, "job": job_id}
    async with engine.begin() as conn:
        await conn.execute(_ENQUEUE_MEDIA, params)
        await conn.execute(_ENQUEUE_CAPTIONS, params)
        if analyst.comments:
            await conn.execute(_ENQUEUE_COMMENTS, params)
        if analyst.predictions:
            window = {**params, "window": PREDICTION_WINDOW}
            await conn.execute(_ENQUEUE_PREDICTIONS, window)
            await conn.execute(_REASK_PREDICTIONS, window)
        await conn.execute(_REOPEN, params)
    counts = {"submitted": 0, "done": 0, "failed": 0}
    unreachable: str | None = None
    try:
        await _submit_media(engine, analyst, profile_id, counts)
        await _submit_texts(engine, analyst, profile_id, counts)
        if analyst.predictions:
            await _submit_predictions(engine, analyst, profile_id, counts)
        await _poll(engine, analyst, profile_id, counts)
    except AnalysisUnavailableError as error:
        unreachable = str(error)
        log.warning("analysis.unreachable", profile_id=profile_id, error=unreachable)
    async with engine.connect() as conn:
        left, due = (await conn.execute(_OPEN, params)).one()
    return Round(
        submitted=counts["submitted"],
        done=counts["done"],
        failed=counts["failed"],
        open=int(left),
        next_in_s=max(0.0, float(due)) if left else None,
        unreachable=unreachable,
    )


def _key(analyst: Analyst, ids: Sequence[int]) -> str:
    digest = hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:32]
    return f"smcore-{analyst.namespace}-analyses-{digest}"


async def _send(
    engine: AsyncEngine,
    analyst: Analyst,
    ids: list[int],
    body: dict[str, Any],
    *,
    kind: str,
    counts: dict[str, int],
    key: str | None = None,
) -> None:
    """Submit one job for rows ``ids`` (under ``key``, else one made of the ids); the service
    down: the rows wait with backoff, and the error propagates to end the round. A service
    without a prediction model: the error propagates, the caller fails what it cannot ask."""
    try:
        job = await analyst.client.submit(body, key or _key(analyst, ids))
    except AnalysisUnavailableError as error:
        metrics.ANALYSIS_REQUESTS.labels(kind, "unreachable").inc()
        async with engine.begin() as conn:
            attempts = await conn.scalar(_COUNT_ATTEMPT, {"ids": ids})
            await conn.execute(
                _WAIT,
                {
                    "ids": ids,
                    "wait": analyst.backoff(int(attempts or 0)),
                    "code": "service_unreachable",
                    "message": str(error)[:500],
                },
            )
        raise
    except AnalysisRefusedError as error:
        metrics.ANALYSIS_REQUESTS.labels(kind, "refused").inc()
        if error.no_prediction_model:
            raise
        async with engine.begin() as conn:
            await conn.execute(
                _FAILED,
                {
                    "remote": None,
                    "ids": ids,
                    "code": "refused",
                    "message": str(error)[:500],
                    "retryable": False,
                },
            )
        counts["failed"] += len(ids)
        return
    metrics.ANALYSIS_REQUESTS.labels(kind, "submitted").inc()
    counts["submitted"] += len(ids)
    async with engine.begin() as conn:
        status = job["status"] if job["status"] in ("pending", "processing") else "processing"
        await conn.execute(
            _SUBMITTED,
            {
                "ids": ids,
                "status": status,
                "remote": str(job["id"]),
                "wait": analyst.poll_initial_s,
            },
        )
        if job["status"] in ("done", "failed"):  # the service had it already: settle it now
            await _settle(conn, job, kind, counts)


async def _submit_media(
    engine: AsyncEngine, analyst: Analyst, profile_id: int, counts: dict[str, int]
) -> None:
    async with engine.connect() as conn:
        due = (await conn.execute(_DUE_MEDIA, {"profile": profile_id})).all()
    for row in due:
        body = {
            "kind": row.kind,
            "media": {"key": row.object_key},
            "platform": row.platform,
            "external_id": row.ext_id,
            "config": analyst.config,
        }
        await _send(engine, analyst, [row.id], body, kind=row.kind, counts=counts)


async def _submit_texts(
    engine: AsyncEngine, analyst: Analyst, profile_id: int, counts: dict[str, int]
) -> None:
    limit = analyst.text_batch * TEXT_JOBS_PER_ROUND
    async with engine.connect() as conn:
        due = (await conn.execute(_DUE_TEXTS, {"profile": profile_id, "limit": limit})).all()
    for start in range(0, len(due), analyst.text_batch):
        batch = due[start : start + analyst.text_batch]
        body = {
            "kind": "text",
            "texts": [{"id": f"{r.subject_type}:{r.subject_id}", "text": r.text} for r in batch],
            "platform": batch[0].platform,
            "external_id": f"{batch[0].post_ext_id}+{len(batch) - 1}",
            "config": analyst.config,
        }
        await _send(engine, analyst, [r.id for r in batch], body, kind="text", counts=counts)


async def _submit_predictions(
    engine: AsyncEngine, analyst: Analyst, profile_id: int, counts: dict[str, int]
) -> None:
    """Ask for the forecasts of the profile's due posts, one prediction job each, keyed by
    the row and its sync (a later sync's snapshot makes a new key, so a new forecast)."""
    async with engine.connect() as conn:
        due = (await conn.execute(_DUE_PREDICTIONS, {"profile": profile_id})).all()
        if not due:
            return
        seen = await conn.execute(_OBSERVATIONS, {"ids": [r.id for r in due]})
        observations: dict[int, list[dict[str, Any]]] = {r.id: [] for r in due}
        for o in seen:
            observations[o.id].append(
                {"observed_at": o.observed_at.isoformat(), "views": o.views, "likes": o.likes}
            )
    for row in due:
        if not observations[row.id]:  # only snapshots from before publication: nothing to send
            async with engine.begin() as conn:
                await conn.execute(
                    _FAILED,
                    {
                        "remote": None,
                        "ids": [row.id],
                        "code": "no_observations",
                        "message": "no snapshot of the post observed after its publication",
                        "retryable": False,
                    },
                )
            counts["failed"] += 1
            continue
        body = prediction_body(row._mapping, observations[row.id])
        key = f"smcore-{analyst.namespace}-prediction-{row.id}-job{row.job_call_id}"
        try:
            await _send(engine, analyst, [row.id], body, kind="prediction", counts=counts, key=key)
        except AnalysisRefusedError as error:  # no prediction model: none of them can be asked
            async with engine.begin() as conn:
                failed = await conn.execute(
                    _NO_MODEL,
                    {"profile": profile_id, "code": NO_PREDICTION_MODEL, "message": str(error)},
                )
            counts["failed"] += failed.rowcount
            log.warning("analysis.no_prediction_model", profile_id=profile_id, error=str(error))
            return


def prediction_body(post: Any, observations: list[dict[str, Any]]) -> dict[str, Any]:
    """TrendFlow's ``PredictionJobRequest`` for a post (``post``: ``platform``, ``ext_id``,
    ``taken_at``, ``caption``, ``username``, ``channel_followers``) and its snapshots, oldest
    first (the newest :data:`MAX_OBSERVATIONS` are sent)."""
    caption = (post["caption"] or "").replace("\x00", "")[:20_000]
    return {
        "kind": "prediction",
        "platform": post["platform"],
        "external_id": post["ext_id"],
        "published_at": post["taken_at"].isoformat(),
        "observations": observations[-MAX_OBSERVATIONS:],
        "channel": (post["username"] or "").replace("\x00", "")[:200] or None,
        "caption": caption or None,
        "channel_followers": post["channel_followers"],
    }


@dataclass(frozen=True)
class Horizon:
    """A forecast's cumulative counts ``days`` after publication (None: no forecast)."""

    days: int
    views: float | None
    likes: float | None


@dataclass(frozen=True)
class Forecast:
    """A post's forecast from TrendFlow, its horizons in order."""

    model_version: str
    horizons: list[Horizon]

    @property
    def longest(self) -> Horizon | None:
        """The longest horizon with a views forecast."""
        return next((h for h in reversed(self.horizons) if h.views is not None), None)


def forecast_from(result: dict[str, Any], versions: dict[str, Any]) -> Forecast:
    """A stored prediction analysis read back: ``result`` is TrendFlow's prediction summary,
    ``forecast[metric]["h<days>"]["count"]``."""
    by_metric = result.get("forecast") or {}
    days = sorted({int(key[1:]) for m in by_metric.values() for key in m if key[1:].isdigit()})

    def count(metric: str, horizon: int) -> float | None:
        value = (by_metric.get(metric) or {}).get(f"h{horizon}", {}).get("count")
        return float(value) if isinstance(value, int | float) else None

    model = result.get("model_version") or (versions.get("model") or {}).get("model_version")
    return Forecast(
        model_version=str(model or "unknown"),
        horizons=[Horizon(d, count("views", d), count("likes", d)) for d in days],
    )


async def _poll(
    engine: AsyncEngine, analyst: Analyst, profile_id: int, counts: dict[str, int]
) -> None:
    async with engine.connect() as conn:
        due = (await conn.execute(_DUE_JOBS, {"profile": profile_id})).all()
    for row in due:
        try:
            job = await analyst.client.job(row.remote_job_id)
        except AnalysisUnavailableError:
            metrics.ANALYSIS_REQUESTS.labels(row.kind, "unreachable").inc()
            async with engine.begin() as conn:
                await conn.execute(
                    _POLLED,
                    {
                        "remote": row.remote_job_id,
                        "status": "pending",
                        "wait": analyst.backoff(int(row.attempts)),
                    },
                )
            raise
        except AnalysisRefusedError as error:
            job = {
                "id": row.remote_job_id,
                "status": "failed",
                "error": {"code": "refused", "message": str(error), "retryable": False},
            }
        metrics.ANALYSIS_REQUESTS.labels(row.kind, "polled").inc()
        async with engine.begin() as conn:
            if job is None:
                await conn.execute(_LOST, {"remote": row.remote_job_id})
            elif job["status"] in ("done", "failed"):
                await _settle(conn, job, row.kind, counts)
            elif float(row.age or 0) > analyst.job_timeout_s:
                await conn.execute(
                    _FAILED,
                    {
                        "remote": row.remote_job_id,
                        "ids": [],
                        "code": "timeout",
                        "message": f"unfinished after {analyst.job_timeout_s:.0f} s",
                        "retryable": True,
                    },
                )
                counts["failed"] += 1
            else:
                polls = await conn.scalar(
                    text(
                        "UPDATE analyses SET attempts = attempts + 1 WHERE remote_job_id = :r "
                        "RETURNING attempts"
                    ),
                    {"r": row.remote_job_id},
                )
                await conn.execute(
                    _POLLED,
                    {
                        "remote": row.remote_job_id,
                        "status": job["status"],
                        "wait": analyst.backoff(int(polls or 0)),
                    },
                )


async def _settle(
    conn: AsyncConnection, job: dict[str, Any], kind: str, counts: dict[str, int]
) -> None:
    """Store a finished job's outcome on its rows."""
    remote = str(job["id"])
    if job["status"] == "failed":
        error = job.get("error") or {}
        await conn.execute(
            _FAILED,
            {
                "remote": remote,
                "ids": [],
                "code": str(error.get("code") or "failed"),
                "message": str(error.get("message") or "")[:500],
                "retryable": bool(error.get("retryable")),
            },
        )
        metrics.ANALYSIS_REQUESTS.labels(kind, "failed").inc()
        counts["failed"] += 1
        return
    result = job.get("result") or {}
    versions = {**(job.get("versions") or {}), "config_hash": job.get("config_hash")}
    summary = result.get("summary") or {}
    metrics.ANALYSIS_REQUESTS.labels(kind, "done").inc()
    if kind != "text":
        # A forecast is its summary (model version, per metric and horizon); a media job's
        # summary comes with its run's manifest and artifacts.
        stored = (
            summary
            if kind == "prediction"
            else {
                **summary,
                "manifest_url": result.get("manifest_url"),
                "artifacts": result.get("artifacts") or [],
            }
        )
        updated = await conn.execute(
            _DONE_ALL, {"remote": remote, "result": stored, "versions": versions}
        )
        counts["done"] += updated.rowcount
        return
    items = {str(i.get("id")): i for i in summary.get("items") or [] if isinstance(i, dict)}
    posts: list[int] = []
    comments: list[int] = []
    for item_id in items:
        subject_type, _, raw_id = item_id.partition(":")
        if raw_id.isdigit():
            (posts if subject_type == "post" else comments).append(int(raw_id))
    found = await conn.execute(_POST_OF_COMMENT, {"ids": comments})
    post_of: dict[int, int] = dict(found.all())
    found = await conn.execute(_PLATFORM_OF_POST, {"ids": [*posts, *post_of.values()]})
    platform_of: dict[int, str] = dict(found.all())
    mentions: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for item_id, item in items.items():
        subject_type, _, raw_id = item_id.partition(":")
        if not raw_id.isdigit() or subject_type not in ("post", "comment"):
            continue
        subject = int(raw_id)
        done.append({"subject_type": subject_type, "subject_id": subject, "result": item})
        counts["done"] += 1
        post_id = subject if subject_type == "post" else post_of.get(subject)
        if post_id is None:
            continue
        for handle in item.get("mentions") or []:
            mentions.append(
                {
                    "post_id": post_id,
                    "comment_id": subject if subject_type == "comment" else None,
                    "source": "caption" if subject_type == "post" else "comment",
                    "handle": str(handle).lstrip("@").lower(),
                    "platform": platform_of.get(post_id),
                }
            )
    if done:
        await conn.execute(
            _DONE, {"remote": remote, "rows": json.dumps(done), "versions": versions}
        )
    if mentions:
        await conn.execute(_MENTIONS, {"rows": json.dumps(mentions)})
    # Items the service did not answer for stay failed, not open forever.
    await conn.execute(
        _FAILED,
        {
            "remote": remote,
            "ids": [],
            "code": "missing_item",
            "message": "the finished job had no result for this item",
            "retryable": False,
        },
    )
