"""The analysis service end to end: ``trendflow serve --no-worker`` and a ``trendflow worker`` on
real PostgreSQL and Temporal; jobs by object-store key and by link; idempotency; errors;
artifacts; webhooks."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from PIL import Image, ImageDraw, ImageFont

from trendflow.service import webhook
from trendflow.store.npz import read_npz
from trendflow.store.validate import validate_run

from .conftest import WEBHOOK_SECRET, Loopback, Reply, Service  # noqa: TID252 - this folder's

TEXTS = [
    {"id": "caption:1", "text": "Loving my new #Nike shoes, thanks @anna.petrova and @bob_99!"},
    {"id": "comment:2", "text": "Очень красивое место, обязательно поеду туда летом с друзьями"},  # noqa: RUF001 - Russian on purpose
    {"id": "comment:3", "text": "Me encanta esta foto, los colores son increíbles @Maria.Lopez"},
    {"id": "comment:4", "text": "🔥🔥🔥"},
    {"id": "comment:5", "text": ""},
]


def test_image_job_by_key_finds_the_real_face(service: Service, image_job: Any) -> None:
    response = service.post(image_job("carphone-1"))
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in {"pending", "processing"}
    assert job["versions"]["dataprocessor"] and job["config_hash"]

    done = service.wait(job["id"])
    assert done["status"] == "done", done["error"]
    summary = done["result"]["summary"]
    assert summary["faces"] >= 1
    assert "person" in [o["label"] for o in summary["objects"]]
    assert (summary["width"], summary["height"]) == (176, 144)
    assert len(summary["colour"]["mean_rgb"]) == 3
    assert summary["not_installed"] == [], "the test models include a (tiny) CLIP"
    assert set(done["progress"]) >= {
        "segmenter",
        "core_face_landmarks",
        "core_object_detections",
        "ocr_text",
        "color_motion",
        "core_clip",
    }
    assert set(done["progress"].values()) <= {"computed", "empty"}
    assert "asr_extractor" not in done["progress"], "no audio components on an image"

    run = service.data_dir / "result_store" / "instagram" / "carphone-1" / job["id"]
    assert validate_run(run) == []
    faces, meta = read_npz(run / "core_face_landmarks" / "faces.npz")
    assert int(faces["face_present"].sum()) == summary["faces"]
    assert meta["platform_id"] == "instagram"

    with service.client() as http:
        manifest = http.get(done["result"]["manifest_url"])
        assert manifest.status_code == 200
        assert manifest.json()["run"]["run_id"] == job["id"]
        for artifact in done["result"]["artifacts"]:
            served = http.get(artifact["url"])
            assert served.status_code == 200, artifact
            assert hashlib.sha256(served.content).hexdigest() == artifact["sha256"]


def test_text_job_reads_language_mentions_hashtags_brands(
    service: Service, loopback: Loopback
) -> None:
    loopback.routes["/hooks/text"] = [Reply(200, b"ok")]
    body = {
        "kind": "text",
        "platform": "instagram",
        "external_id": "post-7",
        "texts": TEXTS,
        "webhook_url": f"{loopback.url}/hooks/text",
    }
    response = service.post(body)
    assert response.status_code == 202, response.text
    done = service.wait(response.json()["id"])
    assert done["status"] == "done", done["error"]
    items = {item["id"]: item for item in done["result"]["summary"]["items"]}
    assert items["caption:1"]["language"] == "en"
    assert items["comment:2"]["language"] == "ru"
    assert items["comment:3"]["language"] == "es"
    assert items["caption:1"]["mentions"] == ["anna.petrova", "bob_99"]
    assert items["comment:3"]["mentions"] == ["maria.lopez"]
    assert items["caption:1"]["hashtags"] == ["nike"]
    assert items["caption:1"]["brands"] == ["Nike"]
    assert items["comment:2"]["brands"] == []
    assert items["caption:1"]["embedding_dim"] == 384
    assert items["comment:4"]["language"] is None, "emoji are no language"
    assert items["comment:5"]["language"] is None and items["comment:5"]["embedding_dim"] == 0

    run = service.data_dir / "result_store" / "instagram" / "post-7" / done["id"]
    assert validate_run(run) == []
    arrays, _ = read_npz(run / "text_items" / "items.npz")
    assert arrays["embeddings"].shape == (5, 384)
    assert np.isfinite(arrays["embeddings"][:4]).all() and np.isnan(arrays["embeddings"][4]).all()
    assert [p.name for p in run.rglob("*.json")] == ["manifest.json"], "no raw text, no JSON"
    with psycopg.connect(service.database_url) as conn:
        (spec,) = conn.execute("SELECT spec FROM jobs WHERE id = %s", (done["id"],)).fetchone()
    assert "texts" not in spec, "an ended job keeps no raw text"

    # The webhook: the job JSON, signed with HMAC-SHA256 of the body (it follows completion).
    deadline = time.monotonic() + 20
    while not loopback.posts("/hooks/text"):
        assert time.monotonic() < deadline, "no webhook delivery"
        time.sleep(0.05)
    (delivery,) = loopback.posts("/hooks/text")
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert webhook.verify(delivery.body, headers["x-trendflow-signature"], WEBHOOK_SECRET)
    assert not webhook.verify(
        delivery.body + b" ", headers["x-trendflow-signature"], WEBHOOK_SECRET
    )
    sent = json.loads(delivery.body)
    assert sent["id"] == done["id"] and sent["status"] == "done"
    assert headers["x-trendflow-job"] == done["id"]


def test_words_on_a_png_are_read_and_no_face_is_invented(service: Service) -> None:
    image = Image.new("RGBA", (640, 360), (255, 255, 255, 0))  # transparent: read on white
    ImageDraw.Draw(image).text((90, 120), "SALE 50", fill="black", font=ImageFont.load_default(96))
    png = io.BytesIO()
    image.save(png, format="PNG")
    key = service.put_media(png.getvalue(), "png")
    body = {"kind": "image", "platform": "instagram", "external_id": "p", "media": {"key": key}}
    done = service.wait(service.post(body).json()["id"])
    assert done["status"] == "done", done["error"]
    summary = done["result"]["summary"]
    assert summary["text_on_screen"].replace(" ", "") == "SALE50"
    assert summary["faces"] == 0 and summary["objects"] == []
    assert summary["colour"]["brightness"] > 0.9, "transparency is white, not black"


def test_the_same_job_posted_twice_is_one_job(service: Service, image_job: Any) -> None:
    body = image_job("carphone-twice")
    first = service.post(body)
    again = service.post(body)
    by_header = service.post(body, key="client-key-1")
    assert (first.status_code, again.status_code, by_header.status_code) == (202, 200, 200)
    assert first.json()["id"] == again.json()["id"] == by_header.json()["id"]
    assert first.json()["idempotency_key"] == again.json()["idempotency_key"]
    service.wait(first.json()["id"])
    # Another config is another job.
    other = service.post(image_job("carphone-twice", config={"disabled": ["ocr_text"]}))
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert service.wait(other.json()["id"])["status"] == "done"


def test_an_idempotency_key_reused_with_another_body_is_refused(
    service: Service, image_job: Any
) -> None:
    key = f"reused-{uuid.uuid4()}"
    first = service.post(image_job("carphone-key-a"), key=key)
    assert first.status_code == 202
    refused = service.post(image_job("carphone-key-b"), key=key)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "Idempotency-Key" in detail and "different body" in detail
    assert first.json()["id"] in detail
    assert service.post(image_job("carphone-key-a"), key=key).json()["id"] == first.json()["id"]
    service.wait(first.json()["id"])


def test_an_unknown_job_is_404_never_pending(service: Service) -> None:
    with service.client() as http:
        for job_id in (str(uuid.uuid4()), "not-a-uuid"):
            response = http.get(f"/v1/jobs/{job_id}")
            assert response.status_code == 404
            assert job_id in response.json()["detail"]
        missing = http.get(f"/v1/jobs/{uuid.uuid4()}/artifacts/manifest.json")
        assert missing.status_code == 404


def test_an_expired_media_link_fails_as_expired_without_retry(
    service: Service, loopback: Loopback
) -> None:
    path = "/cdn/ig/v/t51.2885-15/1_n.jpg"
    loopback.routes[path] = [Reply(403, b"URL signature expired", "text/plain")]
    body = {
        "kind": "image",
        "platform": "instagram",
        "external_id": "expired-1",
        "media": {"url": f"{loopback.url}{path}?oe=5F5E1000&oh=abc"},
    }
    done = service.wait(service.post(body).json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "media_expired"
    assert done["error"]["retryable"] is False
    assert loopback.hits(path) == 1, "an expired link is not downloaded again"
    assert done["result"] is None
    # Terminal: posting it again returns the failed job, it does not run again.
    again = service.post(body)
    assert again.status_code == 200 and again.json()["id"] == done["id"]
    assert again.json()["status"] == "failed" and loopback.hits(path) == 1


def test_a_link_that_fails_with_5xx_is_retried_then_downloaded(
    service: Service, loopback: Loopback, carphone_jpeg: bytes
) -> None:
    path = "/cdn/flaky/photo.jpg"
    loopback.routes[path] = [Reply(503, b"busy"), Reply(200, carphone_jpeg, "image/jpeg")]
    body = {
        "kind": "image",
        "platform": "tiktok",
        "external_id": "flaky-1",
        "media": {"url": f"{loopback.url}{path}"},
    }
    done = service.wait(service.post(body).json()["id"])
    assert done["status"] == "done", done["error"]
    assert loopback.hits(path) == 2
    assert done["result"]["summary"]["faces"] >= 1


def test_undecodable_media_fails_as_bad_media(service: Service) -> None:
    key = service.put_media(b"this is not a picture at all", "jpg")
    body = {"kind": "image", "platform": "youtube", "external_id": "bad-1", "media": {"key": key}}
    done = service.wait(service.post(body).json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "bad_media" and done["error"]["retryable"] is False
    absent = {**body, "external_id": "absent-1", "media": {"key": "media/00/nothing.jpg"}}
    missing = service.wait(service.post(absent).json()["id"])
    assert missing["error"]["code"] == "media_unavailable"


def test_artifact_paths_cannot_leave_the_run(service: Service, image_job: Any) -> None:
    job = service.wait(service.post(image_job("carphone-1")).json()["id"])
    base = f"{service.url}/v1/jobs/{job['id']}/artifacts"
    with httpx.Client(timeout=10) as http:
        for path in ("..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
            # httpx would normalise a literal "..": the encoded form reaches the server as is.
            response = http.get(httpx.URL(f"{base}/{path}"))
            assert response.status_code == 403, (path, response.text)
        assert http.get(f"{base}/.manifest.lock").status_code == 404, "only listed files"
        assert http.get(f"{base}/segmenter/nothing.npz").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "image", "platform": "instagram", "external_id": "x"},
        {"kind": "text", "platform": "instagram", "external_id": "x", "texts": []},
        {"kind": "image", "platform": "vk", "external_id": "x", "media": {"key": "media/a.jpg"}},
        {"kind": "image", "platform": "instagram", "external_id": "../x", "media": {"key": "a"}},
        {"kind": "video", "platform": "youtube", "external_id": "x", "media": {"url": "ftp://a"}},
        {"kind": "image", "platform": "youtube", "external_id": "x", "media": {"key": "../a"}},
    ],
)
def test_invalid_bodies_are_422(service: Service, body: dict[str, Any]) -> None:
    assert service.post(body).status_code == 422


def test_the_server_and_worker_stop_cleanly_on_sigterm(service: Service) -> None:
    """Last: SIGTERM stops API and worker, and both exit 0 (no crash at interpreter exit)."""
    assert service.stop() == {"serve": 0, "worker": 0}, service.tail()
