"""The demo's Transform stage: TrendFlow's analysis service beside socialsim, and the
enrichments it stored checked against what socialsim put into its media and captions.

The service is ``trendflow serve`` as a subprocess (its own package, spoken to over HTTP only),
on its own database of the same server, sharing SM Core's media store so jobs go by key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.table import Table

from devstack import databases
from devstack.processes import free_port

START_TIMEOUT_S = 180.0
HINT = (
    "install TrendFlow's detectors (`uv run trendflow models install --from DIR yunet_n "
    "yolox_nano`, or let it download them), or run the demo with --no-analysis"
)


def _executable() -> str:
    beside = Path(sys.executable).parent / "trendflow"
    found = str(beside) if beside.is_file() else shutil.which("trendflow")
    if not found:
        raise RuntimeError(
            "the analysis service needs the trendflow package (uv sync), "
            "or run the demo with --no-analysis"
        )
    return found


@contextlib.contextmanager
def analysis_service(
    database_url: str, temporal_address: str, namespace: str, media_store: str, data_dir: Path
) -> Iterator[str]:
    """``trendflow serve`` for the block (API and worker); its base URL. Its runs go under
    ``data_dir`` unless ``TRENDFLOW_DATA_DIR`` says otherwise."""
    name = f"{databases.database_of(database_url)}_analysis"
    own_db = databases.ensure(database_url, name)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DB_")},
        "DATABASE_URL": own_db,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": namespace,
        "TRENDFLOW_OBJECT_STORE_URL": media_store,
        "TRENDFLOW_HOST": "127.0.0.1",
        "TRENDFLOW_PORT": str(port),
        "TRENDFLOW_LOG_LEVEL": "WARNING",
        "TRENDFLOW_DATA_DIR": os.environ.get("TRENDFLOW_DATA_DIR") or str(data_dir),
    }
    log = Path(tempfile.mkstemp(prefix="trendflow-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_executable(), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the analysis service (trendflow serve) exited: see {log}\n"
                    + log.read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the analysis service did not start: see {log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.unlink(missing_ok=True)


async def wait_for_transforms(database_url: str, job_ids: list[int], timeout_s: float) -> int:
    """Wait until the syncs' analyses are settled (none open) or ``timeout_s``; how many are
    still open."""

    def count() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM analyses "
                "WHERE status IN ('unsubmitted', 'pending', 'processing') "
                "   OR (SELECT count(*) FROM media m JOIN posts p ON p.id = m.post_id "
                "       JOIN job_calls j ON j.subject_id = p.social_profile_id "
                "       WHERE j.id = ANY(%s) AND m.fetch_status = 'stored' AND NOT EXISTS ("
                "           SELECT 1 FROM analyses a WHERE a.subject_type = 'media' "
                "           AND a.subject_id = m.id)) > 0",
                (job_ids,),
            ).fetchone()
        return int(row[0]) if row else 0

    deadline = time.monotonic() + timeout_s
    while True:
        left = await asyncio.to_thread(count)
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(1.0)


@dataclass
class Enrichments:
    """What the analyses stored against what socialsim put in: per check, matched of expected."""

    rows: list[tuple[str, ...]] = field(default_factory=list)
    checks: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool, problem: str) -> None:
        counts = self.checks.setdefault(what, [0, 0])
        counts[1] += 1
        if ok:
            counts[0] += 1
        else:
            self.problems.append(problem)

    def summary(self) -> dict[str, Any]:
        return {k: {"matched": m, "of": n} for k, (m, n) in sorted(self.checks.items())}

    def table(self, limit: int = 12) -> Table:
        table = Table(title="enrichments of a sample (socialsim's truth in brackets)")
        for column in ("media", "kind", "faces", "on screen", "objects"):
            table.add_column(column, overflow="fold")
        for row in self.rows[:limit]:
            table.add_row(*row)
        return table


def enrichments(database_url: str, sim_url: str) -> Enrichments:
    """Every finished media analysis against ``/_sim/truth/media``; every finished caption
    analysis against its post's truth (language, mentions, mentions resolved)."""
    found = Enrichments()
    with psycopg.connect(database_url) as conn, httpx.Client(base_url=sim_url, timeout=60) as http:
        media = conn.execute(
            "SELECT m.ext_id, m.media_type, m.url, m.video_url, a.kind, a.status, a.result, "
            "a.error_code FROM analyses a "
            "JOIN media m ON a.subject_type = 'media' AND m.id = a.subject_id ORDER BY a.id"
        ).fetchall()
        for ext_id, media_type, url, video_url, kind, status, result, error in media:
            link = video_url if media_type == "video" and video_url else url
            if status != "done":
                found.check("media analysed", False, f"media {ext_id}: {status} ({error})")
                continue
            truth = http.get("/_sim/truth/media", params={"url": link}).json()
            _media(found, ext_id, kind, result, truth)
        captions = conn.execute(
            "SELECT p.platform, p.ext_id, a.status, a.result, "
            "  coalesce((SELECT json_agg(json_build_array(m.handle, sp.username)) "
            "   FROM mentions m LEFT JOIN social_profiles sp ON sp.id = m.mentioned_profile_id "
            "   WHERE m.post_id = p.id AND m.source = 'caption'), '[]') "
            "FROM analyses a JOIN posts p ON a.subject_type = 'post' AND p.id = a.subject_id "
            "WHERE a.kind = 'text'"  # a post's forecast (kind 'prediction') is no caption's
        ).fetchall()
        known = {
            (platform, username.lower())
            for platform, username in conn.execute(
                "SELECT platform, username FROM social_profiles"
            ).fetchall()
        }
    truth_posts = _caption_truth(sim_url)
    for platform, ext_id, status, result, mentioned in captions:
        want = truth_posts.get((platform, ext_id))
        if want is None:
            continue  # a story or a post the truth lists elsewhere
        if status != "done":
            found.check("captions analysed", False, f"{platform} post {ext_id}: {status}")
            continue
        found.check(
            "caption languages",
            result.get("language") == want["caption_language"],
            f"{platform} post {ext_id}: language {result.get('language')!r}, "
            f"socialsim wrote {want['caption_language']!r}",
        )
        handles = {h for h, _ in mentioned}
        expected = {h.lower() for h in want.get("mentions") or []}
        found.check(
            "caption mentions",
            handles == expected,
            f"{platform} post {ext_id}: mentions {sorted(handles)}, socialsim wrote "
            f"{sorted(expected)}",
        )
        for handle, resolved in mentioned:
            if (platform, handle) in known:
                found.check(
                    "mentions resolved",
                    resolved is not None,
                    f"{platform} post {ext_id}: @{handle} is stored but not resolved",
                )
    return found


def _media(found: Enrichments, ext_id: str, kind: str, result: Any, truth: Any) -> None:
    faces = int(result.get("faces") or 0)
    seen = str(result.get("text_on_screen") or "")
    labels = sorted({o["label"] for o in result.get("objects") or []})
    if truth["face"]:
        found.check("faces", faces >= 1, f"media {ext_id}: no face found where one was drawn")
    if truth["text"]:
        words = truth["text"].lower().split()
        found.check(
            "words on screen",
            all(w in seen.lower() for w in words),
            f"media {ext_id}: read {seen!r}, socialsim wrote {truth['text']!r}",
        )
    if truth["object"]:
        found.check(
            "objects",
            truth["object"] in labels,
            f"media {ext_id}: found {labels}, socialsim showed a {truth['object']}",
        )
    if result.get("not_installed") or result.get("failed"):
        missing = [*result.get("not_installed", []), *result.get("failed", [])]
        if any(c in missing for c in ("core_face_landmarks", "core_object_detections")):
            found.problems.append(f"media {ext_id}: {', '.join(missing)} did not run: {HINT}")
    found.rows.append(
        (
            ext_id[-10:],
            kind,
            f"{faces} [{'face' if truth['face'] else '-'}]",
            f"{seen[:24]!r} [{truth['text'] or '-'}]",
            f"{','.join(labels)[:24]} [{truth['object'] or '-'}]",
        )
    )


def _caption_truth(sim_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(platform, post ext id) → the truth's post entry, for every account's posts."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with httpx.Client(base_url=sim_url, timeout=60) as http:
        for platform, listing, key, posts in (
            ("instagram", "profiles", "username", ("posts",)),
            ("tiktok", "accounts", "username", ("videos",)),
            ("youtube", "channels", "channel_id", ("videos",)),
        ):
            for account in http.get(f"/_sim/truth/{platform}").json().get(listing, []):
                if not account.get("exists", True):
                    continue
                truth = http.get(f"/_sim/truth/{platform}/{account[key]}").json()
                for name in posts:
                    for post in truth.get(name) or []:
                        if isinstance(post, dict) and post.get("caption_language"):
                            out[(platform, str(post.get("ext_id") or post.get("id")))] = post
    return out
